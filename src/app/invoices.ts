/**
 * The invoice lifecycle (billing-rules.md, "Invoices"): drafts that follow the data, finalizing
 * with gapless numbers, paid and void, late-usage adjustments, and PDFs from frozen documents.
 * Read, compute, write: rating and invoice math are pure (src/domain); this file does the I/O.
 */
import path from 'node:path';
import type { Config } from '../config.js';
import {
  adjustedLineDescription, invoiceLineJson, invoiceTotals, lateUsageAdjustments, lineKey, orderInvoiceLines, type AdjustmentLine,
  type CreditLine, type InvoiceLine, type LineIdentity,
} from '../domain/invoice.js';
import { Decimal, formatAmount } from '../domain/money.js';
import { localDate, periodInterval, type Period } from '../domain/period.js';
import { NoCatalogError, PlanTermsError, UNPRICED_MARK, type RatedPeriod } from '../domain/rating.js';
import type { Tenant } from '../domain/tenant.js';
import { DAY_MS, parseDate } from '../domain/time.js';
import { toJson } from '../json.js';
import { BillctlError, ExitCode, UsageError } from '../errors.js';
import type { InvoiceRecord, PaymentRecord } from '../store/invoice-repo.js';
import type { PdfJob as RenderJob } from '../pdf/render-pool.js';
import type { Store } from '../store/store.js';
import { projectMonthEnd } from './budgets.js';
import { addressLines, issuerFromConfig, type DailyCost, type InvoiceDocument, type InvoiceDocumentLine } from '../pdf/invoice-document.js';
import { creditDescription, type CreditDraw } from '../domain/credits.js';
import type { DrawRecord } from '../store/credit-repo.js';
import type { CreditNoteRecord } from '../store/credit-note-repo.js';
import { dateOf, drawCredits, redrawDraft, redrawDrafts, sameDraws, type Audit } from './credits.js';

/** What invoicing needs from rating: results, a fingerprint of the inputs, daily charges for the chart. */
export interface RatingService {
  ratePeriod(tenant: Tenant, period: Period): Promise<RatedPeriod>;
  /** Changes whenever anything that rating reads for this tenant-period changes. */
  fingerprint(tenant: Tenant, period: Period): Promise<string>;
  /** What the period's usage lines charged per local day (they add up to the usage lines' amounts). */
  dailyCharges(tenant: Tenant, period: Period): Promise<DailyCost[]>;
  /** Periods before `before` with billable receipts. */
  periodsWithUsage(tenant: Tenant, before: Period): Promise<Period[]>;
  /** True when the tenant has a billable receipt in the period (non-billable ones are never usage). */
  hasBillableReceipts(tenant: Tenant, period: Period): Promise<boolean>;
}

export interface ComputedInvoice {
  tenant: Tenant;
  period: Period;
  rated: RatedPeriod | null;
  adjustments: AdjustmentLine[];
  /** The rated lines and adjustments, then the promotional credit lines drawn. */
  lines: InvoiceLine[];
  totals: ReturnType<typeof invoiceTotals>;
  /** Every grant drawn (promotional and prepaid), in draw order. */
  draws: CreditDraw[];
  prepaidApplied: Decimal;
  amountDue: Decimal;
  currency: string;
  fingerprints: Record<Period, string>;
}

export type GenerateStatus = 'created' | 'updated' | 'unchanged' | 'skipped' | 'issued';

export interface GenerateOutcome {
  tenantId: string;
  status: GenerateStatus;
  invoice?: InvoiceRecord;
  reason?: string;
}

/**
 * The fingerprints of a draft also name the tenant's issued invoices when it was made: adjustments
 * depend on what they billed, so an invoice issued or voided since makes the draft stale.
 */
const ISSUED_KEY = '#issued';

/**
 * Rates the period and every earlier issued period again (late usage), assembles the lines and
 * draws the credits usable on `creditDate` (the issue date; a draft: today). Undefined when there
 * is nothing to bill: no usage, no fee, no adjustment.
 */
