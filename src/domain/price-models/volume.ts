/**
 * The volume model: the tier that holds the whole billed quantity prices all of it, plus that
 * tier's flat fee; nothing billed costs nothing (billing-rules.md, "Price models"). Crossing a bound
 * into a cheaper tier can lower the amount: that is the model, not a defect.
 */
import { Decimal } from '../money.js';
import { checkTiers, type PriceTier, tierHolding } from './tiers.js';

export interface VolumePrice {
  model: 'volume';
  tiers: readonly PriceTier[];
  /** Counting units each tier's price is for (3600 for a GPU hour, `token_unit` tokens, ...). */
  unitSize: bigint;
}

export function volume(tiers: readonly PriceTier[], unitSize: bigint): VolumePrice {
  checkTiers(tiers, unitSize);
  return { model: 'volume', tiers, unitSize };
}

export function volumeAmount(p: VolumePrice, billed: bigint, digits: number): Decimal {
  if (billed === 0n) return Decimal.of(0n, digits);
  return volumeNumerator(p, billed).mulDivRound(1n, p.unitSize, digits);
}

/** The exact amount × unitSize: billed × price + fee × unitSize of the tier holding it (0 for nothing billed). */
export function volumeNumerator(p: VolumePrice, billed: bigint): Decimal {
  if (billed === 0n) return Decimal.ZERO;
  const tier = p.tiers[tierHolding(p.tiers, billed)]!;
  // billed × price / unitSize + fee, as (billed × price + fee × unitSize) / unitSize: one rounding.
  return tier.price.mul(billed).add(tier.flatFee.mul(p.unitSize));
}
