/**
 * Credit grants and their draws (billing-rules.md, "Credits"). A draw row ties a grant to the
 * invoice that draws on it: a draft's rows say what it would draw, an issued invoice's are the
 * recorded draws, and voiding returns them (`returned_at`). A grant's balance is its amount less
 * the recorded draws not returned. Grants are never deleted; a revoked grant is drawn no more.
 */
import { Decimal } from '../domain/money.js';
import type { CreditKind } from '../domain/credits.js';
import { toStringOrNull, type Row, type SqlDriver, type SqlValue } from './sql.js';

/**
 * Migration "credits, credit notes and payments": the invoice's credits and amount due, payments,
 * credit grants and draws, credit notes and their number sequences. Paid invoices of older stores
 * get one payment of their total on their paid date.
 */
export const RECEIVABLES_MIGRATION_SQL = `
  ALTER TABLE invoices ADD COLUMN credits TEXT NOT NULL DEFAULT '0';
  ALTER TABLE invoices ADD COLUMN prepaid_applied TEXT NOT NULL DEFAULT '0';
  ALTER TABLE invoices ADD COLUMN amount_due TEXT NOT NULL DEFAULT '0';
  UPDATE invoices SET amount_due = total WHERE status IN ('draft', 'finalized');
  CREATE INDEX invoices_by_issue_date ON invoices (issue_date);
  CREATE TABLE invoice_payments (
    id {serial},
    invoice_id {bigint} NOT NULL REFERENCES invoices(id),
    amount TEXT NOT NULL,
    paid_on TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    reversed_at TEXT
  );
  CREATE INDEX invoice_payments_invoice ON invoice_payments (invoice_id);
  INSERT INTO invoice_payments (invoice_id, amount, paid_on, recorded_at)
    SELECT id, total, paid_date, updated_at FROM invoices WHERE status = 'paid' ORDER BY id;
  CREATE TABLE credit_grants (
    id {serial},
    tenant_id {key} NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    name TEXT,
    currency TEXT NOT NULL,
    amount TEXT NOT NULL,
    start_date TEXT NOT NULL,
    expires TEXT,
    credit_note_id {bigint},
    revoked_at TEXT,
    revoke_reason TEXT,
    created_at TEXT NOT NULL
  );
  CREATE INDEX credit_grants_tenant ON credit_grants (tenant_id, id);
  CREATE TABLE credit_draws (
    invoice_id {bigint} NOT NULL REFERENCES invoices(id),
    grant_id {bigint} NOT NULL REFERENCES credit_grants(id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    amount TEXT NOT NULL,
    returned_at TEXT,
    PRIMARY KEY (invoice_id, grant_id)
  );
  CREATE INDEX credit_draws_grant ON credit_draws (grant_id);
  CREATE TABLE credit_notes (
    id {serial},
    number TEXT NOT NULL UNIQUE,
    number_year INTEGER NOT NULL,
    number_seq INTEGER NOT NULL,
    invoice_id {bigint} NOT NULL REFERENCES invoices(id),
    invoice_number TEXT NOT NULL,
    tenant_id {key} NOT NULL,
    period TEXT NOT NULL,
    currency TEXT NOT NULL,
    issue_date TEXT NOT NULL,
    net TEXT NOT NULL,
    tax TEXT NOT NULL,
    total TEXT NOT NULL,
    tax_rate TEXT NOT NULL,
    tax_label TEXT NOT NULL,
    reason TEXT NOT NULL,
    line_no INTEGER,
    line_description TEXT,
    applied TEXT NOT NULL,
    granted TEXT NOT NULL,
    document TEXT NOT NULL,
    pdf TEXT,
    created_at TEXT NOT NULL
  );
  CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id);
  CREATE INDEX credit_notes_tenant ON credit_notes (tenant_id, period);
  CREATE INDEX credit_notes_by_issue_date ON credit_notes (issue_date);
  CREATE TABLE credit_note_sequences (
    prefix TEXT NOT NULL,
    year INTEGER NOT NULL,
    next INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
  );
`;

