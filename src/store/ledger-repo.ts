/**
 * The Stripe push ledger: per (tenant, meter, UTC bucket), every revision billctl sent or will
 * send, with its deterministic identifier. A revision is written as pending before its request
 * and marked sent after Stripe confirms it, so a re-run after any crash resends exactly the
 * pending ones, under the same identifier.
 *
 * Statuses:
 *   pending    planned, or sent without a confirmed answer: it may or may not be in Stripe
 *   sent       Stripe confirmed it (or answered that it already holds the identifier)
 *   failed     Stripe refused it for good (a 4xx): it is not in Stripe; later runs try again
 *   expired    never sent: its bucket was too old for Stripe; reported for billing another way
 *   uncertain  pending longer than Stripe remembers identifiers: a resend could bill twice, so
 *              it is left for `stripe reconcile` and a person
 */
import type { MeterKey } from '../stripe/client.js';
import type { LedgerBucket, NewRevision } from '../stripe/push-plan.js';
import { bucketUsage, seenColumns, type BucketUsage } from './push-sql.js';
import { placeholders, toBigInt, toNumber, toStringOrNull, type Row, type SqlDriver, type SqlValue } from './sql.js';

export type LedgerStatus = 'pending' | 'sent' | 'failed' | 'expired' | 'uncertain';
export const LEDGER_STATUSES: readonly LedgerStatus[] = ['pending', 'sent', 'failed', 'expired', 'uncertain'];

export interface LedgerRow {
  tenantId: string;
  meter: MeterKey;
  bucketStart: number;
  revision: number;
  customerId: string;
  eventName: string;
  value: bigint;
  identifier: string;
  status: LedgerStatus;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  /** When the first request that may have reached Stripe left (ms); null: never sent. */
  firstAttemptAt: number | null;
  sentAt: string | null;
}

export type LedgerInsert = NewRevision & { customerId: string; eventName: string; identifier: string; status: 'pending' | 'expired' };

export const LEDGER_MIGRATION_SQL = `
  CREATE TABLE stripe_ledger (
    tenant_id {key} NOT NULL,
    meter TEXT NOT NULL,
    bucket_start {bigint} NOT NULL,
    revision INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    value {bigint} NOT NULL,
    identifier TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    first_attempt_at {bigint},
    sent_at TEXT,
    PRIMARY KEY (tenant_id, meter, bucket_start, revision)
  );
  CREATE INDEX stripe_ledger_status ON stripe_ledger (status, tenant_id);
`;

function ledgerRow(r: Row): LedgerRow {
  return {
    tenantId: String(r.tenant_id),
    meter: String(r.meter) as MeterKey,
    bucketStart: toNumber(r.bucket_start),
    revision: toNumber(r.revision),
    customerId: String(r.customer_id),
    eventName: String(r.event_name),
    value: toBigInt(r.value),
    identifier: String(r.identifier),
    status: String(r.status) as LedgerStatus,
    attempts: toNumber(r.attempts),
    lastError: toStringOrNull(r.last_error),
    createdAt: String(r.created_at),
    firstAttemptAt: r.first_attempt_at === null || r.first_attempt_at === undefined ? null : toNumber(r.first_attempt_at),
    sentAt: toStringOrNull(r.sent_at),
  };
}

export interface LedgerStatusRow {
  tenantId: string;
  meter: MeterKey;
  status: LedgerStatus;
  revisions: number;
  value: bigint;
  oldestBucket: number;
  newestBucket: number;
  /** Newest sent_at of the group (sent rows only), ISO text. */
  lastSentAt: string | null;
}

export interface LedgerTotal {
  tenantId: string;
  customerId: string;
  meter: MeterKey;
  status: LedgerStatus;
  value: bigint;
  revisions: number;
}

