/**
 * The invoice lifecycle (billing-rules.md, "Invoices"): drafts that follow the data, finalizing
 * with gapless numbers, paid and void, late-usage adjustments, and PDFs from frozen documents.
 * Read, compute, write: rating and invoice math are pure (src/domain); this file does the I/O.
 */
import path from 'node:path';
import type { Config } from '../config.js';
import {
  invoiceLineJson, invoiceTotals, lateUsageAdjustments, orderInvoiceLines, type AdjustmentLine, type InvoiceLine,
} from '../domain/invoice.js';
import { formatAmount } from '../domain/money.js';
import type { Period } from '../domain/period.js';
import { NoCatalogError, PlanTermsError, type RatedPeriod } from '../domain/rating.js';
import type { Tenant } from '../domain/tenant.js';
import { DAY_MS, parseDate } from '../domain/time.js';
import { toJson } from '../json.js';
import { BillctlError, ExitCode, UsageError } from '../errors.js';
import type { InvoiceRecord } from '../store/invoice-repo.js';
import type { Store } from '../store/store.js';
import { addressLines, issuerFromConfig, type DailyCost, type InvoiceDocument, type InvoiceDocumentLine } from '../pdf/invoice-document.js';

/** What invoicing needs from rating: results, a fingerprint of the inputs, daily costs for the chart. */
export interface RatingService {
  ratePeriod(tenant: Tenant, period: Period): Promise<RatedPeriod>;
  /** Changes whenever anything that rating reads for this tenant-period changes. */
  fingerprint(tenant: Tenant, period: Period): Promise<string>;
  dailyCosts(tenant: Tenant, period: Period): Promise<DailyCost[]>;
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
  lines: InvoiceLine[];
  totals: ReturnType<typeof invoiceTotals>;
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
 * Rates the period and every earlier issued period again (late usage) and assembles the lines.
 * Undefined when there is nothing to bill: no usage, no fee, no adjustment.
 */
export async function computeInvoice(store: Store, rating: RatingService, tenant: Tenant, period: Period): Promise<ComputedInvoice | undefined> {
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
  return {
    tenant, period, rated, adjustments, lines, currency, fingerprints,
    totals: invoiceTotals(lines, tenant.taxRate, currency),
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

/** Makes or remakes the draft of one tenant-period, in one transaction. */
export async function generateDraft(store: Store, rating: RatingService, tenant: Tenant, period: Period, at: string): Promise<GenerateOutcome> {
  return store.transaction(async () => {
    const live = await store.invoices.findLive(tenant.id, period);
    if (live && live.status !== 'draft') {
      return { tenantId: tenant.id, status: 'issued' as const, invoice: live, reason: `already ${live.status} as ${live.number}` };
    }
    const computed = await computeInvoice(store, rating, tenant, period);
    if (!computed) {
      if (live) await store.invoices.deleteDraft(live.id);
      return { tenantId: tenant.id, status: 'skipped' as const, reason: 'nothing to bill (no usage, no fee, no adjustment)' };
    }
    if (live && sameLines(await store.invoices.lines(live.id), computed.lines, computed.currency, period) &&
        live.totals.total.eq(computed.totals.total) && live.taxRate.eq(tenant.taxRate) && live.taxLabel === tenant.taxLabel &&
        live.planId === (computed.rated?.plan.id ?? null) && live.planVersion === (computed.rated?.plan.catalogVersion ?? null)) {
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
        fingerprints: computed.fingerprints,
        lines: computed.lines,
      },
      live?.id,
      at,
    );
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
 * Issues a draft: remakes it from the current data (so the issued lines are never stale), takes
 * the next number of the (prefix, year) sequence, sets the issue and due dates and freezes the
 * document its PDF is drawn from. All in one transaction: a crash or a concurrent run leaves no
 * gap and no repeat. Returns undefined when another run issued it first.
 */
export async function finalizeDraft(
  store: Store,
  rating: RatingService,
  config: Config,
  invoiceId: string,
  issueDate: string,
  at: string,
  /** Called inside the issuing transaction (the audit entry commits with the invoice). */
  onIssued?: (invoice: InvoiceRecord) => Promise<void>,
): Promise<FinalizeOutcome | undefined> {
  return store.transaction(async () => {
    const locked = await store.invoices.lock(invoiceId);
    if (!locked || locked.status !== 'draft') return undefined;
    const tenant = (await store.getTenant(locked.tenantId))!;
    // A draft is remade unless everything it was made from is unchanged (then remaking it would give the same lines).
    const current = await draftIsCurrent(store, rating, tenant, locked);
    const remade = current ? { status: 'unchanged' as const, invoice: locked } : await generateDraft(store, rating, tenant, locked.period, at);
    if (remade.status === 'skipped') return { status: 'removed' as const, tenantId: tenant.id, period: locked.period };
    const draft = remade.invoice!;
    const year = Number(issueDate.slice(0, 4));
    const seq = await store.invoices.nextNumber(config.invoice.prefix, year, config.invoice.firstNumber);
    const number = formatInvoiceNumber(config.invoice.prefix, year, seq);
    const dueDate = addDays(issueDate, tenant.netDays);
    const lines = await store.invoices.lines(draft.id);
    const doc = invoiceDocument(
      { ...draft, status: 'finalized', number, issueDate, dueDate },
      lines,
      tenant,
      config,
      await rating.dailyCosts(tenant, draft.period),
    );
    if (!(await store.invoices.issue(draft.id, {
      number, numberYear: year, numberSeq: seq, issueDate, dueDate, document: JSON.stringify(doc),
    }, at))) {
      throw new Error(`invoice ${draft.id} changed while it was being finalized`);
    }
    const invoice = (await store.invoices.get(draft.id))!;
    await onIssued?.(invoice);
    return { status: 'issued' as const, invoice, regenerated: remade.status === 'updated' };
  });
}

// -- documents and PDFs ---------------------------------------------------------------------------

function docLine(l: InvoiceLine, currency: string): InvoiceDocumentLine {
  return {
    kind: l.kind === 'adjustment' ? l.adjusts : l.kind,
    description: l.description,
    catalog_version: l.catalogVersion,
    used: l.used.toString(),
    included: l.included.toString(),
    billed: l.billed.toString(),
    unit: l.unit,
    unit_price: l.unitPrice?.toString() ?? null,
    unit_size: l.unitSize === null ? null : Number(l.unitSize),
    amount: formatAmount(l.amount, currency),
    ...(l.unpriced ? { unpriced: true } : {}),
  };
}

/** The PDF view model of an invoice: frozen into the invoice when it is issued. */
export function invoiceDocument(
  inv: Pick<InvoiceRecord, 'period' | 'status' | 'number' | 'issueDate' | 'dueDate' | 'currency' | 'totals' | 'taxRate' | 'taxLabel'>,
  lines: readonly InvoiceLine[],
  tenant: Tenant,
  config: Config,
  dailyCosts: DailyCost[],
): InvoiceDocument {
  const c = inv.currency;
  const groups = new Map<Period, InvoiceDocumentLine[]>();
  for (const l of lines) {
    if (l.kind !== 'adjustment') continue;
    let g = groups.get(l.period);
    if (!g) groups.set(l.period, (g = []));
    g.push(docLine(l, c));
  }
  return {
    issuer: issuerFromConfig(config.issuer),
    customer: { tenant_id: tenant.id, name: tenant.name, address: addressLines(tenant.address ?? ''), email: tenant.email ?? '' },
    number: inv.number,
    status: inv.status,
    period: inv.period,
    issue_date: inv.issueDate,
    due_date: inv.dueDate,
    currency: c,
    lines: lines.filter((l) => l.kind !== 'adjustment' && l.kind !== 'fee' && l.kind !== 'discount').map((l) => docLine(l, c)),
    adjustments: [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([period, ls]) => ({ period, lines: ls })),
    charges: lines
      .filter((l) => l.kind === 'fee' || l.kind === 'discount')
      .map((l) => ({ kind: l.kind as 'fee' | 'discount', description: l.description, amount: formatAmount(l.amount, c) })),
    subtotal: formatAmount(inv.totals.subtotal, c),
    tax: { label: inv.taxLabel, rate: inv.taxRate.toString(), amount: formatAmount(inv.totals.tax, c) },
    total: formatAmount(inv.totals.total, c),
    payment_instructions: config.issuer.paymentInstructions,
    footer: config.issuer.footer,
    daily_costs: dailyCosts,
  };
}

/** Where an issued invoice's PDF goes, and what it is drawn from. */
export async function pdfJobOf(inv: InvoiceRecord, outDir: string, cwd: string): Promise<{ file: string; document: string; outPath: string }> {
  if (!inv.number || !inv.document) throw new UsageError(`invoice ${inv.id} is a draft: only issued invoices have PDFs`);
  const { invoicePdfPath } = await import('../pdf/render-invoice.js');
  const file = invoicePdfPath(outDir, inv.period, inv.number);
  return { file, document: inv.document, outPath: path.resolve(cwd, file) };
}

/**
 * Writes one issued invoice's PDF from its frozen document: the same bytes every time. `outDir`
 * is kept as given (relative paths stay relative in the store and in JSON); `cwd` anchors it.
 */
export async function writePdf(store: Store, config: Config, inv: InvoiceRecord, outDir: string, cwd: string, at: string): Promise<string> {
  const job = await pdfJobOf(inv, outDir, cwd);
  const { pdfRenderer } = await import('../pdf/render-pool.js');
  const renderer = await pdfRenderer(config.invoice.template, 1);
  const error = await renderer.render(job).finally(() => renderer.close());
  if (error !== null) {
    throw new BillctlError(`the PDF of ${inv.number} could not be written: ${error}`, ExitCode.failed, 'Point --out at a directory you can write to, then run the command again.');
  }
  if (inv.pdf !== job.file) await store.invoices.setPdf(inv.id, job.file, at);
  return job.file;
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
  };
  if (lines) {
    out.tax_rate = inv.taxRate.toString();
    out.tax_label = inv.taxLabel;
    out.plan = inv.planId;
    out.paid_date = inv.paidDate;
    out.void_reason = inv.voidReason;
    out.lines = lines.map((l) => invoiceLineJson(l, inv.period, c));
  }
  return out;
}

/** A computed (unsaved) invoice as an InvoiceRecord, for preview. */
export function previewRecord(c: ComputedInvoice): InvoiceRecord {
  return {
    id: '', tenantId: c.tenant.id, period: c.period, status: 'draft', currency: c.currency,
    planId: c.rated?.plan.id ?? null, planVersion: c.rated?.plan.catalogVersion ?? null, totals: c.totals,
    taxRate: c.tenant.taxRate, taxLabel: c.tenant.taxLabel, number: null, issueDate: null, dueDate: null, paidDate: null,
    voidReason: null, pdf: null, document: null, fingerprints: c.fingerprints, createdAt: '', updatedAt: '', finalizedAt: null,
  };
}