export interface NewGrant {
  tenantId: string;
  kind: CreditKind;
  name: string | null;
  currency: string;
  amount: Decimal;
  start: string;
  expires: string | null;
  creditNoteId: string | null;
}

export interface GrantRecord extends NewGrant {
  id: string;
  revokedAt: string | null;
  revokeReason: string | null;
  createdAt: string;
  /** Recorded draws not returned (on issued invoices). */
  drawn: Decimal;
  /** amount − drawn. */
  balance: Decimal;
}

export interface DrawRecord {
  invoiceId: string;
  grantId: string;
  kind: CreditKind;
  /** Positive. */
  amount: Decimal;
  returnedAt: string | null;
  /** The drawing invoice: its number (null on a draft), status, period and issue date. */
  invoiceNumber: string | null;
  invoiceStatus: string;
  period: string;
  issueDate: string | null;
}

export interface NewDraw {
  grantId: string;
  kind: CreditKind;
  amount: Decimal;
}

export interface CreditRepo {
  insertGrant(g: NewGrant, at: string): Promise<string>;
  getGrant(id: string): Promise<GrantRecord | undefined>;
  /** Grants by tenant, then id. */
  listGrants(filter: { tenantId?: string }): Promise<GrantRecord[]>;
  /** True when the tenant has any grant at all (else nothing about credits can change its invoices). */
  hasGrants(tenantId: string): Promise<boolean>;
  /** Revokes a grant not revoked yet; false when it already was. */
  revoke(id: string, reason: string, at: string): Promise<boolean>;
  /** Replaces what an invoice (a draft) draws, in draw order. */
  setDraws(invoiceId: string, draws: readonly NewDraw[]): Promise<void>;
  drawsOfInvoice(invoiceId: string): Promise<DrawRecord[]>;
  drawsOfGrant(grantId: string): Promise<DrawRecord[]>;
  /** Returns a voided invoice's draws to their grants; the draws returned. */
  returnDraws(invoiceId: string, at: string): Promise<DrawRecord[]>;
}

const dec = (v: unknown) => Decimal.parse(String(v));

function drawRow(r: Row): DrawRecord {
  return {
    invoiceId: String(r.invoice_id),
    grantId: String(r.grant_id),
    kind: String(r.kind) as CreditKind,
    amount: dec(r.amount),
    returnedAt: toStringOrNull(r.returned_at),
    invoiceNumber: toStringOrNull(r.number),
    invoiceStatus: String(r.status),
    period: String(r.period),
    issueDate: toStringOrNull(r.issue_date),
  };
}

/** Draws with their invoice. */
const DRAWS = `SELECT d.*, i.number, i.status, i.period, i.issue_date FROM credit_draws d JOIN invoices i ON i.id = d.invoice_id`;
/** Draws that count against a grant's balance: on an issued invoice, not returned. */
const RECORDED = "i.status IN ('finalized', 'paid') AND d.returned_at IS NULL";

export class SqlCreditRepo implements CreditRepo {
  constructor(private readonly db: SqlDriver) {}

