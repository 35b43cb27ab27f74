/** stripe customers sync [--tenant ID] [--dry-run]: a Stripe customer for every stripe-mode tenant. */
import { syncCustomers, type CustomerSyncRow } from '../../app/stripe-customers.js';
import { ExitCode } from '../../errors.js';
import { openStripe } from '../../stripe/client.js';
import type { Context } from '../context.js';
import { stripeRetryNotice } from './stripe-shared.js';

export async function syncCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const dryRun = opts.dryRun === true;
  const tenantId = opts.tenant === undefined ? undefined : String(opts.tenant);
  return ctx.withStore(async (store) => {
    const client = await openStripe(ctx.io.env, { onRetry: stripeRetryNotice(ctx) });
    let report;
    try {
      report = await syncCustomers(store, client, { tenantId, dryRun, at: ctx.nowIso() });
    } finally {
      client.close();
    }
    const count = (a: CustomerSyncRow['action']) => report.rows.filter((r) => r.action === a).length;
    const counts = { created: count('created'), found: count('found'), failed: count('failed') };
    if (!dryRun && report.rows.length > 0) {
      await ctx.audit(store, 'stripe customers sync', {
        ...counts,
        livemode: client.livemode,
        linked: Object.fromEntries(report.rows.filter((r) => r.customerId && r.action !== 'failed').map((r) => [r.tenantId, r.customerId])),
        failed_tenants: report.rows.filter((r) => r.action === 'failed').map((r) => r.tenantId),
      });
    }
    const json = {
      livemode: client.livemode,
      dry_run: dryRun,
      ...counts,
      already_linked: report.alreadyLinked,
      tenants: report.rows.map((r) => ({ tenant_id: r.tenantId, stripe_customer_id: r.customerId, action: r.action, note: r.note })),
    };
    if (report.rows.length === 0 && ctx.format === 'table') {
      ctx.notice(`Every stripe-mode tenant has a Stripe customer (${report.alreadyLinked}).`);
    } else {
      await ctx.rows(
        report.rows,
        [
          { header: 'tenant', value: (r) => r.tenantId },
          { header: 'customer', value: (r) => r.customerId },
          { header: 'action', value: (r) => r.action.replace('_', ' ') },
          { header: 'note', value: (r) => r.note },
        ],
        json,
      );
    }
    if (counts.failed > 0) {
      ctx.warn(`${counts.failed} tenant(s) failed; the others were linked. Run the command again to retry them.`);
      return ExitCode.partial;
    }
    return ExitCode.ok;
  });
}
