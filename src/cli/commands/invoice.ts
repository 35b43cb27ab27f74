/** invoice preview | generate | finalize | list | show | pdf | void | mark-paid | mark-unpaid */
import fs from 'node:fs';
import path from 'node:path';
import {
  computeInvoice, draftJobOf, drawPdfs, invoiceJson, isDraftCurrent, previewJson, previewRecord,
  projectedTotal, recordedPdfJobOf, requireInvoice, settlementOf, stampedJobOf, stampedPath, uninvoicedPeriods, writePdfs,
} from '../../app/invoices.js';
import { checkVoidable, planPayment, recordPayment, reverseLastPayment, voidInvoice } from '../../app/settlement.js';
import {
  checkPeriodBegun, checkPeriodEnded, customersWarning, incompleteCustomer, issuerWarning, type IssueOverrides,
} from '../../app/invoice-guards.js';
import { finalizeRun, generateRun, wouldBeInvoiced, type InvoiceRunDeps, type RunReport } from '../../app/invoice-run.js';
import { StoreRating } from '../../app/rating-service.js';
import { requireTenant } from '../../app/tenants.js';
import { formatAmount } from '../../domain/money.js';
import { isPeriod, periodInterval, type Period } from '../../domain/period.js';
import { invoicedPeriod, type Tenant } from '../../domain/tenant.js';
import { formatUtcDate, parseDate } from '../../domain/time.js';
import { BillctlError, ExitCode, UsageError } from '../../errors.js';
import { INVOICE_STATUSES, type InvoiceRecord, type InvoiceStatus } from '../../store/invoice-repo.js';
import type { Store } from '../../store/store.js';
import type { Context } from '../context.js';
import { jsonColumns, type Column } from '../render.js';

export function periodFlag(v: unknown, flag = '--period'): Period {
  const p = String(v ?? '');
  if (!isPeriod(p)) throw new UsageError(`${flag}: "${p}" is not a period`, 'Write it as YYYY-MM, like 2026-10.');
  return p;
}

export function dateFlag(v: unknown, flag: string): string {
  const d = String(v);
  if (parseDate(d) === undefined) throw new UsageError(`${flag}: "${d}" is not a date`, 'Write it as YYYY-MM-DD.');
  return d;
}

/** Where PDFs go: --out, else invoice.out of billctl.yaml (shown relative to here when inside it). */
export async function outDir(ctx: Context, opts: Record<string, unknown>): Promise<string> {
  if (opts.out !== undefined) return String(opts.out);
  // invoice.out from billctl.yaml is absolute (relative to that file); shown relative to here when inside it.
  const out = (await ctx.config()).invoice.out;
  if (!path.isAbsolute(out)) return out;
  const rel = path.relative(ctx.io.cwd, out);
  return rel === '' ? '.' : rel.startsWith('..') ? out : rel;
}

const LIST_COLUMNS: Column<InvoiceRecord>[] = [
  { header: 'id', value: (i) => i.id, align: 'right' },
  { header: 'number', value: (i) => i.number ?? '(draft)' },
  { header: 'tenant', value: (i) => i.tenantId },
  { header: 'period', value: (i) => i.period },
  { header: 'status', value: (i) => i.status },
  { header: 'total', value: (i) => `${formatAmount(i.totals.total, i.currency)} ${i.currency}`, align: 'right' },
  { header: 'amount due', value: (i) => formatAmount(i.amountDue, i.currency), align: 'right' },
  { header: 'issued', value: (i) => i.issueDate },
  { header: 'due', value: (i) => i.dueDate },
];

/** Invoices as rows: a table, or JSON and CSV with the fields of cli.md's invoice object (amounts as decimals). */
async function invoiceRows(ctx: Context, list: readonly InvoiceRecord[]): Promise<void> {
  const json = list.map((i) => invoiceJson(i));
  if (ctx.format === 'table') await ctx.rows(list, LIST_COLUMNS);
  else await ctx.rows(json, jsonColumns(INVOICE_KEYS), json);
}

const INVOICE_KEYS = [
  'id', 'number', 'tenant_id', 'period', 'status', 'currency', 'subtotal', 'tax', 'total', 'issue_date', 'due_date', 'pdf', 'amount_due', 'paid_date',
];
const LINE_KEYS = [
  'kind', 'adjusts', 'key', 'catalog_version', 'period', 'description', 'used', 'included', 'billed', 'unit', 'unit_price', 'unit_size', 'amount',
];


