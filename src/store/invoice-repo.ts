/**
 * Invoices in the store: drafts, issued invoices and their frozen lines, and gapless number
 * sequences. Shared SQL for both databases; the one dialect difference (row locks) is below.
 */
import { Decimal } from '../domain/money.js';
import type { AdjustmentLine, BilledLine, CreditLine, InvoiceLine, InvoiceTotals } from '../domain/invoice.js';
import type { Period } from '../domain/period.js';
import type { TieredModelName } from '../domain/price-models/index.js';
import type { RatedLineKind, Unit } from '../domain/rating.js';
import { toNumber, toStringOrNull, type Row, type SqlDriver, type SqlValue } from './sql.js';

export type InvoiceStatus = 'draft' | 'finalized' | 'paid' | 'void';
export const INVOICE_STATUSES: readonly InvoiceStatus[] = ['draft', 'finalized', 'paid', 'void'];

/** The totals an invoice stores, as invoice math computes them. */
export type InvoiceTotalsRecord = InvoiceTotals;

export interface InvoiceRecord {
  id: string;
  tenantId: string;
  period: Period;
  status: InvoiceStatus;
  currency: string;
  planId: string | null;
  planVersion: string | null;
  totals: InvoiceTotalsRecord;
  taxRate: Decimal;
  taxLabel: string;
  /** Prepaid credits applied (after tax): they lower the amount due, not the total. */
  prepaidApplied: Decimal;
  /** Total − prepaid credits applied − credit notes − payments, never below 0 (0 on a void invoice). */
  amountDue: Decimal;
  number: string | null;
  issueDate: string | null;
  dueDate: string | null;
  paidDate: string | null;
  voidReason: string | null;
  pdf: string | null;
  /** The frozen PDF view model (JSON), set when the invoice is issued. */
  document: string | null;
  /** Fingerprint of the rating inputs, per period billed (own period and adjusted ones). */
  fingerprints: Record<Period, string>;
  createdAt: string;
  updatedAt: string;
  finalizedAt: string | null;
}

export interface DraftInput {
  tenantId: string;
  period: Period;
  currency: string;
  planId: string | null;
  planVersion: string | null;
  totals: InvoiceTotalsRecord;
  taxRate: Decimal;
  taxLabel: string;
  prepaidApplied: Decimal;
  amountDue: Decimal;
  fingerprints: Record<Period, string>;
  lines: InvoiceLine[];
}

/** A payment recorded against an issued invoice (`invoice mark-paid`); a reversed one (`mark-unpaid`) never counts. */
export interface PaymentRecord {
  id: string;
  invoiceId: string;
  amount: Decimal;
  /** The day the payment arrived. */
  date: string;
  recordedAt: string;
  reversedAt: string | null;
}

/** What `invoice aging` reads of an issued invoice. */
export interface ReceivableRow {
  id: string;
  tenantId: string;
  currency: string;
  status: InvoiceStatus;
  total: Decimal;
  prepaidApplied: Decimal;
  issueDate: string;
  dueDate: string;
  /** When it was voided (an instant), on a void invoice. */
  voidedAt: string | null;
}

/** What `report tax` reads of an issued invoice. */
export interface TaxedInvoiceRow {
  id: string;
  number: string;
  tenantId: string;
  currency: string;
  taxLabel: string;
  taxRate: Decimal;
  subtotal: Decimal;
  tax: Decimal;
  issueDate: string;
}

export interface InvoiceFilter {
  period?: Period;
  tenantId?: string;
  status?: InvoiceStatus;
}

export interface IssueFields {
  number: string;
  numberYear: number;
  numberSeq: number;
  issueDate: string;
  dueDate: string;
  document: string;
}

