/**
 * `billctl alerts check` (made for cron): per tenant, budget thresholds crossed by the
 * month-to-date rated amount and by the projected month end, plan allowances at 80/100/120 %
 * (hard-cap plans flagged past 100 %), and spikes of a day's cost against the 7 days before it.
 *
 * Each alert fires once per (tenant, period, kind, threshold): it is recorded, so the next run
 * stays quiet until something new happens. New alerts go to a webhook through an outbox, so a
 * post that fails is retried by the next run instead of being lost.
 *
 * The evaluation (`evaluateTenant`) is pure: plain numbers in, alert candidates out. This file
 * does the reading, recording and posting around it.
 */
import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import { Decimal, currencyDigits, formatAmount } from '../domain/money.js';
import {
  formatDayNumber, localDayNumber, periodDays, periodInterval, type Period,
} from '../domain/period.js';
import { RatingError, SECONDS_PER_HOUR, resolvePlanTerms, type RatedPeriod } from '../domain/rating.js';
import { totalTokens } from '../domain/quantities.js';
import type { Tenant } from '../domain/tenant.js';
import { LockHeldError, errorMessage } from '../errors.js';
import type { Budget, UserBudget } from '../store/budget-repo.js';
import type { RollupRow } from '../store/ingest.js';
import type { AlertRecord, NewAlert } from '../store/alert-repo.js';
import type { LockHolder, LockOwner } from '../store/lock-repo.js';
import { withRunLock } from './run-lock.js';
import type { Store } from '../store/store.js';
import {
  currentPeriod, divide, gpuHoursText, projectMonthEnd, reachedPercent, userSpending, wholePercent,
} from './budgets.js';
import type { StoreRating } from './rating-service.js';

export const ALLOWANCE_THRESHOLDS: readonly number[] = [80, 100, 120];
/** One `alerts check` at a time: overlapping cron runs would post the same queued alert twice. */
export const ALERTS_LOCK = 'alerts-check';
/** After this many alerts in a row fail to post, the rest wait for the next run (the webhook is down). */
export const WEBHOOK_GIVE_UP_AFTER = 3;
/** A post still failing this long after its alert fired is given up (stale news; a URL that no run uses any more). */
export const POST_EXPIRY_DAYS = 7;
export const SPIKE_WINDOW_DAYS = 7;

export type AllowanceMetric = 'gpu_hours' | 'tokens' | 'api_calls';
export const ALLOWANCE_METRICS: readonly AllowanceMetric[] = ['gpu_hours', 'tokens', 'api_calls'];

export type AlertKind = 'budget' | 'budget_projected' | 'user_budget' | `allowance_${AllowanceMetric}` | 'spike' | 'payment_failed';

export interface AlertCandidate {
  tenantId: string;
  period: Period;
  kind: AlertKind;
  threshold: string;
  text: string;
  /** The JSON object of the alert, without `fired_at` (added when it is recorded). */
  details: Record<string, unknown>;
}

/** Usage of a period's billable receipts, from rollups. */
export interface PeriodUsage {
  gpuSeconds: bigint;
  tokens: bigint;
  apiCalls: bigint;
}

export function usageFromRollups(rows: readonly RollupRow[]): PeriodUsage {
  const u: PeriodUsage = { gpuSeconds: 0n, tokens: 0n, apiCalls: 0n };
  for (const r of rows) {
    u.gpuSeconds += r.gpuSeconds;
    u.tokens += totalTokens(r);
    u.apiCalls += r.requests;
  }
  return u;
}

/** What `evaluateTenant` looks at. */
export interface TenantFacts {
  tenantId: string;
  period: Period;
  currency: string;
  budget?: { monthly: Decimal; thresholds: readonly number[] } | undefined;
  /** Budgets of single users, with what each has spent (`usage --by user`). */
  users?: { userId: string; monthly: Decimal; thresholds: readonly number[]; spent: Decimal }[] | undefined;
  /** Month-to-date rated amount before tax. */
  spent: Decimal;
  /** Projected month end (null when the period is not under way). */
  projected: Decimal | null;
  plan: { id: string; name: string; hardCap: boolean };
  /** What the plan grants: GPU in seconds. */
  granted: PeriodUsage;
  used: PeriodUsage;
  /** The last complete day's cost and the 7 days before it, when the spike check applies. */
  spike?: { day: string; period: Period; cost: Decimal; before: Decimal[]; factor: Decimal } | undefined;
}

const METRIC_WORDS: Record<AllowanceMetric, string> = { gpu_hours: 'GPU hours', tokens: 'tokens', api_calls: 'API calls' };