async function showInvoice(ctx: Context, store: Store, inv: InvoiceRecord, lines = undefined as Awaited<ReturnType<Store['invoices']['lines']>> | undefined): Promise<void> {
  const ls = lines ?? (await store.invoices.lines(inv.id));
  const json = invoiceJson(inv, ls);
  if (ctx.format === 'json') {
    await ctx.record([], json);
    return;
  }
  if (ctx.format === 'csv') {
    // CSV: the lines of the JSON, with exact quantities and prices as their decimal text.
    await ctx.rows(json.lines as Record<string, unknown>[], jsonColumns(LINE_KEYS));
    return;
  }
  if (ctx.format === 'table') {
    const head = inv.number ?? (inv.id ? `draft ${inv.id}` : 'preview');
    ctx.out(`${head}  ${inv.tenantId}  ${inv.period}  ${inv.status}${inv.issueDate ? `  issued ${inv.issueDate}, due ${inv.dueDate}` : ''}\n`);
  }
  const c = inv.currency;
  type Line = (typeof ls)[number];
  const noQuantity = (l: Line) => l.kind === 'fee' || l.kind === 'discount' || l.kind === 'commitment' || l.kind === 'credit';
  await ctx.rows<Line>(ls, [
    { header: 'description', value: (l) => l.description },
    { header: 'used', value: (l) => (noQuantity(l) ? '' : l.used), align: 'right' },
    { header: 'included', value: (l) => (noQuantity(l) ? '' : l.included), align: 'right' },
    { header: 'billed', value: (l) => (noQuantity(l) ? '' : l.billed), align: 'right' },
    { header: 'unit', value: (l) => l.unit ?? '' },
    { header: 'unit_price', value: (l) => (l.unitPrice === null ? '' : `${l.unitPrice}/${l.unitSize}`), align: 'right' },
    { header: 'amount', value: (l) => formatAmount(l.amount, c), align: 'right' },
  ]);
  if (ctx.format === 'table') {
    const t = inv.totals;
    const prepaid = inv.prepaidApplied.isZero() ? '' : `  prepaid credit -${formatAmount(inv.prepaidApplied, c)}`;
    ctx.out(
      `subtotal ${formatAmount(t.subtotal, c)}  ${inv.taxLabel} ${inv.taxRate} = ${formatAmount(t.tax, c)}  ` +
        `total ${formatAmount(t.total, c)} ${c}${prepaid}  amount due ${formatAmount(inv.amountDue, c)} ${c}` +
        `${inv.paidDate ? `  paid ${inv.paidDate}` : ''}\n`,
    );
  }
}

async function loadRating(store: Store, allowUnpriced: boolean): Promise<StoreRating> {
  return StoreRating.load(store, allowUnpriced);
}

export async function previewCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const period = periodFlag(opts.period);
  return ctx.withStore(async (store) => {
    const tenant = await requireTenant(store, String(opts.tenant));
    const rating = await loadRating(store, opts.allowUnpriced === true);
    const computed = await computeInvoice(store, rating, tenant, period, formatUtcDate(ctx.clock.now()));
    if (!computed) {
      if (ctx.format === 'json') await ctx.record([], null);
      else ctx.out(`${tenant.id} ${period}: nothing to bill (no usage, no fee, no adjustment)\n`);
      return 0;
    }
    // What generate would store: a draft, with no id yet.
    if (ctx.format === 'json') await ctx.record([], previewJson(computed, ctx.clock.now()));
    else await showInvoice(ctx, store, previewRecord(computed), computed.lines);
    const projected = projectedTotal(computed, ctx.clock.now());
    if (ctx.format === 'table' && projected !== null) ctx.out(`projected for the whole period, before tax: ${projected} ${computed.currency}\n`);
    for (const p of await uninvoicedPeriods(store, rating, tenant, period)) {
      ctx.warn(`${tenant.id} has billable receipts in ${p} and no invoice for it`);
    }
    return 0;
  });
}

/**
 * The confirmation before issuing: the guard rails' warnings go to stderr in every case, and a
 * question on a terminal names them first; a script has said --yes (without it there is no
 * terminal to ask and the run is refused).
 */