export interface LedgerRepo {
  /** A tenant's billable usage per UTC bucket of `bucketMs`, split at `until` (see push-sql.ts). */
  /** Bucket sums of the tenant's billable receipts from `since` on (null: all). */
  usage(tenantId: string, bucketMs: number, until: number, since?: number | null): Promise<BucketUsage[]>;
  /** Which of these receipt columns some receipt holds above 0 (the quantities the store has seen). */
  seenColumns(columns: readonly string[]): Promise<Set<string>>;
  /** What the ledger holds per bucket, for planning (one tenant at a time keeps memory flat). */
  buckets(tenantId: string): Promise<LedgerBucket[]>;
  /** Records planned revisions: pending (to send) or expired (never to be sent). */
  record(revisions: readonly LedgerInsert[], at: string): Promise<void>;
  /** Rows to send: pending and failed ones, oldest bucket first. */
  unsent(): Promise<LedgerRow[]>;
  /**
   * Written just before a request leaves: counts the attempt, makes the row pending (its outcome
   * is unknown until Stripe answers) and stamps the first attempt that may reach Stripe (a failed
   * row never reached it, so its clock starts again). False when the row is no longer unsent.
   */
  markAttempt(identifier: string, now: number): Promise<boolean>;
  markSent(identifier: string, at: string): Promise<void>;
  /** Stripe refused it for good: it is not in Stripe. */
  markFailed(identifier: string, error: string): Promise<void>;
  /** A request whose outcome is unknown (retries ran out): the row stays pending; the error is kept. */
  noteError(identifier: string, error: string): Promise<void>;
  /**
   * Stripe took a sent row and rejected it afterwards (a meter error report names it): it is not
   * in Stripe, so it becomes failed and is sent again. Returns the row when it was sent.
   */
  markRejected(identifier: string, error: string): Promise<LedgerRow | undefined>;
  /** Marks unsent rows expired or uncertain, with the reason. */
  markStatus(identifiers: readonly string[], status: 'expired' | 'uncertain', reason: string): Promise<void>;
  /** Points a failed row (never stored by Stripe) at the tenant's current customer. */
  retarget(identifier: string, customerId: string): Promise<void>;
  summary(): Promise<LedgerStatusRow[]>;
  /** Values per (tenant, customer, meter, status) for buckets in [from, to). */
  totalsBetween(from: number, to: number): Promise<LedgerTotal[]>;
  rows(filter: { tenantId?: string; status?: LedgerStatus }): Promise<LedgerRow[]>;
}

/** Rows per INSERT statement (10 parameters each). */
const INSERT_CHUNK = 100;

export class SqlLedgerRepo implements LedgerRepo {
  constructor(private readonly db: SqlDriver) {}

  usage(tenantId: string, bucketMs: number, until: number, since: number | null = null): Promise<BucketUsage[]> {
    return bucketUsage(this.db, tenantId, bucketMs, until, since);
  }

  seenColumns(columns: readonly string[]): Promise<Set<string>> {
    return seenColumns(this.db, columns);
  }

  async buckets(tenantId: string): Promise<LedgerBucket[]> {
    const rows = await this.db.all<Row>(
      `SELECT tenant_id, meter, bucket_start,
         SUM(CASE WHEN status = 'expired' THEN 0 ELSE value END) AS accounted,
         SUM(CASE WHEN status = 'expired' THEN value ELSE 0 END) AS expired,
         MAX(revision) AS max_revision
       FROM stripe_ledger WHERE tenant_id = ? GROUP BY tenant_id, meter, bucket_start`,
      [tenantId],
    );
    return rows.map((r) => ({
      tenantId: String(r.tenant_id),
      meter: String(r.meter) as MeterKey,
      bucketStart: toNumber(r.bucket_start),
      accounted: toBigInt(r.accounted),
      expired: toBigInt(r.expired),
      maxRevision: toNumber(r.max_revision),
    }));
  }

  async record(revisions: readonly LedgerInsert[], at: string): Promise<void> {
    for (let i = 0; i < revisions.length; i += INSERT_CHUNK) {
      const chunk = revisions.slice(i, i + INSERT_CHUNK);
      const params: SqlValue[] = [];
      for (const r of chunk) {
        params.push(r.tenantId, r.meter, r.bucketStart, r.revision, r.customerId, r.eventName, r.value, r.identifier, r.status, at);
      }
      await this.db.run(
        `INSERT INTO stripe_ledger (tenant_id, meter, bucket_start, revision, customer_id, event_name, value, identifier, status, created_at)
         VALUES ${chunk.map(() => `(${placeholders(10)})`).join(', ')}`,
        params,
      );
    }
  }

  async unsent(): Promise<LedgerRow[]> {
    const rows = await this.db.all<Row>(
      "SELECT * FROM stripe_ledger WHERE status IN ('pending', 'failed') ORDER BY bucket_start, tenant_id, meter, revision",
    );
    return rows.map(ledgerRow);
  }

