/**
 * What a catalog price is for (billing-rules.md, "Price models"): a price is for the line's unit
 * size; tier bounds and package sizes count whole units of allowance, turned into the line's
 * counting units when the catalog is read.
 */
export interface PriceUnit {
  /** Counting units one price is for: 3600 (a GPU hour of seconds), `token_unit` tokens, 1 request, a metric's `unit_size`. */
  unitSize: bigint;
  /** Counting units in one allowance unit, the unit of tier bounds and package sizes: 3600 for GPU (hours of seconds), else 1. */
  allowanceUnit: bigint;
  /** The allowance unit in the plural, for messages: "GPU hours", "tokens". */
  allowanceName: string;
}

export const GPU_PRICE_UNIT: PriceUnit = { unitSize: 3600n, allowanceUnit: 3600n, allowanceName: 'GPU hours' };
export const REQUEST_PRICE_UNIT: PriceUnit = { unitSize: 1n, allowanceUnit: 1n, allowanceName: 'requests' };

/** Token prices are per `tokenUnit` tokens (the catalog's `token_unit`); bounds count tokens. */
export function tokenPriceUnit(tokenUnit: bigint): PriceUnit {
  return { unitSize: tokenUnit, allowanceUnit: 1n, allowanceName: 'tokens' };
}

/** A metric's prices are per `unitSize` metric units (its `unit_size`, default 1); bounds count metric units. */
export function metricPriceUnit(unitSize = 1n, allowanceName = 'units'): PriceUnit {
  return { unitSize, allowanceUnit: 1n, allowanceName };
}
