/**
 * Catalog prices in and out: a decimal (per unit) or `{ model: graduated | volume, tiers }`,
 * `{ model: package, size, price }` (billing-rules.md, "Price models"). Every problem is named by
 * its field path, all of them at once, so a catalog author fixes a file in one pass. Bounds and
 * sizes are read in allowance units and held in counting units (GPU: × 3600).
 */
import { type CatalogRead, Decimal, readCatalogDecimal, readCatalogWhole } from '../money.js';
import { graduated } from './graduated.js';
import type { PriceModel } from './index.js';
import { packagePrice } from './package.js';
import { perUnit } from './per-unit.js';
import type { PriceUnit } from './price-unit.js';
import type { PriceTier } from './tiers.js';
import { volume } from './volume.js';

export interface PriceParseResult {
  /** Set exactly when `problems` is empty. */
  model?: PriceModel;
  /** `path: what is wrong`, in the catalog's style. */
  problems: string[];
}

const MODEL_FIELDS: Record<'graduated' | 'volume' | 'package', readonly string[]> = {
  graduated: ['model', 'tiers'],
  volume: ['model', 'tiers'],
  package: ['model', 'size', 'price'],
};
const TIER_FIELDS: readonly string[] = ['up_to', 'price', 'flat_fee'];
const SHAPE = 'a decimal price (like "0.003") or a price model ({ model: graduated | volume | package, ... })';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

const absent = (v: unknown) => v === undefined || v === null || v === '';

/**
 * Reads the price at `path` (`plans.pro.rates.token_rates.qwen-70b.output`) of a line whose units
 * `unit` describes. A missing value is a problem: the caller handles optional prices first.
 */
