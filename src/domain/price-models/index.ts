/**
 * Price models (architecture.md, habits 4 and 15): how a line's billed quantity becomes its
 * amount, the one place that multiplies a price. A model always prices the line's whole billed
 * quantity at once, exactly, and rounds once per line whatever the model. A new model is one new
 * file and one new case in each switch; the compiler points at every switch that misses it.
 */
import type { Decimal, ExactSum } from '../money.js';
import { graduatedAmount, graduatedNumerator, type GraduatedPrice } from './graduated.js';
import { packageAmount, packagesOf, type PackagePrice } from './package.js';
import { perUnitAmount, type PerUnitPrice } from './per-unit.js';
import { volumeAmount, volumeNumerator, type VolumePrice } from './volume.js';

export { perUnit, type PerUnitPrice } from './per-unit.js';
export { graduated, type GraduatedPrice } from './graduated.js';
export { volume, type VolumePrice } from './volume.js';
export { packagePrice, packagesOf, type PackagePrice } from './package.js';
export type { PriceTier } from './tiers.js';
export { GPU_PRICE_UNIT, metricPriceUnit, REQUEST_PRICE_UNIT, tokenPriceUnit, type PriceUnit } from './price-unit.js';
export { parsePrice, priceDocument, type PriceParseResult } from './parse.js';
export { describePrice, plainPriceWords, type PriceWords } from './describe.js';
export {
  type CatalogPrice, catalogPriceDocument, catalogPriceText, catalogPriceFromStored, catalogPriceToStored, isZeroPrice, modelOf,
  parseCatalogPrice, type TieredPrice,
} from './catalog-price.js';

export type PriceModel = PerUnitPrice | GraduatedPrice | VolumePrice | PackagePrice;

/** The names a line's `price_model` takes: every model but per-unit (cli.md). */
export type TieredModelName = Exclude<PriceModel['model'], 'per_unit'>;

/** The line amount for `billed` units, rounded half up to `digits` decimals exactly once. */
export function priceLine(model: PriceModel, billed: bigint, digits: number): Decimal {
  if (billed < 0n) throw new RangeError(`billed quantity ${billed} is negative`);
  switch (model.model) {
    case 'per_unit':
      return perUnitAmount(model, billed, digits);
    case 'graduated':
      return graduatedAmount(model, billed, digits);
    case 'volume':
      return volumeAmount(model, billed, digits);
    case 'package':
      return packageAmount(model, billed, digits);
    default: {
      model satisfies never;
      throw new Error(`unknown price model ${JSON.stringify(model)}`);
    }
  }
}

/** The exact amount of `billed` units, unrounded: numerator / divisor. */
function exactOf(model: PriceModel, billed: bigint): { numerator: Decimal; divisor: bigint } {
  switch (model.model) {
    case 'per_unit':
      return { numerator: model.price.mul(billed), divisor: model.unitSize };
    case 'graduated':
      return { numerator: graduatedNumerator(model, billed), divisor: model.unitSize };
    case 'volume':
      return { numerator: volumeNumerator(model, billed), divisor: model.unitSize };
    case 'package':
      return { numerator: model.price.mul(packagesOf(model, billed)), divisor: 1n };
    default: {
      model satisfies never;
      throw new Error(`unknown price model ${JSON.stringify(model)}`);
    }
  }
}

/**
 * Adds to `into`, exactly and unrounded, what `units` cost under the model when they follow
 * `before` units of the same line already priced: price(before + units) − price(before). Shares
 * of one line (its days, its receipts, its users) so add up to the line's exact price; under the
 * per-unit model a share is units × price / unit size whatever came before. Under volume a share
 * can be negative (crossing into a cheaper tier lowers the price of what came before).
 */
export function addPriceShare(into: ExactSum, model: PriceModel, units: bigint, before = 0n): ExactSum {
  if (units < 0n || before < 0n) throw new RangeError(`quantities ${before} + ${units} must not be negative`);
  if (units === 0n) return into;
  if (model.model === 'per_unit') {
    const { numerator, divisor } = exactOf(model, units);
    return into.add(numerator, divisor);
  }
  const after = exactOf(model, before + units);
  into.add(after.numerator, after.divisor);
  if (before > 0n) {
    const earlier = exactOf(model, before);
    into.add(earlier.numerator.neg(), earlier.divisor);
  }
  return into;
}

/**
 * Running shares of one line's price: each `add` is what its units cost after every unit added
 * before (see `addPriceShare`).
 */
export class PriceRun {
  private units = 0n;

  constructor(readonly model: PriceModel) {}

  add(units: bigint, into: ExactSum): ExactSum {
    addPriceShare(into, this.model, units, this.units);
    this.units += units;
    return into;
  }
}

export interface ListedPrice {
  /** Price per `unitSize` units under the per-unit model; null under every other. */
  unitPrice: Decimal | null;
  unitSize: bigint | null;
  /** The line's `price_model`: null under per-unit, else the model's name. */
  priceModel: TieredModelName | null;
}

/** What the invoice line shows of its price: unit price and size, or the model's name (cli.md). */
export function listedPrice(model: PriceModel): ListedPrice {
  switch (model.model) {
    case 'per_unit':
      return { unitPrice: model.price, unitSize: model.unitSize, priceModel: null };
    case 'graduated':
    case 'volume':
    case 'package':
      return { unitPrice: null, unitSize: null, priceModel: model.model };
    default: {
      model satisfies never;
      throw new Error(`unknown price model ${JSON.stringify(model)}`);
    }
  }
}
