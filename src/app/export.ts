/**
 * `billctl export receipts|usage|invoices|lines`: CSV for finance and spreadsheets. Receipts are
 * streamed tenant by tenant, a page at a time, in (tenant id, timestamp, id) order, so millions of
 * receipts export with flat memory. Amounts are exact decimal text, quantities whole numbers,
 * timestamps RFC 3339 UTC with milliseconds; text from outside is neutralised (csv-writer.ts).
 */
import { invoiceLineJson } from '../domain/invoice.js';
import { formatAmount } from '../domain/money.js';
import { periodDays, periodInterval, type Period } from '../domain/period.js';
import type { Receipt } from '../domain/receipt.js';
import { QUANTITIES, REPORTED_QUANTITIES } from '../domain/quantities.js';
import type { Tenant } from '../domain/tenant.js';
import { formatInstant } from '../domain/time.js';
import { writeCsv, type CsvColumn, type CsvSink } from '../export/csv-writer.js';
import type { InvoiceFilter } from '../store/invoice-repo.js';
import type { Store } from '../store/store.js';
import { invoiceJson } from './invoices.js';
import { grantJson } from './credits.js';
import { creditNoteJson } from './credit-notes.js';
import type { StoreRating } from './rating-service.js';
import { usageReport, type UsageGroupBy, type UsageRow } from './usage.js';

export const EXPORT_KINDS = ['receipts', 'usage', 'invoices', 'lines', 'credits', 'credit-notes'] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];

/** Far enough before and after any receipt (ms). */
const BEGINNING = -8_640_000_000_000_000;
const END_OF_TIME = 8_640_000_000_000_000;

export const RECEIPT_COLUMNS: readonly CsvColumn<Receipt>[] = [
  { header: 'tenant_id', type: 'text', value: (r) => r.tenantId },
  { header: 'id', type: 'text', value: (r) => r.id },
  { header: 'timestamp', type: 'timestamp', value: (r) => formatInstant(r.ts) },
  { header: 'billable', type: 'flag', value: (r) => r.billable },
  { header: 'status', type: 'text', value: (r) => r.status },
  { header: 'user_id', type: 'text', value: (r) => r.userId },
  { header: 'project_id', type: 'text', value: (r) => r.projectId },
  { header: 'provider', type: 'text', value: (r) => r.provider },
  { header: 'model', type: 'text', value: (r) => r.model },
  { header: 'model_key', type: 'text', value: (r) => r.modelKey },
  { header: 'gpu_type', type: 'text', value: (r) => r.gpuType },
  { header: 'gpu_key', type: 'text', value: (r) => r.gpuKey },
  { header: 'event_type', type: 'text', value: (r) => r.eventType },
  // Every quantity of the field table (quantities.ts), in its order.
  ...QUANTITIES.map((q): CsvColumn<Receipt> => ({ header: q.name, type: 'quantity', value: (r) => r[q.prop] })),
  // Validated decimal text from the receipt (kept for reconciliation); checked again as a number.
  { header: 'reported_cost', type: 'amount', value: (r) => r.reportedCost },
  { header: 'unsplit', type: 'flag', value: (r) => r.unsplit },
];

export interface ExportFilter {
  /** The tenants to export, in this order. */
  tenants: Tenant[];
  period?: Period;
}

/** How many receipts an export will write (from rollups: cheap), for the progress bar. */
export async function countReceipts(store: Store, f: ExportFilter): Promise<number> {
  let n = 0n;
  for (const t of f.tenants) {
    const { first, last } = f.period ? periodDays(f.period) : { first: -1_000_000_000, last: 1_000_000_000 };
    for (const r of await store.rollups(t.id, first, last)) n += r.receipts;
  }
  return Number(n);
}

async function* receiptsOf(store: Store, f: ExportFilter): AsyncGenerator<Receipt> {
  for (const t of f.tenants) {
    const { start, end } = f.period ? periodInterval(t.timezone, f.period) : { start: BEGINNING, end: END_OF_TIME };
    yield* store.receipts(t.id, start, end);
  }
}

export function exportReceipts(store: Store, sink: CsvSink, f: ExportFilter, onRow?: () => void): Promise<number> {
  return writeCsv(sink, RECEIPT_COLUMNS, receiptsOf(store, f), onRow);
}

// ---------------------------------------------------------------------------------------------
// Usage: the rows of `billctl usage`, with the keys of `usage --format json`

