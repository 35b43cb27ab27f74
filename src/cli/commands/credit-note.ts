/** invoice credit-note | credit-note list | show | pdf */
import { periodOption } from '../../app/budgets.js';
import { creditNoteJson, creditNotePdfJob, issueCreditNote, requireCreditNote } from '../../app/credit-notes.js';
import { dateOf, grantJson } from '../../app/credits.js';
import { drawPdfs, invoiceJson } from '../../app/invoices.js';
import { requireTenant } from '../../app/tenants.js';
import { formatAmount } from '../../domain/money.js';
import { BillctlError, ExitCode } from '../../errors.js';
import type { CreditNoteRecord } from '../../store/credit-note-repo.js';
import type { Store } from '../../store/store.js';
import type { Context } from '../context.js';
import { jsonColumns } from '../render.js';
import { outDir } from './invoice.js';

const NOTE_KEYS = [
  'id', 'number', 'invoice_number', 'tenant_id', 'period', 'issue_date', 'currency', 'net', 'tax', 'total', 'tax_rate', 'tax_label', 'reason',
  'line', 'line_description', 'applied', 'granted', 'pdf',
];

/**
 * Draws a credit note's PDF from its frozen document (the same bytes every time) and records its
 * path when it has none. The note is committed by then: a PDF that cannot be written is a warning
 * (exit 3) naming the command that writes it again.
 */
async function writeNotePdf(ctx: Context, store: Store, note: CreditNoteRecord, out: string): Promise<{ file: string | null; code: number }> {
  const job = await creditNotePdfJob(note, out, ctx.io.cwd);
  try {
    await drawPdfs(await ctx.config(), [job]);
  } catch (err) {
    if (!(err instanceof BillctlError)) throw err;
    ctx.warn(`${err.message}; write it again with: billctl credit-note pdf ${note.number}`);
    return { file: null, code: ExitCode.partial };
  }
  if (note.pdf === null) await store.creditNotes.setPdf(note.id, job.file, ctx.nowIso());
  return { file: job.file, code: ExitCode.ok };
}

export async function issueCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return ctx.withStore(async (store) => {
    const number = String(args[0]);
    const config = await ctx.config();
    const inv = await store.invoices.get(number);
    if (inv?.number) {
      // Scripts go on (as mark-paid); on a terminal the number it takes is confirmed first.
      await ctx.confirmOnTerminal(`Issue a credit note of ${String(opts.amount)} ${inv.currency} net on invoice ${inv.number} (${inv.tenantId} ${inv.period})? Its number is permanent.`);
    }
    const o = await issueCreditNote(
      store, config,
      {
        invoice: number, amount: String(opts.amount), reason: String(opts.reason ?? ''),
        line: opts.line === undefined ? undefined : String(opts.line), issueDate: opts.issueDate === undefined ? undefined : String(opts.issueDate),
      },
      ctx.nowIso(), ctx.auditor(store),
    );
    const pdf = await writeNotePdf(ctx, store, o.note, await outDir(ctx, opts));
    const note = (await store.creditNotes.get(o.note.id))!;
    const c = note.currency;
    if (ctx.format === 'json') {
      await ctx.record([], { ...creditNoteJson(note), invoice: invoiceJson(o.invoice), grant: o.grant === null ? null : grantJson(o.grant, dateOf(ctx.nowIso())) });
      return pdf.code;
    }
    if (ctx.format === 'table') {
      ctx.notice(`${note.number} credits ${formatAmount(note.total, c)} ${c} on ${note.invoiceNumber}; ${formatAmount(o.invoice.amountDue, c)} ${c} now due on it`);
      if (o.grant !== null) ctx.notice(`${formatAmount(o.grant.amount, c)} ${c} went to ${note.tenantId}'s credit balance as prepaid grant ${o.grant.id} ("${o.grant.name}")`);
    }
    await ctx.record(Object.entries(creditNoteJson(note)), null);
    return pdf.code;
  });
}

export async function listCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return ctx.withStore(async (store) => {
    const tenantId = opts.tenant === undefined ? undefined : String(opts.tenant);
    if (tenantId !== undefined) await requireTenant(store, tenantId);
    const json = (await store.creditNotes.list({ tenantId, period: periodOption(opts.period) })).map(creditNoteJson);
    if (ctx.format === 'table') {
      await ctx.rows(json, jsonColumns(['number', 'invoice_number', 'tenant_id', 'period', 'issue_date', 'net', 'tax', 'total', 'currency', 'applied', 'granted', 'reason'], ['net', 'tax', 'total', 'applied', 'granted']));
    } else await ctx.rows(json, jsonColumns(NOTE_KEYS), json);
    return 0;
  });
}

export async function showCommand(ctx: Context, args: unknown[]): Promise<number> {
  return ctx.withStore(async (store) => {
    const json = creditNoteJson(await requireCreditNote(store, String(args[0])));
    await ctx.record(Object.entries(json), json);
    return 0;
  });
}

export async function pdfCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return ctx.withStore(async (store) => {
    const note = await requireCreditNote(store, String(args[0]));
    const pdf = await writeNotePdf(ctx, store, note, await outDir(ctx, opts));
    if (pdf.file === null) return pdf.code;
    if (ctx.format === 'json') await ctx.record([], { id: note.id, number: note.number, pdf: pdf.file });
    else ctx.out(`${pdf.file}\n`);
    return pdf.code;
  });
}