  async insertGrant(g: NewGrant, at: string): Promise<string> {
    const row = await this.db.get<Row>(
      `INSERT INTO credit_grants (tenant_id, kind, name, currency, amount, start_date, expires, credit_note_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      [g.tenantId, g.kind, g.name, g.currency, g.amount.toString(), g.start, g.expires, g.creditNoteId === null ? null : Number(g.creditNoteId), at],
    );
    return String(row!.id);
  }

  private async withBalances(rows: Row[], where: string, params: SqlValue[]): Promise<GrantRecord[]> {
    if (rows.length === 0) return [];
    const drawn = new Map<string, Decimal>();
    const draws = await this.db.all<Row>(
      `SELECT d.grant_id, d.amount FROM credit_draws d JOIN invoices i ON i.id = d.invoice_id
       JOIN credit_grants g ON g.id = d.grant_id WHERE ${RECORDED}${where}`,
      params,
    );
    for (const d of draws) {
      const id = String(d.grant_id);
      drawn.set(id, (drawn.get(id) ?? Decimal.ZERO).add(dec(d.amount)));
    }
    return rows.map((r) => {
      const amount = dec(r.amount);
      const used = (drawn.get(String(r.id)) ?? Decimal.ZERO).add(Decimal.of(0n, amount.scale));
      return {
        id: String(r.id),
        tenantId: String(r.tenant_id),
        kind: String(r.kind) as CreditKind,
        name: toStringOrNull(r.name),
        currency: String(r.currency),
        amount,
        start: String(r.start_date),
        expires: toStringOrNull(r.expires),
        creditNoteId: toStringOrNull(r.credit_note_id),
        revokedAt: toStringOrNull(r.revoked_at),
        revokeReason: toStringOrNull(r.revoke_reason),
        createdAt: String(r.created_at),
        drawn: used,
        balance: amount.sub(used),
      };
    });
  }

  async getGrant(id: string): Promise<GrantRecord | undefined> {
    if (!/^\d{1,15}$/.test(id)) return undefined;
    const rows = await this.db.all<Row>('SELECT * FROM credit_grants WHERE id = ?', [Number(id)]);
    return (await this.withBalances(rows, ' AND g.id = ?', [Number(id)]))[0];
  }

  async listGrants(filter: { tenantId?: string }): Promise<GrantRecord[]> {
    if (filter.tenantId === undefined) {
      return this.withBalances(await this.db.all<Row>('SELECT * FROM credit_grants ORDER BY tenant_id, id'), '', []);
    }
    const rows = await this.db.all<Row>('SELECT * FROM credit_grants WHERE tenant_id = ? ORDER BY id', [filter.tenantId]);
    return this.withBalances(rows, ' AND g.tenant_id = ?', [filter.tenantId]);
  }

  async hasGrants(tenantId: string): Promise<boolean> {
    return (await this.db.get('SELECT 1 FROM credit_grants WHERE tenant_id = ? LIMIT 1', [tenantId])) !== undefined;
  }

  async revoke(id: string, reason: string, at: string): Promise<boolean> {
    const n = await this.db.run('UPDATE credit_grants SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL', [at, reason, Number(id)]);
    return n === 1;
  }

  async setDraws(invoiceId: string, draws: readonly NewDraw[]): Promise<void> {
    await this.db.run('DELETE FROM credit_draws WHERE invoice_id = ?', [Number(invoiceId)]);
    let seq = 0;
    for (const d of draws) {
      await this.db.run('INSERT INTO credit_draws (invoice_id, grant_id, seq, kind, amount) VALUES (?, ?, ?, ?, ?)', [
        Number(invoiceId), Number(d.grantId), ++seq, d.kind, d.amount.toString(),
      ]);
    }
  }

  async drawsOfInvoice(invoiceId: string): Promise<DrawRecord[]> {
    const rows = await this.db.all<Row>(`${DRAWS} WHERE d.invoice_id = ? ORDER BY d.seq`, [Number(invoiceId)]);
    return rows.map(drawRow);
  }

  async drawsOfGrant(grantId: string): Promise<DrawRecord[]> {
    const rows = await this.db.all<Row>(`${DRAWS} WHERE d.grant_id = ? ORDER BY d.invoice_id`, [Number(grantId)]);
    return rows.map(drawRow);
  }

  async returnDraws(invoiceId: string, at: string): Promise<DrawRecord[]> {
    const rows = await this.db.all<Row>(
      'UPDATE credit_draws SET returned_at = ? WHERE invoice_id = ? AND returned_at IS NULL RETURNING grant_id',
      [at, Number(invoiceId)],
    );
    if (rows.length === 0) return [];
    return (await this.drawsOfInvoice(invoiceId)).filter((d) => d.returnedAt === at);
  }
}
