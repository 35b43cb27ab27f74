/**
 * The Stripe push ledger: per (tenant, meter, UTC bucket), every revision billctl sent or will
 * send, with its deterministic identifier. A revision is written as pending before its request
 * and marked sent after Stripe confirms it, so a re-run after any crash resends exactly the
 * pending ones, under the same identifier.
 */
import type { MeterKey } from '../stripe/client.js';
import type { LedgerBucket, NewRevision } from '../stripe/push-plan.js';
import { toBigInt, toNumber, toStringOrNull, type Row, type SqlDriver, type SqlValue } from './sql.js';

export type LedgerStatus = 'pending' | 'sent' | 'failed' | 'expired' | 'uncertain';

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
  firstAttemptAt: number | null;
  sentAt: string | null;
}

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
    firstAttemptAt: r.first_attempt_at === null ? null : toNumber(r.first_attempt_at),
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
}

export interface LedgerRepo {
  /** What the ledger holds per bucket, for planning (one tenant at a time keeps memory flat). */
  buckets(tenantId: string): Promise<LedgerBucket[]>;
  /** Records planned revisions: pending (to send) or expired (never to be sent). */
  record(revisions: readonly (NewRevision & { customerId: string; eventName: string; identifier: string; status: 'pending' | 'expired' })[], at: string): Promise<void>;
  /** Rows to send: pending and failed ones, oldest bucket first. */
  unsent(): Promise<LedgerRow[]>;
  markAttempt(identifier: string, now: number): Promise<void>;
  markSent(identifier: string, at: string): Promise<void>;
  markFailed(identifier: string, error: string): Promise<void>;
  /** Marks unsent rows whose bucket fell out of Stripe's window (or whose dedup window passed) and returns them. */
  markStatus(identifiers: readonly string[], status: 'expired' | 'uncertain', reason: string): Promise<void>;
  summary(): Promise<LedgerStatusRow[]>;
  /** Sent values per (tenant, meter) for buckets in [from, to). */
  sentBetween(from: number, to: number): Promise<{ tenantId: string; meter: MeterKey; value: bigint }[]>;
  rows(filter: { tenantId?: string; status?: LedgerStatus }): Promise<LedgerRow[]>;
}

export class SqlLedgerRepo implements LedgerRepo {
  constructor(private readonly db: SqlDriver) {}

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

  async record(
    revisions: readonly (NewRevision & { customerId: string; eventName: string; identifier: string; status: 'pending' | 'expired' })[],
    at: string,
  ): Promise<void> {
    for (const r of revisions) {
      await this.db.run(
        `INSERT INTO stripe_ledger (tenant_id, meter, bucket_start, revision, customer_id, event_name, value, identifier, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [r.tenantId, r.meter, r.bucketStart, r.revision, r.customerId, r.eventName, r.value, r.identifier, r.status, at],
      );
    }
  }

  async unsent(): Promise<LedgerRow[]> {
    const rows = await this.db.all<Row>(
      "SELECT * FROM stripe_ledger WHERE status IN ('pending', 'failed') ORDER BY bucket_start, tenant_id, meter, revision",
    );
    return rows.map(ledgerRow);
  }

  async markAttempt(identifier: string, now: number): Promise<void> {
    await this.db.run(
      'UPDATE stripe_ledger SET attempts = attempts + 1, first_attempt_at = COALESCE(first_attempt_at, ?) WHERE identifier = ?',
      [now, identifier],
    );
  }

  async markSent(identifier: string, at: string): Promise<void> {
    await this.db.run("UPDATE stripe_ledger SET status = 'sent', sent_at = ?, last_error = NULL WHERE identifier = ?", [at, identifier]);
  }

  async markFailed(identifier: string, error: string): Promise<void> {
    await this.db.run("UPDATE stripe_ledger SET status = 'failed', last_error = ? WHERE identifier = ? AND status <> 'sent'", [error, identifier]);
  }

  async markStatus(identifiers: readonly string[], status: 'expired' | 'uncertain', reason: string): Promise<void> {
    for (const id of identifiers) {
      await this.db.run("UPDATE stripe_ledger SET status = ?, last_error = ? WHERE identifier = ? AND status IN ('pending', 'failed')", [
        status, reason, id,
      ]);
    }
  }

  async summary(): Promise<LedgerStatusRow[]> {
    const rows = await this.db.all<Row>(
      `SELECT tenant_id, meter, status, COUNT(*) AS revisions, SUM(value) AS value, MIN(bucket_start) AS oldest, MAX(bucket_start) AS newest
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
    }));
  }

  async sentBetween(from: number, to: number): Promise<{ tenantId: string; meter: MeterKey; value: bigint }[]> {
    const rows = await this.db.all<Row>(
      `SELECT tenant_id, meter, SUM(value) AS value FROM stripe_ledger
       WHERE status = 'sent' AND bucket_start >= ? AND bucket_start < ? GROUP BY tenant_id, meter ORDER BY tenant_id, meter`,
      [from, to],
    );
    return rows.map((r) => ({ tenantId: String(r.tenant_id), meter: String(r.meter) as MeterKey, value: toBigInt(r.value) }));
  }

  async rows(filter: { tenantId?: string; status?: LedgerStatus }): Promise<LedgerRow[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.tenantId) where.push('tenant_id = ?') && params.push(filter.tenantId);
    if (filter.status) where.push('status = ?') && params.push(filter.status);
    const rows = await this.db.all<Row>(
      `SELECT * FROM stripe_ledger ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY tenant_id, meter, bucket_start, revision`,
      params,
    );
    return rows.map(ledgerRow);
  }
}