export async function computeInvoice(
  store: Store, rating: RatingService, tenant: Tenant, period: Period, creditDate: string,
): Promise<ComputedInvoice | undefined> {
  let rated: RatedPeriod | null;
  try {
    rated = await rating.ratePeriod(tenant, period);
  } catch (err) {
    // A tenant with no plan (or no catalog) for a period it did not use is not an error: nothing to bill.
    // Receipts that are not billable are no usage (billing-rules.md step 1), so they leave it nothing to bill too.
    if ((err instanceof PlanTermsError || err instanceof NoCatalogError) && !(await rating.hasBillableReceipts(tenant, period))) rated = null;
    else throw err;
  }
  const fingerprints: Record<Period, string> = {
    [ISSUED_KEY]: (await store.invoices.issuedIds(tenant.id)).join(','),
    [period]: await rating.fingerprint(tenant, period),
  };
  const adjustments: AdjustmentLine[] = [];
  for (const earlier of await store.invoices.issuedPeriods(tenant.id, period)) {
    const fp = await rating.fingerprint(tenant, earlier);
    fingerprints[earlier] = fp;
    if ((await store.invoices.lastBilledFingerprint(tenant.id, earlier)) === fp) continue;
    const rerated = await rating.ratePeriod(tenant, earlier);
    adjustments.push(...lateUsageAdjustments({ period: earlier, rerated, billed: await store.invoices.billedLines(tenant.id, earlier) }));
  }
  const lines = orderInvoiceLines(rated?.lines ?? [], adjustments);
  if (lines.length === 0) return undefined;
  const currency = rated?.currency ?? (await currencyOfAdjusted(store, tenant.id, adjustments));
  const credited = await drawCredits(store, tenant.id, currency, lines, tenant.taxRate, creditDate);
  return {
    tenant, period, rated, adjustments, currency, fingerprints,
    lines: credited.lines, totals: credited.totals, draws: credited.draws, prepaidApplied: credited.prepaidApplied, amountDue: credited.amountDue,
  };
}

async function currencyOfAdjusted(store: Store, tenantId: string, adjustments: AdjustmentLine[]): Promise<string> {
  const first = adjustments[0];
  const inv = first ? await store.invoices.findLive(tenantId, first.period) : undefined;
  if (!inv) throw new Error('adjustments without an issued invoice for their period');
  return inv.currency;
}

function sameLines(a: readonly InvoiceLine[], b: readonly InvoiceLine[], currency: string, period: Period): boolean {
  const j = (ls: readonly InvoiceLine[]) => toJson(ls.map((l) => [invoiceLineJson(l, period, currency), l.unpriced]), 0);
  return j(a) === j(b);
}

/** Makes or remakes the draft of one tenant-period, in one transaction; it draws the credits usable on `creditDate` (default: today). */
export async function generateDraft(
  store: Store, rating: RatingService, tenant: Tenant, period: Period, at: string, creditDate = dateOf(at),
): Promise<GenerateOutcome> {
  return store.transaction(async () => {
    // A run beside this one making the same draft waits here, then finds it made.
    await store.invoices.lockTenant(tenant.id);
    const live = await store.invoices.findLive(tenant.id, period);
    if (live && live.status !== 'draft') {
      return { tenantId: tenant.id, status: 'issued' as const, invoice: live, reason: `already ${live.status} as ${live.number}` };
    }
    const computed = await computeInvoice(store, rating, tenant, period, creditDate);
    if (!computed) {
      if (live) await store.invoices.deleteDraft(live.id);
      return { tenantId: tenant.id, status: 'skipped' as const, reason: 'nothing to bill (no usage, no fee, no adjustment)' };
    }
    if (live && sameLines(await store.invoices.lines(live.id), computed.lines, computed.currency, period) &&
        live.totals.total.eq(computed.totals.total) && live.taxRate.eq(tenant.taxRate) && live.taxLabel === tenant.taxLabel &&
        live.planId === (computed.rated?.plan.id ?? null) && live.planVersion === (computed.rated?.plan.catalogVersion ?? null) &&
        sameDraws(await store.credits.drawsOfInvoice(live.id), computed)) {
      return { tenantId: tenant.id, status: 'unchanged' as const, invoice: live };
    }
    const id = await store.invoices.saveDraft(
      {
        tenantId: tenant.id,
        period,
        currency: computed.currency,
        planId: computed.rated?.plan.id ?? null,
        planVersion: computed.rated?.plan.catalogVersion ?? null,
        totals: computed.totals,
        taxRate: tenant.taxRate,
        taxLabel: tenant.taxLabel,
        prepaidApplied: computed.prepaidApplied,
        amountDue: computed.amountDue,
        fingerprints: computed.fingerprints,
        lines: computed.lines,
      },
      live?.id,
      at,
    );
    if (live || computed.draws.length > 0) await store.credits.setDraws(id, computed.draws);
    return { tenantId: tenant.id, status: live ? ('updated' as const) : ('created' as const), invoice: (await store.invoices.get(id))! };
  });
}