  async markAttempt(identifier: string, now: number): Promise<boolean> {
    const changed = await this.db.run(
      `UPDATE stripe_ledger SET attempts = attempts + 1, status = 'pending',
         first_attempt_at = CASE WHEN status = 'failed' OR first_attempt_at IS NULL THEN ? ELSE first_attempt_at END
       WHERE identifier = ? AND status IN ('pending', 'failed')`,
      [now, identifier],
    );
    return changed === 1;
  }

  async markSent(identifier: string, at: string): Promise<void> {
    await this.db.run("UPDATE stripe_ledger SET status = 'sent', sent_at = ?, last_error = NULL WHERE identifier = ?", [at, identifier]);
  }

  async markFailed(identifier: string, error: string): Promise<void> {
    await this.db.run("UPDATE stripe_ledger SET status = 'failed', last_error = ? WHERE identifier = ? AND status = 'pending'", [error, identifier]);
  }

  async noteError(identifier: string, error: string): Promise<void> {
    await this.db.run("UPDATE stripe_ledger SET last_error = ? WHERE identifier = ? AND status = 'pending'", [error, identifier]);
  }

  async markRejected(identifier: string, error: string): Promise<LedgerRow | undefined> {
    const r = await this.db.get<Row>("SELECT * FROM stripe_ledger WHERE identifier = ? AND status = 'sent'", [identifier]);
    if (!r) return undefined;
    await this.db.run("UPDATE stripe_ledger SET status = 'failed', last_error = ? WHERE identifier = ? AND status = 'sent'", [error, identifier]);
    return ledgerRow(r);
  }

  async markStatus(identifiers: readonly string[], status: 'expired' | 'uncertain', reason: string): Promise<void> {
    for (let i = 0; i < identifiers.length; i += INSERT_CHUNK) {
      const chunk = identifiers.slice(i, i + INSERT_CHUNK);
      await this.db.run(
        `UPDATE stripe_ledger SET status = ?, last_error = ? WHERE status IN ('pending', 'failed') AND identifier IN (${placeholders(chunk.length)})`,
        [status, reason, ...chunk],
      );
    }
  }

  async retarget(identifier: string, customerId: string): Promise<void> {
    await this.db.run("UPDATE stripe_ledger SET customer_id = ? WHERE identifier = ? AND status = 'failed'", [customerId, identifier]);
  }

  async summary(): Promise<LedgerStatusRow[]> {
    const rows = await this.db.all<Row>(
      `SELECT tenant_id, meter, status, COUNT(*) AS revisions, SUM(value) AS value, MIN(bucket_start) AS oldest,
         MAX(bucket_start) AS newest, MAX(sent_at) AS last_sent_at
       FROM stripe_ledger GROUP BY tenant_id, meter, status ORDER BY tenant_id, meter, status`,
    );
    return rows.map((r) => ({
      tenantId: String(r.tenant_id),
      meter: String(r.meter) as MeterKey,
      status: String(r.status) as LedgerStatus,
      revisions: toNumber(r.revisions),
      value: toBigInt(r.value),
      oldestBucket: toNumber(r.oldest),
      newestBucket: toNumber(r.newest),
      lastSentAt: toStringOrNull(r.last_sent_at),
    }));
  }

  async totalsBetween(from: number, to: number): Promise<LedgerTotal[]> {
    const rows = await this.db.all<Row>(
      `SELECT tenant_id, customer_id, meter, status, SUM(value) AS value, COUNT(*) AS revisions FROM stripe_ledger
       WHERE bucket_start >= ? AND bucket_start < ?
       GROUP BY tenant_id, customer_id, meter, status ORDER BY tenant_id, customer_id, meter, status`,
      [from, to],
    );
    return rows.map((r) => ({
      tenantId: String(r.tenant_id),
      customerId: String(r.customer_id),
      meter: String(r.meter) as MeterKey,
      status: String(r.status) as LedgerStatus,
      value: toBigInt(r.value),
      revisions: toNumber(r.revisions),
    }));
  }

  async rows(filter: { tenantId?: string; status?: LedgerStatus }): Promise<LedgerRow[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.tenantId !== undefined) {
      where.push('tenant_id = ?');
      params.push(filter.tenantId);
    }
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
    }
    const rows = await this.db.all<Row>(
      `SELECT * FROM stripe_ledger ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY tenant_id, meter, bucket_start, revision`,
      params,
    );
    return rows.map(ledgerRow);
  }
}
