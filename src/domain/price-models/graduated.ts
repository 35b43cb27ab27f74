/**
 * The graduated model: each tier prices the part of the billed quantity inside it, and a tier that
 * holds any of it adds its flat fee (billing-rules.md, "Price models"). The sum is exact and is
 * rounded once for the line.
 */
import { Decimal } from '../money.js';
import { checkTiers, type PriceTier, tierParts } from './tiers.js';

export interface GraduatedPrice {
  model: 'graduated';
  tiers: readonly PriceTier[];
  /** Counting units each tier's price is for (3600 for a GPU hour, `token_unit` tokens, ...). */
  unitSize: bigint;
}

export function graduated(tiers: readonly PriceTier[], unitSize: bigint): GraduatedPrice {
  checkTiers(tiers, unitSize);
  return { model: 'graduated', tiers, unitSize };
}

export function graduatedAmount(p: GraduatedPrice, billed: bigint, digits: number): Decimal {
  return graduatedNumerator(p, billed).mulDivRound(1n, p.unitSize, digits);
}

/** The exact amount × unitSize: Σ part × price + Σ fees × unitSize (the amount is this / unitSize, one division). */
export function graduatedNumerator(p: GraduatedPrice, billed: bigint): Decimal {
  let numerator = Decimal.ZERO;
  tierParts(p.tiers, billed).forEach((part, i) => {
    const tier = p.tiers[i]!;
    if (part > 0n) numerator = numerator.add(tier.price.mul(part)).add(tier.flatFee.mul(p.unitSize));
  });
  return numerator;
}