function quantity(metric: AllowanceMetric, v: bigint): number | string {
  // Whole quantities are JSON numbers; GPU hours are decimal text (seconds / 3600).
  return metric === 'gpu_hours' ? gpuHoursText(v) : Number(v);
}

function quantityText(metric: AllowanceMetric, v: bigint): string {
  return metric === 'gpu_hours' ? `${gpuHoursText(v)} h` : v.toLocaleString('en-US');
}

const metricOf = (u: PeriodUsage, m: AllowanceMetric): bigint =>
  m === 'gpu_hours' ? u.gpuSeconds : m === 'tokens' ? u.tokens : u.apiCalls;

/** The highest of `thresholds` that `reached` says is reached, if any. */
function highestReached(thresholds: readonly number[], reached: (percent: number) => boolean): number | undefined {
  let best: number | undefined;
  for (const t of thresholds) if ((best === undefined || t > best) && reached(t)) best = t;
  return best;
}

/**
 * The alerts a tenant-period's facts call for (whether or not they fired before): per budget and
 * per allowance, the highest threshold reached, so a jump past several thresholds sends one alert
 * (the lower ones never fire later either: the next run finds the highest one already fired).
 */
export function evaluateTenant(f: TenantFacts): AlertCandidate[] {
  const out: AlertCandidate[] = [];
  const base = { tenantId: f.tenantId, period: f.period };
  const money = (d: Decimal) => `${formatAmount(d, f.currency)} ${f.currency}`;
  if (f.budget) {
    const { monthly } = f.budget;
    // Several thresholds crossed at once (a jump to 116 %): only the highest one fires.
    const t = highestReached(f.budget.thresholds, (p) => reachedPercent(f.spent, monthly, p));
    if (t !== undefined) {
      const pct = wholePercent(f.spent, monthly);
      out.push({
        ...base, kind: 'budget', threshold: String(t),
        text: `${f.tenantId} has spent ${money(f.spent)} of its ${money(monthly)} monthly budget in ${f.period} (${pct} %), past the ${t} % threshold.`,
        details: {
          value: formatAmount(f.spent, f.currency), limit: formatAmount(monthly, f.currency), unit: f.currency, percent: Number(pct),
        },
      });
    }
    // The projection matters only while the budget is not yet spent (then the 100 % alert says it).
    if (f.projected !== null && f.spent.cmp(monthly) < 0 && f.projected.cmp(monthly) >= 0) {
      out.push({
        ...base, kind: 'budget_projected', threshold: '100',
        text: `${f.tenantId} is on course to spend ${money(f.projected)} in ${f.period}, over its ${money(monthly)} monthly budget (${money(f.spent)} so far).`,
        details: {
          value: formatAmount(f.projected, f.currency), limit: formatAmount(monthly, f.currency), unit: f.currency,
          percent: Number(wholePercent(f.projected, monthly)), spent: formatAmount(f.spent, f.currency),
        },
      });
    }
  }
  for (const u of f.users ?? []) {
    // As for the tenant's budget: only the highest threshold reached fires.
    const t = highestReached(u.thresholds, (p) => reachedPercent(u.spent, u.monthly, p));
    if (t === undefined) continue;
    const pct = wholePercent(u.spent, u.monthly);
    out.push({
      // The threshold names the user too: an alert fires once per (tenant, period, kind, threshold).
      ...base, kind: 'user_budget', threshold: `${t} ${u.userId}`,
      text: `User ${u.userId} of ${f.tenantId} has spent ${money(u.spent)} of their ${money(u.monthly)} monthly budget in ${f.period} (${pct} %), past the ${t} % threshold.`,
      details: {
        user_id: u.userId, value: formatAmount(u.spent, f.currency), limit: formatAmount(u.monthly, f.currency), unit: f.currency, percent: Number(pct),
      },
    });
  }
  for (const m of ALLOWANCE_METRICS) {
    const granted = metricOf(f.granted, m);
    const used = metricOf(f.used, m);
    if (granted <= 0n) continue; // nothing granted: every unit is overage, no percentage to watch
    const t = highestReached(ALLOWANCE_THRESHOLDS, (p) => reachedPercent(used, granted, p));
    if (t === undefined) continue;
    const pct = wholePercent(used, granted);
    const overHardCap = f.plan.hardCap && used > granted;
    const tail = overHardCap
      ? ' It is over its hard cap.'
      : f.plan.hardCap && used === granted ? ' The hard cap stops further use.' : '';
    out.push({
      ...base, kind: `allowance_${m}`, threshold: String(t),
      text: `${f.tenantId} has used ${pct} % of the ${METRIC_WORDS[m]} of its ${f.plan.name} plan in ${f.period} ` +
        `(${quantityText(m, used)} of ${quantityText(m, granted)}).${tail}`,
      details: {
        metric: m, value: quantity(m, used), limit: quantity(m, granted), unit: m === 'gpu_hours' ? 'hour' : m === 'tokens' ? 'token' : 'request',
        percent: Number(pct), plan: f.plan.id, hard_cap: f.plan.hardCap, over_hard_cap: overHardCap,
      },
    });
  }
  if (f.spike) {
    const s = f.spike;
    const sum = Decimal.sum(s.before);
    // cost > factor × mean ⟺ cost × 7 > factor × sum; no baseline (sum 0) is no spike.
    if (sum.sign() > 0 && s.cost.mul(BigInt(s.before.length)).cmp(s.factor.mul(sum)) > 0) {
      const mean = divide(sum, Decimal.of(BigInt(s.before.length)), currencyDigits(f.currency));
      const times = divide(s.cost.mul(BigInt(s.before.length)), sum, 1);
      out.push({
        tenantId: f.tenantId, period: s.period, kind: 'spike', threshold: s.day,
        text: `${f.tenantId} used ${money(s.cost)} on ${s.day}, ${times.toString()}× the mean of the ${s.before.length} days before (${money(mean)}; alert factor ${s.factor.toString()}).`,
        details: {
          day: s.day, value: formatAmount(s.cost, f.currency), mean: formatAmount(mean, f.currency), unit: f.currency,
          factor: s.factor.toString(), days: s.before.length,
        },
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/** Posts one JSON body; resolves with null on a 2xx answer, else the error (never the URL). */
export type Poster = (url: string, body: string) => Promise<string | null>;

export const POST_TIMEOUT_MS = 10_000;

/**
 * Why a post failed, in words an operator can act on (`ECONNREFUSED 127.0.0.1:9`, `ENOTFOUND
 * hooks.example`, `timed out after 10 s`), with the URL's credentials scrubbed should any appear.
 */
export function postError(err: unknown, url: URL): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  let text: string;
  if (e.name === 'AbortError' || e.name === 'TimeoutError') text = `timed out after ${POST_TIMEOUT_MS / 1000} s`;
  else if (e.code && e.address) text = `${e.code} ${e.address}${e.port === undefined ? '' : `:${e.port}`}`;
  else if (e.code && e.hostname) text = `${e.code} ${e.hostname}`;
  else if (e.code) text = e.message.includes(e.code) ? e.message : `${e.code} (${e.message})`;
  else text = e.message || String(err);
  const decoded = (v: string) => {
    try {
      return decodeURIComponent(v);
    } catch {
      return v;
    }
  };
  for (const secret of [url.username, url.password, decoded(url.username), decoded(url.password)]) {
    if (secret.length >= 3) text = text.split(secret).join('***');
  }
  return text;
}

/**
 * POSTs with node:http(s), not fetch: fetch refuses URLs with credentials (`https://user:pw@host/…`,
 * sent here as HTTP Basic authorization, as curl does) and a list of ports (9, 6000, 6665-6669,
 * 10080, …) that internal webhooks may well use. Redirects are not followed (a 3xx is an error).
 */
export const httpPoster: Poster = async (url, body) => {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL';
  }
  const { request } = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise((resolve) => {
    const req = request(u, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      signal: AbortSignal.timeout(POST_TIMEOUT_MS),
    }, (res) => {
      res.on('error', (err) => resolve(postError(err, u)));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 300 ? null : `HTTP ${status}`);
      });
      res.resume();
    });
    req.on('error', (err) => resolve(postError(err, u)));
    req.end(body);
  });
};

