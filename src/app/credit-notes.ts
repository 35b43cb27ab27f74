/**
 * Credit notes (billing-rules.md, "Credit notes"): a finalized invoice lowered after the fact.
 * Issuing one is one transaction: the cap is checked under the invoice's lock, the next number of
 * the credit note sequence is taken (so a crash or a run beside it leaves no gap and no repeat),
 * the note and its frozen document are written, its part beyond the amount due (all of it on a
 * paid invoice) becomes a prepaid grant, and the invoice's amount due is recorded again. Its PDF
 * is drawn after the commit, beside the invoice's.
 */
import path from 'node:path';
import type { Config } from '../config.js';
import { creditNoteAmounts, largestNet, splitCreditNote } from '../domain/credit-notes.js';
import { Decimal, formatAmount } from '../domain/money.js';
import { localDate, periodInterval } from '../domain/period.js';
import { parseDate } from '../domain/time.js';
import { UsageError } from '../errors.js';
import type { CreditNoteRecord } from '../store/credit-note-repo.js';
import type { GrantRecord } from '../store/credit-repo.js';
import type { InvoiceRecord } from '../store/invoice-repo.js';
import type { Store } from '../store/store.js';
import { issuerFromConfig, type InvoiceDocument } from '../pdf/invoice-document.js';
import { parseAmount } from './budgets.js';
import { dateOf, redrawDrafts, type Audit } from './credits.js';
import { formatInvoiceNumber, requireInvoice, type PdfJob } from './invoices.js';
import { settle } from './settlement.js';

export interface CreditNoteInput {
  /** The invoice's number or id. */
  invoice: string;
  amount: string;
  reason: string;
  /** The corrected line, 1-based as `invoice show` lists them. */
  line?: string;
  /** Default: the day of `at` (UTC). */
  issueDate?: string;
}

export interface CreditNoteOutcome {
  note: CreditNoteRecord;
  invoice: InvoiceRecord;
  /** The prepaid grant made of the part beyond the amount due, if any. */
  grant: GrantRecord | null;
}

/** The largest net amount the invoice can still be credited, as a hint. */
function capHint(inv: InvoiceRecord, room: Decimal): string {
  const c = inv.currency;
  const net = largestNet(room, inv.taxRate, c);
  return net.isZero()
    ? `Its credit notes already total its ${formatAmount(inv.totals.total, c)} ${c}: nothing is left to credit.`
    : `At most ${formatAmount(net, c)} ${c} net (${formatAmount(room, c)} ${c} with tax) is left to credit on it.`;
}

/** Checks the typed input against the invoice; what is checked again under the lock (the cap) comes later. */
function checkInput(inv: InvoiceRecord, input: CreditNoteInput, today: string): { net: Decimal; issueDate: string; lineNo: number | null } {
  const what = inv.number ?? inv.id;
  if (inv.status === 'draft') throw new UsageError(`invoice ${inv.id} is a draft: a draft is remade, not credited`, `Regenerate it: billctl invoice generate --period ${inv.period} --tenant ${inv.tenantId}`);
  if (inv.status === 'void') throw new UsageError(`invoice ${what} is void: there is nothing to credit on it`);
  if (input.reason.trim() === '') throw new UsageError('--reason is required: say why the invoice is credited (it is printed on the credit note)');
  const issueDate = input.issueDate ?? today;
  if (parseDate(issueDate) === undefined) throw new UsageError(`--issue-date: "${issueDate}" is not a date`, 'Write it as YYYY-MM-DD.');
  if (issueDate < inv.issueDate!) {
    throw new UsageError(`--issue-date ${issueDate} is before ${what}'s issue date ${inv.issueDate}: a credit note follows the invoice it corrects`);
  }
  let lineNo: number | null = null;
  if (input.line !== undefined) {
    if (!/^\d{1,6}$/.test(input.line) || Number(input.line) < 1) {
      throw new UsageError(`--line: "${input.line}" is not a line number`, `Lines are numbered from 1 as billctl invoice show ${what} lists them.`);
    }
    lineNo = Number(input.line);
  }
  return { net: parseAmount(input.amount, inv.currency, '--amount'), issueDate, lineNo };
}

