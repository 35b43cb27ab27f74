/**
 * stripe push [--until TIME] [--bucket hour|day] [--concurrency N] [--rate N] [--retry-budget S] [--dry-run]:
 * send the billable usage of stripe-mode tenants to Stripe's billing meters, exactly once.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import {
  DEFAULT_RETRY_BUDGET_MS, pushExitCode, pushUsage, type EventCounts, type PushReport, type TenantPush,
} from '../../app/stripe-push.js';
import { LIVEMODE_SETTING } from '../../app/stripe-setup.js';
import { parseDate, parseRfc3339 } from '../../domain/time.js';
import { UsageError } from '../../errors.js';
import type { MeterAmounts } from '../../store/push-sql.js';
import { isSeenOnlyMeter } from '../../config.js';
import { METER_KEYS, openStripe, stripeEnv, type StripeClient } from '../../stripe/client.js';
import type { BucketSize } from '../../stripe/push-plan.js';
import type { Context } from '../context.js';
import { startProgress, type Progress } from '../progress.js';

/** An instant: RFC 3339, or a date (its UTC midnight). */
export function parseInstant(flag: string, text: string): number {
  const day = parseDate(text);
  if (day !== undefined) return day;
  const t = parseRfc3339(text);
  if (!t.ok) throw new UsageError(`${flag}: ${t.reason}`, 'Write it like 2026-11-21T12:00:00Z or 2026-11-21 (UTC midnight).');
  return t.ms;
}

