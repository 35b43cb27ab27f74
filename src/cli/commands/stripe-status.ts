/** stripe status [--tenant ID] [--list STATUS]: the push ledger per tenant and meter, and the last push. */
import { ledgerRows, pushStatus, type MeterStatus, type StatusCell, type TenantStatus } from '../../app/stripe-status.js';
import { UsageError } from '../../errors.js';
import { LEDGER_STATUSES, type LedgerRow, type LedgerStatus } from '../../store/ledger-repo.js';
import type { Context } from '../context.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const cellJson = (c: StatusCell) => ({ revisions: c.revisions, value: c.value });
const cellText = (c: StatusCell) => (c.revisions === 0 ? '' : `${c.value} (${c.revisions})`);

function rowJson(r: LedgerRow) {
  return {
    tenant_id: r.tenantId, meter: r.meter, bucket_start: iso(r.bucketStart), revision: r.revision, value: r.value, status: r.status,
    customer: r.customerId, event_name: r.eventName, identifier: r.identifier, attempts: r.attempts,
    first_attempt_at: iso(r.firstAttemptAt), sent_at: r.sentAt, created_at: r.createdAt, last_error: r.lastError,
  };
}

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const tenantId = opts.tenant === undefined ? undefined : String(opts.tenant);
  const list = opts.list === undefined ? undefined : String(opts.list);
  if (list !== undefined && !(LEDGER_STATUSES as readonly string[]).includes(list)) {
    throw new UsageError(`--list must be one of ${LEDGER_STATUSES.join(', ')}, not "${list}"`);
  }
  return ctx.withStore(async (store) => {
    if (list !== undefined) {
      const rows = await ledgerRows(store, list as LedgerStatus, tenantId);
      await ctx.rows(
        rows,
        [
          { header: 'tenant', value: (r) => r.tenantId },
          { header: 'meter', value: (r) => r.meter },
          { header: 'bucket', value: (r) => iso(r.bucketStart) },
          { header: 'revision', value: (r) => r.revision, align: 'right' },
          { header: 'value', value: (r) => r.value, align: 'right' },
          { header: 'customer', value: (r) => r.customerId },
          { header: 'attempts', value: (r) => r.attempts, align: 'right' },
          { header: 'last error', value: (r) => r.lastError },
        ],
        rows.map(rowJson),
      );
      if (rows.length === 0 && ctx.format === 'table') ctx.notice(`No ${list} revisions.`);
      return 0;
    }
    const s = await pushStatus(store, tenantId === undefined ? {} : { tenantId });
    const json = {
      bucket: s.bucket,
      last_run: s.lastRun,
      last_clean_run: s.lastCleanRun,
      lock: s.lock ? { host: s.lock.host, pid: s.lock.pid, since: s.lock.acquiredAt, heartbeat_at: iso(s.lock.heartbeatAt) } : null,
      tenants: s.tenants.map((t) => ({
        tenant_id: t.tenantId,
        customer: t.customerId,
        billing_mode: t.billingMode,
        last_sent_at: t.lastSentAt,
        meters: t.meters.map((m) => ({
          meter: m.meter,
          ...Object.fromEntries(LEDGER_STATUSES.map((st) => [st, cellJson(m.byStatus[st])])),
          oldest_unsent_bucket: iso(m.oldestUnsent),
          last_sent_at: m.lastSentAt,
        })),
        subscription: t.subscription,
        stripe_invoices: t.invoices.map((i) => ({
          id: i.id, number: i.number, status: i.status, amount_due: i.amountDue, amount_paid: i.amountPaid, currency: i.currency,
          period_start: iso(i.periodStart === null ? null : i.periodStart * 1000), period_end: iso(i.periodEnd === null ? null : i.periodEnd * 1000),
          hosted_invoice_url: i.hostedUrl,
        })),
      })),
    };
    const flat = s.tenants.flatMap((t) => t.meters.map((m) => ({ t, m })));
    await ctx.rows<{ t: TenantStatus; m: MeterStatus }>(
      flat,
      [
        { header: 'tenant', value: (r) => r.t.tenantId },
        { header: 'customer', value: (r) => r.t.customerId },
        { header: 'meter', value: (r) => r.m.meter },
        ...LEDGER_STATUSES.map((st) => ({ header: st, value: (r: { m: MeterStatus }) => cellText(r.m.byStatus[st]), align: 'right' as const })),
        { header: 'oldest unsent', value: (r) => iso(r.m.oldestUnsent) },
        { header: 'last sent', value: (r) => r.m.lastSentAt },
      ],
      json,
    );
    if (ctx.format === 'table') {
      ctx.notice('Values are units, with the number of revisions in brackets.');
      const last = s.lastRun;
      if (last) {
        ctx.notice(
          `Last push: ${last.finished_at} (${last.clean ? 'clean' : `needs attention: ${last.failed_tenants.join(', ') || 'expired or uncertain usage'}`}); ` +
            `last clean push: ${s.lastCleanRun?.finished_at ?? 'never'}.`,
        );
      } else ctx.notice('No push has run yet.');
      for (const t of s.tenants) {
        const sub = t.subscription ? `subscription ${t.subscription.id} (${t.subscription.status.replace(/_/g, ' ')}; ${t.subscription.plan}, catalog ${t.subscription.version})` : 'no subscription';
        const invoices = t.invoices.slice(0, 3).map((i) => `${i.number ?? i.id} ${i.status.replace(/_/g, ' ')} ${i.amountDue ?? ''} ${i.currency ?? ''}`.trim());
        if (t.subscription || invoices.length > 0) ctx.notice(`${t.tenantId}: ${sub}; Stripe invoices: ${invoices.join(', ') || 'none yet'}.`);
      }
      if (s.lock) ctx.notice(`The push lock is held: host ${s.lock.host}, pid ${s.lock.pid}, since ${s.lock.acquiredAt}, heartbeat ${iso(s.lock.heartbeatAt)}.`);
    }
    return 0;
  });
}