/** Issues a credit note on a finalized or paid invoice (see the file comment). */
export async function issueCreditNote(store: Store, config: Config, input: CreditNoteInput, at: string, audit: Audit): Promise<CreditNoteOutcome> {
  const seen = await requireInvoice(store, input.invoice);
  const { net, issueDate, lineNo } = checkInput(seen, input, dateOf(at));
  return store.transaction(async () => {
    await store.invoices.lockTenant(seen.tenantId);
    const inv = (await store.invoices.lock(seen.id))!;
    checkInput(inv, input, dateOf(at));
    const c = inv.currency;
    const what = inv.number!;
    const earlier = await store.creditNotes.list({ invoiceId: inv.id });
    const amounts = creditNoteAmounts(net, inv.taxRate, c);
    const room = inv.totals.total.sub(Decimal.sum(earlier.map((n) => n.total)));
    if (amounts.total.cmp(room) > 0) {
      throw new UsageError(
        `a credit note of ${formatAmount(amounts.net, c)} ${c} net (${formatAmount(amounts.total, c)} ${c} with tax) would credit more than ${what}'s total of ${formatAmount(inv.totals.total, c)} ${c}`,
        capHint(inv, room),
      );
    }
    let lineDescription: string | null = null;
    if (lineNo !== null) {
      const lines = await store.invoices.lines(inv.id);
      const line = lines[lineNo - 1];
      if (line === undefined) throw new UsageError(`--line ${lineNo}: ${what} has ${lines.length} line(s)`, `See them with: billctl invoice show ${what}`);
      if (line.amount.sign() <= 0) throw new UsageError(`--line ${lineNo}: "${line.description}" charges nothing (${formatAmount(line.amount, c)}): there is nothing to credit on it`);
      const left = line.amount.sub(Decimal.sum(earlier.filter((n) => n.lineNo === lineNo).map((n) => n.net)));
      if (amounts.net.cmp(left) > 0) {
        throw new UsageError(
          `--line ${lineNo}: ${formatAmount(amounts.net, c)} ${c} is more than is left to credit on "${line.description}" (${formatAmount(left, c)} ${c} net)`,
          'A credit note for one line gives back at most what the line charged, less earlier credit notes for it.',
        );
      }
      lineDescription = line.description;
    }
    const split = splitCreditNote(amounts.total, inv.amountDue, inv.status === 'paid');
    const year = Number(issueDate.slice(0, 4));
    const seq = await store.creditNotes.nextNumber(config.creditNote.prefix, year, config.creditNote.firstNumber);
    const number = formatInvoiceNumber(config.creditNote.prefix, year, seq);
    const tenant = (await store.getTenant(inv.tenantId))!;
    const doc = creditNoteDocument(inv, config, tenant.timezone, {
      number, issueDate, reason: input.reason.trim(), line: lineDescription, ...amounts, ...split,
    });
    const id = await store.creditNotes.insert({
      number, numberYear: year, numberSeq: seq, invoiceId: inv.id, invoiceNumber: what, tenantId: inv.tenantId, period: inv.period,
      currency: c, issueDate, net: amounts.net, tax: amounts.tax, total: amounts.total, taxRate: inv.taxRate, taxLabel: inv.taxLabel,
      reason: input.reason.trim(), lineNo, lineDescription, applied: split.applied, granted: split.granted, document: JSON.stringify(doc),
    }, at);
    await audit('invoice credit-note', {
      credit_note: number, invoice: inv.id, number: what, tenant: inv.tenantId, net: formatAmount(amounts.net, c), tax: formatAmount(amounts.tax, c),
      total: formatAmount(amounts.total, c), applied: formatAmount(split.applied, c), granted: formatAmount(split.granted, c), currency: c,
      reason: input.reason.trim(), line: lineNo,
    });
    let grant: GrantRecord | null = null;
    if (split.granted.sign() > 0) {
      const name = `Credit note ${number}`;
      const grantId = await store.credits.insertGrant({
        tenantId: inv.tenantId, kind: 'prepaid', name, currency: c, amount: split.granted, start: issueDate, expires: null, creditNoteId: id,
      }, at);
      await audit('credit grant', {
        grant: grantId, tenant: inv.tenantId, kind: 'prepaid', name, amount: formatAmount(split.granted, c), currency: c, start: issueDate,
        expires: null, credit_note: number,
      });
      grant = (await store.credits.getGrant(grantId))!;
      await redrawDrafts(store, inv.tenantId, at);
    }
    const invoice = split.applied.sign() > 0 ? await settle(store, inv, issueDate, at) : inv;
    return { note: (await store.creditNotes.get(id))!, invoice, grant };
  });
}

