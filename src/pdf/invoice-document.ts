/**
 * The invoice view model: everything an invoice PDF shows, as plain serialisable data. The
 * invoice lifecycle builds it from a stored invoice; the renderer (render-invoice.ts) draws it and
 * decides nothing about money. Amounts are exact decimal text with the currency's minor digits
 * (`formatAmount` in domain/money.ts), quantities are whole numbers as text in the line's unit
 * (GPU in seconds), dates are `YYYY-MM-DD` and periods `YYYY-MM`.
 */
import type { Issuer } from '../config.js';
import type { TokenClass } from '../domain/quantities.js';

export type InvoiceStatus = 'draft' | 'finalized' | 'paid' | 'void';

/** The unit a line's quantities are counted in (cli.md, invoice JSON). */
export type LineUnit = 'second' | 'token' | 'request' | 'unit';

/** GPU, a token class of the field table (domain/quantities.ts), requests. */
export type UsageLineKind = 'gpu' | TokenClass | 'requests' | 'metric';

/** A usage line of the table, or an adjustment line (then `kind` is the kind of line it corrects, fee and discount included). */
export interface InvoiceDocumentLine {
  kind: UsageLineKind | 'fee' | 'discount' | 'commitment';
  /** As the invoice stores it: "Qwen-70B output tokens", "Adjustment for 2026-10: Qwen-70B input tokens". */
  description: string;
  /** Null for usage older than every catalog version, and on fee and discount adjustments. */
  catalog_version: string | null;
  /** Whole numbers in `unit` as text ("363600"); may be negative on an adjustment. */
  used: string;
  included: string;
  billed: string;
  /** Null on fee and discount adjustments: their quantity and price cells stay empty. */
  unit: LineUnit | null;
  /** Price per `unit_size` units, exact decimal text as in the catalog ("0.006", "4.00"); null when there is none. */
  unit_price: string | null;
  /** How many units `unit_price` is for: 1000 for tokens per 1,000, 3600 for GPU per hour. */
  unit_size: number | null;
  /** Exact decimal text with the currency's digits ("6.60"). */
  amount: string;
  /** Billed at 0.00 under `--allow-unpriced`: no rate in the catalog version (the PDF says "not charged"). */
  unpriced?: boolean;
  /** A line priced by tiers or packages: how, in words ("first 2,000,000 at 0.006 / 1,000; next ..."), shown for its price. */
  price_words?: string;
  /**
   * On an adjustment line: what its period's invoice and earlier adjustments billed for the line
   * before this correction, and what is billed for it now (units in `unit`, and the amount). The
   * line's `amount` is the change: now less before.
   */
  before?: { billed: string; amount: string };
  now?: { billed: string; amount: string };
}

/** Adjustment lines for one earlier, already invoiced period (late usage). */
export interface AdjustmentGroup {
  period: string;
  lines: InvoiceDocumentLine[];
  /** The sum of the group's lines. */
  total?: string;
}

/** The plan fee and the usage discount (a negative amount), shown in the totals block. */
export interface InvoiceCharge {
  kind: 'fee' | 'discount' | 'commitment';
  description: string;
  amount: string;
  /** On the discount: the usage amount it is a percentage of. */
  base?: string;
}

/** One day of the period's usage cost, for the chart. Days without usage may be left out or be "0.00". */
export interface DailyCost {
  date: string;
  amount: string;
}

export interface InvoiceParty {
  name: string;
  /** Address lines, top to bottom. */
  address: string[];
  email: string;
}

export interface InvoiceIssuer extends InvoiceParty {
  tax_id: string;
  /** A PNG or JPEG file; null uses the template's logo, if it has one. */
  logo: string | null;
}

export interface InvoiceCustomer extends InvoiceParty {
  tenant_id: string;
  /** The customer's tax id (VAT id), when it has one. */
  tax_id?: string;
}

/**
 * Frozen into an invoice when it is issued and drawn again by `invoice pdf` later, so this shape is
 * stored: change it only by adding optional fields.
 */
