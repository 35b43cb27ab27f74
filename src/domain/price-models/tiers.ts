/**
 * Tiers of the graduated and volume models (billing-rules.md, "Price models"). Bounds are held in
 * the line's counting units (seconds, tokens, requests, metric units): the catalog's bounds in
 * allowance units are turned into them when the catalog is read (GPU: × 3600).
 */
import type { Decimal } from '../money.js';

export interface PriceTier {
  /** Last unit of the tier, in counting units; null: no bound (the last tier only). */
  upTo: bigint | null;
  /** Price of the model's `unitSize` units inside this tier. */
  price: Decimal;
  /** Added once when the tier counts (graduated: holds some of q; volume: holds q); 0 by default. */
  flatFee: Decimal;
}

/** Throws a RangeError unless the tiers are what a catalog may hold: bounds ≥ 1, strictly increasing, only the last unbounded. */
export function checkTiers(tiers: readonly PriceTier[], unitSize: bigint): void {
  if (unitSize <= 0n) throw new RangeError(`unit size ${unitSize} must be positive`);
  if (tiers.length === 0) throw new RangeError('a tiered price needs at least one tier');
  let below = 0n;
  tiers.forEach((t, i) => {
    const last = i === tiers.length - 1;
    if ((t.upTo === null) !== last) throw new RangeError(`tier ${i}: only the last tier is unbounded`);
    if (t.upTo !== null && t.upTo <= below) throw new RangeError(`tier ${i}: bound ${t.upTo} is not above ${below}`);
    if (t.price.sign() < 0 || t.flatFee.sign() < 0) throw new RangeError(`tier ${i}: negative price or flat fee`);
    below = t.upTo ?? below;
  });
}

/** The units of `q` inside each tier, in tier order: tier i holds the part of q in (bound i−1, bound i]. */
export function tierParts(tiers: readonly PriceTier[], q: bigint): bigint[] {
  let below = 0n;
  return tiers.map((t) => {
    const top = t.upTo === null || q < t.upTo ? q : t.upTo;
    const part = top > below ? top - below : 0n;
    below = t.upTo ?? below;
    return part;
  });
}

/** The index of the tier holding quantity q ≥ 1 (the first whose bound is at or above it). */
export function tierHolding(tiers: readonly PriceTier[], q: bigint): number {
  const i = tiers.findIndex((t) => t.upTo === null || q <= t.upTo);
  return i < 0 ? tiers.length - 1 : i;
}
