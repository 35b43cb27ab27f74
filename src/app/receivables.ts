/**
 * `invoice aging` and `report tax`: read what was issued, paid and credited, and sum it with the
 * pure reports of src/domain/receivables.ts. One query per table, whatever the number of invoices.
 */
import { amountDue } from '../domain/credits.js';
import { Decimal } from '../domain/money.js';
import type { Period } from '../domain/period.js';
import { agingReport, taxReport, type AgingReport, type Receivable, type TaxReport, type TaxedDocument } from '../domain/receivables.js';
import { daysInMonth } from '../domain/time.js';
import type { Store } from '../store/store.js';
import { dateOf } from './credits.js';

function sumBy(rows: readonly { invoiceId: string; amount: Decimal }[]): Map<string, Decimal> {
  const out = new Map<string, Decimal>();
  for (const r of rows) out.set(r.invoiceId, (out.get(r.invoiceId) ?? Decimal.ZERO).add(r.amount));
  return out;
}

/**
 * What was owed on `asOf` (a UTC date): every invoice issued by then and not void by then, less
 * the prepaid credits it drew, the credit notes issued on it by then and the payments that
 * arrived by then (reversed payments never count), by days past its due date.
 */
export async function agingAsOf(store: Store, asOf: string): Promise<AgingReport> {
  const invoices = await store.invoices.issuedUpTo(asOf);
  const paid = sumBy(await store.invoices.paymentsUpTo(asOf));
  const credited = sumBy((await store.creditNotes.appliedUpTo(asOf)).map((n) => ({ invoiceId: n.invoiceId, amount: n.applied })));
  const receivables: Receivable[] = [];
  for (const i of invoices) {
    if (i.status === 'void' && i.voidedAt !== null && dateOf(i.voidedAt) <= asOf) continue;
    const deductions = [i.prepaidApplied, credited.get(i.id) ?? Decimal.ZERO, paid.get(i.id) ?? Decimal.ZERO];
    receivables.push({ tenantId: i.tenantId, currency: i.currency, dueDate: i.dueDate, amountDue: amountDue(i.total, deductions, i.currency) });
  }
  return agingReport(receivables, asOf);
}

export interface TaxReportResult {
  from: Period;
  to: Period;
  /** The dates covered: the first day of `from` to the last day of `to`. */
  firstDay: string;
  lastDay: string;
  report: TaxReport;
}

/**
 * Net and tax of the invoices (their subtotal and tax; void ones left out) and of the credit
 * notes issued from the first day of `from` to the last day of `to`, by issue date.
 */
export async function taxReportFor(store: Store, from: Period, to: Period): Promise<TaxReportResult> {
  const firstDay = `${from}-01`;
  const lastDay = `${to}-${String(daysInMonth(Number(to.slice(0, 4)), Number(to.slice(5, 7)))).padStart(2, '0')}`;
  const docs: TaxedDocument[] = [];
  for (const i of await store.invoices.taxedBetween(firstDay, lastDay)) {
    docs.push({ kind: 'invoice', taxLabel: i.taxLabel, taxRate: i.taxRate, currency: i.currency, net: i.subtotal, tax: i.tax });
  }
  for (const n of await store.creditNotes.issuedBetween(firstDay, lastDay)) {
    docs.push({ kind: 'credit_note', taxLabel: n.taxLabel, taxRate: n.taxRate, currency: n.currency, net: n.net, tax: n.tax });
  }
  return { from, to, firstDay, lastDay, report: taxReport(docs) };
}