export interface InvoiceDocument {
  issuer: InvoiceIssuer;
  customer: InvoiceCustomer;
  /** Null on a draft: the PDF then says DRAFT where the number goes, and across every page. */
  number: string | null;
  status: InvoiceStatus;
  period: string;
  /** Null until finalized. */
  issue_date: string | null;
  due_date: string | null;
  currency: string;
  /** The current period's usage lines, in invoice order. */
  lines: InvoiceDocumentLine[];
  /** Adjustments, one group per corrected period, oldest first. */
  adjustments: AdjustmentGroup[];
  /** Fee and discount. */
  charges: InvoiceCharge[];
  subtotal: string;
  /** `label` as the tenant's tax_label ("VAT"), `rate` as a decimal fraction ("0.19" is shown as 19 %). */
  tax: { label: string; rate: string; amount: string };
  total: string;
  payment_instructions: string;
  footer: string;
  /**
   * What the usage lines charged per day of the period (after allowances, before the discount), in
   * date order: they add up to `usage_subtotal`. (Documents frozen before 2026-12 hold list-price
   * costs here; the chart is drawn only from documents that have `usage_subtotal`.)
   */
  daily_costs: DailyCost[];
  // Added later; absent from documents frozen before them.
  /** The customer's purchase order number. */
  po_number?: string;
  /** Payment terms: days from issue to due date ("Net 30"). */
  net_days?: number;
  /** The period as the tenant's local dates, first and last day, and the timezone they are in. */
  period_dates?: { first: string; last: string; timezone: string };
  /** The sum of the usage lines (the discount's base). */
  usage_subtotal?: string;
  /** The invoice's own period: fee + usage − discount (shown beside the adjustments' totals). */
  period_total?: string;
  /** What the customer still owes: the total less `prepaid`, `credit_notes` and `payments`. */
  amount_due?: string;
  /** Payments received (negative amounts): on a PAID copy, each payment. */
  payments?: { date: string; amount: string }[];
  /** Promotional credits drawn before tax (negative amounts), one per grant: "Credit: Launch promotion". */
  credits?: { description: string; amount: string }[];
  /** Prepaid credits applied after tax (negative amounts), one per grant. */
  prepaid?: { description: string; amount: string }[];
  /** On a PAID copy: the credit notes that lowered the amount due (negative amounts). */
  credit_notes?: { number: string; date: string; amount: string }[];
  /**
   * Set on a credit note's document (the same layout, titled "Credit note"): the invoice it
   * corrects, why, and its amounts (positive: what is credited).
   */
  credit_note?: CreditNoteSection;
}

/** What a credit note's document says beyond the invoice it shares its layout with. */
export interface CreditNoteSection {
  /** The corrected invoice. */
  invoice: { number: string; issue_date: string; total: string };
  reason: string;
  /** The corrected invoice line's description, when the note corrects one line. */
  line: string | null;
  net: string;
  tax: { label: string; rate: string; amount: string };
  total: string;
  /** What lowered the invoice's amount due, and what was added to the customer's credit balance. */
  applied: string;
  granted: string;
}

/** Address text as lines: split on line breaks, trimmed, blank lines dropped. */
export function addressLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** The issuer block from the config's `issuer` section. */
export function issuerFromConfig(issuer: Issuer): InvoiceIssuer {
  return {
    name: issuer.name,
    address: addressLines(issuer.address),
    tax_id: issuer.taxId,
    email: issuer.email,
    logo: issuer.logo,
  };
}

const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;
const INTEGER = /^-?\d+$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;
const NUMBER = /^[A-Za-z0-9_-]+$/;

/**
 * What is wrong with a view model, as `field: problem` texts (empty when nothing). The lifecycle
 * builds the model from validated data, so a problem here is a bug; the renderer refuses to draw
 * rather than print a wrong number.
 */
