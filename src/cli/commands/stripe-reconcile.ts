/** stripe reconcile --period YYYY-MM [--tenant ID]: Stripe's meter summaries and invoices against the push ledger. */
import { reconcile, type ReconcileRow } from '../../app/stripe-reconcile.js';
import { ExitCode, UsageError } from '../../errors.js';
import { openStripe } from '../../stripe/client.js';
import type { Context } from '../context.js';
import { stripeRetryNotice } from './stripe-shared.js';

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  if (opts.period === undefined) throw new UsageError('--period is required', 'Example: billctl stripe reconcile --period 2026-10');
  const period = String(opts.period);
  const tenantId = opts.tenant === undefined ? undefined : String(opts.tenant);
  const config = await ctx.config();
  return ctx.withStore(async (store) => {
    const client = await openStripe(ctx.io.env, { onRetry: stripeRetryNotice(ctx) });
    let report;
    try {
      report = await reconcile(store, client, { period, meters: config.stripe.meters, now: ctx.clock.now(), ...(tenantId === undefined ? {} : { tenantId }) });
    } finally {
      client.close();
    }
    const json = {
      period: report.period,
      from: new Date(report.from).toISOString(),
      to: new Date(report.to).toISOString(),
      livemode: report.livemode,
      differences: report.differences,
      rows: report.rows.map((r) => ({
        tenant_id: r.tenantId, customer: r.customerId, meter: r.meter, event_name: r.eventName, stripe: r.stripe, ledger_sent: r.sent,
        pending: r.pending, uncertain: r.uncertain, failed: r.failed, difference: r.difference, invoiced: r.invoiced, invoices: r.invoices,
        match: r.difference === 0n && (r.invoiced === null || r.invoiced === r.sent), note: r.note,
      })),
    };
    await ctx.rows<ReconcileRow>(
      report.rows,
      [
        { header: 'tenant', value: (r) => r.tenantId },
        { header: 'customer', value: (r) => r.customerId },
        { header: 'meter', value: (r) => r.meter },
        { header: 'stripe', value: (r) => r.stripe, align: 'right' },
        { header: 'ledger sent', value: (r) => r.sent, align: 'right' },
        { header: 'pending', value: (r) => (r.pending === 0n ? '' : r.pending), align: 'right' },
        { header: 'uncertain', value: (r) => (r.uncertain === 0n ? '' : r.uncertain), align: 'right' },
        { header: 'difference', value: (r) => (r.difference === 0n ? '' : (r.difference ?? '?')), align: 'right' },
        { header: 'invoiced', value: (r) => r.invoiced, align: 'right' },
        { header: 'note', value: (r) => r.note },
      ],
      json,
    );
    if (report.differences > 0) {
      ctx.warn(`${report.differences} difference(s) between Stripe and the ledger for ${period} (UTC).`);
      return ExitCode.partial;
    }
    ctx.notice(`Stripe and the ledger agree for ${period} (UTC), ${report.rows.length} customer meter(s).`);
    return ExitCode.ok;
  });
}