export const INVOICE_MIGRATION_SQL = `
  CREATE TABLE invoices (
    id {serial},
    tenant_id {key} NOT NULL REFERENCES tenants(id),
    period TEXT NOT NULL,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    plan TEXT,
    plan_version TEXT,
    fee TEXT NOT NULL,
    usage TEXT NOT NULL,
    discount TEXT NOT NULL,
    adjustments TEXT NOT NULL,
    subtotal TEXT NOT NULL,
    tax TEXT NOT NULL,
    total TEXT NOT NULL,
    tax_rate TEXT NOT NULL,
    tax_label TEXT NOT NULL,
    number TEXT UNIQUE,
    number_year INTEGER,
    number_seq INTEGER,
    issue_date TEXT,
    due_date TEXT,
    paid_date TEXT,
    void_reason TEXT,
    voided_at TEXT,
    pdf TEXT,
    document TEXT,
    fingerprints TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finalized_at TEXT
  );
  CREATE UNIQUE INDEX invoices_one_live ON invoices (tenant_id, period) WHERE status <> 'void';
  CREATE INDEX invoices_by_period ON invoices (period, status);
  CREATE TABLE invoice_lines (
    invoice_id {bigint} NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    adjusts TEXT,
    key {key} NOT NULL,
    catalog_version TEXT,
    period TEXT NOT NULL,
    description TEXT NOT NULL,
    used TEXT NOT NULL,
    included TEXT NOT NULL,
    billed TEXT NOT NULL,
    unit TEXT,
    unit_price TEXT,
    unit_size TEXT,
    amount TEXT NOT NULL,
    unpriced INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (invoice_id, seq)
  );
  CREATE INDEX invoice_lines_version ON invoice_lines (catalog_version);
  CREATE INDEX invoice_lines_period ON invoice_lines (period);
  CREATE TABLE invoice_sequences (
    prefix TEXT NOT NULL,
    year INTEGER NOT NULL,
    next INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
  );
`;

const dec = (v: unknown) => Decimal.parse(String(v));

function invoiceRow(r: Row): InvoiceRecord {
  return {
    id: String(r.id),
    tenantId: String(r.tenant_id),
    period: String(r.period),
    status: String(r.status) as InvoiceStatus,
    currency: String(r.currency),
    planId: toStringOrNull(r.plan),
    planVersion: toStringOrNull(r.plan_version),
    totals: {
      fee: dec(r.fee), usage: dec(r.usage), discount: dec(r.discount), adjustments: dec(r.adjustments), credits: dec(r.credits),
      subtotal: dec(r.subtotal), tax: dec(r.tax), total: dec(r.total),
    },
    taxRate: dec(r.tax_rate),
    taxLabel: String(r.tax_label),
    prepaidApplied: dec(r.prepaid_applied),
    amountDue: dec(r.amount_due),
    number: toStringOrNull(r.number),
    issueDate: toStringOrNull(r.issue_date),
    dueDate: toStringOrNull(r.due_date),
    paidDate: toStringOrNull(r.paid_date),
    voidReason: toStringOrNull(r.void_reason),
    pdf: toStringOrNull(r.pdf),
    document: toStringOrNull(r.document),
    fingerprints: JSON.parse(String(r.fingerprints)) as Record<Period, string>,
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
    finalizedAt: toStringOrNull(r.finalized_at),
  };
}

function lineRow(r: Row): InvoiceLine {
  const base = {
    key: String(r.key),
    catalogVersion: toStringOrNull(r.catalog_version),
    description: String(r.description),
    used: BigInt(String(r.used)),
    included: BigInt(String(r.included)),
    billed: BigInt(String(r.billed)),
    unit: toStringOrNull(r.unit) as Unit | null,
    unitPrice: r.unit_price === null ? null : dec(r.unit_price),
    unitSize: r.unit_size === null ? null : BigInt(String(r.unit_size)),
    amount: dec(r.amount),
    unpriced: toNumber(r.unpriced) === 1,
    ...(r.price_model === null || r.price_model === undefined ? {} : { priceModel: String(r.price_model) as TieredModelName }),
    ...(r.price_words === null || r.price_words === undefined ? {} : { priceWords: String(r.price_words) }),
    ...(r.segment_from === null || r.segment_from === undefined
      ? {}
      : { plan: String(r.segment_plan), from: String(r.segment_from), to: String(r.segment_to) }),
  };
  if (String(r.kind) === 'adjustment') {
    return { ...base, kind: 'adjustment', adjusts: String(r.adjusts) as RatedLineKind, period: String(r.period) } satisfies AdjustmentLine;
  }
  if (String(r.kind) === 'credit') return { ...base, kind: 'credit' } satisfies CreditLine;
  return { ...base, kind: String(r.kind) as RatedLineKind };
}

