/**
 * `stripe push`: sends each stripe-mode tenant's billable usage to Stripe's billing meters,
 * exactly once, from a cron job that overlaps with itself, crashes and meets rate limits.
 *
 *   1. One run at a time: the `stripe-push` lock (a second run gets LockHeldError, exit 5).
 *   2. Plan, per tenant, in one transaction: usage per (meter, UTC bucket) minus what the ledger
 *      holds = new revisions, written as pending (or expired when the bucket is too old).
 *   3. Triage every pending and failed row (new or left by earlier runs): send, expire, or, when
 *      it may be in Stripe but a resend is no longer safe, mark uncertain.
 *   4. Send with the scheduler (key = customer + meter): each row is stamped just before its
 *      request and marked sent (or failed, when Stripe refuses it for good) right after.
 *
 * Every request carries the row's identifier as the meter event's `identifier`, which Stripe
 * keeps once (for at least 24 hours), so a resend after a crash or a lost answer is dropped by
 * Stripe instead of billed twice; no row is resent once 23 hours have passed since its first
 * request (it turns uncertain). Each attempt carries its own Idempotency-Key (attemptKey): Stripe
 * saves a 500 under the key and would replay it to every retry that reused it.
 *
 * Retries are bounded in time: once `retryBudgetMs` has passed since the first request, no retry
 * starts, and the first failure after that ends the sending; what was not confirmed stays
 * pending, and the next run sends it.
 */
import { randomBytes } from 'node:crypto';
import type { MeterNames } from '../config.js';
import { ExitCode, LockHeldError, UsageError } from '../errors.js';
import type { LedgerInsert, LedgerRow } from '../store/ledger-repo.js';
import type { LockHolder, LockOwner } from '../store/lock-repo.js';
import { zeroAmounts, type MeterAmounts } from '../store/push-sql.js';
import type { Store } from '../store/store.js';
import { attemptKey, METER_KEYS, StripeCallError, type MeterKey, type StripeClient } from '../stripe/client.js';
import {
  BUCKET_MS, eventIdentifier, planPush, triageUnsent, type BucketSize, type BucketTotal,
} from '../stripe/push-plan.js';
import { runJobs, type Attempt } from '../stripe/scheduler.js';
import { acquireRunLock, DEFAULT_HEARTBEAT_MS, DEFAULT_LOCK_STALE_MS } from './run-lock.js';
import { storedMeters } from './stripe-setup.js';

export const PUSH_LOCK = 'stripe-push';
/** Random, made once per store: part of every identifier, so two stores never collide in one Stripe account. */
export const STORE_ID_SETTING = 'store.id';
/** The bucket size of the ledger, fixed by the first push. */
export const BUCKET_SETTING = 'stripe.push.bucket';
/** Per meter (`….<meter>`): the newest meter error report (ms of its creation) a push has taken in. */
export const ERROR_REPORTS_SETTING = 'stripe.push.error_reports_seen';
/** JSON of the last push that ran (PushRunRecord), and of the last one that finished clean. */
export const LAST_RUN_SETTING = 'stripe.push.last_run';
export const LAST_CLEAN_RUN_SETTING = 'stripe.push.last_clean_run';

export const HEARTBEAT_MS = DEFAULT_HEARTBEAT_MS;
/** A lock whose heartbeat is older than this belongs to a dead run (on another host) and is taken over. */
export const LOCK_STALE_MS = DEFAULT_LOCK_STALE_MS;

export interface PushRequest {
  /** Receipts with ts < until are pushed. */
  until: number;
  /** Undefined: the bucket of earlier pushes, or hour. */
  bucket?: BucketSize;
  concurrency: number;
  ratePerSecond: number;
  dryRun: boolean;
  meters: MeterNames;
  /** stripe.expiry_margin_hours, in ms. */
  marginMs: number;
  /** How long after the first request retries may start; after it, the first failure ends the sending. */
  retryBudgetMs: number;
}

/**
 * The default retry budget: a cron run that meets a flaky Stripe ends about a minute after its
 * first request and leaves the rest to the next run; with no failures a run sends everything.
 */
export const DEFAULT_RETRY_BUDGET_MS = 60_000;

