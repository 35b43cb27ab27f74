/**
 * A line's price in words a customer can check by hand against its amount, for the invoice PDF
 * (issue 14): "first 2,000,000 at 0.006 / 1,000; next 1,000,000 at 0.004 / 1,000". It says how
 * the line's billed quantity was priced: the tiers that hold some of it, the packages it started.
 * Prices are written as the catalog wrote them; flat fees and package prices are amounts, with at
 * least the currency's minor digits ("1.00", KWD "1.000", JPY "100").
 */
import { Decimal, groupDigits } from '../money.js';
import type { PriceModel } from './index.js';
import { packagesOf } from './package.js';
import { tierHolding, tierParts } from './tiers.js';

export interface PriceWords {
  /** The currency's minor digits. */
  digits: number;
  /** A quantity in the line's counting units, as the reader counts it: "2,000,000", "10 h". */
  quantity(units: bigint): string;
  /** A price of the line's unit size: "0.006 / 1,000", "0.90 / h". */
  unitPrice(price: Decimal): string;
}

/** Whole seconds as hours, exact to 4 decimals (rounded half up past them), without trailing zeros: "10", "1.5". */
function hours(seconds: bigint, thousands: string): string {
  const text = Decimal.of(seconds).mulDivRound(1n, 3600n, 4).normalize().toString();
  const dot = text.indexOf('.');
  return dot < 0 ? groupDigits(text, thousands) : groupDigits(text.slice(0, dot), thousands) + text.slice(dot);
}

/**
 * Plain words for a line counted in `unit` with prices per `unitSize` of it: GPU seconds are
 * written in hours ("10 h", "0.90 / h"), tokens and requests as counts ("0.006 / 1,000").
 */
export function plainPriceWords(unit: 'second' | 'token' | 'request' | 'unit', unitSize: bigint, digits: number, thousands = ','): PriceWords {
  const count = (n: bigint) => groupDigits(n.toString(), thousands);
  switch (unit) {
    case 'second':
      return {
        digits,
        quantity: (s) => `${hours(s, thousands)} h`,
        unitPrice: (p) =>
          unitSize % 3600n === 0n
            ? `${p.toString()} / ${unitSize === 3600n ? '' : `${count(unitSize / 3600n)} `}h`
            : `${p.toString()} / ${count(unitSize)} s`,
      };
    case 'token':
      return { digits, quantity: count, unitPrice: (p) => `${p.toString()} / ${unitSize === 1n ? 'token' : count(unitSize)}` };
    case 'request':
      return { digits, quantity: count, unitPrice: (p) => `${p.toString()} / ${unitSize === 1n ? 'request' : `${count(unitSize)} requests`}` };
    case 'unit':
      return { digits, quantity: count, unitPrice: (p) => `${p.toString()} / ${unitSize === 1n ? 'unit' : `${count(unitSize)} units`}` };
    default:
      return unit satisfies never;
  }
}

/** An amount of money with at least the currency's digits, more when the catalog wrote more. */
function money(d: Decimal, digits: number): string {
  return d.toFixed(Math.max(digits, d.normalize().scale));
}

const fee = (f: Decimal, w: PriceWords) => (f.isZero() ? '' : ` + ${money(f, w.digits)} flat fee`);

/** How `billed` units were priced under `model`, in words; "" when nothing was billed. */
export function describePrice(model: PriceModel, billed: bigint, w: PriceWords): string {
  if (billed <= 0n) return '';
  switch (model.model) {
    case 'per_unit':
      return `${w.quantity(billed)} at ${w.unitPrice(model.price)}`;
    case 'graduated': {
      const parts = tierParts(model.tiers, billed);
      return model.tiers
        .flatMap((t, i) => {
          const part = parts[i]!;
          return part > 0n ? [`${i === 0 ? 'first' : 'next'} ${w.quantity(part)} at ${w.unitPrice(t.price)}${fee(t.flatFee, w)}`] : [];
        })
        .join('; ');
    }
    case 'volume': {
      const i = tierHolding(model.tiers, billed);
      const t = model.tiers[i]!;
      const below = model.tiers[i - 1]?.upTo;
      const which = typeof below === 'bigint' ? ` (over ${w.quantity(below)})`
        : t.upTo !== null ? ` (up to ${w.quantity(t.upTo)})` : '';
      return `all ${w.quantity(billed)} at ${w.unitPrice(t.price)}${which}${fee(t.flatFee, w)}`;
    }
    case 'package': {
      const n = packagesOf(model, billed);
      return `${n.toString()} package${n === 1n ? '' : 's'} of ${w.quantity(model.size)} at ${money(model.price, w.digits)}`;
    }
    default: {
      model satisfies never;
      throw new Error(`unknown price model ${JSON.stringify(model)}`);
    }
  }
}