export interface InvoiceRepo {
  /** The invoice of a tenant-period that is not void, if any. */
  findLive(tenantId: string, period: Period): Promise<InvoiceRecord | undefined>;
  /** By number (`INV-2026-000001`) or id. */
  get(idOrNumber: string): Promise<InvoiceRecord | undefined>;
  list(filter: InvoiceFilter): Promise<InvoiceRecord[]>;
  lines(id: string): Promise<InvoiceLine[]>;
  /** Creates a draft, or replaces the lines and totals of an existing draft. Returns its id. */
  saveDraft(draft: DraftInput, existingDraftId: string | undefined, at: string): Promise<string>;
  deleteDraft(id: string): Promise<void>;
  /** Locks the invoice row for the rest of the transaction (Postgres; SQLite's write lock already does). */
  lock(id: string): Promise<InvoiceRecord | undefined>;
  /** Takes the next number of the (prefix, year) sequence; inside the finalizing transaction, so a rollback returns it. */
  nextNumber(prefix: string, year: number, firstNumber: number): Promise<number>;
  /**
   * Holds the tenant's invoices for this transaction: runs side by side (a cron overlap) make or
   * issue one tenant's invoices one after the other. Taken before any invoice row lock.
   */
  lockTenant(tenantId: string): Promise<void>;
  /** Marks a draft issued; false when it was not a draft any more. */
  issue(id: string, fields: IssueFields, at: string): Promise<boolean>;
  /** Voids a finalized invoice (nothing is due on it any more); false when it was not finalized. */
  markVoid(id: string, reason: string, at: string): Promise<boolean>;
  addPayment(invoiceId: string, amount: Decimal, date: string, at: string): Promise<string>;
  /** The invoice's payments, oldest first, reversed ones included. */
  payments(invoiceId: string): Promise<PaymentRecord[]>;
  /** Reverses a payment; false when it already was. */
  reversePayment(paymentId: string, at: string): Promise<boolean>;
  /**
   * Records an issued invoice's amount due after a payment or a credit note, and its status with
   * it (paid, with the date it became paid, or finalized); false when it is not finalized or paid.
   */
  settle(id: string, s: { status: 'finalized' | 'paid'; amountDue: Decimal; paidDate: string | null }, at: string): Promise<boolean>;
  /** Invoices issued on or before `date` (void ones too: they may have been owed then). */
  issuedUpTo(date: string): Promise<ReceivableRow[]>;
  /** Payments not reversed that arrived on or before `date`. */
  paymentsUpTo(date: string): Promise<{ invoiceId: string; amount: Decimal }[]>;
  /** Invoices issued from `from` to `to` (inclusive) that are not void. */
  taxedBetween(from: string, to: string): Promise<TaxedInvoiceRow[]>;
  setPdf(id: string, pdf: string, at: string): Promise<void>;
  /** Ids of the tenant's issued (finalized or paid) invoices, oldest first. */
  issuedIds(tenantId: string): Promise<string[]>;
  /** Periods before `before` for which the tenant has an issued (finalized or paid) invoice. */
  issuedPeriods(tenantId: string, before: Period): Promise<Period[]>;
  /**
   * Everything billed for a tenant's period on issued invoices: its own lines and adjustment
   * lines for it on later issued invoices. Drafts and void invoices never count.
   */
  billedLines(tenantId: string, period: Period): Promise<BilledLine[]>;
  /** The fingerprint recorded when `period` was last billed on an issued invoice (own or adjustment). */
  lastBilledFingerprint(tenantId: string, period: Period): Promise<string | undefined>;
}

/**
 * Takes the next number of a gapless (prefix, year) sequence kept in `table` (invoice_sequences,
 * credit_note_sequences). Called inside the issuing transaction, so a rollback returns the number;
 * the row lock the UPDATE takes holds until commit, so runs side by side never take one twice.
 */
export async function takeNextNumber(db: SqlDriver, table: 'invoice_sequences' | 'credit_note_sequences', prefix: string, year: number, firstNumber: number): Promise<number> {
  await db.run(`INSERT INTO ${table} (prefix, year, next) VALUES (?, ?, ?) ON CONFLICT (prefix, year) DO NOTHING`, [prefix, year, firstNumber]);
  // One atomic step: the row lock it takes holds until the transaction ends, so numbers never repeat.
  const row = await db.get<Row>(`UPDATE ${table} SET next = next + 1 WHERE prefix = ? AND year = ? RETURNING next - 1 AS taken`, [prefix, year]);
  return toNumber(row!.taken);
}