export interface PushHooks {
  /** The number of events about to be sent (before the first request). */
  planned?(events: number): void | Promise<void>;
  /** After each event settles. */
  settled?(done: number, total: number): void;
}

export interface PushDeps {
  now(): number;
  /** Null for a dry run: nothing is sent. */
  client: StripeClient | null;
  livemode: boolean;
  owner: LockOwner;
  retry?: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  /** Per request. */
  timeoutMs?: number;
  hooks?: PushHooks;
}

export const DEFAULT_PUSH_RETRY = { maxAttempts: 8, baseDelayMs: 250, maxDelayMs: 20_000 };

export type TenantPushResult = 'ok' | 'failed' | 'no_customer' | 'skipped';

export interface EventCounts {
  /** Events this run sends (new revisions and resends). */
  planned: number;
  /** Stripe stored them now. */
  sent: number;
  /** Stripe held it already (an earlier request had reached it): "already exists", or a replayed answer. */
  alreadySent: number;
  /** Stripe refused them for good (the row is failed; later runs try again). */
  failed: number;
  /** No confirmed answer after every retry: still pending, resent by the next run. */
  retryLater: number;
  /** Marked expired by this run. */
  expired: number;
  /** Marked uncertain by this run. */
  uncertain: number;
}

export interface TenantPush {
  tenantId: string;
  customerId: string | null;
  result: TenantPushResult;
  events: EventCounts;
  /** Usage of the events this run sends (in a dry run: would send). */
  planned: MeterAmounts;
  /** Usage Stripe confirmed in this run. */
  sent: MeterAmounts;
  /** Usage this run found too old for Stripe: never sent; bill it another way. */
  expired: MeterAmounts;
  /** The oldest and newest expired bucket, and how many buckets expired. */
  expiredBuckets: { first: number; last: number; count: number } | null;
  /** Usage that may or may not be in Stripe (see stripe reconcile). */
  uncertain: MeterAmounts;
  /** Usage of receipts at or after --until, or in buckets ahead of the clock: a later run sends it. */
  waiting: MeterAmounts;
  errors: string[];
}

export interface PushReport {
  dryRun: boolean;
  livemode: boolean;
  until: number;
  bucket: BucketSize;
  tenants: TenantPush[];
  events: EventCounts;
  startedAt: number;
  durationMs: number;
  /** Time spent sending (first request to last answer). */
  sendMs: number;
  /** Retries of single requests (429, 5xx, network). */
  retries: number;
  /** Events the next run sends again: without a confirmed answer (or never tried) and refused ones. */
  leftForNextRun: number;
  /** Why sending stopped early, if it did. */
  stopped: string | null;
  /** A dry run on a store whose meters are not set up: what a real push would say (it would refuse). */
  setupNeeded: string | null;
}

export interface PushRunRecord {
  started_at: string;
  finished_at: string;
  until: string;
  bucket: BucketSize;
  clean: boolean;
  events: Record<string, number>;
  failed_tenants: string[];
  host: string;
  pid: number;
}

const zeroCounts = (): EventCounts => ({ planned: 0, sent: 0, alreadySent: 0, failed: 0, retryLater: 0, expired: 0, uncertain: 0 });

/** Whether the report needs a person: anything expired, uncertain, failed or skipped (exit 3). */
export function needsAttention(r: PushReport): boolean {
  return r.stopped !== null || r.tenants.some((t) => t.result !== 'ok' || t.events.expired > 0 || t.events.uncertain > 0);
}

export function lockHeldMessage(h: LockHolder, now: number): string {
  if (h.id === 'unknown') return 'another stripe push holds the lock (it is just starting: its host and pid are not recorded yet); nothing was done';
  const ago = h.heartbeatAt > 0 ? `${Math.max(0, Math.round((now - h.heartbeatAt) / 1000))}s ago` : 'unknown';
  return `another stripe push holds the lock: host ${h.host}, pid ${h.pid}, since ${h.acquiredAt} (heartbeat ${ago}); nothing was done`;
}

