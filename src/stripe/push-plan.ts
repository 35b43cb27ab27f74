/**
 * What a Stripe push sends: pure. Receipts are summed per (tenant, meter, UTC bucket); the push
 * ledger remembers, per bucket, every revision already sent or on its way. A push sends only the
 * difference between a bucket's total now and what the ledger holds, as a new revision, so late
 * receipts reach Stripe and nothing is sent twice.
 */
import { createHash } from 'node:crypto';
import { METER_KEYS, type MeterKey as Meter } from './client.js';

export type BucketSize = 'hour' | 'day';
export const BUCKET_MS: Record<BucketSize, number> = { hour: 3_600_000, day: 86_400_000 };

/** Stripe takes meter events at most 35 days old and at most 5 minutes ahead of its clock. */
export const STRIPE_PAST_WINDOW_MS = 35 * 86_400_000;
export const STRIPE_FUTURE_WINDOW_MS = 5 * 60_000;
/**
 * Stripe guarantees an identifier's uniqueness for at least 24 hours. A pending revision first
 * tried longer ago than this is not resent (Stripe may have forgotten it, so a resend could bill
 * twice): it becomes uncertain. An hour short of 24 leaves room for clocks that disagree.
 */
export const IDENTIFIER_SAFE_MS = 23 * 3_600_000;
/** A revision that may already be in Stripe is resent only while its bucket is this far inside the 35 days. */
export const RESEND_MARGIN_MS = 10 * 60_000;

export interface BucketTotal {
  tenantId: string;
  meter: Meter;
  /** Start of the UTC bucket, ms; also the event's timestamp. */
  bucketStart: number;
  total: bigint;
}

/** What the ledger holds for one (tenant, meter, bucket). */
export interface LedgerBucket {
  tenantId: string;
  meter: Meter;
  bucketStart: number;
  /** Sum of revisions sent, pending or failed: everything that is, or will be, in Stripe. */
  accounted: bigint;
  /** Sum of revisions marked expired (never sent; reported instead). */
  expired: bigint;
  maxRevision: number;
}

export interface NewRevision {
  tenantId: string;
  meter: Meter;
  bucketStart: number;
  revision: number;
  value: bigint;
}

export interface PushPlan {
  /** New revisions to record as pending and send. */
  send: NewRevision[];
  /** New revisions to record as expired: too old for Stripe; finance bills them another way. */
  expire: NewRevision[];
  /** Buckets ahead of the clock: left for a later run. */
  waiting: BucketTotal[];
  /** Buckets whose total fell below what was sent (should never happen: receipts are never deleted). */
  shrunk: (BucketTotal & { accounted: bigint })[];
}

export interface PlanOptions {
  now: number;
  bucket: BucketSize;
  /** Buckets starting before now − 35 days + margin are never sent. */
  marginMs: number;
}

/** The first bucket start that may still be sent at `now`. */
export function oldestSendable(now: number, marginMs: number): number {
  return now - STRIPE_PAST_WINDOW_MS + marginMs;
}

function bucketKey(b: { tenantId: string; meter: Meter; bucketStart: number }): string {
  return `${b.tenantId}\u0000${b.meter}\u0000${b.bucketStart}`;
}

export function planPush(totals: readonly BucketTotal[], ledger: readonly LedgerBucket[], opts: PlanOptions): PushPlan {
  const byKey = new Map<string, LedgerBucket>();
  for (const l of ledger) byKey.set(bucketKey(l), l);
  const plan: PushPlan = { send: [], expire: [], waiting: [], shrunk: [] };
  const cutoff = oldestSendable(opts.now, opts.marginMs);
  for (const t of totals) {
    const l = byKey.get(bucketKey(t));
    const known = (l?.accounted ?? 0n) + (l?.expired ?? 0n);
    const delta = t.total - known;
    if (delta < 0n) {
      plan.shrunk.push({ ...t, accounted: known });
      continue;
    }
    if (delta === 0n) continue;
    if (t.bucketStart > opts.now + STRIPE_FUTURE_WINDOW_MS) {
      plan.waiting.push(t);
      continue;
    }
    const rev: NewRevision = {
      tenantId: t.tenantId,
      meter: t.meter,
      bucketStart: t.bucketStart,
      revision: (l?.maxRevision ?? 0) + 1,
      value: delta,
    };
    // A bucket is sent only while its whole span is inside Stripe's window with the margin.
    if (t.bucketStart < cutoff) plan.expire.push(rev);
    else plan.send.push(rev);
  }
  const order = (a: NewRevision, b: NewRevision) =>
    a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : a.bucketStart - b.bucketStart || METER_KEYS.indexOf(a.meter) - METER_KEYS.indexOf(b.meter);
  plan.send.sort(order);
  plan.expire.sort(order);
  return plan;
}

/**
 * The event's identifier, also its Idempotency-Key: deterministic from the store, tenant, meter,
 * bucket and revision, at most 100 characters. The store id keeps two stores (say, staging and
 * production) pushing to one Stripe account from ever colliding.
 */
export function eventIdentifier(storeId: string, tenantId: string, meter: Meter, bucketStart: number, revision: number): string {
  const h = createHash('sha256').update(`${storeId}\u0000${tenantId}`, 'utf8').digest('hex').slice(0, 24);
  const id = `billctl-${h}-${meter}-${Math.floor(bucketStart / 1000)}-r${revision}`;
  if (id.length > 100) throw new Error(`identifier too long: ${id}`);
  return id;
}

export function bucketStartOf(ts: number, bucket: BucketSize): number {
  const size = BUCKET_MS[bucket];
  return Math.floor(ts / size) * size;
}

/** What the ledger knows of an unsent row, for triage. */
export interface UnsentRevision {
  bucketStart: number;
  status: 'pending' | 'failed' | string;
  /** When the first request that may have reached Stripe left; null: never sent. */
  firstAttemptAt: number | null;
}

export interface Triage<T> {
  /** Send (or resend, under the same identifier). */
  send: T[];
  /** Never reached Stripe and now too old for it: mark expired and report. */
  expire: T[];
  /** May be in Stripe, but a resend is no longer safe (dedup window passed, or too old to resend): report. */
  uncertain: T[];
}

/**
 * Sorts the ledger's pending and failed rows. A failed row, or a pending one never tried, is not
 * in Stripe: it is sent while its bucket is in the window, else it expires. A pending row that was
 * tried may be in Stripe: it is resent (same identifier, so Stripe drops a copy) only while Stripe
 * still remembers the identifier and still takes the timestamp; otherwise it is uncertain.
 */
export function triageUnsent<T extends UnsentRevision>(rows: readonly T[], opts: { now: number; marginMs: number }): Triage<T> {
  const out: Triage<T> = { send: [], expire: [], uncertain: [] };
  const cutoff = oldestSendable(opts.now, opts.marginMs);
  const hardCutoff = opts.now - STRIPE_PAST_WINDOW_MS + RESEND_MARGIN_MS;
  for (const r of rows) {
    const maybeInStripe = r.status === 'pending' && r.firstAttemptAt !== null;
    if (maybeInStripe) {
      if (opts.now - r.firstAttemptAt! >= IDENTIFIER_SAFE_MS || r.bucketStart < hardCutoff) out.uncertain.push(r);
      else out.send.push(r);
    } else if (r.bucketStart < cutoff) out.expire.push(r);
    else out.send.push(r);
  }
  return out;
}