/** A webhook URL is a secret (Slack's are): it is stored and shown only as a digest and its origin. */
export function webhookTarget(url: string): { target: string; display: string } {
  let display = 'webhook';
  try {
    const u = new URL(url);
    display = `${u.protocol}//${u.host}/…`;
  } catch {
    // shown as "webhook"
  }
  return { target: createHash('sha256').update(url).digest('hex').slice(0, 32), display };
}

export function webhookBody(a: AlertRecord): string {
  return JSON.stringify({ text: a.text, alert: alertJson(a) });
}

export function alertJson(a: AlertRecord): Record<string, unknown> {
  return {
    tenant_id: a.tenantId, period: a.period, kind: a.kind, threshold: a.threshold, text: a.text, fired_at: a.firedAt, ...a.details,
  };
}

// ---------------------------------------------------------------------------------------------
// The run

export interface AlertsOptions {
  /** Check this period for every tenant (default: each tenant's period under way). */
  period?: Period;
  tenants?: Tenant[];
  /** The instant checked (alerts fire at it). */
  now: number;
  /** The run's clock (ms since the epoch), for its lock and heartbeat. */
  clock: () => number;
  spikeFactor: Decimal;
  webhook?: string | null;
  poster?: Poster;
  /** Pauses between attempts of one post within the run (default 250 ms, 1 s: three attempts). */
  retryDelaysMs?: readonly number[];
  sleep?: (ms: number) => Promise<void>;
  /** Who holds the run lock (default: a new id, this host and pid). */
  owner?: LockOwner;
}