export function invoiceDocumentProblems(doc: InvoiceDocument): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, field: string, want: string, value: unknown) => {
    if (!ok) problems.push(`${field}: ${JSON.stringify(value)} is not ${want}`);
  };
  const amount = (v: string, field: string) => check(DECIMAL.test(v), field, 'a decimal amount like "12.30"', v);
  check(PERIOD.test(doc.period), 'period', 'a period YYYY-MM', doc.period);
  check(doc.number === null || NUMBER.test(doc.number), 'number', 'an invoice number (letters, digits, - and _)', doc.number);
  check(doc.issue_date === null || DATE.test(doc.issue_date), 'issue_date', 'a date YYYY-MM-DD', doc.issue_date);
  check(doc.due_date === null || DATE.test(doc.due_date), 'due_date', 'a date YYYY-MM-DD', doc.due_date);
  check(/^[A-Z]{3}$/.test(doc.currency), 'currency', 'an ISO 4217 code', doc.currency);
  check(doc.status !== 'draft' || doc.number === null, 'number', 'null on a draft', doc.number);
  const line = (l: InvoiceDocumentLine, at: string) => {
    for (const q of ['used', 'included', 'billed'] as const) check(INTEGER.test(l[q]), `${at}.${q}`, 'a whole number', l[q]);
    check(l.unit_price === null || DECIMAL.test(l.unit_price), `${at}.unit_price`, 'a decimal price or null', l.unit_price);
    check(l.unit_size === null || (Number.isSafeInteger(l.unit_size) && l.unit_size >= 1), `${at}.unit_size`, 'a whole number >= 1 or null', l.unit_size);
    amount(l.amount, `${at}.amount`);
    for (const [name, side] of [['before', l.before], ['now', l.now]] as const) {
      if (side === undefined) continue;
      check(INTEGER.test(side.billed), `${at}.${name}.billed`, 'a whole number', side.billed);
      amount(side.amount, `${at}.${name}.amount`);
    }
  };
  doc.lines.forEach((l, i) => line(l, `lines[${i}]`));
  doc.adjustments.forEach((g, i) => {
    check(PERIOD.test(g.period), `adjustments[${i}].period`, 'a period YYYY-MM', g.period);
    g.lines.forEach((l, j) => line(l, `adjustments[${i}].lines[${j}]`));
  });
  doc.charges.forEach((c, i) => {
    amount(c.amount, `charges[${i}].amount`);
    if (c.base !== undefined) amount(c.base, `charges[${i}].base`);
  });
  if (doc.usage_subtotal !== undefined) amount(doc.usage_subtotal, 'usage_subtotal');
  if (doc.amount_due !== undefined) amount(doc.amount_due, 'amount_due');
  if (doc.period_dates !== undefined) {
    check(DATE.test(doc.period_dates.first), 'period_dates.first', 'a date YYYY-MM-DD', doc.period_dates.first);
    check(DATE.test(doc.period_dates.last), 'period_dates.last', 'a date YYYY-MM-DD', doc.period_dates.last);
  }
  if (doc.net_days !== undefined) check(Number.isSafeInteger(doc.net_days) && doc.net_days >= 0, 'net_days', 'a whole number of days', doc.net_days);
  if (doc.period_total !== undefined) amount(doc.period_total, 'period_total');
  doc.adjustments.forEach((g, i) => g.total !== undefined && amount(g.total, `adjustments[${i}].total`));
  (doc.payments ?? []).forEach((p, i) => {
    check(DATE.test(p.date), `payments[${i}].date`, 'a date YYYY-MM-DD', p.date);
    amount(p.amount, `payments[${i}].amount`);
  });
  (doc.credits ?? []).forEach((c, i) => amount(c.amount, `credits[${i}].amount`));
  (doc.prepaid ?? []).forEach((c, i) => amount(c.amount, `prepaid[${i}].amount`));
  (doc.credit_notes ?? []).forEach((n, i) => {
    check(NUMBER.test(n.number), `credit_notes[${i}].number`, 'a credit note number', n.number);
    check(DATE.test(n.date), `credit_notes[${i}].date`, 'a date YYYY-MM-DD', n.date);
    amount(n.amount, `credit_notes[${i}].amount`);
  });
  const cn = doc.credit_note;
  if (cn !== undefined) {
    check(NUMBER.test(cn.invoice.number), 'credit_note.invoice.number', 'an invoice number', cn.invoice.number);
    check(DATE.test(cn.invoice.issue_date), 'credit_note.invoice.issue_date', 'a date YYYY-MM-DD', cn.invoice.issue_date);
    for (const [k, v] of [['invoice.total', cn.invoice.total], ['net', cn.net], ['tax.amount', cn.tax.amount], ['total', cn.total], ['applied', cn.applied], ['granted', cn.granted]] as const) {
      amount(v, `credit_note.${k}`);
    }
    check(DECIMAL.test(cn.tax.rate), 'credit_note.tax.rate', 'a decimal rate like "0.19"', cn.tax.rate);
  }
  amount(doc.subtotal, 'subtotal');
  amount(doc.tax.amount, 'tax.amount');
  check(DECIMAL.test(doc.tax.rate), 'tax.rate', 'a decimal rate like "0.19"', doc.tax.rate);
  amount(doc.total, 'total');
  doc.daily_costs.forEach((d, i) => {
    check(DATE.test(d.date), `daily_costs[${i}].date`, 'a date YYYY-MM-DD', d.date);
    amount(d.amount, `daily_costs[${i}].amount`);
  });
  return problems;
}
