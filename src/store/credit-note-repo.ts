/**
 * Credit notes in the store: written once, never changed (but for the path of their PDF), with
 * their own gapless number sequences per (prefix, year), taken like invoice numbers.
 */
import { Decimal } from '../domain/money.js';
import type { Period } from '../domain/period.js';
import { takeNextNumber } from './invoice-repo.js';
import { toNumber, toStringOrNull, type Row, type SqlDriver, type SqlValue } from './sql.js';

export interface NewCreditNote {
  number: string;
  numberYear: number;
  numberSeq: number;
  invoiceId: string;
  invoiceNumber: string;
  tenantId: string;
  /** The corrected invoice's period (its PDF goes beside the invoice's). */
  period: Period;
  currency: string;
  issueDate: string;
  net: Decimal;
  tax: Decimal;
  total: Decimal;
  taxRate: Decimal;
  taxLabel: string;
  reason: string;
  /** The corrected invoice line (1-based, as `invoice show` lists them), if any. */
  lineNo: number | null;
  lineDescription: string | null;
  /** What lowered the invoice's amount due, and what became a prepaid grant. */
  applied: Decimal;
  granted: Decimal;
  /** The frozen PDF view model. */
  document: string;
}

export interface CreditNoteRecord extends NewCreditNote {
  id: string;
  pdf: string | null;
  createdAt: string;
}

export interface CreditNoteFilter {
  tenantId?: string;
  period?: Period;
  invoiceId?: string;
}

/** What a credit note lowered an invoice's amount due by, and when. */
export interface AppliedCredit {
  invoiceId: string;
  issueDate: string;
  applied: Decimal;
}

export interface CreditNoteRepo {
  /** Takes the next number of the (prefix, year) sequence; inside the issuing transaction, so a rollback returns it. */
  nextNumber(prefix: string, year: number, firstNumber: number): Promise<number>;
  insert(note: NewCreditNote, at: string): Promise<string>;
  /** By number (`CN-2026-000001`) or id. */
  get(idOrNumber: string): Promise<CreditNoteRecord | undefined>;
  /** By tenant, period, then number order. */
  list(filter: CreditNoteFilter): Promise<CreditNoteRecord[]>;
  setPdf(id: string, pdf: string, at: string): Promise<void>;
  /** Credit notes issued from `from` to `to` (dates, inclusive), without their documents. */
  issuedBetween(from: string, to: string): Promise<Omit<CreditNoteRecord, 'document'>[]>;
  /** The applied part of every credit note issued on or before `date`. */
  appliedUpTo(date: string): Promise<AppliedCredit[]>;
}

const dec = (v: unknown) => Decimal.parse(String(v));

function noteRow(r: Row): CreditNoteRecord {
  return {
    id: String(r.id),
    number: String(r.number),
    numberYear: toNumber(r.number_year),
    numberSeq: toNumber(r.number_seq),
    invoiceId: String(r.invoice_id),
    invoiceNumber: String(r.invoice_number),
    tenantId: String(r.tenant_id),
    period: String(r.period),
    currency: String(r.currency),
    issueDate: String(r.issue_date),
    net: dec(r.net),
    tax: dec(r.tax),
    total: dec(r.total),
    taxRate: dec(r.tax_rate),
    taxLabel: String(r.tax_label),
    reason: String(r.reason),
    lineNo: r.line_no === null || r.line_no === undefined ? null : toNumber(r.line_no),
    lineDescription: toStringOrNull(r.line_description),
    applied: dec(r.applied),
    granted: dec(r.granted),
    document: r.document === undefined ? '' : String(r.document),
    pdf: toStringOrNull(r.pdf),
    createdAt: String(r.created_at),
  };
}

const COLUMNS_BUT_DOCUMENT = `id, number, number_year, number_seq, invoice_id, invoice_number, tenant_id, period, currency, issue_date,
  net, tax, total, tax_rate, tax_label, reason, line_no, line_description, applied, granted, pdf, created_at`;

export class SqlCreditNoteRepo implements CreditNoteRepo {
  constructor(private readonly db: SqlDriver) {}

  nextNumber(prefix: string, year: number, firstNumber: number): Promise<number> {
    return takeNextNumber(this.db, 'credit_note_sequences', prefix, year, firstNumber);
  }

  async insert(n: NewCreditNote, at: string): Promise<string> {
    const row = await this.db.get<Row>(
      `INSERT INTO credit_notes (number, number_year, number_seq, invoice_id, invoice_number, tenant_id, period, currency, issue_date,
         net, tax, total, tax_rate, tax_label, reason, line_no, line_description, applied, granted, document, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      [
        n.number, n.numberYear, n.numberSeq, Number(n.invoiceId), n.invoiceNumber, n.tenantId, n.period, n.currency, n.issueDate,
        n.net.toString(), n.tax.toString(), n.total.toString(), n.taxRate.toString(), n.taxLabel, n.reason, n.lineNo, n.lineDescription,
        n.applied.toString(), n.granted.toString(), n.document, at,
      ],
    );
    return String(row!.id);
  }

  async get(idOrNumber: string): Promise<CreditNoteRecord | undefined> {
    let r = await this.db.get<Row>('SELECT * FROM credit_notes WHERE number = ?', [idOrNumber]);
    if (!r && /^\d{1,15}$/.test(idOrNumber)) r = await this.db.get<Row>('SELECT * FROM credit_notes WHERE id = ?', [Number(idOrNumber)]);
    return r ? noteRow(r) : undefined;
  }

  async list(filter: CreditNoteFilter): Promise<CreditNoteRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.tenantId !== undefined) where.push('tenant_id = ?') && params.push(filter.tenantId);
    if (filter.period !== undefined) where.push('period = ?') && params.push(filter.period);
    if (filter.invoiceId !== undefined) where.push('invoice_id = ?') && params.push(Number(filter.invoiceId));
    const rows = await this.db.all<Row>(
      `SELECT * FROM credit_notes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY tenant_id, period, id`,
      params,
    );
    return rows.map(noteRow);
  }

  async setPdf(id: string, pdf: string, _at: string): Promise<void> {
    await this.db.run('UPDATE credit_notes SET pdf = ? WHERE id = ?', [pdf, Number(id)]);
  }

  async issuedBetween(from: string, to: string): Promise<Omit<CreditNoteRecord, 'document'>[]> {
    const rows = await this.db.all<Row>(
      `SELECT ${COLUMNS_BUT_DOCUMENT} FROM credit_notes WHERE issue_date >= ? AND issue_date <= ? ORDER BY id`,
      [from, to],
    );
    return rows.map(noteRow);
  }

  async appliedUpTo(date: string): Promise<AppliedCredit[]> {
    const rows = await this.db.all<Row>('SELECT invoice_id, issue_date, applied FROM credit_notes WHERE issue_date <= ?', [date]);
    return rows.map((r) => ({ invoiceId: String(r.invoice_id), issueDate: String(r.issue_date), applied: dec(r.applied) }));
  }
}