const GROUP_FIELD: Record<UsageGroupBy, string> = { model: 'model', gpu: 'gpu', day: 'day', user: 'user_id', provider: 'provider' };

export function usageColumns(by: UsageGroupBy | undefined): CsvColumn<UsageRow>[] {
  const amount = (pick: (r: UsageRow) => UsageRow['ratedAmount'] | undefined) => (r: UsageRow) => {
    const v = pick(r);
    return v === undefined ? null : formatAmount(v, r.currency);
  };
  return [
    { header: 'tenant_id', type: 'text', value: (r) => r.tenantId },
    { header: 'period', type: 'date', value: (r) => r.period },
    ...(by === undefined ? [] : [{ header: GROUP_FIELD[by], type: by === 'day' ? 'date' : 'text', value: (r: UsageRow) => r.group ?? null } as CsvColumn<UsageRow>]),
    { header: 'receipts', type: 'quantity', value: (r) => r.receipts },
    { header: 'requests', type: 'quantity', value: (r) => r.requests },
    ...REPORTED_QUANTITIES.map((q): CsvColumn<UsageRow> => ({ header: q.name, type: 'quantity', value: (r) => r[q.prop] })),
    { header: 'rated_amount', type: 'amount', value: amount((r) => r.ratedAmount) },
    { header: 'currency', type: 'text', value: (r) => r.currency },
    // Empty unless the period is under way (as in `usage --format json`, where the keys are absent then).
    { header: 'month_to_date', type: 'amount', value: amount((r) => r.monthToDate) },
    { header: 'projected_month_end', type: 'amount', value: amount((r) => r.projectedMonthEnd) },
  ];
}

export async function exportUsage(
  store: Store, rating: StoreRating, sink: CsvSink,
  o: ExportFilter & { period: Period; by?: UsageGroupBy; now: number },
): Promise<{ rows: number; failures: { tenantId: string; error: string }[] }> {
  let report;
  try {
    report = await usageReport(store, rating, { period: o.period, tenants: o.tenants, by: o.by, compareReported: false, now: o.now });
  } catch (err) {
    await sink.abort();
    throw err;
  }
  const rows = await writeCsv(sink, usageColumns(o.by), report.rows);
  return { rows, failures: report.failures };
}

// ---------------------------------------------------------------------------------------------
// Invoices and their lines: the keys of `invoice list --format json` and `invoice show`

type Json = Record<string, unknown>;
const j = (k: string) => (o: Json) => o[k] as string | number | null | undefined;

export const INVOICE_COLUMNS: readonly CsvColumn<Json>[] = [
  { header: 'id', type: 'quantity', value: j('id') },
  { header: 'number', type: 'text', value: j('number') },
  { header: 'tenant_id', type: 'text', value: j('tenant_id') },
  { header: 'period', type: 'date', value: j('period') },
  { header: 'status', type: 'text', value: j('status') },
  { header: 'currency', type: 'text', value: j('currency') },
  { header: 'subtotal', type: 'amount', value: j('subtotal') },
  { header: 'tax', type: 'amount', value: j('tax') },
  { header: 'total', type: 'amount', value: j('total') },
  { header: 'issue_date', type: 'date', value: j('issue_date') },
  { header: 'due_date', type: 'date', value: j('due_date') },
  { header: 'pdf', type: 'text', value: j('pdf') },
  { header: 'amount_due', type: 'amount', value: j('amount_due') },
  { header: 'paid_date', type: 'date', value: j('paid_date') },
];

export const LINE_COLUMNS: readonly CsvColumn<Json>[] = [
  { header: 'invoice_id', type: 'quantity', value: j('invoice_id') },
  { header: 'number', type: 'text', value: j('number') },
  { header: 'tenant_id', type: 'text', value: j('tenant_id') },
  { header: 'invoice_period', type: 'date', value: j('invoice_period') },
  { header: 'kind', type: 'text', value: j('kind') },
  { header: 'adjusts', type: 'text', value: j('adjusts') },
  { header: 'key', type: 'text', value: j('key') },
  { header: 'catalog_version', type: 'text', value: j('catalog_version') },
  { header: 'period', type: 'date', value: j('period') },
  { header: 'description', type: 'text', value: j('description') },
  { header: 'used', type: 'quantity', value: j('used') },
  { header: 'included', type: 'quantity', value: j('included') },
  { header: 'billed', type: 'quantity', value: j('billed') },
  { header: 'unit', type: 'text', value: j('unit') },
  { header: 'unit_price', type: 'amount', value: j('unit_price') },
  { header: 'unit_size', type: 'quantity', value: j('unit_size') },
  { header: 'amount', type: 'amount', value: j('amount') },
  { header: 'plan', type: 'text', value: j('plan') },
  { header: 'price_model', type: 'text', value: j('price_model') },
];