/** Earlier periods with billable receipts and no invoice at all (generate warns about them). */
export async function uninvoicedPeriods(store: Store, rating: RatingService, tenant: Tenant, before: Period): Promise<Period[]> {
  const out: Period[] = [];
  for (const p of await rating.periodsWithUsage(tenant, before)) {
    if (!(await store.invoices.findLive(tenant.id, p))) out.push(p);
  }
  return out;
}

export function formatInvoiceNumber(prefix: string, year: number, seq: number): string {
  return `${prefix}${year}-${String(seq).padStart(6, '0')}`;
}

export function addDays(date: string, days: number): string {
  const ms = parseDate(date);
  if (ms === undefined) throw new RangeError(`bad date ${date}`);
  return new Date(ms + days * DAY_MS).toISOString().slice(0, 10);
}

export async function requireInvoice(store: Store, idOrNumber: string): Promise<InvoiceRecord> {
  const inv = await store.invoices.get(idOrNumber);
  if (!inv) throw new UsageError(`no invoice "${idOrNumber}"`, 'See the invoices with: billctl invoice list');
  return inv;
}

/**
 * True when a draft still matches its data: the same tenant terms, and the same rating inputs for
 * its period and for every earlier issued period it checked for late usage (their fingerprints).
 */
async function draftIsCurrent(store: Store, rating: RatingService, tenant: Tenant, draft: InvoiceRecord): Promise<boolean> {
  if (!draft.taxRate.eq(tenant.taxRate) || draft.taxLabel !== tenant.taxLabel) return false;
  if (draft.fingerprints[ISSUED_KEY] !== (await store.invoices.issuedIds(tenant.id)).join(',')) return false;
  const periods = [draft.period, ...(await store.invoices.issuedPeriods(tenant.id, draft.period))];
  if (periods.length + 1 !== Object.keys(draft.fingerprints).length) return false;
  for (const p of periods) {
    if (draft.fingerprints[p] !== (await rating.fingerprint(tenant, p))) return false;
  }
  return true;
}

export type FinalizeOutcome =
  | {
      status: 'issued';
      invoice: InvoiceRecord;
      /** The draft no longer matched the data and was remade before it was issued. */
      regenerated: boolean;
    }
  /** Remade from the current data, the draft had nothing left to bill: it was removed. */
  | { status: 'removed'; tenantId: string; period: Period };

/**
 * Issues a draft: remakes it from the current data (so the issued lines are never stale), draws
 * the credits usable on the issue date, takes the next number of the (prefix, year) sequence,
 * sets the issue and due dates and freezes the document its PDF is drawn from; its draws are then
 * recorded (the grants' balances drop) and the tenant's other drafts draw again. All in one
 * transaction, audit entries included: a crash or a concurrent run leaves no gap and no repeat.
 * Returns undefined when another run issued it first.
 */
