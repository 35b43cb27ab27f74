/**
 * A price as the catalog holds it (billing-rules.md, "Price models"): a decimal, the per-unit
 * price of the line's unit size, or a tiered or package model. A decimal stays a Decimal in the
 * catalog (what every catalog before price models held); `modelOf` gives the model that prices it.
 */
import { Decimal } from '../money.js';
import type { GraduatedPrice } from './graduated.js';
import type { PriceModel } from './index.js';
import type { PackagePrice } from './package.js';
import { parsePrice, priceDocument } from './parse.js';
import { perUnit } from './per-unit.js';
import type { PriceUnit } from './price-unit.js';
import type { VolumePrice } from './volume.js';

/** Every model but per-unit. */
export type TieredPrice = GraduatedPrice | VolumePrice | PackagePrice;

/** A catalog price: a per-unit decimal, or a tiered or package model. */
export type CatalogPrice = Decimal | TieredPrice;

/** The model that prices a catalog price for lines counted in `unit`. */
export function modelOf(price: CatalogPrice, unit: PriceUnit): PriceModel {
  return price instanceof Decimal ? perUnit(price, unit.unitSize) : price;
}

/** True when the price is the plain decimal 0 (a tiered or package price never is). */
export function isZeroPrice(price: CatalogPrice): boolean {
  return price instanceof Decimal && price.isZero();
}

/**
 * Reads a catalog price at `path` (see `parsePrice`): a Decimal for a plain decimal, else the model.
 * Problems are `path: text`, every one of them.
 */
export function parseCatalogPrice(value: unknown, path: string, unit: PriceUnit): { price?: CatalogPrice; problems: string[] } {
  const r = parsePrice(value, path, unit);
  if (r.model === undefined) return { problems: r.problems };
  return { price: r.model.model === 'per_unit' ? r.model.price : r.model, problems: [] };
}

/** The catalog document form of a price: the decimal's text, or the model's map (see `priceDocument`). */
export function catalogPriceDocument(price: CatalogPrice, unit: PriceUnit): string | Record<string, unknown> {
  return price instanceof Decimal ? price.toString() : priceDocument(price, unit);
}

/**
 * A price as the store keeps it in a text column: the decimal's text, or the model's document as
 * JSON. Read back with `catalogPriceFromStored`.
 */
export function catalogPriceToStored(price: CatalogPrice, unit: PriceUnit): string {
  return price instanceof Decimal ? price.toString() : JSON.stringify(priceDocument(price, unit));
}

/** A stored price (trusted: validated on import) back as a catalog price. */
export function catalogPriceFromStored(stored: unknown, unit: PriceUnit): CatalogPrice {
  const value = typeof stored === 'string' && stored.trimStart().startsWith('{') ? JSON.parse(stored) as unknown : stored;
  if (typeof value === 'string') return Decimal.parse(value);
  const r = parseCatalogPrice(value, 'stored price', unit);
  if (r.price === undefined) throw new Error(`a stored catalog price does not read back: ${r.problems.join('; ')}`);
  return r.price;
}

/**
 * A catalog price in one short text for `catalog show`: "0.90", "volume (up to 10: 0.90; above: 0.75 + 1 flat fee)",
 * "package of 1000000: 0.05". Bounds and sizes in allowance units, as the catalog wrote them.
 */
export function catalogPriceText(price: CatalogPrice, unit: PriceUnit): string {
  if (price instanceof Decimal) return price.toString();
  switch (price.model) {
    case 'graduated':
    case 'volume':
      return `${price.model} (${price.tiers.map((t) =>
        `${t.upTo === null ? 'above' : `up to ${(t.upTo / unit.allowanceUnit).toString()}`}: ${t.price.toString()}` +
        (t.flatFee.isZero() ? '' : ` + ${t.flatFee.toString()} flat fee`)).join('; ')})`;
    case 'package':
      return `package of ${(price.size / unit.allowanceUnit).toString()}: ${price.price.toString()}`;
    default: {
      price satisfies never;
      throw new Error(`unknown price model ${JSON.stringify(price)}`);
    }
  }
}
