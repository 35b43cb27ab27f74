/**
 * Fired alerts and the webhook outbox. An alert is recorded once per (tenant, period, kind,
 * threshold): the unique key makes a second cron run, or two overlapping ones, stay quiet. Each
 * new alert that a webhook should hear of gets an outbox row, written in the same transaction;
 * the row stays pending until a POST succeeds, so a failed post is retried by the next run.
 *
 * The outbox keeps a digest of the webhook URL, never the URL: Slack-style webhook URLs are
 * secrets. A run delivers the pending rows of the URL it was given.
 *
 * Also here: the few counts `billctl metrics` reads straight from other tables (invoices by
 * status, Stripe ledger rows by status), so metrics never load whole rows.
 */
import { toNumber, toStringOrNull, type Row, type SqlDriver, type SqlValue } from './sql.js';

export interface AlertRecord {
  id: number;
  tenantId: string;
  period: string;
  kind: string;
  /** Whole percentage (`80`), or the day (`2026-10-14`) of a spike. */
  threshold: string;
  firedAt: string;
  /** The human sentence. */
  text: string;
  /** The alert's JSON object (what `alerts check --format json` prints and the webhook posts). */
  details: Record<string, unknown>;
}

export type NewAlert = Omit<AlertRecord, 'id'>;

export interface OutboxRow {
  alertId: number;
  target: string;
  targetDisplay: string;
  status: 'pending' | 'sent' | 'expired';
  attempts: number;
  lastError: string | null;
  createdAt: string;
  sentAt: string | null;
  alert: AlertRecord;
}

export interface AlertFilter {
  tenantId?: string;
  period?: string;
  kind?: string;
}

export interface AlertRepo {
  /**
   * Records the alert unless its (tenant, period, kind, threshold) already fired; when it is new
   * and `webhook` is given, queues it for that webhook in the same transaction. Returns the
   * stored alert when it is new, undefined when it had fired before.
   */
  fire(alert: NewAlert, webhook?: { target: string; display: string }): Promise<AlertRecord | undefined>;
  list(filter: AlertFilter): Promise<AlertRecord[]>;
  /** Pending outbox rows of one webhook target, oldest alert first. */
  pending(target: string): Promise<OutboxRow[]>;
  /** Pending outbox rows per target (for reports and metrics). */
  pendingCounts(): Promise<{ target: string; display: string; count: number }[]>;
  markAttempt(alertId: number, target: string, error: string | null, at: string): Promise<void>;
  /** Gives up pending rows (of any target) queued before `createdBefore` (ISO): status `expired`. Returns how many. */
  expirePending(createdBefore: string): Promise<number>;
  /** Recorded alerts per kind. */
  countsByKind(): Promise<{ kind: string; count: number }[]>;

  // -- reads for metrics
  invoiceCounts(): Promise<{ status: string; count: number }[]>;
  ledgerCounts(): Promise<{ status: string; count: number }[]>;
  /** The newest sent_at of the Stripe ledger (ISO text), or undefined. */
  ledgerLastSent(): Promise<string | undefined>;
}

export const ALERT_MIGRATION_SQL = `
  CREATE TABLE alerts (
    id {serial},
    tenant_id {key} NOT NULL,
    period TEXT NOT NULL,
    kind TEXT NOT NULL,
    threshold TEXT NOT NULL,
    fired_at TEXT NOT NULL,
    text TEXT NOT NULL,
    details TEXT NOT NULL,
    UNIQUE (tenant_id, period, kind, threshold)
  );
  CREATE TABLE alert_outbox (
    alert_id {bigint} NOT NULL REFERENCES alerts(id),
    target TEXT NOT NULL,
    target_display TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    PRIMARY KEY (alert_id, target)
  );
  CREATE INDEX alert_outbox_status ON alert_outbox (status, target);
`;

function alertRow(r: Row): AlertRecord {
  return {
    id: toNumber(r.id),
    tenantId: String(r.tenant_id),
    period: String(r.period),
    kind: String(r.kind),
    threshold: String(r.threshold),
    firedAt: String(r.fired_at),
    text: String(r.text),
    details: JSON.parse(String(r.details)) as Record<string, unknown>,
  };
}

export class SqlAlertRepo implements AlertRepo {
  constructor(private readonly db: SqlDriver) {}

