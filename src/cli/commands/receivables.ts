/** invoice aging [--as-of DATE] | report tax --from YYYY-MM --to YYYY-MM */
import { agingAsOf, taxReportFor } from '../../app/receivables.js';
import { formatAmount } from '../../domain/money.js';
import { AGING_BUCKETS, type AgingBucket, type AgingRow, type TaxRow } from '../../domain/receivables.js';
import { formatUtcDate } from '../../domain/time.js';
import { UsageError } from '../../errors.js';
import type { Context } from '../context.js';
import { jsonColumns } from '../render.js';
import { dateFlag, periodFlag } from './invoice.js';

/** The JSON keys of the aging buckets. */
const BUCKET_KEYS: Record<AgingBucket, string> = {
  current: 'current', '1-30': 'days_1_30', '31-60': 'days_31_60', '61-90': 'days_61_90', '90+': 'days_90_plus',
};
const AMOUNT_KEYS = [...Object.values(BUCKET_KEYS), 'total'];

function agingJson(r: AgingRow): Record<string, unknown> {
  const c = r.currency;
  return {
    ...(r.tenantId === null ? {} : { tenant_id: r.tenantId }),
    currency: c,
    ...Object.fromEntries(AGING_BUCKETS.map((b) => [BUCKET_KEYS[b], formatAmount(r.buckets[b], c)])),
    total: formatAmount(r.total, c),
    invoices: r.invoices,
  };
}

export async function agingCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const asOf = opts.asOf === undefined ? formatUtcDate(ctx.clock.now()) : dateFlag(opts.asOf, '--as-of');
  return ctx.withStore(async (store) => {
    const report = await agingAsOf(store, asOf);
    const tenants = report.rows.map(agingJson);
    const totals = report.totals.map(agingJson);
    if (ctx.format === 'json') {
      await ctx.record([], { as_of: asOf, tenants, totals });
      return 0;
    }
    // Table and CSV: a row per tenant and currency, then the total of each currency (row "total").
    const rows: Record<string, unknown>[] = [...tenants.map((t) => ({ row: 'tenant', ...t })), ...totals.map((t) => ({ row: 'total', tenant_id: '', ...t }))];
    if (ctx.format === 'csv') {
      await ctx.rows(rows, jsonColumns(['row', 'tenant_id', 'currency', ...AMOUNT_KEYS, 'invoices']));
      return 0;
    }
    ctx.out(`Unpaid amounts due on ${asOf}, by days past the due date\n`);
    const table = rows.map((r) => ({ ...r, tenant_id: r.row === 'total' ? `total ${String(r.currency)}` : r.tenant_id }));
    const headers: Record<string, string> = { days_1_30: '1-30', days_31_60: '31-60', days_61_90: '61-90', days_90_plus: '90+' };
    await ctx.rows(table, ['tenant_id', 'currency', ...AMOUNT_KEYS, 'invoices'].map((k) => ({
      header: k === 'tenant_id' ? 'tenant' : (headers[k] ?? k),
      value: (o: Record<string, unknown>) => String(o[k] ?? ''),
      align: AMOUNT_KEYS.includes(k) || k === 'invoices' ? ('right' as const) : ('left' as const),
    })));
    if (rows.length === 0) ctx.notice('Nothing is owed.');
    return 0;
  });
}

const TAX_AMOUNTS = ['invoice_net', 'invoice_tax', 'credit_note_net', 'credit_note_tax', 'net', 'tax'];

function taxJson(r: TaxRow): Record<string, unknown> {
  const c = r.currency;
  return {
    ...(r.taxLabel === null ? {} : { tax_label: r.taxLabel, tax_rate: r.taxRate!.toString() }),
    currency: c,
    invoices: r.invoices,
    invoice_net: formatAmount(r.invoiceNet, c),
    invoice_tax: formatAmount(r.invoiceTax, c),
    credit_notes: r.creditNotes,
    credit_note_net: formatAmount(r.creditNoteNet, c),
    credit_note_tax: formatAmount(r.creditNoteTax, c),
    net: formatAmount(r.net, c),
    tax: formatAmount(r.tax, c),
  };
}

export async function taxCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const from = periodFlag(opts.from, '--from');
  const to = periodFlag(opts.to, '--to');
  if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`, 'Example: billctl report tax --from 2026-10 --to 2026-12');
  return ctx.withStore(async (store) => {
    const r = await taxReportFor(store, from, to);
    const rows = r.report.rows.map(taxJson);
    const totals = r.report.totals.map(taxJson);
    if (ctx.format === 'json') {
      await ctx.record([], { from, to, first_day: r.firstDay, last_day: r.lastDay, rows, totals });
      return 0;
    }
    const all: Record<string, unknown>[] = [...rows.map((t) => ({ row: 'rate', ...t })), ...totals.map((t) => ({ row: 'total', tax_label: '', tax_rate: '', ...t }))];
    const keys = ['tax_label', 'tax_rate', 'currency', 'invoices', 'invoice_net', 'invoice_tax', 'credit_notes', 'credit_note_net', 'credit_note_tax', 'net', 'tax'];
    if (ctx.format === 'csv') {
      await ctx.rows(all, jsonColumns(['row', ...keys]));
      return 0;
    }
    ctx.out(`Invoices and credit notes issued ${r.firstDay} – ${r.lastDay}: net and tax, invoices less credit notes\n`);
    const table = all.map((o) => ({ ...o, tax_label: o.row === 'total' ? `total ${String(o.currency)}` : o.tax_label }));
    await ctx.rows(table, jsonColumns(keys, [...TAX_AMOUNTS, 'invoices', 'credit_notes', 'tax_rate']));
    if (all.length === 0) ctx.notice('No invoice and no credit note was issued in these months.');
    return 0;
  });
}
