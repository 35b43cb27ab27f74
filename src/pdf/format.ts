/**
 * How the PDF writes quantities, prices and rates. Pure text in, text out; no number arithmetic
 * on an amount. Amounts keep their exact decimal text (only digit grouping and the currency code
 * may be added), whatever the currency's digits (JPY 0, USD 2, KWD 3).
 *
 * GPU quantities arrive in seconds and are shown as decimal hours beside a price per hour, as
 * finance reads them ("101.00 h", "634.9875 h"): exact to 4 decimals (0.36 s), rounded half up
 * where seconds do not make whole ten-thousandths of an hour (amounts are always computed from
 * the exact seconds). A template can choose `h:mm:ss` ("101:00:00") or seconds ("363,600 s").
 */
import { Decimal, groupDigits } from '../domain/money.js';
import type { LineUnit } from './invoice-document.js';

export { groupDigits };

export type GpuQuantityStyle = 'hours' | 'hms' | 'seconds';

export interface UnitLabels {
  hour: string;
  second: string;
  token: string;
  request: string;
  /** A metric's unit. */
  unit: string;
}

export interface NumberFormat {
  /** Between groups of three digits in quantities ("9,400,000"); "" for none. */
  thousands: string;
  /** The same for amounts; "" keeps them exactly as in the JSON and CSV output. */
  amountThousands: string;
  gpuQuantity: GpuQuantityStyle;
  units: UnitLabels;
}

/** An amount's decimal text with its integer part grouped ("1234.50" → "1,234.50" with ","). */
export function formatAmountText(amount: string, separator: string): string {
  if (separator === '') return amount;
  const dot = amount.indexOf('.');
  return dot < 0 ? groupDigits(amount, separator) : groupDigits(amount.slice(0, dot), separator) + amount.slice(dot);
}

/**
 * Whole seconds as decimal hours, rounded half up to 4 decimals and written with 2 to 4 of them:
 * "363600" → "101.00", "2285955" → "634.9875", "1" → "0.0003", grouped with `separator`.
 */
export function formatSecondsAsHours(seconds: string, separator: string): string {
  const text = Decimal.of(BigInt(seconds)).mulDivRound(1n, 3600n, 4).toFixed(4).replace(/0{1,2}$/, '');
  return formatAmountText(text, separator);
}

/** An amount with its currency, as `pattern` says ("{currency} {amount}" → "USD 1,234.50"). */
export function formatMoney(amount: string, currency: string, separator: string, pattern: string): string {
  return fillText(pattern, { currency, amount: formatAmountText(amount, separator) });
}

/** Whole seconds as `h:mm:ss` (hours not wrapped at 24): "363600" → "101:00:00", "-90" → "-0:01:30". */
export function formatSecondsHms(seconds: string): string {
  const s = BigInt(seconds);
  const a = s < 0n ? -s : s;
  const two = (n: bigint) => n.toString().padStart(2, '0');
  return `${s < 0n ? '-' : ''}${a / 3600n}:${two((a / 60n) % 60n)}:${two(a % 60n)}`;
}

/** A quantity cell: whole units of `unit` as text, written for a reader. */
export function formatQuantity(value: string, unit: LineUnit | null, f: NumberFormat): string {
  switch (unit) {
    case 'second':
      switch (f.gpuQuantity) {
        case 'hours':
          return `${formatSecondsAsHours(value, f.thousands)} ${f.units.hour}`;
        case 'hms':
          return formatSecondsHms(value);
        case 'seconds':
          return `${groupDigits(value, f.thousands)} ${f.units.second}`;
        default:
          return f.gpuQuantity satisfies never;
      }
    case 'token':
    case 'request':
    case 'unit':
      return groupDigits(value, f.thousands);
    case null:
      return '';
    default:
      return unit satisfies never;
  }
}

/** A unit price cell: "4.00 / h", "0.006 / 1,000 tokens", "0.01 / request"; empty without a unit or price. */
export function formatUnitPrice(price: string | null, unit: LineUnit | null, unitSize: number | null, f: NumberFormat): string {
  if (price === null || unit === null) return '';
  const size = unitSize ?? 1;
  const per = (n: number, label: string) =>
    n === 1 ? `${price} / ${label}` : `${price} / ${groupDigits(String(n), f.thousands)} ${label}`;
  switch (unit) {
    case 'second':
      return size % 3600 === 0 ? per(size / 3600, f.units.hour) : per(size, f.units.second);
    case 'token':
      return per(size, f.units.token);
    case 'request':
      return per(size, f.units.request);
    case 'unit':
      return per(size, f.units.unit);
    default:
      return unit satisfies never;
  }
}

/** A tax rate fraction as a percentage, exactly: "0.19" → "19", "0.075" → "7.5", "0" → "0". */
export function formatPercent(rate: string): string {
  return Decimal.parse(rate).mul(100n).normalize().toString();
}

/** Fills `{name}` placeholders; the template loader has checked that every name is known. */
export function fillText(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(/\{([a-z_]+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** The `{name}` placeholders a text uses. */
export function placeholders(text: string): string[] {
  return [...text.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1] ?? '');
}
