/**
 * `billctl metrics`: the Prometheus text exposition format (version 0.0.4) for node_exporter's
 * textfile collector. Every family has HELP and TYPE lines and a `billctl_` name; label values
 * are escaped as the format says; values are exact decimal text (amounts never pass through a
 * float here). Families and samples come in a fixed order, so two runs over the same store at
 * the same instant print the same bytes.
 */
import { formatAmount } from '../domain/money.js';
import { RatingError, UnpricedUsageError } from '../domain/rating.js';
import { hasTokens, TOKEN_CLASSES } from '../domain/quantities.js';
import { compareIds } from '../domain/receipt.js';
import type { Tenant } from '../domain/tenant.js';
import { errorMessage } from '../errors.js';
import { INVOICE_STATUSES } from '../store/invoice-repo.js';
import type { Store } from '../store/store.js';
import { currentPeriod } from './budgets.js';
import type { StoreRating } from './rating-service.js';

export type MetricType = 'gauge' | 'counter';

export interface Sample {
  labels: [string, string][];
  /** Exact decimal text. */
  value: string;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** Where `stripe push` records its last clean run (src/app/stripe-push.ts, LAST_CLEAN_RUN_SETTING). */
export const STRIPE_LAST_CLEAN_RUN_SETTING = 'stripe.push.last_clean_run';
export const LEDGER_STATUSES_SHOWN = ['pending', 'failed', 'sent', 'expired', 'uncertain'] as const;

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Seconds since the epoch, exactly, from milliseconds. */
export function secondsText(ms: number): string {
  const s = Math.floor(ms / 1000);
  const frac = ms - s * 1000;
  return frac === 0 ? String(s) : `${s}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`;
}

/** A sample's labels as the text format writes them inside braces: `tenant="acme",period="2026-10"`. */
export function labelText(labels: Sample['labels']): string {
  return labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
}

export function renderExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) lines.push(`${f.name}${s.labels.length === 0 ? '' : `{${labelText(s.labels)}}`} ${s.value}`);
  }
  return `${lines.join('\n')}\n`;
}

function family(name: string, type: MetricType, help: string): MetricFamily {
  return { name, type, help, samples: [] };
}

export interface MetricsReport {
  families: MetricFamily[];
  failures: { tenantId: string; error: string }[];
}