  async fire(a: NewAlert, webhook?: { target: string; display: string }): Promise<AlertRecord | undefined> {
    return this.db.transaction(async () => {
      const inserted = await this.db.run(
        `INSERT INTO alerts (tenant_id, period, kind, threshold, fired_at, text, details) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, period, kind, threshold) DO NOTHING`,
        [a.tenantId, a.period, a.kind, a.threshold, a.firedAt, a.text, JSON.stringify(a.details)],
      );
      if (inserted === 0) return undefined;
      const row = await this.db.get<Row>(
        'SELECT * FROM alerts WHERE tenant_id = ? AND period = ? AND kind = ? AND threshold = ?',
        [a.tenantId, a.period, a.kind, a.threshold],
      );
      const stored = alertRow(row!);
      if (webhook) {
        await this.db.run(
          `INSERT INTO alert_outbox (alert_id, target, target_display, status, created_at) VALUES (?, ?, ?, 'pending', ?)`,
          [stored.id, webhook.target, webhook.display, a.firedAt],
        );
      }
      return stored;
    });
  }

  async list(filter: AlertFilter): Promise<AlertRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.tenantId !== undefined) where.push('tenant_id = ?') && params.push(filter.tenantId);
    if (filter.period !== undefined) where.push('period = ?') && params.push(filter.period);
    if (filter.kind !== undefined) where.push('kind = ?') && params.push(filter.kind);
    const rows = await this.db.all<Row>(
      `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`,
      params,
    );
    return rows.map(alertRow);
  }

  async pending(target: string): Promise<OutboxRow[]> {
    const rows = await this.db.all<Row>(
      `SELECT o.alert_id, o.target, o.target_display, o.status, o.attempts, o.last_error, o.created_at, o.sent_at,
         a.id, a.tenant_id, a.period, a.kind, a.threshold, a.fired_at, a.text, a.details
       FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id
       WHERE o.status = 'pending' AND o.target = ? ORDER BY o.alert_id`,
      [target],
    );
    return rows.map((r) => ({
      alertId: toNumber(r.alert_id),
      target: String(r.target),
      targetDisplay: String(r.target_display),
      status: 'pending',
      attempts: toNumber(r.attempts),
      lastError: toStringOrNull(r.last_error),
      createdAt: String(r.created_at),
      sentAt: toStringOrNull(r.sent_at),
      alert: alertRow(r),
    }));
  }

  async pendingCounts(): Promise<{ target: string; display: string; count: number }[]> {
    const rows = await this.db.all<Row>(
      `SELECT target, MIN(target_display) AS display, COUNT(*) AS n FROM alert_outbox WHERE status = 'pending'
       GROUP BY target ORDER BY target`,
    );
    return rows.map((r) => ({ target: String(r.target), display: String(r.display), count: toNumber(r.n) }));
  }

  async markAttempt(alertId: number, target: string, error: string | null, at: string): Promise<void> {
    if (error === null) {
      await this.db.run(
        `UPDATE alert_outbox SET attempts = attempts + 1, status = 'sent', sent_at = ?, last_error = NULL
         WHERE alert_id = ? AND target = ?`,
        [at, alertId, target],
      );
    } else {
      await this.db.run('UPDATE alert_outbox SET attempts = attempts + 1, last_error = ? WHERE alert_id = ? AND target = ?', [
        error, alertId, target,
      ]);
    }
  }

  async expirePending(createdBefore: string): Promise<number> {
    return this.db.run("UPDATE alert_outbox SET status = 'expired' WHERE status = 'pending' AND created_at < ?", [createdBefore]);
  }

  async countsByKind(): Promise<{ kind: string; count: number }[]> {
    const rows = await this.db.all<Row>('SELECT kind, COUNT(*) AS n FROM alerts GROUP BY kind ORDER BY kind');
    return rows.map((r) => ({ kind: String(r.kind), count: toNumber(r.n) }));
  }

  async invoiceCounts(): Promise<{ status: string; count: number }[]> {
    const rows = await this.db.all<Row>('SELECT status, COUNT(*) AS n FROM invoices GROUP BY status ORDER BY status');
    return rows.map((r) => ({ status: String(r.status), count: toNumber(r.n) }));
  }

  async ledgerCounts(): Promise<{ status: string; count: number }[]> {
    const rows = await this.db.all<Row>('SELECT status, COUNT(*) AS n FROM stripe_ledger GROUP BY status ORDER BY status');
    return rows.map((r) => ({ status: String(r.status), count: toNumber(r.n) }));
  }

  async ledgerLastSent(): Promise<string | undefined> {
    const row = await this.db.get<Row>("SELECT MAX(sent_at) AS at FROM stripe_ledger WHERE status = 'sent'");
    return toStringOrNull(row?.at) ?? undefined;
  }
}