async function confirmIssue(ctx: Context, warnings: readonly (string | undefined)[], question: string): Promise<void> {
  const shown = warnings.filter((w): w is string => w !== undefined);
  for (const w of shown) ctx.warn(w);
  const caveat = shown.length === 0 ? '' : ` (despite the warning${shown.length === 1 ? '' : 's'} above)`;
  await ctx.confirm(question.replace(/\?/, `${caveat}?`));
}

function overridesOf(opts: Record<string, unknown>): IssueOverrides {
  return {
    allowPlaceholderIssuer: opts.allowPlaceholderIssuer === true,
    allowIncompleteCustomer: opts.allowIncompleteCustomer === true,
    allowOpenPeriod: opts.allowOpenPeriod === true,
  };
}

/** What the invoice run needs from the command's context. */
async function runDeps(ctx: Context, store: Store, issueDate: string): Promise<InvoiceRunDeps> {
  return {
    store, config: await ctx.config(), cwd: ctx.io.cwd, issueDate, nowIso: () => ctx.nowIso(), audit: ctx.auditor(store),
    notice: (text) => ctx.notice(text),
  };
}

function issueDateOf(ctx: Context, opts: Record<string, unknown>): string {
  return opts.issueDate === undefined ? formatUtcDate(ctx.clock.now()) : dateFlag(opts.issueDate, '--issue-date');
}

/** Failures as JSON, and on stderr in every format: what was not done reads the same whatever --format. */
function reportFailures(ctx: Context, report: RunReport): { tenant_id: string; number: string | null; error: string }[] {
  for (const f of report.failed) ctx.io.stderr.write(`${ctx.chalk.red('failed:')} ${f.tenantId}: ${f.error}\n`);
  if (report.failed.some((f) => f.number !== undefined)) {
    ctx.io.stderr.write(`The invoices are issued; draw their missing PDFs with the same command again (or billctl invoice pdf <number>) once the cause is fixed.\n`);
  }
  return report.failed.map((f) => ({ tenant_id: f.tenantId, number: f.number ?? null, error: f.error }));
}

/** The PDF column of a finished run's table: its file, or that it was not written. */
const pdfColumn = (pdf: string | null | undefined, issued: boolean) => (pdf ? pdf : issued ? 'not written (see failed)' : '');

async function printReport(ctx: Context, period: Period, report: RunReport): Promise<number> {
  for (const w of report.warnings) ctx.warn(`${w.tenantId} ${w.period}: ${w.message}`);
  const failed = reportFailures(ctx, report);
  if (ctx.format === 'json') {
    await ctx.record([], {
      period,
      results: report.outcomes.map((o) => ({ tenant_id: o.tenantId, status: o.status, invoice_id: o.invoice?.id ?? null, reason: o.reason ?? null })),
      finalized: report.finalized.map((i) => invoiceJson(i)),
      failed,
      warnings: report.warnings.map((w) => ({ tenant_id: w.tenantId, period: w.period, message: w.message })),
    });
  } else {
    type Row = { tenant: string; status: string; invoice: string; total: string; pdf: string; note: string };
    const rows: Row[] = report.outcomes.map((o) => {
      const fin = report.finalized.find((f) => f.tenantId === o.tenantId);
      const inv = fin ?? o.invoice;
      return {
        tenant: o.tenantId,
        status: fin ? 'finalized' : o.status,
        invoice: fin?.number ?? inv?.number ?? (inv ? `draft ${inv.id}` : ''),
        total: inv ? `${formatAmount(inv.totals.total, inv.currency)} ${inv.currency}` : '',
        pdf: pdfColumn(fin?.pdf, fin !== undefined),
        note: o.reason ?? '',
      };
    });
    for (const f of report.failed) if (!rows.some((r) => r.tenant === f.tenantId)) rows.push({ tenant: f.tenantId, status: 'failed', invoice: '', total: '', pdf: '', note: f.error.split('\n')[0] ?? '' });
    const columns: Column<Row>[] = [
      { header: 'tenant', value: (r) => r.tenant },
      { header: 'status', value: (r) => r.status },
      { header: 'invoice', value: (r) => r.invoice },
      { header: 'total', value: (r) => r.total, align: 'right' },
      ...(report.finalized.length > 0 ? [{ header: 'pdf', value: (r: Row) => r.pdf }] : []),
      { header: 'note', value: (r) => r.note },
    ];
    await ctx.rows(rows, columns);
    for (const p of report.pdfs) ctx.notice(`wrote ${p}`);
  }
  return report.failed.length > 0 ? ExitCode.partial : ExitCode.ok;
}