export function wholeNumber(flag: string, value: unknown, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, not "${String(value)}"`);
  return n;
}

export const amountsJson = (a: MeterAmounts): Record<string, bigint> => Object.fromEntries(METER_KEYS.map((m) => [m, a[m]]));

const countsJson = (c: EventCounts) => ({
  planned: c.planned, sent: c.sent, already_sent: c.alreadySent, failed: c.failed, retry_later: c.retryLater,
  expired: c.expired, uncertain: c.uncertain,
});

const iso = (ms: number) => new Date(ms).toISOString();

export function pushJson(r: PushReport): unknown {
  return {
    dry_run: r.dryRun,
    livemode: r.livemode,
    until: iso(r.until),
    bucket: r.bucket,
    events: countsJson(r.events),
    tenants: r.tenants.map((t) => ({
      tenant_id: t.tenantId,
      customer: t.customerId,
      result: t.result,
      events: countsJson(t.events),
      planned: amountsJson(t.planned),
      sent: amountsJson(t.sent),
      expired: amountsJson(t.expired),
      expired_buckets: t.expiredBuckets ? { first: iso(t.expiredBuckets.first), last: iso(t.expiredBuckets.last), count: t.expiredBuckets.count } : null,
      uncertain: amountsJson(t.uncertain),
      waiting: amountsJson(t.waiting),
      errors: t.errors,
    })),
    retries: r.retries,
    left_for_next_run: r.leftForNextRun,
    stopped: r.stopped,
    setup_needed: r.setupNeeded,
    duration_ms: Math.round(r.durationMs),
    send_ms: Math.round(r.sendMs),
  };
}

/** Non-zero amounts in words: `gpu_seconds 412, api_calls 2`. */
export function amountsText(a: MeterAmounts): string {
  return METER_KEYS.filter((m) => a[m] !== 0n).map((m) => `${m} ${a[m]}`).join(', ');
}

function note(t: TenantPush, dryRun: boolean): string {
  const parts: string[] = [];
  if (t.events.expired > 0) parts.push(`${dryRun ? 'would expire' : 'expired'}: ${amountsText(t.expired)}`);
  if (t.events.uncertain > 0) parts.push(`${dryRun ? 'would be uncertain' : 'uncertain'}: ${amountsText(t.uncertain)}`);
  if (amountsText(t.waiting)) parts.push(`waiting: ${amountsText(t.waiting)}`);
  if (t.events.failed > 0) parts.push(`${t.events.failed} refused`);
  if (t.events.retryLater > 0) parts.push(`${t.events.retryLater} to retry`);
  parts.push(...t.errors);
  return parts.join('; ');
}

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const config = await ctx.config();
  const until = opts.until === undefined ? ctx.clock.now() : parseInstant('--until', String(opts.until));
  const bucket = opts.bucket === undefined ? undefined : (String(opts.bucket) as BucketSize);
  if (bucket !== undefined && bucket !== 'hour' && bucket !== 'day') throw new UsageError(`--bucket must be hour or day, not "${bucket}"`);
  const concurrency = wholeNumber('--concurrency', opts.concurrency ?? 8, 1, 64);
  const rate = wholeNumber('--rate', opts.rate ?? 25, 1, 10_000);
  const retryBudgetMs = wholeNumber('--retry-budget', opts.retryBudget ?? DEFAULT_RETRY_BUDGET_MS / 1000, 0, 86_400) * 1000;
  const dryRun = opts.dryRun === true;

  return ctx.withStore(async (store) => {
    let client: StripeClient | null = null;
    let livemode: boolean;
    if (dryRun) {
      // A dry run sends nothing, so it needs no key; the key's mode (or the meters') names the meters.
      livemode = ctx.io.env.STRIPE_API_KEY ? stripeEnv(ctx.io.env).livemode : (await store.getSetting(LIVEMODE_SETTING)) === 'true';
    } else {
      const env = stripeEnv(ctx.io.env);
      livemode = env.livemode;
      if (livemode) await ctx.confirm('Push usage to Stripe with a LIVE key? Customers are billed for it, and that cannot be undone.');
      client = await openStripe(ctx.io.env, { maxSockets: concurrency, timeoutMs: 20_000 });
    }
    let bar: Progress | undefined;
    let report: PushReport;
    try {
      report = await pushUsage(
        store,
        {
          until, bucket, concurrency, ratePerSecond: rate, dryRun, meters: config.stripe.meters,
          marginMs: config.stripe.expiryMarginHours * 3_600_000, retryBudgetMs,
        },
        {
          now: () => ctx.clock.now(),
          client,
          livemode,
          owner: { id: randomUUID(), host: os.hostname(), pid: process.pid },
          timeoutMs: 20_000,
          hooks: {
            planned: async (n) => {
              bar = await startProgress(ctx, 'Stripe push [{bar}] {value}/{total} events', n);
            },
            settled: (done) => bar?.update(done),
          },
        },
      );
    } finally {
      bar?.stop();
      client?.close();
    }

    const e = report.events;
    // Hourly runs that find nothing to do leave no audit entry (status shows the last run).
    if (!dryRun && (e.planned > 0 || e.expired > 0 || e.uncertain > 0 || report.tenants.some((t) => t.result !== 'ok'))) {
      await ctx.audit(store, 'stripe push', {
        livemode,
        until: iso(report.until),
        bucket: report.bucket,
        ...countsJson(report.events),
        failed_tenants: report.tenants.filter((t) => t.result !== 'ok').map((t) => t.tenantId),
        expired: Object.fromEntries(report.tenants.filter((t) => t.events.expired > 0).map((t) => [t.tenantId, amountsText(t.expired)])),
      });
    }

    const shown = dryRun ? (t: TenantPush) => t.planned : (t: TenantPush) => t.sent;
    if (report.tenants.length === 0 && ctx.format === 'table') ctx.notice('No stripe-mode tenants: nothing to push.');
    else {
      await ctx.rows(
        report.tenants,
        [
          { header: 'tenant', value: (t) => t.tenantId },
          { header: 'customer', value: (t) => t.customerId },
          { header: 'result', value: (t) => t.result.replace('_', ' ') },
          { header: dryRun ? 'events to send' : 'events sent', value: (t) => (dryRun ? t.events.planned : t.events.sent + t.events.alreadySent), align: 'right' },
          // Token class meters (cached input, cache write, reasoning) only when some tenant has usage of them.
          ...METER_KEYS.filter((m) => !isSeenOnlyMeter(m) || report.tenants.some((t) => shown(t)[m] !== 0n))
            .map((m) => ({ header: m, value: (t: TenantPush) => shown(t)[m], align: 'right' as const })),
          { header: 'note', value: (t) => note(t, dryRun) },
        ],
        pushJson(report),
      );
    }

    const notSent = dryRun ? 'would not be sent' : 'was NOT sent';
    const notResent = dryRun ? 'would not be resent' : 'were not resent';
    for (const t of report.tenants) {
      if (t.events.expired > 0 && t.expiredBuckets) {
        ctx.warn(
          `tenant ${t.tenantId}: usage too old for Stripe (buckets ${iso(t.expiredBuckets.first)} to ${iso(t.expiredBuckets.last)}) ` +
            `${notSent}: ${amountsText(t.expired)}. Bill it another way (billctl stripe status --list expired).`,
        );
      }
      if (t.events.uncertain > 0) {
        ctx.warn(
          `tenant ${t.tenantId}: ${t.events.uncertain} event(s) sent over 23 hours ago without a confirmed answer ${notResent} ` +
            `(Stripe may have forgotten the identifier, so a resend could bill twice): ${amountsText(t.uncertain)}. ` +
            'Compare with billctl stripe reconcile --period YYYY-MM.',
        );
      }
      if (t.result === 'no_customer') ctx.warn(`tenant ${t.tenantId}: no Stripe customer — run billctl stripe customers sync`);
      else if (t.result === 'skipped') ctx.warn(`tenant ${t.tenantId}: ${t.errors.join('; ')}`);
      else if (t.result === 'failed' && !dryRun) {
        ctx.warn(
          `tenant ${t.tenantId}: ${t.events.failed} event(s) refused, ${t.events.retryLater} without an answer; the next run retries them. ${t.errors.join('; ')}`,
        );
      }
    }
    if (report.stopped) ctx.warn(report.stopped);
    if (report.setupNeeded) ctx.warn(`${report.setupNeeded}: a real push would refuse. Run billctl stripe setup first.`);
    if (dryRun) ctx.notice('Dry run: nothing was sent or recorded.');
    else {
      const left = report.leftForNextRun > 0 ? `; ${report.leftForNextRun} left for the next run` : '';
      ctx.notice(
        `Pushed ${e.sent + e.alreadySent} of ${e.planned} event(s) (${e.alreadySent} already in Stripe, ${report.retries} retries${left}) ` +
          `in ${(report.durationMs / 1000).toFixed(1)} s (${livemode ? 'live' : 'test'} mode).`,
      );
    }
    return pushExitCode(report);
  });
}
