/**
 * What finance reads after invoices are issued: the aging of what is owed (`invoice aging`) and
 * the tax report (`report tax`). Pure sums over plain records; the use cases read them.
 */
import { compareIds } from './receipt.js';
import { Decimal, currencyDigits } from './money.js';
import { DAY_MS, parseDate } from './time.js';

// ---------------------------------------------------------------------------------------------
// Aging

export const AGING_BUCKETS = ['current', '1-30', '31-60', '61-90', '90+'] as const;
export type AgingBucket = (typeof AGING_BUCKETS)[number];

/** Whole days from `from` to `to` (UTC dates); negative when `to` is earlier. */
export function daysBetween(from: string, to: string): number {
  const a = parseDate(from);
  const b = parseDate(to);
  if (a === undefined || b === undefined) throw new RangeError(`bad date ${a === undefined ? from : to}`);
  return Math.round((b - a) / DAY_MS);
}

/** Days past the due date → bucket: not yet past due (0 or less) is current. */
export function agingBucket(daysPastDue: number): AgingBucket {
  if (daysPastDue <= 0) return 'current';
  if (daysPastDue <= 30) return '1-30';
  if (daysPastDue <= 60) return '31-60';
  if (daysPastDue <= 90) return '61-90';
  return '90+';
}

/** An issued invoice with something owed on the as-of date. */
export interface Receivable {
  tenantId: string;
  currency: string;
  dueDate: string;
  amountDue: Decimal;
}

export interface AgingRow {
  /** null on a currency's total row. */
  tenantId: string | null;
  currency: string;
  buckets: Record<AgingBucket, Decimal>;
  total: Decimal;
  /** Invoices with something owed. */
  invoices: number;
}

export interface AgingReport {
  asOf: string;
  /** One row per tenant and currency, by tenant id then currency. */
  rows: AgingRow[];
  /** One row per currency, by currency. */
  totals: AgingRow[];
}

function emptyRow(tenantId: string | null, currency: string): AgingRow {
  const zero = Decimal.of(0n, currencyDigits(currency));
  const buckets = Object.fromEntries(AGING_BUCKETS.map((b) => [b, zero])) as Record<AgingBucket, Decimal>;
  return { tenantId, currency, buckets, total: zero, invoices: 0 };
}

function addTo(row: AgingRow, bucket: AgingBucket, amount: Decimal): void {
  row.buckets[bucket] = row.buckets[bucket].add(amount);
  row.total = row.total.add(amount);
  row.invoices += 1;
}

/** Sums what is owed per tenant and currency, by days past due on `asOf`; invoices with nothing owed are left out. */
export function agingReport(receivables: Iterable<Receivable>, asOf: string): AgingReport {
  const rows = new Map<string, AgingRow>();
  const totals = new Map<string, AgingRow>();
  for (const r of receivables) {
    if (r.amountDue.sign() <= 0) continue;
    const bucket = agingBucket(daysBetween(r.dueDate, asOf));
    const key = `${r.tenantId}\u0000${r.currency}`;
    let row = rows.get(key);
    if (!row) rows.set(key, (row = emptyRow(r.tenantId, r.currency)));
    addTo(row, bucket, r.amountDue);
    let total = totals.get(r.currency);
    if (!total) totals.set(r.currency, (total = emptyRow(null, r.currency)));
    addTo(total, bucket, r.amountDue);
  }
  return {
    asOf,
    rows: [...rows.values()].sort((a, b) => compareIds(a.tenantId!, b.tenantId!) || compareIds(a.currency, b.currency)),
    totals: [...totals.values()].sort((a, b) => compareIds(a.currency, b.currency)),
  };
}

// ---------------------------------------------------------------------------------------------
// Tax report

/** An issued invoice (net = its subtotal) or a credit note, with the tax it states. */
export interface TaxedDocument {
  kind: 'invoice' | 'credit_note';
  taxLabel: string;
  taxRate: Decimal;
  currency: string;
  net: Decimal;
  tax: Decimal;
}

export interface TaxRow {
  /** null on a currency's total row. */
  taxLabel: string | null;
  taxRate: Decimal | null;
  currency: string;
  invoices: number;
  invoiceNet: Decimal;
  invoiceTax: Decimal;
  creditNotes: number;
  creditNoteNet: Decimal;
  creditNoteTax: Decimal;
  /** Invoices less credit notes. */
  net: Decimal;
  tax: Decimal;
}

export interface TaxReport {
  /** By currency, tax label, then rate. */
  rows: TaxRow[];
  /** One row per currency. */
  totals: TaxRow[];
}

function emptyTaxRow(taxLabel: string | null, taxRate: Decimal | null, currency: string): TaxRow {
  const zero = Decimal.of(0n, currencyDigits(currency));
  return {
    taxLabel, taxRate, currency, invoices: 0, invoiceNet: zero, invoiceTax: zero, creditNotes: 0, creditNoteNet: zero,
    creditNoteTax: zero, net: zero, tax: zero,
  };
}

function addTax(row: TaxRow, d: TaxedDocument): void {
  if (d.kind === 'invoice') {
    row.invoices += 1;
    row.invoiceNet = row.invoiceNet.add(d.net);
    row.invoiceTax = row.invoiceTax.add(d.tax);
    row.net = row.net.add(d.net);
    row.tax = row.tax.add(d.tax);
  } else {
    row.creditNotes += 1;
    row.creditNoteNet = row.creditNoteNet.add(d.net);
    row.creditNoteTax = row.creditNoteTax.add(d.tax);
    row.net = row.net.sub(d.net);
    row.tax = row.tax.sub(d.tax);
  }
}

/** Net and tax by (tax label, rate, currency): invoices less credit notes. Rates that are equal as numbers (0.19, 0.190) are one row. */
export function taxReport(documents: Iterable<TaxedDocument>): TaxReport {
  const rows = new Map<string, TaxRow>();
  const totals = new Map<string, TaxRow>();
  for (const d of documents) {
    const rate = d.taxRate.normalize();
    const key = JSON.stringify([d.currency, d.taxLabel, rate.toString()]);
    let row = rows.get(key);
    if (!row) rows.set(key, (row = emptyTaxRow(d.taxLabel, rate, d.currency)));
    addTax(row, d);
    let total = totals.get(d.currency);
    if (!total) totals.set(d.currency, (total = emptyTaxRow(null, null, d.currency)));
    addTax(total, d);
  }
  return {
    rows: [...rows.values()].sort((a, b) =>
      compareIds(a.currency, b.currency) || compareIds(a.taxLabel!, b.taxLabel!) || a.taxRate!.cmp(b.taxRate!)),
    totals: [...totals.values()].sort((a, b) => compareIds(a.currency, b.currency)),
  };
}