export function parsePrice(value: unknown, path: string, unit: PriceUnit): PriceParseResult {
  const problems: string[] = [];
  const problem = (at: string, text: string): undefined => {
    problems.push(`${at}: ${text}`);
    return undefined;
  };
  const read = <T>(r: CatalogRead<T>, at: string, hint = ''): T | undefined =>
    'problem' in r ? problem(at, r.problem + hint) : r.value;
  const decimal = (v: unknown, at: string, fallback?: Decimal): Decimal | undefined => {
    if (absent(v)) return fallback ?? problem(at, 'missing');
    return read(readCatalogDecimal(v), at);
  };
  /** A whole number ≥ 1 of allowance units, in counting units. */
  const allowance = (v: unknown, at: string, what: string): bigint | undefined => {
    const n = read(readCatalogWhole(v, 1n), at, `: ${what} count${what.endsWith('s') ? '' : 's'} whole ${unit.allowanceName}`);
    return n === undefined ? undefined : n * unit.allowanceUnit;
  };
  const done = (model: PriceModel | undefined): PriceParseResult =>
    problems.length === 0 && model !== undefined ? { model, problems } : { problems };

  if (absent(value)) return done(problem(path, 'missing'));
  if (typeof value === 'string' || typeof value === 'number') {
    const price = decimal(value, path);
    return done(price && perUnit(price, unit.unitSize));
  }
  if (!isRecord(value)) return done(problem(path, `must be ${SHAPE}`));

  const name = value.model;
  if (absent(name)) return done(problem(`${path}.model`, 'missing (graduated, volume or package)'));
  if (name === 'per_unit') {
    return done(problem(`${path}.model`, '"per_unit": write a per-unit price as a plain decimal, like "0.003"'));
  }
  if (name !== 'graduated' && name !== 'volume' && name !== 'package') {
    const shown = typeof name === 'string' ? JSON.stringify(name) : String(name);
    return done(problem(`${path}.model`, `${shown} is not a price model (graduated, volume or package)`));
  }
  const known = MODEL_FIELDS[name];
  for (const k of Object.keys(value)) {
    if (!known.includes(k)) problem(`${path}.${k}`, `unknown field (a ${name} price has ${known.slice(0, -1).join(', ')} and ${known.at(-1)})`);
  }

  if (name === 'package') {
    const size = absent(value.size) ? problem(`${path}.size`, `missing (a whole number of ${unit.allowanceName}, at least 1)`)
      : allowance(value.size, `${path}.size`, 'a package size');
    const price = decimal(value.price, `${path}.price`);
    return done(size !== undefined && price !== undefined ? packagePrice(size, price) : undefined);
  }

  const tiersAt = `${path}.tiers`;
  const rawTiers = value.tiers;
  if (absent(rawTiers)) return done(problem(tiersAt, 'missing (a list of { up_to, price, flat_fee }, the last with up_to: null)'));
  if (!Array.isArray(rawTiers)) return done(problem(tiersAt, 'must be a list of { up_to, price, flat_fee }, the last with up_to: null'));
  if (rawTiers.length === 0) return done(problem(tiersAt, 'empty: a tiered price needs at least one tier, the last with up_to: null'));
  const tiers: PriceTier[] = [];
  /** The last tier read with a bound (or null), named relative to the price: `tiers[0]`. */
  let previous: { name: string; upTo: bigint | null } | undefined;
  let afterUnbounded = false;
  rawTiers.forEach((t: unknown, i: number) => {
    const at = `${tiersAt}[${i}]`;
    if (!isRecord(t)) return problem(at, 'must be a map: { up_to, price, flat_fee }');
    for (const k of Object.keys(t)) {
      if (!TIER_FIELDS.includes(k)) problem(`${at}.${k}`, 'unknown field (a tier has up_to, price and flat_fee)');
    }
    const last = i === rawTiers.length - 1;
    const price = decimal(t.price, `${at}.price`);
    const flatFee = decimal(t.flat_fee, `${at}.flat_fee`, Decimal.ZERO);
    let upTo: bigint | null | undefined;
    if (!('up_to' in t) || t.up_to === undefined || t.up_to === '') {
      problem(`${at}.up_to`, `missing (a whole number of ${unit.allowanceName}, or null for the last tier)`);
    } else if (t.up_to === null) {
      upTo = null;
    } else {
      upTo = allowance(t.up_to, `${at}.up_to`, 'tier bounds');
    }
    // Order: each bound above the one before; nothing after an unbounded tier; the last unbounded.
    // One mistake makes one problem: a tier after an unbounded one is named once, at the first.
    if (previous?.upTo === null) {
      if (!afterUnbounded) problem(at, `follows ${previous.name}, whose up_to is null: only the last tier is unbounded`);
      afterUnbounded = true;
    } else if (typeof upTo === 'bigint') {
      if (typeof previous?.upTo === 'bigint' && upTo <= previous.upTo) {
        problem(`${at}.up_to`, `${String(t.up_to)} is not above ${previous.name}.up_to, ${allowanceText(previous.upTo, unit)}: tiers are listed in strictly increasing order`);
      }
      if (last) problem(`${at}.up_to`, `${String(t.up_to)}, but the last tier's up_to must be null (no bound)`);
    }
    if (upTo !== undefined) previous = { name: `tiers[${i}]`, upTo };
    if (price !== undefined && flatFee !== undefined && upTo !== undefined) tiers.push({ upTo, price, flatFee });
  });
  if (problems.length > 0) return done(undefined);
  return done(name === 'graduated' ? graduated(tiers, unit.unitSize) : volume(tiers, unit.unitSize));
}

/** Counting units back in allowance units, as the catalog wrote them. */
function allowanceText(counting: bigint, unit: PriceUnit): string {
  return (counting / unit.allowanceUnit).toString();
}

/**
 * The catalog form of a price, as `parsePrice` reads it back: a decimal's text, or the model's map
 * with bounds and sizes in allowance units (whole numbers ≤ 2^53 − 1, as read) and a tier's
 * `flat_fee` only when it is not 0. Decimals keep their written text ("0.90"), so the form is
 * canonical for a digest.
 */
export function priceDocument(model: PriceModel, unit: PriceUnit): string | Record<string, unknown> {
  switch (model.model) {
    case 'per_unit':
      return model.price.toString();
    case 'graduated':
    case 'volume':
      return {
        model: model.model,
        tiers: model.tiers.map((t) => ({
          up_to: t.upTo === null ? null : Number(t.upTo / unit.allowanceUnit),
          price: t.price.toString(),
          ...(t.flatFee.isZero() ? {} : { flat_fee: t.flatFee.toString() }),
        })),
      };
    case 'package':
      return { model: 'package', size: Number(model.size / unit.allowanceUnit), price: model.price.toString() };
    default: {
      model satisfies never;
      throw new Error(`unknown price model ${JSON.stringify(model)}`);
    }
  }
}
