/**
 * What Stripe would bill for a metered quantity under a price shape, computed here from the tiers
 * as Stripe's documentation describes them (independently of billctl's price models and of the
 * fake Stripe), exact and rounded half up once to the currency's digits:
 *
 * - per_unit: quantity (divided by `transform_quantity[divide_by]`, rounded) × unit amount;
 * - graduated: each tier's part of the quantity × its unit amount, plus the flat amount of every
 *   tier the quantity reaches (a quantity of 0 reaches the first);
 * - volume: the whole quantity × the unit amount of the tier holding it, plus its flat amount.
 */
import { Decimal } from '../../src/domain/money.js';
import type { StripePriceShape } from '../../src/stripe/catalog-plan.js';

export function stripeAmount(s: StripePriceShape, quantity: bigint, digits: number): Decimal {
  let minor = Decimal.ZERO;
  if (s.scheme === 'per_unit') {
    const tq = s.transformQuantity;
    const q = tq === null ? quantity : tq.round === 'up' ? (quantity + tq.divideBy - 1n) / tq.divideBy : quantity / tq.divideBy;
    minor = s.unitAmount.mul(q);
  } else if (s.tiersMode === 'volume') {
    const t = s.tiers.find((x) => x.upTo === null || quantity <= x.upTo)!;
    minor = t.unitAmount.mul(quantity).add(t.flatAmount);
  } else {
    let from = 0n;
    s.tiers.forEach((t, i) => {
      const top = t.upTo === null || quantity < t.upTo ? quantity : t.upTo;
      const part = top > from ? top - from : 0n;
      if (part > 0n || i === 0) minor = minor.add(t.unitAmount.mul(part)).add(t.flatAmount);
      if (t.upTo !== null) from = t.upTo;
    });
  }
  return minor.mulDivRound(1n, 10n ** BigInt(digits), digits);
}