/** The bucket size to use: the one earlier pushes used; a different one would not line up with the ledger. */
export async function pushBucket(store: Store, asked: BucketSize | undefined): Promise<{ bucket: BucketSize; stored: boolean }> {
  const stored = (await store.getSetting(BUCKET_SETTING)) as BucketSize | undefined;
  if (stored !== undefined && asked !== undefined && asked !== stored) {
    throw new UsageError(
      `this store pushes ${stored} buckets; --bucket ${asked} would not line up with the ledger (usage could be sent twice)`,
      `Leave out --bucket (or pass --bucket ${stored}).`,
    );
  }
  return { bucket: stored ?? asked ?? 'hour', stored: stored !== undefined };
}

/** The store's random id (made by the first push or subscribe): part of identifiers and idempotency keys. */
export async function ensureStoreId(store: Store): Promise<string> {
  return store.transaction(async () => {
    const id = await store.getSetting(STORE_ID_SETTING);
    if (id !== undefined) return id;
    const made = randomBytes(8).toString('hex');
    await store.setSetting(STORE_ID_SETTING, made);
    return made;
  });
}

function addAmount(a: MeterAmounts, meter: MeterKey, v: bigint): void {
  a[meter] += v;
}

function newTenant(tenantId: string, customerId: string | null, result: TenantPushResult = 'ok'): TenantPush {
  return {
    tenantId, customerId, result, events: zeroCounts(), planned: zeroAmounts(), sent: zeroAmounts(), expired: zeroAmounts(),
    expiredBuckets: null, uncertain: zeroAmounts(), waiting: zeroAmounts(), errors: [],
  };
}

/** Keeps up to five different errors per tenant; the same answer to other requests (another request id) is one. */
function noteError(t: TenantPush, message: string): void {
  const gist = (m: string) => m.replace(/ \(request req_\w+\)/, '');
  if (t.errors.length < 5 && !t.errors.some((e) => gist(e) === gist(message))) t.errors.push(message);
}

const expiredSeen = new WeakMap<TenantPush, Set<number>>();

function noteExpired(t: TenantPush, meter: MeterKey, bucketStart: number, value: bigint): void {
  addAmount(t.expired, meter, value);
  t.events.expired++;
  let seen = expiredSeen.get(t);
  if (!seen) expiredSeen.set(t, (seen = new Set()));
  seen.add(bucketStart);
  const b = t.expiredBuckets;
  if (!b) t.expiredBuckets = { first: bucketStart, last: bucketStart, count: 1 };
  else {
    b.first = Math.min(b.first, bucketStart);
    b.last = Math.max(b.last, bucketStart);
    b.count = seen.size;
  }
}

/** A row to send, as the scheduler carries it. */
interface SendItem {
  row: LedgerRow;
  tenant: TenantPush;
}

/**
 * Runs one push (or, with dryRun, works out what it would do, writing nothing). Throws
 * LockHeldError (exit 5) when another run holds the lock, UsageError (exit 2) for a bucket size
 * that does not match the ledger or meters that are not set up, and a fatal StripeCallError
 * (exit 2) when Stripe refuses the key. Everything else is reported per tenant.
 */