// Rows are read inside the generators, so a failed read aborts the sink (no temporary file is left).
export async function exportInvoices(store: Store, sink: CsvSink, filter: InvoiceFilter): Promise<number> {
  async function* rows(): AsyncGenerator<Json> {
    for (const inv of await store.invoices.list(filter)) yield invoiceJson(inv);
  }
  return writeCsv(sink, INVOICE_COLUMNS, rows());
}

export async function exportLines(store: Store, sink: CsvSink, filter: InvoiceFilter): Promise<number> {
  async function* rows(): AsyncGenerator<Json> {
    for (const inv of await store.invoices.list(filter)) {
      const head = { invoice_id: inv.id, number: inv.number, tenant_id: inv.tenantId, invoice_period: inv.period };
      for (const l of await store.invoices.lines(inv.id)) {
        yield { ...head, adjusts: null, ...(invoiceLineJson(l, inv.period, inv.currency, inv.planId) as unknown as Json) };
      }
    }
  }
  return writeCsv(sink, LINE_COLUMNS, rows());
}

// ---------------------------------------------------------------------------------------------
// Credit grants and credit notes: the keys of `credit list --format json` and `credit-note list`

export const CREDIT_COLUMNS: readonly CsvColumn<Json>[] = [
  { header: 'id', type: 'quantity', value: j('id') },
  { header: 'tenant_id', type: 'text', value: j('tenant_id') },
  { header: 'kind', type: 'text', value: j('kind') },
  { header: 'name', type: 'text', value: j('name') },
  { header: 'currency', type: 'text', value: j('currency') },
  { header: 'amount', type: 'amount', value: j('amount') },
  { header: 'drawn', type: 'amount', value: j('drawn') },
  { header: 'balance', type: 'amount', value: j('balance') },
  { header: 'start', type: 'date', value: j('start') },
  { header: 'expires', type: 'date', value: j('expires') },
  { header: 'status', type: 'text', value: j('status') },
  { header: 'revoked_at', type: 'timestamp', value: j('revoked_at') },
  { header: 'created_at', type: 'timestamp', value: j('created_at') },
];

export const CREDIT_NOTE_COLUMNS: readonly CsvColumn<Json>[] = [
  { header: 'id', type: 'quantity', value: j('id') },
  { header: 'number', type: 'text', value: j('number') },
  { header: 'invoice_number', type: 'text', value: j('invoice_number') },
  { header: 'tenant_id', type: 'text', value: j('tenant_id') },
  { header: 'period', type: 'date', value: j('period') },
  { header: 'issue_date', type: 'date', value: j('issue_date') },
  { header: 'currency', type: 'text', value: j('currency') },
  { header: 'net', type: 'amount', value: j('net') },
  { header: 'tax', type: 'amount', value: j('tax') },
  { header: 'total', type: 'amount', value: j('total') },
  { header: 'tax_rate', type: 'amount', value: j('tax_rate') },
  { header: 'tax_label', type: 'text', value: j('tax_label') },
  { header: 'reason', type: 'text', value: j('reason') },
  { header: 'line', type: 'quantity', value: j('line') },
  { header: 'line_description', type: 'text', value: j('line_description') },
  { header: 'applied', type: 'amount', value: j('applied') },
  { header: 'granted', type: 'amount', value: j('granted') },
  { header: 'pdf', type: 'text', value: j('pdf') },
];

export async function exportCredits(store: Store, sink: CsvSink, filter: { tenantId?: string; today: string }): Promise<number> {
  async function* rows(): AsyncGenerator<Json> {
    for (const g of await store.credits.listGrants({ tenantId: filter.tenantId })) yield grantJson(g, filter.today);
  }
  return writeCsv(sink, CREDIT_COLUMNS, rows());
}

export async function exportCreditNotes(store: Store, sink: CsvSink, filter: { tenantId?: string; period?: Period }): Promise<number> {
  async function* rows(): AsyncGenerator<Json> {
    for (const n of await store.creditNotes.list(filter)) yield creditNoteJson(n);
  }
  return writeCsv(sink, CREDIT_NOTE_COLUMNS, rows());
}
