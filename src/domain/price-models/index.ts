/**
 * Price models (architecture.md, habit 4): how a line's billed quantity becomes its amount. A model
 * always prices the line's whole billed quantity at once, so rounding happens once per line
 * whatever the model. A new model (graduated, volume, package) is one new file beside per-unit.ts
 * and one new case in each switch below; the compiler points at every switch that misses it.
 */
import type { Decimal } from '../money.js';
import { perUnitAmount, type PerUnitPrice } from './per-unit.js';

export { perUnit, type PerUnitPrice } from './per-unit.js';

export type PriceModel = PerUnitPrice;

/** The line amount for `billed` units, rounded half up to `digits` decimals exactly once. */
export function priceLine(model: PriceModel, billed: bigint, digits: number): Decimal {
  if (billed < 0n) throw new RangeError(`billed quantity ${billed} is negative`);
  switch (model.model) {
    case 'per_unit':
      return perUnitAmount(model, billed, digits);
    default: {
      model.model satisfies never;
      throw new Error(`unknown price model ${JSON.stringify(model)}`);
    }
  }
}

/** What the invoice shows as unit price and unit size (null where a model has no single price). */
export function listedPrice(model: PriceModel): { unitPrice: Decimal | null; unitSize: bigint | null } {
  switch (model.model) {
    case 'per_unit':
      return { unitPrice: model.price, unitSize: model.unitSize };
    default: {
      model.model satisfies never;
      throw new Error(`unknown price model ${JSON.stringify(model)}`);
    }
  }
}
