/**
 * The per-unit price model: `billed × price / unitSize`, rounded half up once for the whole line
 * (billing-rules.md, step 5). GPU prices are per hour of seconds (unitSize 3600), token prices per
 * `token_unit` tokens, request prices per request (unitSize 1).
 */
import type { Decimal } from '../money.js';

export interface PerUnitPrice {
  model: 'per_unit';
  /** Price of `unitSize` units. */
  price: Decimal;
  /** How many units the price is for; > 0. */
  unitSize: bigint;
}

export function perUnit(price: Decimal, unitSize: bigint): PerUnitPrice {
  if (unitSize <= 0n) throw new RangeError(`unit size ${unitSize} must be positive`);
  return { model: 'per_unit', price, unitSize };
}

export function perUnitAmount(p: PerUnitPrice, billed: bigint, digits: number): Decimal {
  return p.price.mulDivRound(billed, p.unitSize, digits);
}