export async function finalizeDraft(
  store: Store,
  rating: RatingService,
  config: Config,
  invoiceId: string,
  issueDate: string,
  at: string,
  audit: Audit,
): Promise<FinalizeOutcome | undefined> {
  return store.transaction(async () => {
    // The tenant first, then the invoice: the order generateDraft takes them in, so runs side by side never deadlock.
    const seen = await store.invoices.get(invoiceId);
    if (!seen || seen.status !== 'draft') return undefined;
    await store.invoices.lockTenant(seen.tenantId);
    const locked = await store.invoices.lock(invoiceId);
    if (!locked || locked.status !== 'draft') return undefined;
    const tenant = (await store.getTenant(locked.tenantId))!;
    // A draft is remade unless everything it was made from is unchanged (then remaking it would give the same lines).
    // Its credits are drawn on the issue date: a grant that expired since the draft was made is not drawn.
    const current = await draftIsCurrent(store, rating, tenant, locked);
    const remade = current
      ? await redrawDraft(store, locked, issueDate, at).then((r) => ({ status: r.changed ? ('updated' as const) : ('unchanged' as const), invoice: r.invoice }))
      : await generateDraft(store, rating, tenant, locked.period, at, issueDate);
    if (remade.status === 'skipped') return { status: 'removed' as const, tenantId: tenant.id, period: locked.period };
    const draft = remade.invoice!;
    // What the document needs is read before the number is taken: the sequence's row lock is held
    // from then until commit, and finalize runs side by side wait on it.
    const lines = await store.invoices.lines(draft.id);
    // Every draw is more than 0: an invoice with no credits and no prepaid applied drew nothing.
    const draws = draft.totals.credits.isZero() && draft.prepaidApplied.isZero() ? [] : await store.credits.drawsOfInvoice(draft.id);
    const daily = await rating.dailyCharges(tenant, draft.period);
    const before = await billedBefore(store, tenant.id, lines);
    const year = Number(issueDate.slice(0, 4));
    const seq = await store.invoices.nextNumber(config.invoice.prefix, year, config.invoice.firstNumber);
    const number = formatInvoiceNumber(config.invoice.prefix, year, seq);
    const dueDate = addDays(issueDate, tenant.netDays);
    const doc = invoiceDocument({ ...draft, status: 'finalized', number, issueDate, dueDate }, lines, tenant, config, daily, before, await prepaidOf(store, draws));
    if (!(await store.invoices.issue(draft.id, {
      number, numberYear: year, numberSeq: seq, issueDate, dueDate, document: JSON.stringify(doc),
    }, at))) {
      throw new Error(`invoice ${draft.id} changed while it was being finalized`);
    }
    const invoice = (await store.invoices.get(draft.id))!;
    await audit('invoice finalize', { invoice: invoice.id, number, tenant: tenant.id, period: invoice.period, finalized: 1 });
    for (const d of draws) {
      await audit('credit draw', {
        grant: d.grantId, invoice: invoice.id, number, tenant: tenant.id, kind: d.kind, amount: formatAmount(d.amount, invoice.currency),
        currency: invoice.currency,
      });
    }
    // The balances dropped: the tenant's other drafts draw what is left.
    if (draws.length > 0) await redrawDrafts(store, tenant.id, at);
    return { status: 'issued' as const, invoice, regenerated: remade.status === 'updated' };
  });
}

// -- documents and PDFs ---------------------------------------------------------------------------

/** The prepaid credits among an invoice's draws, named as the customer reads them. */
async function prepaidOf(store: Store, draws: readonly DrawRecord[]): Promise<PrepaidApplied[]> {
  const out: PrepaidApplied[] = [];
  for (const d of draws) {
    if (d.kind !== 'prepaid') continue;
    out.push({ description: creditDescription((await store.credits.getGrant(d.grantId))!), amount: d.amount });
  }
  return out;
}