export interface WebhookReport {
  display: string;
  sent: number;
  /** Still pending after this run's attempts (retried next run). */
  failed: number;
  errors: string[];
  /** Pending rows of other webhook URLs (not this run's). */
  pendingElsewhere: number;
  /** Posts given up by this run: still pending POST_EXPIRY_DAYS after their alert fired (any URL). */
  expired: number;
}

export interface AlertsReport {
  checked: number;
  fired: AlertRecord[];
  webhook: WebhookReport | null;
  failures: { tenantId: string; error: string }[];
}

async function factsFor(
  store: Store, rating: StoreRating, tenant: Tenant, period: Period, budget: Budget | undefined, users: UserBudget[], o: AlertsOptions,
): Promise<TenantFacts | 'skip'> {
  const rows = await rating.rollups(tenant, period);
  let rated: RatedPeriod;
  try {
    rated = await rating.ratePeriod(tenant, period);
  } catch (err) {
    // No plan or catalog for a period the tenant did not use: nothing to watch.
    if (err instanceof RatingError && !rows.some((r) => r.receipts > 0n) && !budget && users.length === 0) return 'skip';
    throw err;
  }
  const terms = resolvePlanTerms(tenant, period, rating.versionsFor(tenant));
  const interval = periodInterval(tenant.timezone, period);
  const current = o.now >= interval.start && o.now < interval.end;
  if (budget && budget.currency !== rated.currency) {
    throw new RatingError(`the budget is in ${budget.currency} but ${period} is billed in ${rated.currency}`, `set it again: billctl budget set ${tenant.id} --monthly AMOUNT`);
  }
  const inc = terms.plan.included;
  let userFacts: TenantFacts['users'];
  if (users.length > 0) {
    const { spent } = await userSpending(store, rating, tenant, period, o.now);
    const wrong = users.find((u) => u.currency !== rated.currency);
    if (wrong) {
      throw new RatingError(`the budget of user ${wrong.userId} is in ${wrong.currency} but ${period} is billed in ${rated.currency}`, `set it again: billctl budget set ${tenant.id} --user ${wrong.userId} --monthly AMOUNT`);
    }
    userFacts = users.map((u) => ({ userId: u.userId, monthly: u.monthly, thresholds: u.thresholds, spent: spent.get(u.userId) ?? Decimal.ZERO }));
  }
  return {
    tenantId: tenant.id,
    users: userFacts,
    period,
    currency: rated.currency,
    budget,
    spent: rated.totals.subtotal,
    projected: current ? projectMonthEnd(rated, interval, o.now) : null,
    plan: { id: terms.planId, name: terms.plan.name, hardCap: terms.plan.hardCap },
    granted: { gpuSeconds: inc.gpuHours * SECONDS_PER_HOUR, tokens: inc.tokens, apiCalls: inc.apiCalls },
    used: usageFromRollups(rows.filter((r) => r.requests > 0n)),
    spike: await spikeFacts(rating, tenant, period, o),
  };
}

/**
 * The last complete local day (yesterday at `now`, or the period's last day when the period is
 * over) and the costs of the 7 days before it, at list prices (`dailyCosts`, the invoice chart's).
 */