export async function generateCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const period = periodFlag(opts.period);
  if ((opts.tenant === undefined) === (opts.all !== true)) {
    throw new UsageError('give --tenant ID or --all (one of them)', 'Example: billctl invoice generate --period 2026-10 --all');
  }
  const issueDate = issueDateOf(ctx, opts);
  return ctx.withStore(async (store) => {
    // Invoiced: tenants billed by invoice, and those that moved to Stripe after this period.
    const invoiced = (t: Tenant) => invoicedPeriod(t, periodInterval(t.timezone, period).end);
    const tenants: Tenant[] = opts.all === true
      ? (await store.listTenants()).filter(invoiced)
      : [await requireTenant(store, String(opts.tenant))];
    if (opts.all !== true && !invoiced(tenants[0]!)) {
      throw new UsageError(`tenant ${tenants[0]!.id} is billed through Stripe, not by invoice`, `Change it with: billctl tenant update ${tenants[0]!.id} --billing-mode invoice`);
    }
    const rating = await loadRating(store, opts.allowUnpriced === true);
    const allow = overridesOf(opts);
    const now = ctx.clock.now();
    checkPeriodBegun(tenants, period, now, allow.allowOpenPeriod);
    if (opts.finalize === true) {
      checkPeriodEnded(tenants, period, now, allow.allowOpenPeriod);
      const warnings = [
        issuerWarning(await ctx.config(), allow.allowPlaceholderIssuer),
        allow.allowIncompleteCustomer ? undefined : customersWarning(await wouldBeInvoiced(store, rating, tenants.filter(incompleteCustomer), period, formatUtcDate(now)), false),
      ];
      await confirmIssue(ctx, warnings, `Generate and finalize the ${period} invoices of ${tenants.length} tenant(s)? Issued numbers are permanent.`);
    }
    const out = opts.finalize === true ? await outDir(ctx, opts) : undefined;
    const report = await generateRun(await runDeps(ctx, store, issueDate), rating, tenants, period, out);
    const notIssued = report.failed.find((f) => f.number === undefined);
    if (opts.all !== true && notIssued !== undefined) throw new UsageError(notIssued.error);
    const issued = report.outcomes.find((o) => o.status === 'issued');
    if (opts.all !== true && issued) {
      throw new UsageError(
        `${issued.tenantId} ${period} is ${issued.invoice!.status} as ${issued.invoice!.number}: an issued invoice never changes`,
        `Late usage goes on the next period's invoice as adjustments; to reissue, void it first: billctl invoice void ${issued.invoice!.number} --reason "…"`,
      );
    }
    return printReport(ctx, period, report);
  });
}

export async function finalizeCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const id = args[0] as string | undefined;
  if ((id === undefined) === (opts.all !== true)) {
    throw new UsageError('give an invoice id, or --period YYYY-MM --all', 'Example: billctl invoice finalize --period 2026-10 --all');
  }
  const issueDate = issueDateOf(ctx, opts);
  return ctx.withStore(async (store) => {
    let drafts: InvoiceRecord[];
    let period: Period;
    if (id !== undefined) {
      const inv = await requireInvoice(store, id);
      if (inv.status !== 'draft') {
        throw new UsageError(`invoice ${inv.number ?? inv.id} is ${inv.status}, not a draft: an issued invoice never changes`);
      }
      drafts = [inv];
      period = inv.period;
    } else {
      period = periodFlag(opts.period);
      drafts = await store.invoices.list({ period, status: 'draft' });
    }
    if (drafts.length > 0) {
      const allow = overridesOf(opts);
      const tenants = await Promise.all([...new Set(drafts.map((d) => d.tenantId))].map((t) => requireTenant(store, t)));
      checkPeriodEnded(tenants, period, ctx.clock.now(), allow.allowOpenPeriod);
      const warnings = [issuerWarning(await ctx.config(), allow.allowPlaceholderIssuer), customersWarning(tenants, allow.allowIncompleteCustomer)];
      await confirmIssue(ctx, warnings, `Finalize ${drafts.length} invoice(s) of ${period}? Issued numbers are permanent.`);
    }
    const unpriced = new Set<string>();
    for (const d of drafts) if ((await store.invoices.lines(d.id)).some((l) => l.unpriced)) unpriced.add(d.id);
    // A draft made with --allow-unpriced is finalized the same way: that choice was made when it was generated.
    const strict = await loadRating(store, opts.allowUnpriced === true);
    const lenient = await loadRating(store, true);
    const deps = await runDeps(ctx, store, issueDate);
    const report = await finalizeRun(deps, drafts, (d) => (unpriced.has(d.id) ? lenient : strict), await outDir(ctx, opts), id === undefined ? [period] : []);
    // One invoice that could not be issued is a usage error; one issued whose PDF failed is reported as done in part (exit 3).
    const notIssued = report.failed.find((f) => f.number === undefined);
    if (id !== undefined && notIssued !== undefined) throw new UsageError(notIssued.error);
    if (id !== undefined && report.finalized.length === 0 && report.removed.length === 0) {
      throw new UsageError(`invoice ${id} was finalized by another run`);
    }
    const failed = reportFailures(ctx, report);
    if (ctx.format === 'json') {
      await ctx.record([], { period, finalized: report.finalized.map((i) => invoiceJson(i)), failed });
    } else {
      if (ctx.format === 'table') await ctx.rows(report.finalized, [...LIST_COLUMNS, { header: 'pdf', value: (i) => pdfColumn(i.pdf, true) }]);
      else await invoiceRows(ctx, report.finalized);
      for (const p of report.pdfs) ctx.notice(`wrote ${p}`);
    }
    return report.failed.length > 0 ? ExitCode.partial : ExitCode.ok;
  });
}

