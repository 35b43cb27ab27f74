/**
 * The invoice run: `invoice generate` (with or without --finalize) and `invoice finalize` over
 * many tenants or drafts. Each tenant's outcome is reported, not the first exception (a draft
 * that could not be made or issued, a PDF that could not be written); the command renders the
 * report. The guard rails and confirmation stay with the command, which asks before it calls.
 */
import fs from 'node:fs';
import path from 'node:path';
import { computeInvoice, finalizeDraft, generateDraft, pdfJobOf, uninvoicedPeriods, type GenerateOutcome } from './invoices.js';
import type { Audit } from './credits.js';
import type { StoreRating } from './rating-service.js';
import type { Config } from '../config.js';
import type { Period } from '../domain/period.js';
import { RatingError } from '../domain/rating.js';
import type { Tenant } from '../domain/tenant.js';
import { UsageError, errorMessage } from '../errors.js';
import type { PdfRenderer } from '../pdf/render-pool.js';
import type { InvoiceRecord } from '../store/invoice-repo.js';
import type { Store } from '../store/store.js';

/** What a run did, per tenant. */
export interface RunReport {
  outcomes: GenerateOutcome[];
  /** Drafts that, remade when finalized, had nothing left to bill. */
  removed: InvoiceRecord[];
  /** Tenants that failed; with `number`, the invoice was issued and only its PDF failed. */
  failed: { tenantId: string; number?: string; error: string }[];
  warnings: { tenantId: string; period: Period; message: string }[];
  finalized: InvoiceRecord[];
  pdfs: string[];
}

export function emptyRunReport(): RunReport {
  return { outcomes: [], removed: [], failed: [], warnings: [], finalized: [], pdfs: [] };
}

/** What a run works with: the store and config, where it is, its clock and audit log, and where notices go. */
export interface InvoiceRunDeps {
  store: Store;
  config: Config;
  /** The directory relative paths (PDFs) are shown from. */
  cwd: string;
  /** The date issued invoices carry. */
  issueDate: string;
  nowIso: () => string;
  audit: Audit;
  /** Informational text (a draft remade or removed while issuing). */
  notice: (text: string) => void;
}

/** PDFs drawn at once while issuing: enough to keep every worker busy, few enough for flat memory. */
const MAX_PDFS_IN_FLIGHT = 8;

/**
 * Issues drafts one transaction each (so a crash or a concurrent run leaves whole invoices) and
 * draws each one's PDF as soon as it is issued, on worker threads while the next is issued (or,
 * with `generate --finalize`, while the next tenant's draft is made: the workers start at once).
 * `ratingFor` picks the rating of a draft (one made with --allow-unpriced keeps it). `finish`
 * also draws the PDFs that a run killed after issuing left unwritten.
 */
class Finalizer {
  private readonly written: { id: string; pdf: string | null; file: string }[] = [];
  /** At most a few PDFs in flight: issuing waits for drawing, so memory stays flat however many tenants. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly periods = new Set<Period>();

  private constructor(
    private readonly deps: InvoiceRunDeps,
    private readonly renderer: PdfRenderer,
    private readonly ratingFor: (draft: InvoiceRecord) => StoreRating,
    private readonly out: string,
    private readonly report: RunReport,
  ) {}

  /** `periods`: where to look for issued invoices a killed run left without a PDF (with those of the drafts finalized). */
  static async start(
    deps: InvoiceRunDeps, ratingFor: (draft: InvoiceRecord) => StoreRating, expected: number, out: string, report: RunReport,
    periods: readonly Period[],
  ): Promise<Finalizer> {
    const { pdfRenderer } = await import('../pdf/render-pool.js');
    const renderer = await pdfRenderer(deps.config.invoice.template, expected);
    const f = new Finalizer(deps, renderer, ratingFor, out, report);
    for (const p of periods) f.periods.add(p);
    return f;
  }

  private async draw(inv: InvoiceRecord): Promise<void> {
    while (this.inFlight.size >= MAX_PDFS_IN_FLIGHT) await Promise.race(this.inFlight);
    const job = await pdfJobOf(inv, this.out, this.deps.cwd);
    const p: Promise<void> = this.renderer.render(job).then((error) => {
      this.inFlight.delete(p);
      if (error === null) this.written.push({ id: inv.id, pdf: inv.pdf, file: job.file });
      else this.report.failed.push({ tenantId: inv.tenantId, number: inv.number!, error: `${inv.number} was issued, but its PDF could not be written: ${error}` });
    });
    this.inFlight.add(p);
  }

  /** Issues one draft and queues its PDF. */
  async finalize(d: InvoiceRecord): Promise<void> {
    const { deps, report } = this;
    this.periods.add(d.period);
    try {
      const done = await finalizeDraft(deps.store, this.ratingFor(d), deps.config, d.id, deps.issueDate, deps.nowIso(), deps.audit);
      if (!done) return; // another run issued it first
      if (done.status === 'removed') {
        deps.notice(`${d.tenantId} ${d.period}: remade from the current data, the draft had nothing left to bill and was removed`);
        report.removed.push(d);
        return;
      }
      if (done.regenerated) deps.notice(`${d.tenantId} ${d.period}: the draft was out of date and was remade before issuing`);
      // The report keeps what its JSON shows, not the frozen document.
      report.finalized.push({ ...done.invoice, document: null });
      await this.draw(done.invoice);
    } catch (err) {
      if (!(err instanceof UsageError) && !(err instanceof RatingError)) throw err;
      report.failed.push({ tenantId: d.tenantId, error: errorMessage(err) });
    }
  }