/** What the tenant-periods that adjustment lines correct had billed per line key before them. */
export type BilledBefore = Map<string, { billed: bigint; amount: Decimal }>;

const beforeKey = (period: Period, line: LineIdentity) => `${period}\u0000${lineKey(line)}`;

/** What was billed, before this invoice, for each line that its adjustment lines correct. */
export async function billedBefore(store: Store, tenantId: string, lines: readonly InvoiceLine[]): Promise<BilledBefore> {
  const out: BilledBefore = new Map();
  for (const period of new Set(lines.flatMap((l) => (l.kind === 'adjustment' ? [l.period] : [])))) {
    for (const b of await store.invoices.billedLines(tenantId, period)) {
      const k = beforeKey(period, b);
      const sum = out.get(k) ?? { billed: 0n, amount: Decimal.ZERO };
      out.set(k, { billed: sum.billed + b.billed, amount: sum.amount.add(b.amount) });
    }
  }
  return out;
}

/**
 * A line as the customer reads it: what it bills, without the words the JSON and the terminal
 * keep for finance (the UNPRICED mark; the "Adjustment for <period>:" that the heading says).
 */
function customerDescription(l: InvoiceLine): string {
  const d = l.kind === 'adjustment' ? adjustedLineDescription(l) : l.description;
  return l.unpriced ? d.replace(` (${UNPRICED_MARK})`, '') : d;
}

function docLine(l: Exclude<InvoiceLine, CreditLine>, currency: string, before: BilledBefore): InvoiceDocumentLine {
  const line: InvoiceDocumentLine = {
    kind: l.kind === 'adjustment' ? l.adjusts : l.kind,
    description: customerDescription(l),
    catalog_version: l.catalogVersion,
    used: l.used.toString(),
    included: l.included.toString(),
    billed: l.billed.toString(),
    unit: l.unit,
    unit_price: l.unitPrice?.toString() ?? null,
    unit_size: l.unitSize === null ? null : Number(l.unitSize),
    amount: formatAmount(l.amount, currency),
    ...(l.unpriced ? { unpriced: true } : {}),
    ...(l.kind !== 'adjustment' && l.priceWords !== undefined ? { price_words: l.priceWords } : {}),
  };
  if (l.kind === 'adjustment') {
    const b = before.get(beforeKey(l.period, l)) ?? { billed: 0n, amount: Decimal.ZERO };
    line.before = { billed: b.billed.toString(), amount: formatAmount(b.amount, currency) };
    line.now = { billed: (b.billed + l.billed).toString(), amount: formatAmount(b.amount.add(l.amount), currency) };
  }
  return line;
}

/** A prepaid credit an invoice draws, as the customer reads it beside the total. */
export interface PrepaidApplied {
  description: string;
  amount: Decimal;
}