export async function listCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const status = opts.status as InvoiceStatus | undefined;
  if (status !== undefined && !INVOICE_STATUSES.includes(status)) {
    throw new UsageError(`--status: "${status}" is not one of ${INVOICE_STATUSES.join(', ')}`);
  }
  return ctx.withStore(async (store) => {
    // An unknown tenant is a usage error (exit 2), as everywhere else, not an empty list.
    if (opts.tenant !== undefined) await requireTenant(store, String(opts.tenant));
    const list = await store.invoices.list({
      period: opts.period === undefined ? undefined : periodFlag(opts.period),
      tenantId: opts.tenant as string | undefined,
      status,
    });
    await invoiceRows(ctx, list);
    return 0;
  });
}

export async function showCommand(ctx: Context, args: unknown[]): Promise<number> {
  return ctx.withStore(async (store) => {
    await showInvoice(ctx, store, await requireInvoice(store, String(args[0])));
    return 0;
  });
}

export async function pdfCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return ctx.withStore(async (store) => {
    const inv = await requireInvoice(store, String(args[0]));
    const config = await ctx.config();
    const out = await outDir(ctx, opts);
    let files: { pdf: string; stamped: string | null };
    if (inv.status === 'draft') {
      // Drawn from the draft as stored; one that no longer matches its data is drawn, with a warning.
      const rating = await loadRating(store, (await store.invoices.lines(inv.id)).some((l) => l.unpriced));
      if (!(await isDraftCurrent(store, rating, inv))) {
        ctx.warn(`draft ${inv.id} no longer matches the data; remake it first with: billctl invoice generate --period ${inv.period} --tenant ${inv.tenantId}`);
      }
      const job = await draftJobOf(store, rating, config, inv, out, ctx.io.cwd);
      await drawPdfs(config, [job]);
      files = { pdf: job.file, stamped: null };
    } else {
      files = await writePdfs(store, config, inv, out, ctx.io.cwd, ctx.nowIso());
    }
    if (ctx.format === 'json') await ctx.record([], { id: inv.id, number: inv.number, status: inv.status, pdf: files.pdf, stamped_pdf: files.stamped });
    else ctx.out(`${files.pdf}\n${files.stamped === null ? '' : `${files.stamped}\n`}`);
    return 0;
  });
}

/**
 * After an invoice is voided or paid: its stamped copy (VOID, PAID) beside the issued PDF. The
 * change is committed by then, so a copy that cannot be written is a warning (exit 3), not a failure.
 */
async function writeStampedCopy(ctx: Context, store: Store, inv: InvoiceRecord): Promise<{ file: string | null; code: number }> {
  const config = await ctx.config();
  const job = stampedJobOf(inv, await recordedPdfJobOf(inv, await outDir(ctx, {}), ctx.io.cwd), ctx.io.cwd, await settlementOf(store, inv));
  if (job === null) return { file: null, code: ExitCode.ok };
  try {
    await drawPdfs(config, [job]);
    return { file: job.file, code: ExitCode.ok };
  } catch (err) {
    if (!(err instanceof BillctlError)) throw err;
    ctx.warn(`${err.message}; write it again with: billctl invoice pdf ${inv.number}`);
    return { file: null, code: ExitCode.partial };
  }
}