export async function pushUsage(store: Store, req: PushRequest, deps: PushDeps): Promise<PushReport> {
  const startedAt = deps.now();
  if (!req.dryRun && !deps.client) throw new Error('pushUsage: a push needs a Stripe client');

  // One database call at a time: the heartbeat and the senders share one connection (pg wants
  // its queries one after another; on SQLite it changes nothing).
  let queue: Promise<unknown> = Promise.resolve();
  const db = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn);
    queue = next.catch(() => undefined);
    return next;
  };
  // While requests are in flight the timer beats; during planning (one query after another,
  // which never lets a timer run on SQLite) the loop beats between tenants.
  const lock = req.dryRun
    ? undefined
    : await acquireRunLock(store, {
      name: PUSH_LOCK, owner: deps.owner, now: () => deps.now(), staleMs: LOCK_STALE_MS, heartbeatMs: HEARTBEAT_MS, db,
      held: (holder, now) => new LockHeldError(
        lockHeldMessage(holder, now),
        'A cron run overlapping the previous one is normal: the next run carries on. If no push is running, the lock is taken over once its heartbeat is a minute old.',
      ),
    });
  const beat = async () => lock?.beat();
  const lockLost = () => lock?.lost === true;

  try {
    // Read under the lock: a run that held it a moment ago may have fixed the bucket size.
    const { bucket, stored: bucketStored } = await db(() => pushBucket(store, req.bucket));
    // The stored meters are those of the config's event names (or this throws). A dry run shows
    // what would be sent even before `stripe setup`, and says that a push would refuse.
    let setupNeeded: string | null = null;
    let meterIds: Partial<Record<MeterKey, { id: string }>> | undefined;
    try {
      meterIds = await db(() => storedMeters(store, req.meters, deps.livemode));
    } catch (err) {
      if (!req.dryRun || !(err instanceof UsageError)) throw err;
      setupNeeded = err.message;
    }
    // Events Stripe took and rejected afterwards (meter error reports): failed again, so this run resends them.
    const rejections = req.dryRun || !meterIds ? [] : await takeRejections(store, deps.client!, meterIds, db);
    const now = deps.now();
    if (!req.dryRun && !bucketStored) await db(() => store.setSetting(BUCKET_SETTING, bucket));
    const storeId = req.dryRun ? ((await db(() => store.getSetting(STORE_ID_SETTING))) ?? 'dry-run') : await db(() => ensureStoreId(store));
    const bucketMs = BUCKET_MS[bucket];
    const at = new Date(now).toISOString();

    // -- plan, per tenant ----------------------------------------------------------------------
    const allTenants = await db(() => store.listTenants());
    const results = new Map<string, TenantPush>();
    const plannedNow = new Map<string, LedgerRow[]>();
    for (const t of allTenants) {
      if (t.billingMode !== 'stripe') continue;
      await beat();
      if (lockLost()) break;
      const result = newTenant(t.id, t.stripeCustomerId, t.stripeCustomerId === null ? 'no_customer' : 'ok');
      results.set(t.id, result);
      if (t.stripeCustomerId === null) {
        noteError(result, 'no Stripe customer — run billctl stripe customers sync');
        // A dry run still shows what would be sent once the tenant has a customer.
        if (!req.dryRun) continue;
      }
      const customerId = t.stripeCustomerId ?? '';
      // Receipts are read outside the transaction (on SQLite it would hold off imports' writes
      // for the whole scan); a receipt landing meanwhile is simply pushed by the next run.
      const usage = await db(() => store.ledger.usage(t.id, bucketMs, req.until, t.stripeSince));
      const totals: BucketTotal[] = [];
      const noMeter = new Set<MeterKey>();
      for (const u of usage) {
        for (const m of METER_KEYS) {
          // Usage of a token class whose meter `stripe setup` has not made yet waits for it (the
          // ledger sends what it does not hold, so the first run after setup sends all of it).
          if (meterIds && meterIds[m] === undefined) {
            if (u.due[m] + u.later[m] > 0n) {
              addAmount(result.waiting, m, u.due[m] + u.later[m]);
              noMeter.add(m);
            }
            continue;
          }
          if (u.due[m] > 0n) totals.push({ tenantId: t.id, meter: m, bucketStart: u.bucketStart, total: u.due[m] });
          if (u.later[m] > 0n) addAmount(result.waiting, m, u.later[m]);
        }
      }
      for (const m of noMeter) noteError(result, `${m}: no Stripe meter for it yet, so its usage waits — run billctl stripe setup`);
      // What the ledger holds and the new revisions: read and written in one transaction.
      const plan = async () => {
        const p = planPush(totals, await store.ledger.buckets(t.id), { now, bucket, marginMs: req.marginMs });
        for (const w of p.waiting) addAmount(result.waiting, w.meter, w.total);
        for (const s of p.shrunk) {
          noteError(result, `${s.meter} at ${new Date(s.bucketStart).toISOString()}: the receipts now sum to ${s.total}, less than the ${s.accounted} already pushed`);
        }
        const rows: LedgerInsert[] = [
          ...p.send.map((r) => ({ ...r, status: 'pending' as const })),
          ...p.expire.map((r) => ({ ...r, status: 'expired' as const })),
        ].map((r) => ({
          ...r, customerId, eventName: req.meters[r.meter],
          identifier: eventIdentifier(storeId, t.id, r.meter, r.bucketStart, r.revision),
        }));
        for (const r of rows) if (r.status === 'expired') noteExpired(result, r.meter, r.bucketStart, r.value);
        if (!req.dryRun && rows.length > 0) await store.ledger.record(rows, at);
        // A dry run keeps its new revisions in memory, as rows the triage below would see.
        if (req.dryRun) {
          plannedNow.set(t.id, rows.filter((r) => r.status === 'pending').map((r) => ({
            ...r, status: 'pending', attempts: 0, lastError: null, createdAt: at, firstAttemptAt: null, sentAt: null,
          })));
        }
      };
      await db(() => (req.dryRun ? plan() : store.transaction(plan)));
    }

    for (const r of rejections) {
      const t = results.get(r.tenantId);
      if (t) noteError(t, `Stripe rejected ${r.count} ${r.meter} event(s) after taking them (${r.code}: ${r.message}); they are sent again`);
    }

    // -- triage every unsent row -------------------------------------------------------------
    // A run that lost the lock while planning leaves the sending to the run that took it.
    const unsent = lockLost() ? [] : [...(await db(() => store.ledger.unsent())), ...[...plannedNow.values()].flat()];
    const tenantsById = new Map(allTenants.map((t) => [t.id, t]));
    const sendable: LedgerRow[] = [];
    for (const row of unsent) {
      const r = results.get(row.tenantId);
      if (!r) {
        // Revisions of a tenant no longer billed through Stripe are left as they are.
        const t = tenantsById.get(row.tenantId);
        const skipped = newTenant(row.tenantId, t?.stripeCustomerId ?? null, 'skipped');
        results.set(row.tenantId, skipped);
        noteError(skipped, t ? 'billing mode is no longer stripe: its unsent revisions are left as they are (see billctl stripe status)' : 'tenant not found');
        continue;
      }
      if (r.result === 'no_customer' && !req.dryRun) continue;
      sendable.push(row);
    }
    const triage = triageUnsent(sendable, { now, marginMs: req.marginMs });
    for (const row of triage.expire) noteExpired(results.get(row.tenantId)!, row.meter, row.bucketStart, row.value);
    for (const row of triage.uncertain) {
      const r = results.get(row.tenantId)!;
      addAmount(r.uncertain, row.meter, row.value);
      r.events.uncertain++;
    }
    if (!req.dryRun) {
      await db(() => store.transaction(async () => {
        await store.ledger.markStatus(triage.expire.map((r) => r.identifier), 'expired', 'bucket too old for Stripe; never sent');
        await store.ledger.markStatus(
          triage.uncertain.map((r) => r.identifier),
          'uncertain',
          'sent without a confirmed answer, and Stripe no longer guarantees to drop a resend: check with stripe reconcile',
        );
      }));
    }
    const items: SendItem[] = [];
    for (const row of triage.send) {
      const r = results.get(row.tenantId)!;
      // A failed row never reached Stripe: it goes to the tenant's customer of today.
      if (row.status === 'failed' && r.customerId !== null && row.customerId !== r.customerId) {
        if (!req.dryRun) await db(() => store.ledger.retarget(row.identifier, r.customerId!));
        row.customerId = r.customerId;
      }
      addAmount(r.planned, row.meter, row.value);
      r.events.planned++;
      items.push({ row, tenant: r });
    }

    // -- send --------------------------------------------------------------------------------
    let sendMs = 0;
    let retries = 0;
    let stopped: string | null = null;
    let budgetSpent = false;
    if (!req.dryRun && items.length > 0) {
      const client = deps.client!;
      await deps.hooks?.planned?.(items.length);
      let fatal: StripeCallError | undefined;
      const refused = new Set<string>();
      // Rows an earlier request may have stored (a lost answer, a 5xx, a timeout): a refusal now
      // does not prove they are not in Stripe, so they stay pending rather than failed.
      const maybeStored = new Set(items.filter((it) => it.row.status === 'pending' && it.row.firstAttemptAt !== null).map((it) => it.row.identifier));
      const refuse = async (row: LedgerRow, message: string): Promise<void> => {
        if (maybeStored.has(row.identifier)) {
          await db(() => store.ledger.noteError(row.identifier, message));
          return;
        }
        await db(() => store.ledger.markFailed(row.identifier, message));
        refused.add(row.identifier);
      };
      const tries = new Map<string, number>();
      const sendStart = deps.now();
      const retryUntil = sendStart + req.retryBudgetMs;
      let done = 0;
      const attempt = async ({ row, tenant }: SendItem): Promise<Attempt> => {
        const n = (tries.get(row.identifier) ?? 0) + 1;
        tries.set(row.identifier, n);
        if (n > 1) retries++;
        if (!(await db(() => store.ledger.markAttempt(row.identifier, deps.now())))) {
          return { ok: false, retryable: false, error: 'the row changed under this run (another run took over the lock?)' };
        }
        try {
          // The ledger counts attempts over every run (markAttempt just counted this one): the
          // attempt's key is new even after a crash.
          const sent = await client.sendMeterEvent(
            {
              eventName: row.eventName, customerId: row.customerId, value: row.value, timestamp: row.bucketStart / 1000,
              identifier: row.identifier, idempotencyKey: attemptKey(row.identifier, row.attempts + n),
            },
            deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs },
          );
          await db(() => store.ledger.markSent(row.identifier, new Date(deps.now()).toISOString()));
          // Stripe held it already: it said so, or it replayed the answer to an earlier request.
          if (sent.outcome === 'already_sent' || sent.replayed) tenant.events.alreadySent++;
          else tenant.events.sent++;
          addAmount(tenant.sent, row.meter, row.value);
          return { ok: true };
        } catch (err) {
          if (!(err instanceof StripeCallError)) throw err;
          const f = err.failure;
          if (f.fatal) {
            // The key was refused: this request stored nothing, and every further call fails alike.
            fatal ??= err;
            await refuse(row, f.message);
            return { ok: false, retryable: false, error: f.message };
          }
          if (f.kind === 'retryable') {
            // A 429 turned the request away unread; anything else may have stored it.
            if (f.status !== 429) maybeStored.add(row.identifier);
            // Past the budget, a failure ends the sending: Stripe is not well, the next run carries on.
            if (deps.now() >= retryUntil) budgetSpent = true;
            const a: Attempt = { ok: false, retryable: true, error: f.message };
            if (f.retryAfterMs !== undefined) a.retryAfterMs = f.retryAfterMs;
            return a;
          }
          await refuse(row, f.message);
          return { ok: false, retryable: false, error: f.message };
        }
      };
      const retry = deps.retry ?? DEFAULT_PUSH_RETRY;
      const settled = await runJobs(
        items.map((it) => ({ key: `${it.row.customerId}\u0000${it.row.meter}`, item: it })),
        attempt,
        {
          concurrency: req.concurrency,
          ratePerSecond: req.ratePerSecond,
          maxAttempts: retry.maxAttempts,
          baseDelayMs: retry.baseDelayMs,
          maxDelayMs: retry.maxDelayMs,
          retryUntil,
          now: deps.now,
          shouldStop: () => fatal !== undefined || lockLost() || budgetSpent,
          onSettled: () => deps.hooks?.settled?.(++done, items.length),
        },
      );
      sendMs = deps.now() - sendStart;
      const settledIds = new Set<string>();
      for (const s of settled) {
        settledIds.add(s.item.row.identifier);
        if (s.ok) continue;
        const t = s.item.tenant;
        const message = s.error ?? 'unknown error';
        if (refused.has(s.item.row.identifier)) t.events.failed++;
        else {
          // No confirmed answer: the row stays pending and the next run resends it.
          t.events.retryLater++;
          try {
            await db(() => store.ledger.noteError(s.item.row.identifier, message));
          } catch {
            // Only a note; the row is pending either way.
          }
        }
        noteError(t, message);
      }
      for (const it of items) {
        if (!settledIds.has(it.row.identifier)) it.tenant.events.retryLater++;
      }
      if (fatal) throw fatal;
      if (budgetSpent && !lockLost()) {
        const left = items.length - settled.filter((x) => x.ok).length;
        stopped =
          `Stripe kept failing after the retry budget (${Math.round(req.retryBudgetMs / 1000)} s) was spent: ` +
          `this run stopped and left ${left} event(s) for the next run`;
      }
    }
    if (lockLost()) {
      stopped = 'the lock was taken over by another run (this run stalled for over a minute); it stopped and left the rest to that run';
    }

    // -- report ------------------------------------------------------------------------------
    for (const r of results.values()) {
      if (r.result === 'ok' && (r.events.failed > 0 || r.events.retryLater > 0 || r.errors.length > 0)) r.result = 'failed';
    }
    const tenants = [...results.values()].sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0));
    const events = zeroCounts();
    for (const t of tenants) for (const k of Object.keys(events) as (keyof EventCounts)[]) events[k] += t.events[k];
    const report: PushReport = {
      dryRun: req.dryRun, livemode: deps.livemode, until: req.until, bucket, tenants, events, startedAt,
      durationMs: deps.now() - startedAt, sendMs, retries, leftForNextRun: req.dryRun ? 0 : events.retryLater + events.failed, stopped, setupNeeded,
    };
    if (!req.dryRun) await db(() => recordRun(store, report, deps));
    return report;
  } finally {
    await lock?.release();
  }
}