/** The PDF view model of an invoice (a draft's, or frozen into an issued invoice when it is issued). */
export function invoiceDocument(
  inv: Pick<InvoiceRecord, 'period' | 'status' | 'number' | 'issueDate' | 'dueDate' | 'currency' | 'totals' | 'taxRate' | 'taxLabel' | 'amountDue'>,
  lines: readonly InvoiceLine[],
  tenant: Tenant,
  config: Config,
  dailyCharges: DailyCost[],
  before: BilledBefore,
  prepaid: readonly PrepaidApplied[],
): InvoiceDocument {
  const c = inv.currency;
  const groups = new Map<Period, { lines: InvoiceDocumentLine[]; total: Decimal }>();
  for (const l of lines) {
    if (l.kind !== 'adjustment') continue;
    const g = groups.get(l.period) ?? { lines: [], total: Decimal.ZERO };
    g.lines.push(docLine(l, c, before));
    g.total = g.total.add(l.amount);
    groups.set(l.period, g);
  }
  const t = inv.totals;
  const { start, end } = periodInterval(tenant.timezone, inv.period);
  const usage = formatAmount(t.usage, c);
  return {
    issuer: issuerFromConfig(config.issuer),
    customer: {
      tenant_id: tenant.id, name: tenant.name, address: addressLines(tenant.address ?? ''), email: tenant.email ?? '',
      ...(tenant.taxId ? { tax_id: tenant.taxId } : {}),
    },
    number: inv.number,
    status: inv.status,
    period: inv.period,
    issue_date: inv.issueDate,
    due_date: inv.dueDate,
    currency: c,
    lines: lines.flatMap((l) =>
      (l.kind === 'adjustment' || l.kind === 'fee' || l.kind === 'discount' || l.kind === 'commitment' || l.kind === 'credit' ? [] : [docLine(l, c, before)])),
    adjustments: [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([period, g]) => ({ period, lines: g.lines, total: formatAmount(g.total, c) })),
    charges: lines
      .filter((l) => l.kind === 'fee' || l.kind === 'discount' || l.kind === 'commitment')
      .map((l) => ({
        kind: l.kind as 'fee' | 'discount' | 'commitment', description: l.description, amount: formatAmount(l.amount, c),
        ...(l.kind === 'discount' ? { base: usage } : {}),
      })),
    subtotal: formatAmount(t.subtotal, c),
    tax: { label: inv.taxLabel, rate: inv.taxRate.toString(), amount: formatAmount(t.tax, c) },
    total: formatAmount(t.total, c),
    payment_instructions: config.issuer.paymentInstructions,
    footer: config.issuer.footer,
    daily_costs: dailyCharges,
    ...(tenant.poNumber ? { po_number: tenant.poNumber } : {}),
    net_days: tenant.netDays,
    period_dates: { first: localDate(tenant.timezone, start), last: localDate(tenant.timezone, end - 1), timezone: tenant.timezone },
    usage_subtotal: usage,
    period_total: formatAmount(t.fee.add(t.usage).sub(t.discount), c),
    ...(t.credits.isZero() ? {} : {
      credits: lines.filter((l) => l.kind === 'credit').map((l) => ({ description: l.description, amount: formatAmount(l.amount, c) })),
    }),
    ...(prepaid.length === 0 ? {} : { prepaid: prepaid.map((p) => ({ description: p.description, amount: formatAmount(p.amount.neg(), c) })) }),
    // What is due when it is issued: the total less prepaid credits (a PAID copy adds payments and credit notes).
    amount_due: formatAmount(inv.amountDue, c),
  };
}

/** A PDF to draw: the file (as it is shown and stored), the document as JSON, and where it is written. */
export interface PdfJob extends RenderJob {
  /** What it is, for messages: "INV-2026-000001", "the VOID copy of INV-2026-000001", "draft 12". */
  what: string;
  file: string;
}

/** Where an issued invoice's PDF goes, and what it is drawn from: the document frozen when it was issued. */
export async function pdfJobOf(inv: InvoiceRecord, outDir: string, cwd: string): Promise<PdfJob> {
  if (!inv.number || !inv.document) throw new UsageError(`invoice ${inv.id} is a draft: it has no issued PDF`);
  const { invoicePdfPath } = await import('../pdf/render-invoice.js');
  const file = invoicePdfPath(outDir, inv.period, inv.number);
  return { what: inv.number, file, document: inv.document, outPath: path.resolve(cwd, file) };
}

/** Where the stamped copy of the issued PDF `file` goes: `<number>.void.pdf`, `<number>.paid.pdf` beside it. */
export function stampedPath(file: string, stamp: 'void' | 'paid'): string {
  return `${file.slice(0, -'.pdf'.length)}.${stamp}.pdf`;
}

/** What settled an issued invoice: its payments (reversed ones too) and the credit notes issued on it. */
export interface Settlement {
  payments: PaymentRecord[];
  creditNotes: CreditNoteRecord[];
}

export async function settlementOf(store: Store, inv: InvoiceRecord): Promise<Settlement> {
  return { payments: await store.invoices.payments(inv.id), creditNotes: await store.creditNotes.list({ invoiceId: inv.id }) };
}