export async function requireCreditNote(store: Store, idOrNumber: string): Promise<CreditNoteRecord> {
  const n = await store.creditNotes.get(idOrNumber);
  if (!n) throw new UsageError(`no credit note "${idOrNumber}"`, 'See the credit notes with: billctl credit-note list');
  return n;
}

interface NoteFields {
  number: string;
  issueDate: string;
  reason: string;
  line: string | null;
  net: Decimal;
  tax: Decimal;
  total: Decimal;
  applied: Decimal;
  granted: Decimal;
}

/**
 * A credit note's PDF view model: the invoice's layout, titled "Credit note", naming the invoice
 * it corrects; the customer as that invoice addressed it, the issuer as it is now.
 */
function creditNoteDocument(inv: InvoiceRecord, config: Config, timezone: string, n: NoteFields): InvoiceDocument {
  const c = inv.currency;
  const issued = JSON.parse(inv.document!) as InvoiceDocument;
  const f = (d: Decimal) => formatAmount(d, c);
  const { start, end } = periodInterval(timezone, inv.period);
  return {
    issuer: issuerFromConfig(config.issuer),
    customer: issued.customer,
    number: n.number,
    status: 'finalized',
    period: inv.period,
    issue_date: n.issueDate,
    due_date: null,
    currency: c,
    lines: [],
    adjustments: [],
    charges: [],
    subtotal: f(n.net),
    tax: { label: inv.taxLabel, rate: inv.taxRate.toString(), amount: f(n.tax) },
    total: f(n.total),
    payment_instructions: '',
    footer: config.issuer.footer,
    daily_costs: [],
    ...(issued.po_number ? { po_number: issued.po_number } : {}),
    period_dates: issued.period_dates ?? { first: localDate(timezone, start), last: localDate(timezone, end - 1), timezone },
    credit_note: {
      invoice: { number: inv.number!, issue_date: inv.issueDate!, total: f(inv.totals.total) },
      reason: n.reason,
      line: n.line,
      net: f(n.net),
      tax: { label: inv.taxLabel, rate: inv.taxRate.toString(), amount: f(n.tax) },
      total: f(n.total),
      applied: f(n.applied),
      granted: f(n.granted),
    },
  };
}

/** Where a credit note's PDF goes (beside the invoice's: `<out>/<period>/<number>.pdf`) and what it is drawn from. */
export async function creditNotePdfJob(note: CreditNoteRecord, outDir: string, cwd: string): Promise<PdfJob> {
  const { invoicePdfPath } = await import('../pdf/render-invoice.js');
  const file = invoicePdfPath(outDir, note.period, note.number);
  return { what: note.number, file, document: note.document, outPath: path.resolve(cwd, file) };
}

/** A credit note as `credit-note list|show --format json` and `export credit-notes` show it. */
export function creditNoteJson(n: CreditNoteRecord): Record<string, unknown> {
  const c = n.currency;
  return {
    id: n.id,
    number: n.number,
    invoice_number: n.invoiceNumber,
    tenant_id: n.tenantId,
    period: n.period,
    issue_date: n.issueDate,
    currency: c,
    net: formatAmount(n.net, c),
    tax: formatAmount(n.tax, c),
    total: formatAmount(n.total, c),
    tax_rate: n.taxRate.toString(),
    tax_label: n.taxLabel,
    reason: n.reason,
    line: n.lineNo,
    line_description: n.lineDescription,
    applied: formatAmount(n.applied, c),
    granted: formatAmount(n.granted, c),
    pdf: n.pdf,
  };
}