interface Rejection {
  tenantId: string;
  meter: MeterKey;
  code: string;
  message: string;
  count: number;
}

/**
 * Reads the meter error reports Stripe made since the last push took them in: each sample names
 * an event Stripe answered 200 and then rejected (a customer that does not exist, say). Its sent
 * row becomes failed, so this run sends it again (to the tenant's customer of today, under the
 * same identifier). Reports only sample the events, so `stripe reconcile` shows what is left.
 * Reports that cannot be read now are read by the next run.
 */
async function takeRejections(
  store: Store, client: StripeClient, meters: Partial<Record<MeterKey, { id: string }>>, db: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<Rejection[]> {
  const out = new Map<string, Rejection>();
  for (const meter of METER_KEYS) {
    const meterId = meters[meter]?.id;
    if (meterId === undefined) continue;
    const setting = `${ERROR_REPORTS_SETTING}.${meter}`;
    const seen = Number((await db(() => store.getSetting(setting))) ?? '0');
    let reports;
    try {
      reports = (await client.meterErrorReports(meterId)).filter((r) => r.created > seen);
    } catch (err) {
      // Read by the next run; a refused key stops this one at its first event, as ever.
      if (err instanceof StripeCallError) continue;
      throw err;
    }
    for (const report of reports) {
      for (const e of report.errors) {
        for (const sample of e.samples) {
          const row = await db(() => store.ledger.markRejected(sample.identifier, `Stripe rejected it after taking it: ${e.code}: ${sample.message}`));
          if (!row) continue;
          const key = `${row.tenantId}\u0000${row.meter}\u0000${e.code}`;
          const r = out.get(key) ?? { tenantId: row.tenantId, meter: row.meter, code: e.code, message: sample.message, count: 0 };
          r.count++;
          out.set(key, r);
        }
      }
    }
    const newest = Math.max(seen, ...reports.map((r) => r.created));
    if (newest > seen) await db(() => store.setSetting(setting, String(newest)));
  }
  return [...out.values()];
}

async function recordRun(store: Store, r: PushReport, deps: PushDeps): Promise<void> {
  const record: PushRunRecord = {
    started_at: new Date(r.startedAt).toISOString(),
    finished_at: new Date(deps.now()).toISOString(),
    until: new Date(r.until).toISOString(),
    bucket: r.bucket,
    clean: !needsAttention(r),
    events: { ...r.events },
    failed_tenants: r.tenants.filter((t) => t.result !== 'ok').map((t) => t.tenantId),
    host: deps.owner.host,
    pid: deps.owner.pid,
  };
  const text = JSON.stringify(record);
  await store.transaction(async () => {
    await store.setSetting(LAST_RUN_SETTING, text);
    if (record.clean) await store.setSetting(LAST_CLEAN_RUN_SETTING, text);
  });
}

export function parseRunRecord(text: string | undefined): PushRunRecord | null {
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as PushRunRecord;
  } catch {
    return null;
  }
}

/** The exit code of a push that returned a report. */
export function pushExitCode(r: PushReport): number {
  return !r.dryRun && needsAttention(r) ? ExitCode.partial : ExitCode.ok;
}