/**
 * The stamped copy of an issued invoice voided or paid since (null for one that is neither): its
 * frozen document marked VOID, or PAID with what settled it (the credit notes that lowered its
 * amount due, then each payment) and nothing left due, written beside `issued` (the issued PDF,
 * which itself never changes) as `<number>.void.pdf` or `<number>.paid.pdf`.
 */
export function stampedJobOf(inv: InvoiceRecord, issued: PdfJob, cwd: string, settled: Settlement): PdfJob | null {
  if (inv.status !== 'void' && inv.status !== 'paid') return null;
  const doc = JSON.parse(issued.document) as InvoiceDocument;
  doc.status = inv.status;
  const c = inv.currency;
  // Nothing is due on either: a void invoice is cancelled, a paid one settled.
  if (inv.status === 'paid') {
    const notes = settled.creditNotes.filter((n) => n.applied.sign() > 0);
    if (notes.length > 0) doc.credit_notes = notes.map((n) => ({ number: n.number, date: n.issueDate, amount: formatAmount(n.applied.neg(), c) }));
    doc.payments = settled.payments.filter((p) => p.reversedAt === null).map((p) => ({ date: p.date, amount: formatAmount(p.amount.neg(), c) }));
  }
  doc.amount_due = formatAmount(Decimal.ZERO, c);
  const file = stampedPath(issued.file, inv.status);
  return { what: `the ${inv.status.toUpperCase()} copy of ${inv.number}`, file, document: JSON.stringify(doc), outPath: path.resolve(cwd, file) };
}

/** An issued invoice's PDF where it was recorded (else under `outDir`): where its stamped copy goes. */
export async function recordedPdfJobOf(inv: InvoiceRecord, outDir: string, cwd: string): Promise<PdfJob> {
  const job = await pdfJobOf(inv, outDir, cwd);
  return inv.pdf === null ? job : { ...job, file: inv.pdf, outPath: path.resolve(cwd, inv.pdf) };
}

/**
 * A draft's PDF: drawn from the draft as it is stored now, marked DRAFT, with no number, no
 * issue or due date, under `<out>/drafts/<period>/draft-<id>.pdf`. Nothing is recorded.
 */
export async function draftJobOf(store: Store, rating: RatingService, config: Config, draft: InvoiceRecord, outDir: string, cwd: string): Promise<PdfJob> {
  const tenant = (await store.getTenant(draft.tenantId))!;
  const lines = await store.invoices.lines(draft.id);
  const doc = invoiceDocument(
    { ...draft, status: 'draft', number: null, issueDate: null, dueDate: null },
    lines, tenant, config, await rating.dailyCharges(tenant, draft.period), await billedBefore(store, tenant.id, lines),
    await prepaidOf(store, await store.credits.drawsOfInvoice(draft.id)),
  );
  const { draftPdfPath } = await import('../pdf/render-invoice.js');
  const file = draftPdfPath(outDir, draft.period, draft.id);
  return { what: `draft ${draft.id}`, file, document: JSON.stringify(doc), outPath: path.resolve(cwd, file) };
}

/** True when a draft still matches its data (else `invoice generate` would remake it). */
export async function isDraftCurrent(store: Store, rating: RatingService, draft: InvoiceRecord): Promise<boolean> {
  return draftIsCurrent(store, rating, (await store.getTenant(draft.tenantId))!, draft);
}

/** Draws PDFs from their documents, one after another; throws naming the first file that could not be written. */
export async function drawPdfs(config: Config, jobs: readonly PdfJob[]): Promise<void> {
  const { pdfRenderer } = await import('../pdf/render-pool.js');
  const renderer = await pdfRenderer(config.invoice.template, jobs.length);
  try {
    for (const job of jobs) {
      const error = await renderer.render(job);
      if (error !== null) {
        throw new BillctlError(`the PDF of ${job.what} could not be written: ${error}`, ExitCode.failed, 'Point --out at a directory you can write to, then run the command again.');
      }
    }
  } finally {
    await renderer.close();
  }
}

