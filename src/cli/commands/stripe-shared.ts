/** What the stripe commands share: a notice when a Stripe call is retried. */
import type { StripeFailure } from '../../stripe/client.js';
import type { Context } from '../context.js';

export function stripeRetryNotice(ctx: Context): (failure: StripeFailure, attempt: number, delayMs: number) => void {
  return (failure, attempt, delayMs) => ctx.notice(`Stripe: ${failure.message}; retry ${attempt} in ${delayMs} ms`);
}