export class SqlInvoiceRepo implements InvoiceRepo {
  constructor(private readonly db: SqlDriver) {}

  async findLive(tenantId: string, period: Period): Promise<InvoiceRecord | undefined> {
    const r = await this.db.get<Row>("SELECT * FROM invoices WHERE tenant_id = ? AND period = ? AND status <> 'void'", [tenantId, period]);
    return r ? invoiceRow(r) : undefined;
  }

  async get(idOrNumber: string): Promise<InvoiceRecord | undefined> {
    let r = await this.db.get<Row>('SELECT * FROM invoices WHERE number = ?', [idOrNumber]);
    if (!r && /^\d{1,15}$/.test(idOrNumber)) r = await this.db.get<Row>('SELECT * FROM invoices WHERE id = ?', [Number(idOrNumber)]);
    return r ? invoiceRow(r) : undefined;
  }

  async list(filter: InvoiceFilter): Promise<InvoiceRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.period) where.push('period = ?') && params.push(filter.period);
    if (filter.tenantId) where.push('tenant_id = ?') && params.push(filter.tenantId);
    if (filter.status) where.push('status = ?') && params.push(filter.status);
    const rows = await this.db.all<Row>(
      `SELECT * FROM invoices ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY period, tenant_id, id`,
      params,
    );
    return rows.map(invoiceRow);
  }

  async lines(id: string): Promise<InvoiceLine[]> {
    const rows = await this.db.all<Row>('SELECT * FROM invoice_lines WHERE invoice_id = ? ORDER BY seq', [Number(id)]);
    return rows.map(lineRow);
  }

  private async insertLines(id: number, period: Period, lines: InvoiceLine[]): Promise<void> {
    let seq = 0;
    for (const l of lines) {
      await this.db.run(
        `INSERT INTO invoice_lines (invoice_id, seq, kind, adjusts, key, catalog_version, period, description, used, included,
           billed, unit, unit_price, unit_size, amount, unpriced, price_model, price_words, segment_plan, segment_from, segment_to)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          id, ++seq, l.kind, l.kind === 'adjustment' ? l.adjusts : null, l.key, l.catalogVersion,
          l.kind === 'adjustment' ? l.period : period, l.description, l.used.toString(), l.included.toString(),
          l.billed.toString(), l.unit, l.unitPrice?.toString() ?? null, l.unitSize?.toString() ?? null, l.amount.toString(),
          l.unpriced ? 1 : 0, l.priceModel ?? null, l.priceWords ?? null,
          l.from !== undefined ? l.plan ?? null : null, l.from ?? null, l.from !== undefined ? l.to ?? null : null,
        ],
      );
    }
  }

  async saveDraft(d: DraftInput, existingDraftId: string | undefined, at: string): Promise<string> {
    const t = d.totals;
    const values: SqlValue[] = [
      d.currency, d.planId, d.planVersion, t.fee.toString(), t.usage.toString(), t.discount.toString(), t.adjustments.toString(),
      t.credits.toString(), t.subtotal.toString(), t.tax.toString(), t.total.toString(), d.taxRate.toString(), d.taxLabel,
      d.prepaidApplied.toString(), d.amountDue.toString(), JSON.stringify(d.fingerprints), at,
    ];
    let id: number;
    if (existingDraftId !== undefined) {
      id = Number(existingDraftId);
      const n = await this.db.run(
        `UPDATE invoices SET currency = ?, plan = ?, plan_version = ?, fee = ?, usage = ?, discount = ?, adjustments = ?,
           credits = ?, subtotal = ?, tax = ?, total = ?, tax_rate = ?, tax_label = ?, prepaid_applied = ?, amount_due = ?,
           fingerprints = ?, updated_at = ?
         WHERE id = ? AND status = 'draft'`,
        [...values, id],
      );
      if (n !== 1) throw new Error(`invoice ${existingDraftId} is no longer a draft`);
      await this.db.run('DELETE FROM invoice_lines WHERE invoice_id = ?', [id]);
    } else {
      const row = await this.db.get<Row>(
        `INSERT INTO invoices (tenant_id, period, status, currency, plan, plan_version, fee, usage, discount, adjustments,
           credits, subtotal, tax, total, tax_rate, tax_label, prepaid_applied, amount_due, fingerprints, updated_at, created_at)
         VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        [d.tenantId, d.period, ...values, at],
      );
      id = toNumber(row!.id);
    }
    await this.insertLines(id, d.period, d.lines);
    return String(id);
  }

  async deleteDraft(id: string): Promise<void> {
    await this.db.run('DELETE FROM invoice_lines WHERE invoice_id = ?', [Number(id)]);
    await this.db.run('DELETE FROM credit_draws WHERE invoice_id = ?', [Number(id)]);
    await this.db.run("DELETE FROM invoices WHERE id = ? AND status = 'draft'", [Number(id)]);
  }

  /** Row locks where the store has them (src/store/dialect-adapter.ts). */
  private get forUpdate(): string {
    return this.db.dialect.rowLock('update');
  }

  async lock(id: string): Promise<InvoiceRecord | undefined> {
    const r = await this.db.get<Row>(`SELECT * FROM invoices WHERE id = ?${this.forUpdate}`, [Number(id)]);
    return r ? invoiceRow(r) : undefined;
  }

  async lockTenant(tenantId: string): Promise<void> {
    await this.db.get<Row>(`SELECT id FROM tenants WHERE id = ?${this.forUpdate}`, [tenantId]);
  }

  nextNumber(prefix: string, year: number, firstNumber: number): Promise<number> {
    return takeNextNumber(this.db, 'invoice_sequences', prefix, year, firstNumber);
  }

  async issue(id: string, f: IssueFields, at: string): Promise<boolean> {
    const n = await this.db.run(
      `UPDATE invoices SET status = 'finalized', number = ?, number_year = ?, number_seq = ?, issue_date = ?, due_date = ?,
         document = ?, finalized_at = ?, updated_at = ? WHERE id = ? AND status = 'draft'`,
      [f.number, f.numberYear, f.numberSeq, f.issueDate, f.dueDate, f.document, at, at, Number(id)],
    );
    return n === 1;
  }

  async markVoid(id: string, reason: string, at: string): Promise<boolean> {
    const n = await this.db.run(
      "UPDATE invoices SET status = 'void', void_reason = ?, voided_at = ?, amount_due = '0', updated_at = ? WHERE id = ? AND status = 'finalized'",
      [reason, at, at, Number(id)],
    );
    return n === 1;
  }

  async addPayment(invoiceId: string, amount: Decimal, date: string, at: string): Promise<string> {
    const row = await this.db.get<Row>(
      'INSERT INTO invoice_payments (invoice_id, amount, paid_on, recorded_at) VALUES (?, ?, ?, ?) RETURNING id',
      [Number(invoiceId), amount.toString(), date, at],
    );
    return String(row!.id);
  }

  async payments(invoiceId: string): Promise<PaymentRecord[]> {
    const rows = await this.db.all<Row>('SELECT * FROM invoice_payments WHERE invoice_id = ? ORDER BY id', [Number(invoiceId)]);
    return rows.map((r) => ({
      id: String(r.id), invoiceId: String(r.invoice_id), amount: dec(r.amount), date: String(r.paid_on),
      recordedAt: String(r.recorded_at), reversedAt: toStringOrNull(r.reversed_at),
    }));
  }

  async reversePayment(paymentId: string, at: string): Promise<boolean> {
    return (await this.db.run('UPDATE invoice_payments SET reversed_at = ? WHERE id = ? AND reversed_at IS NULL', [at, Number(paymentId)])) === 1;
  }

  async settle(id: string, s: { status: 'finalized' | 'paid'; amountDue: Decimal; paidDate: string | null }, at: string): Promise<boolean> {
    const n = await this.db.run(
      "UPDATE invoices SET status = ?, amount_due = ?, paid_date = ?, updated_at = ? WHERE id = ? AND status IN ('finalized', 'paid')",
      [s.status, s.amountDue.toString(), s.paidDate, at, Number(id)],
    );
    return n === 1;
  }

  async issuedUpTo(date: string): Promise<ReceivableRow[]> {
    const rows = await this.db.all<Row>(
      `SELECT id, tenant_id, currency, status, total, prepaid_applied, issue_date, due_date, voided_at FROM invoices
       WHERE status IN ('finalized', 'paid', 'void') AND issue_date <= ?`,
      [date],
    );
    return rows.map((r) => ({
      id: String(r.id), tenantId: String(r.tenant_id), currency: String(r.currency), status: String(r.status) as InvoiceStatus,
      total: dec(r.total), prepaidApplied: dec(r.prepaid_applied), issueDate: String(r.issue_date), dueDate: String(r.due_date),
      voidedAt: toStringOrNull(r.voided_at),
    }));
  }

  async paymentsUpTo(date: string): Promise<{ invoiceId: string; amount: Decimal }[]> {
    const rows = await this.db.all<Row>('SELECT invoice_id, amount FROM invoice_payments WHERE paid_on <= ? AND reversed_at IS NULL', [date]);
    return rows.map((r) => ({ invoiceId: String(r.invoice_id), amount: dec(r.amount) }));
  }

  async taxedBetween(from: string, to: string): Promise<TaxedInvoiceRow[]> {
    const rows = await this.db.all<Row>(
      `SELECT id, number, tenant_id, currency, tax_label, tax_rate, subtotal, tax, issue_date FROM invoices
       WHERE status IN ('finalized', 'paid') AND issue_date >= ? AND issue_date <= ? ORDER BY id`,
      [from, to],
    );
    return rows.map((r) => ({
      id: String(r.id), number: String(r.number), tenantId: String(r.tenant_id), currency: String(r.currency), taxLabel: String(r.tax_label),
      taxRate: dec(r.tax_rate), subtotal: dec(r.subtotal), tax: dec(r.tax), issueDate: String(r.issue_date),
    }));
  }

  async setPdf(id: string, pdf: string, at: string): Promise<void> {
    await this.db.run('UPDATE invoices SET pdf = ?, updated_at = ? WHERE id = ?', [pdf, at, Number(id)]);
  }

  async issuedIds(tenantId: string): Promise<string[]> {
    const rows = await this.db.all<Row>("SELECT id FROM invoices WHERE tenant_id = ? AND status IN ('finalized', 'paid') ORDER BY id", [tenantId]);
    return rows.map((r) => String(r.id));
  }

  async issuedPeriods(tenantId: string, before: Period): Promise<Period[]> {
    const rows = await this.db.all<Row>(
      `SELECT DISTINCT period FROM invoices WHERE tenant_id = ? AND period < ? AND status IN ('finalized', 'paid') ORDER BY period`,
      [tenantId, before],
    );
    return rows.map((r) => String(r.period));
  }

  async billedLines(tenantId: string, period: Period): Promise<BilledLine[]> {
    const rows = await this.db.all<Row>(
      `SELECT l.* FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
       WHERE i.tenant_id = ? AND i.status IN ('finalized', 'paid') AND l.period = ?
         AND (l.kind = 'adjustment' OR i.period = ?) AND l.kind <> 'credit'
       ORDER BY i.id, l.seq`,
      [tenantId, period, period],
    );
    return rows.map((r) => {
      const l = lineRow(r);
      return {
        kind: l.kind,
        adjusts: l.kind === 'adjustment' ? l.adjusts : null,
        key: l.key,
        catalogVersion: l.catalogVersion,
        ...(l.from !== undefined ? { from: l.from } : {}),
        period: l.kind === 'adjustment' ? l.period : null,
        description: l.description,
        used: l.used,
        included: l.included,
        billed: l.billed,
        amount: l.amount,
      };
    });
  }

  async lastBilledFingerprint(tenantId: string, period: Period): Promise<string | undefined> {
    const rows = await this.db.all<Row>(
      `SELECT fingerprints FROM invoices WHERE tenant_id = ? AND status IN ('finalized', 'paid') AND period >= ?
       ORDER BY finalized_at DESC, id DESC`,
      [tenantId, period],
    );
    for (const r of rows) {
      const f = (JSON.parse(String(r.fingerprints)) as Record<Period, string>)[period];
      if (f !== undefined) return f;
    }
    return undefined;
  }
}