export async function collectMetrics(store: Store, rating: StoreRating, now: number, tenants?: Tenant[]): Promise<MetricsReport> {
  const gpu = family('billctl_usage_gpu_seconds', 'gauge', "GPU seconds of billable receipts in the tenant's period under way, by GPU type.");
  const tokens = family('billctl_usage_tokens', 'gauge', "Tokens of billable receipts in the tenant's period under way, by model and direction: the token class (input, cached_input, cache_write, output, reasoning; the last three only when there are any).");
  const requests = family('billctl_usage_requests', 'gauge', "Billable receipts (API calls) in the tenant's period under way.");
  const rated = family('billctl_rated_amount', 'gauge', "Rated amount before tax of the tenant's period under way (month to date), in its currency.");
  const ratingFailed = family('billctl_rating_failed', 'gauge', "1 when the tenant's period under way cannot be rated (for example usage without a price).");
  const budgets = family('billctl_budget_amount', 'gauge', 'Monthly budget of the tenant, in its currency.');
  const invoices = family('billctl_invoices', 'gauge', 'Invoices in the store by status.');
  const pushSuccess = family('billctl_stripe_push_last_success_timestamp_seconds', 'gauge', 'When the last Stripe push that finished clean ended (Unix time).');
  const buckets = family('billctl_stripe_buckets', 'gauge', 'Stripe push ledger rows (one per tenant, meter, time bucket and revision) by status: pending and failed are still to send; expired were too old for Stripe.');
  const alerts = family('billctl_alerts_fired_total', 'counter', 'Alerts recorded by alerts check, by kind.');
  const outbox = family('billctl_alert_webhook_pending', 'gauge', 'Alerts waiting to be posted to a webhook (a failed post is retried by the next alerts check).');
  const generated = family('billctl_metrics_generated_timestamp_seconds', 'gauge', 'When these metrics were written (Unix time).');
  const failures: MetricsReport['failures'] = [];

  for (const tenant of tenants ?? (await store.listTenants())) {
    const period = currentPeriod(tenant, now);
    const rows = await rating.rollups(tenant, period);
    const byGpu = new Map<string, bigint>();
    const byModel = new Map<string, bigint[]>();
    let calls = 0n;
    for (const r of rows) {
      calls += r.requests;
      if (r.gpuKey !== null && r.gpuSeconds > 0n) byGpu.set(r.gpuKey, (byGpu.get(r.gpuKey) ?? 0n) + r.gpuSeconds);
      if (r.modelKey !== null && hasTokens(r)) {
        const m = byModel.get(r.modelKey) ?? TOKEN_CLASSES.map(() => 0n);
        TOKEN_CLASSES.forEach((c, i) => (m[i]! += r[c.prop]));
        byModel.set(r.modelKey, m);
      }
    }
    const t: [string, string] = ['tenant', tenant.id];
    const p: [string, string] = ['period', period];
    for (const [k, v] of [...byGpu].sort(([a], [b]) => compareIds(a, b))) gpu.samples.push({ labels: [t, p, ['gpu', k]], value: v.toString() });
    for (const [k, v] of [...byModel].sort(([a], [b]) => compareIds(a, b))) {
      // A sample per token class (`direction` is the class's catalog price name: input, cached_input,
      // cache_write, output, reasoning); input and output always, the others when the model has them.
      TOKEN_CLASSES.forEach((c, i) => {
        if (c.extended && v[i] === 0n) return;
        tokens.samples.push({ labels: [t, p, ['model', k], ['direction', c.price.name]], value: v[i]!.toString() });
      });
    }
    requests.samples.push({ labels: [t, p], value: calls.toString() });
    try {
      const r = await rating.ratePeriod(tenant, period);
      rated.samples.push({ labels: [t, p, ['currency', r.currency]], value: formatAmount(r.totals.subtotal, r.currency) });
      ratingFailed.samples.push({ labels: [t], value: '0' });
    } catch (err) {
      if (!(err instanceof RatingError)) throw err;
      // No plan or catalog for a period without usage: nothing to rate, nothing wrong.
      if (!(err instanceof UnpricedUsageError) && !rows.some((r) => r.receipts > 0n)) continue;
      ratingFailed.samples.push({ labels: [t], value: '1' });
      failures.push({ tenantId: tenant.id, error: errorMessage(err) });
    }
  }

  for (const b of await store.budgets.list()) {
    budgets.samples.push({ labels: [['tenant', b.tenantId], ['currency', b.currency]], value: formatAmount(b.monthly, b.currency) });
  }
  const invoiceCounts = new Map((await store.alerts.invoiceCounts()).map((c) => [c.status, c.count]));
  for (const s of INVOICE_STATUSES) invoices.samples.push({ labels: [['status', s]], value: String(invoiceCounts.get(s) ?? 0) });
  const last = await stripePushLastSuccess(store);
  if (last !== undefined) pushSuccess.samples.push({ labels: [], value: secondsText(last) });
  const ledger = new Map((await store.alerts.ledgerCounts()).map((c) => [c.status, c.count]));
  const statuses = [...new Set<string>([...LEDGER_STATUSES_SHOWN, ...ledger.keys()])];
  for (const s of statuses) buckets.samples.push({ labels: [['status', s]], value: String(ledger.get(s) ?? 0) });
  for (const c of await store.alerts.countsByKind()) alerts.samples.push({ labels: [['kind', c.kind]], value: String(c.count) });
  outbox.samples.push({ labels: [], value: String((await store.alerts.pendingCounts()).reduce((n, c) => n + c.count, 0)) });
  generated.samples.push({ labels: [], value: secondsText(now) });

  return {
    families: [gpu, tokens, requests, rated, ratingFailed, budgets, invoices, pushSuccess, buckets, alerts, outbox, generated],
    failures,
  };
}

/**
 * The end of the last clean `stripe push` run (its run record), else the newest revision Stripe
 * confirmed (the ledger's sent_at); undefined when there was none.
 */
export async function stripePushLastSuccess(store: Store): Promise<number | undefined> {
  const candidates: number[] = [];
  const text = await store.getSetting(STRIPE_LAST_CLEAN_RUN_SETTING);
  if (text !== undefined) {
    try {
      const finished = (JSON.parse(text) as { finished_at?: unknown }).finished_at;
      const ms = typeof finished === 'string' ? Date.parse(finished) : NaN;
      if (Number.isFinite(ms)) candidates.push(ms);
    } catch {
      // an unreadable record counts as none
    }
  }
  const sent = await store.alerts.ledgerLastSent();
  if (sent !== undefined && Number.isFinite(Date.parse(sent))) candidates.push(Date.parse(sent));
  return candidates.length === 0 ? undefined : Math.max(...candidates);
}