  /** Draws what killed runs left undrawn, waits for every PDF, and records where each is. */
  async finish(): Promise<void> {
    const { deps, report } = this;
    const { store } = deps;
    try {
      const ours = new Set(report.finalized.map((i) => i.id));
      for (const period of this.periods) {
        for (const inv of await store.invoices.list({ period })) {
          if (ours.has(inv.id) || inv.status === 'draft' || inv.status === 'void' || !inv.document) continue;
          if (inv.pdf && fs.existsSync(path.resolve(deps.cwd, inv.pdf))) continue;
          await this.draw(inv);
        }
      }
      await Promise.all(this.inFlight);
    } finally {
      await this.close();
    }
    // A commit per invoice, not one transaction for all: holding every issued invoice's row lock
    // at once deadlocks with a finalize run beside this one (on Postgres) that is issuing.
    for (const w of this.written) {
      if (w.pdf !== w.file) await store.invoices.setPdf(w.id, w.file, deps.nowIso());
      report.pdfs.push(w.file);
    }
    // The report shows each invoice with the PDF it now has.
    const files = new Map(this.written.map((w) => [w.id, w.file]));
    for (const inv of report.finalized) inv.pdf = files.get(inv.id) ?? inv.pdf;
  }

  /** Stops the workers (after a failure, without waiting for what is in flight). */
  async close(): Promise<void> {
    await this.renderer.close();
  }
}

/**
 * `invoice finalize`: issues `drafts` and draws their PDFs into `out` (with those a killed run
 * left undrawn in `periods`).
 */
export async function finalizeRun(
  deps: InvoiceRunDeps, drafts: readonly InvoiceRecord[], ratingFor: (draft: InvoiceRecord) => StoreRating, out: string, periods: readonly Period[],
): Promise<RunReport> {
  const report = emptyRunReport();
  const finalizer = await Finalizer.start(deps, ratingFor, drafts.length, out, report, periods);
  try {
    for (const d of drafts) await finalizer.finalize(d);
  } catch (err) {
    await finalizer.close();
    throw err;
  }
  await finalizer.finish();
  return report;
}

/**
 * `invoice generate`: makes (or remakes) each tenant's draft of `period`, each with its audit entry;
 * with `finalizeInto` (the PDF directory) also issues each draft as soon as it is made.
 */
export async function generateRun(
  deps: InvoiceRunDeps, rating: StoreRating, tenants: readonly Tenant[], period: Period, finalizeInto?: string,
): Promise<RunReport> {
  const { store } = deps;
  const report = emptyRunReport();
  // With --finalize each draft is issued as soon as it is made, and its PDF drawn on the workers
  // while the next tenant's draft is made: the same invoices and numbers (tenant order) as
  // making every draft first, in about half the time on two cores.
  const finalizer = finalizeInto !== undefined
    ? await Finalizer.start(deps, () => rating, tenants.length, finalizeInto, report, [period])
    : undefined;
  try {
    for (const t of tenants) {
      let draft: InvoiceRecord | undefined;
      try {
        // The draft and its audit entry commit together.
        const o = await store.transaction(async () => {
          const made = await generateDraft(store, rating, t, period, deps.nowIso());
          if (made.status === 'created' || made.status === 'updated') {
            await deps.audit('invoice generate', { tenant: t.id, period, invoice: made.invoice!.id, [made.status]: 1 });
          }
          return made;
        });
        report.outcomes.push(o);
        for (const p of await uninvoicedPeriods(store, rating, t, period)) {
          report.warnings.push({ tenantId: t.id, period: p, message: 'billable receipts and no invoice' });
        }
        if (o.invoice && o.invoice.status === 'draft') draft = o.invoice;
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        report.failed.push({ tenantId: t.id, error: errorMessage(err) });
      }
      if (finalizer && draft) await finalizer.finalize(draft);
    }
  } catch (err) {
    await finalizer?.close();
    throw err;
  }
  await finalizer?.finish();
  return report;
}

/** Of these tenants, those that a run would issue an invoice to (a draft or something to bill, and none issued yet). */
export async function wouldBeInvoiced(store: Store, rating: StoreRating, tenants: readonly Tenant[], period: Period, today: string): Promise<Tenant[]> {
  const out: Tenant[] = [];
  for (const t of tenants) {
    const live = await store.invoices.findLive(t.id, period);
    if (live !== undefined ? live.status === 'draft' : await hasSomethingToBill(store, rating, t, period, today)) out.push(t);
  }
  return out;
}

/** A tenant whose rating fails (unpriced usage, say) is reported by the run itself, not here. */
async function hasSomethingToBill(store: Store, rating: StoreRating, t: Tenant, period: Period, today: string): Promise<boolean> {
  try {
    return (await computeInvoice(store, rating, t, period, today)) !== undefined;
  } catch (err) {
    if (err instanceof RatingError) return false;
    throw err;
  }
}