export async function voidCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const reason = String(opts.reason ?? '').trim();
  if (reason === '') throw new UsageError('--reason is required: say why the invoice is void');
  return ctx.withStore(async (store) => {
    const inv = await requireInvoice(store, String(args[0]));
    await checkVoidable(store, inv);
    await ctx.confirm(`Void invoice ${inv.number} (${inv.tenantId} ${inv.period})? Its number stays used.`);
    const after = await voidInvoice(store, inv.id, reason, ctx.nowIso(), ctx.auditor(store));
    const copy = await writeStampedCopy(ctx, store, after);
    if (ctx.format === 'json') await ctx.record([], { ...invoiceJson(after), stamped_pdf: copy.file });
    else ctx.out(`${after.number} is void: ${reason}\n${copy.file === null ? '' : `${copy.file}\n`}`);
    return copy.code;
  });
}

export async function markPaidCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const date = opts.date === undefined ? formatUtcDate(ctx.clock.now()) : dateFlag(opts.date, '--date');
  const amount = opts.amount === undefined ? undefined : String(opts.amount);
  return ctx.withStore(async (store) => {
    const inv = await requireInvoice(store, String(args[0]));
    const plan = planPayment(inv, date, amount);
    const c = inv.currency;
    // On a terminal, ask first (scripts without one go on, as they always have; mark-unpaid undoes a mistake).
    await ctx.confirmOnTerminal(
      plan.settles
        ? `Mark invoice ${inv.number} (${inv.tenantId} ${inv.period}, ${formatAmount(inv.amountDue, c)} ${c}) paid on ${date}?`
        : `Record a payment of ${formatAmount(plan.amount, c)} ${c} on ${date} for invoice ${inv.number} (${inv.tenantId} ${inv.period}, ${formatAmount(inv.amountDue, c)} ${c} due)?`,
    );
    const after = await recordPayment(store, inv.id, date, amount, ctx.nowIso(), ctx.auditor(store));
    const copy = await writeStampedCopy(ctx, store, after);
    if (ctx.format === 'json') await ctx.record([], { ...invoiceJson(after), stamped_pdf: copy.file });
    else if (after.status === 'paid') ctx.out(`${after.number} paid on ${after.paidDate}\n${copy.file === null ? '' : `${copy.file}\n`}`);
    else ctx.out(`${after.number}: ${formatAmount(plan.amount, c)} ${c} received on ${date}; ${formatAmount(after.amountDue, c)} ${c} still due\n`);
    return copy.code;
  });
}

export async function markUnpaidCommand(ctx: Context, args: unknown[]): Promise<number> {
  return ctx.withStore(async (store) => {
    const inv = await requireInvoice(store, String(args[0]));
    const last = (await store.invoices.payments(inv.id)).filter((p) => p.reversedAt === null).pop();
    if (last !== undefined) {
      await ctx.confirmOnTerminal(`Undo the payment of ${formatAmount(last.amount, inv.currency)} ${inv.currency} on ${last.date} recorded for invoice ${inv.number}?`);
    }
    const done = await reverseLastPayment(store, inv.id, ctx.nowIso(), ctx.auditor(store));
    const after = done.invoice;
    const c = after.currency;
    // The PAID copy no longer says what happened: it goes (the issued PDF stays as it is).
    let removed: string | null = null;
    if (inv.status === 'paid' && after.status !== 'paid' && after.document !== null) {
      const issued = await recordedPdfJobOf(after, await outDir(ctx, {}), ctx.io.cwd);
      if (fs.existsSync(stampedPath(issued.outPath, 'paid'))) {
        fs.rmSync(stampedPath(issued.outPath, 'paid'));
        removed = stampedPath(issued.file, 'paid');
      }
    }
    if (ctx.format === 'json') await ctx.record([], { ...invoiceJson(after), removed_pdf: removed });
    else {
      ctx.out(`${after.number}: the payment of ${formatAmount(done.amount, c)} ${c} on ${done.date} is undone; ${formatAmount(after.amountDue, c)} ${c} due\n`);
      if (removed !== null) ctx.notice(`removed ${removed}`);
    }
    return 0;
  });
}
