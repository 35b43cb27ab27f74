/**
 * stripe link <tenant> <cus_…> [--replace] [--offline]: name the Stripe customer of a tenant.
 * Linking never changes the billing mode: an invoice-mode tenant linked to a customer is still
 * invoiced and its usage is not pushed (pushing as well would bill it twice).
 */
import { checkCustomerId, planLink, recordLink, verifyCustomer } from '../../app/stripe-customers.js';
import { openStripe } from '../../stripe/client.js';
import type { Context } from '../context.js';
import { stripeRetryNotice } from './stripe-shared.js';

export async function run(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const tenantId = String(args[0]);
  const customerId = checkCustomerId(String(args[1]));
  const replace = opts.replace === true;
  const offline = opts.offline === true;
  return ctx.withStore(async (store) => {
    const plan = await planLink(store, tenantId, customerId, replace);
    let tagged = false;
    if (!offline && plan.action !== 'unchanged') {
      const client = await openStripe(ctx.io.env, { onRetry: stripeRetryNotice(ctx) });
      try {
        tagged = await verifyCustomer(client, tenantId, customerId);
      } finally {
        client.close();
      }
    }
    const { tenant, previous } = await store.transaction(async () => {
      const r = await recordLink(store, tenantId, customerId, replace, ctx.nowIso());
      if (plan.action !== 'unchanged') {
        await ctx.audit(store, 'stripe link', { tenant: tenantId, customer: customerId, previous: r.previous, verified: !offline, tagged });
      }
      return r;
    });
    const json = {
      tenant_id: tenant.id,
      stripe_customer_id: tenant.stripeCustomerId,
      previous_customer_id: previous === customerId ? null : previous,
      action: plan.action,
      verified: !offline && plan.action !== 'unchanged',
      tagged,
      billing_mode: tenant.billingMode,
    };
    await ctx.record(Object.entries(json), json);
    if (tenant.billingMode !== 'stripe') {
      ctx.notice(
        `tenant ${tenant.id} is billed by invoice, so its usage is not pushed to Stripe. ` +
          `To bill it through Stripe instead: billctl tenant update ${tenant.id} --billing-mode stripe`,
      );
    }
    if (offline && plan.action !== 'unchanged') ctx.notice(`${customerId} was not checked in Stripe (--offline).`);
    return 0;
  });
}