async function spikeFacts(rating: StoreRating, tenant: Tenant, period: Period, o: AlertsOptions): Promise<TenantFacts['spike']> {
  const { first, last } = periodDays(period);
  const day = Math.min(localDayNumber(tenant.timezone, o.now) - 1, last);
  // Without --period the last complete day may be in the previous period; with it, only days of the period count.
  if (o.period !== undefined && day < first) return undefined;
  const periods = new Set<Period>();
  for (let d = day - SPIKE_WINDOW_DAYS; d <= day; d++) periods.add(formatDayNumber(d).slice(0, 7));
  const costs = new Map<string, Decimal>();
  for (const p of periods) {
    for (const c of await rating.dailyCosts(tenant, p)) costs.set(c.date, Decimal.parse(c.amount));
  }
  const at = (d: number) => costs.get(formatDayNumber(d)) ?? Decimal.ZERO;
  const before: Decimal[] = [];
  for (let d = day - SPIKE_WINDOW_DAYS; d < day; d++) before.push(at(d));
  return { day: formatDayNumber(day), period: formatDayNumber(day).slice(0, 7), cost: at(day), before, factor: o.spikeFactor };
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function checkAlerts(store: Store, rating: StoreRating, o: AlertsOptions): Promise<AlertsReport> {
  const owner = o.owner ?? { id: randomUUID(), host: os.hostname(), pid: process.pid };
  const held = (h: LockHolder) => new LockHeldError(
    `another alerts check holds the lock: host ${h.host}, pid ${h.pid}, since ${h.acquiredAt}; nothing was done`,
    'A cron run overlapping the previous one is normal: the next run carries on. A dead run\'s lock is taken over after a minute.',
  );
  return withRunLock(store, { name: ALERTS_LOCK, owner, now: o.clock, held }, () => checkAlertsLocked(store, rating, o));
}

async function checkAlertsLocked(store: Store, rating: StoreRating, o: AlertsOptions): Promise<AlertsReport> {
  const tenants = o.tenants ?? (await store.listTenants());
  const budgets = new Map((await store.budgets.list()).map((b) => [b.tenantId, b]));
  const userBudgets = await store.budgets.listUsers();
  const target = o.webhook ? webhookTarget(o.webhook) : undefined;
  const report: AlertsReport = { checked: 0, fired: [], webhook: null, failures: [] };
  const firedAt = new Date(o.now).toISOString();
  for (const tenant of tenants) {
    const period = o.period ?? currentPeriod(tenant, o.now);
    let facts: TenantFacts | 'skip';
    try {
      facts = await factsFor(store, rating, tenant, period, budgets.get(tenant.id), userBudgets.filter((u) => u.tenantId === tenant.id), o);
    } catch (err) {
      if (!(err instanceof RatingError)) throw err;
      report.failures.push({ tenantId: tenant.id, error: errorMessage(err) });
      continue;
    }
    if (facts === 'skip') continue;
    report.checked++;
    for (const c of evaluateTenant(facts)) {
      const alert: NewAlert = {
        tenantId: c.tenantId, period: c.period, kind: c.kind, threshold: c.threshold, firedAt, text: c.text, details: c.details,
      };
      const stored = await store.alerts.fire(alert, target);
      if (stored) report.fired.push(stored);
    }
  }
  if (o.webhook && target) report.webhook = await deliver(store, o.webhook, target, o);
  return report;
}

/** Posts every pending outbox row of this webhook (new ones and those earlier runs failed to post). */
async function deliver(store: Store, url: string, target: { target: string; display: string }, o: AlertsOptions): Promise<WebhookReport> {
  const post = o.poster ?? httpPoster;
  const delays = o.retryDelaysMs ?? [250, 1000];
  const sleep = o.sleep ?? defaultSleep;
  const r: WebhookReport = { display: target.display, sent: 0, failed: 0, errors: [], pendingElsewhere: 0, expired: 0 };
  r.expired = await store.alerts.expirePending(new Date(o.now - POST_EXPIRY_DAYS * 86_400_000).toISOString());
  let failedInARow = 0;
  for (const row of await store.alerts.pending(target.target)) {
    if (failedInARow >= WEBHOOK_GIVE_UP_AFTER) {
      r.failed++;
      r.errors.push(`${row.alert.tenantId} ${row.alert.kind} ${row.alert.threshold}: not tried, ${WEBHOOK_GIVE_UP_AFTER} posts in a row failed (retried next run)`);
      continue;
    }
    const body = webhookBody(row.alert);
    let error: string | null = 'not tried';
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) await sleep(delays[attempt - 1]!);
      error = await post(url, body);
      await store.alerts.markAttempt(row.alertId, target.target, error, new Date(o.now).toISOString());
      if (error === null) break;
    }
    if (error === null) {
      r.sent++;
      failedInARow = 0;
    } else {
      r.failed++;
      failedInARow++;
      r.errors.push(`${row.alert.tenantId} ${row.alert.kind} ${row.alert.threshold}: ${error} (after ${delays.length + 1} attempts; retried next run)`);
    }
  }
  for (const p of await store.alerts.pendingCounts()) if (p.target !== target.target) r.pendingElsewhere += p.count;
  return r;
}