/**
 * Writes an issued invoice's PDF from its frozen document (the same bytes every time) and, once it
 * is void or paid, its stamped copy beside it. `outDir` is kept as given (relative paths stay
 * relative in the store and in JSON); `cwd` anchors it. The PDF's path is recorded only when the
 * invoice has none yet (its PDF failed when it was issued): a copy written elsewhere with --out
 * does not move it.
 */
export async function writePdfs(store: Store, config: Config, inv: InvoiceRecord, outDir: string, cwd: string, at: string): Promise<{ pdf: string; stamped: string | null }> {
  const issued = await pdfJobOf(inv, outDir, cwd);
  const stamped = stampedJobOf(inv, issued, cwd, await settlementOf(store, inv));
  await drawPdfs(config, stamped === null ? [issued] : [issued, stamped]);
  if (inv.pdf === null) await store.invoices.setPdf(inv.id, issued.file, at);
  return { pdf: issued.file, stamped: stamped?.file ?? null };
}

/** The JSON of cli.md: `invoice list` items, and with lines for `invoice show` and `preview`. */
export function invoiceJson(inv: InvoiceRecord, lines?: readonly InvoiceLine[]): Record<string, unknown> {
  const c = inv.currency;
  const out: Record<string, unknown> = {
    id: inv.id === '' ? null : inv.id, // a preview is stored nowhere
    number: inv.number,
    tenant_id: inv.tenantId,
    period: inv.period,
    status: inv.status,
    currency: c,
    subtotal: formatAmount(inv.totals.subtotal, c),
    tax: formatAmount(inv.totals.tax, c),
    total: formatAmount(inv.totals.total, c),
    issue_date: inv.issueDate,
    due_date: inv.dueDate,
    pdf: inv.pdf,
    amount_due: formatAmount(inv.amountDue, c),
    paid_date: inv.paidDate,
  };
  if (lines) {
    out.tax_rate = inv.taxRate.toString();
    out.tax_label = inv.taxLabel;
    out.plan = inv.planId;
    out.credits = formatAmount(inv.totals.credits, c);
    out.prepaid_applied = formatAmount(inv.prepaidApplied, c);
    out.void_reason = inv.voidReason;
    out.lines = lines.map((l) => invoiceLineJson(l, inv.period, c, inv.planId));
  }
  return out;
}

/**
 * `invoice preview --format json`: the draft `generate` would store, plus `projected_total`: while
 * the period is under way, the month-end projection `usage` prints as `projected_month_end` (fee
 * plus the usage so far scaled to the whole period, before tax); null once the period is over.
 */
export function previewJson(c: ComputedInvoice, now: number): Record<string, unknown> {
  return { ...invoiceJson(previewRecord(c), c.lines), projected_total: projectedTotal(c, now) };
}

export function projectedTotal(c: ComputedInvoice, now: number): string | null {
  const interval = periodInterval(c.tenant.timezone, c.period);
  if (!c.rated || now < interval.start || now >= interval.end) return null;
  return formatAmount(projectMonthEnd(c.rated, interval, now), c.currency);
}

/** A computed (unsaved) invoice as an InvoiceRecord, for preview. */
export function previewRecord(c: ComputedInvoice): InvoiceRecord {
  return {
    id: '', tenantId: c.tenant.id, period: c.period, status: 'draft', currency: c.currency,
    planId: c.rated?.plan.id ?? null, planVersion: c.rated?.plan.catalogVersion ?? null, totals: c.totals,
    taxRate: c.tenant.taxRate, taxLabel: c.tenant.taxLabel, prepaidApplied: c.prepaidApplied, amountDue: c.amountDue, number: null, issueDate: null, dueDate: null, paidDate: null,
    voidReason: null, pdf: null, document: null, fingerprints: c.fingerprints, createdAt: '', updatedAt: '', finalizedAt: null,
  };
}


