/**
 * Credits (billing-rules.md, "Credits" and step 11): which grants an invoice draws on, in what
 * order, and how much. Pure: the grants (with their balances) and the invoice's lines in, the
 * credit lines, the draws, the totals and the amount due out. The caller reads the balances from
 * the store and records the draws.
 */
import { compareIds } from './receipt.js';
import { Decimal, currencyDigits } from './money.js';
import { invoiceTotals, type CreditLine, type InvoiceLine, type InvoiceTotals } from './invoice.js';

export const CREDIT_KINDS = ['promotional', 'prepaid'] as const;
export type CreditKind = (typeof CREDIT_KINDS)[number];

/** A grant as drawing sees it. Dates are UTC dates `YYYY-MM-DD`. */
export interface DrawableGrant {
  id: string;
  kind: CreditKind;
  name: string | null;
  /** Usable from this date on. */
  start: string;
  /** Usable up to, not including, this date; null: never expires. */
  expires: string | null;
  /** The grant's amount less its recorded draws. */
  balance: Decimal;
}

/** One grant drawn by one invoice: a positive amount. */
export interface CreditDraw {
  grantId: string;
  kind: CreditKind;
  amount: Decimal;
  /** What the customer reads: "Credit: Launch promotion", "Prepaid credit: Credit note CN-2026-000001". */
  description: string;
}

/** True when the grant can be drawn by an invoice issued on `date`: from its start up to, not including, its expiry. */
export function usableOn(g: Pick<DrawableGrant, 'start' | 'expires'>, date: string): boolean {
  return g.start <= date && (g.expires === null || date < g.expires);
}

/** Grant ids are the store's serial numbers: compared as numbers when both are, else by code points. */
function compareGrantIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return compareIds(a, b);
}

/**
 * The draw order: promotional before prepaid; within a kind the one that expires first (no expiry
 * last), then the oldest (the earliest start), then by id.
 */
export function compareForDraw(a: DrawableGrant, b: DrawableGrant): number {
  if (a.kind !== b.kind) return a.kind === 'promotional' ? -1 : 1;
  if (a.expires !== b.expires) {
    if (a.expires === null) return 1;
    if (b.expires === null) return -1;
    return a.expires < b.expires ? -1 : 1;
  }
  if (a.start !== b.start) return a.start < b.start ? -1 : 1;
  return compareGrantIds(a.id, b.id);
}

/** The line a promotional grant puts on an invoice, and what a prepaid draw is called beside the total. */
export function creditDescription(g: Pick<DrawableGrant, 'kind' | 'name'>): string {
  if (g.kind === 'promotional') return `Credit: ${g.name ?? 'Promotional credit'}`;
  return g.name === null ? 'Prepaid credit' : `Prepaid credit: ${g.name}`;
}

export interface CreditInput {
  /** The invoice's lines; credit lines among them are dropped (credits are drawn afresh). */
  lines: readonly InvoiceLine[];
  taxRate: Decimal;
  currency: string;
  /** The tenant's grants in the invoice's currency, with their balances; those not usable on `date` are left alone. */
  grants: readonly DrawableGrant[];
  /** The issue date (a draft: today). */
  date: string;
}

export interface CreditedInvoice {
  /** The lines without credits, then one credit line per promotional grant drawn, in draw order. */
  lines: InvoiceLine[];
  totals: InvoiceTotals;
  /** Every grant drawn, in draw order: promotional (before tax), then prepaid (after tax). */
  draws: CreditDraw[];
  /** Prepaid credits applied: they lower the amount due, not the total. */
  prepaidApplied: Decimal;
  /** Total − prepaid applied, never below 0 (payments and credit notes come later). */
  amountDue: Decimal;
}

const min = (a: Decimal, b: Decimal) => (a.cmp(b) <= 0 ? a : b);
const atLeastZero = (a: Decimal, digits: number) => (a.sign() < 0 ? Decimal.of(0n, digits) : a);

/**
 * Draws an invoice's credits: promotional grants lower the subtotal before tax, each by at most
 * its balance and never below 0 (a subtotal at or below 0 draws none); tax is then taken on what
 * is left; prepaid grants lower the amount due, never below 0. Grants are drawn in
 * `compareForDraw` order. Every amount is rounded to the currency's minor unit already.
 */
export function applyCredits(input: CreditInput): CreditedInvoice {
  const digits = currencyDigits(input.currency);
  const zero = Decimal.of(0n, digits);
  const base = input.lines.filter((l) => l.kind !== 'credit');
  const seen = new Set<string>();
  const usable = input.grants
    .filter((g) => {
      if (seen.has(g.id)) throw new RangeError(`grant ${g.id} is listed twice`);
      seen.add(g.id);
      if (!g.balance.round(digits).eq(g.balance)) throw new RangeError(`grant ${g.id}: balance ${g.balance} has more than ${digits} decimals`);
      return g.balance.sign() > 0 && usableOn(g, input.date);
    })
    .sort(compareForDraw);

  const draws: CreditDraw[] = [];
  const creditLines: CreditLine[] = [];
  let room = atLeastZero(invoiceTotals(base, input.taxRate, input.currency).subtotal, digits);
  for (const g of usable) {
    if (g.kind !== 'promotional' || room.isZero()) continue;
    const amount = min(g.balance, room).round(digits);
    room = room.sub(amount);
    const description = creditDescription(g);
    draws.push({ grantId: g.id, kind: g.kind, amount, description });
    creditLines.push({
      kind: 'credit', key: g.id, catalogVersion: null, description, used: 0n, included: 0n, billed: 0n,
      unit: null, unitPrice: null, unitSize: null, amount: amount.neg(), unpriced: false,
    });
  }
  const lines: InvoiceLine[] = [...base, ...creditLines];
  const totals = invoiceTotals(lines, input.taxRate, input.currency);

  let due = atLeastZero(totals.total, digits);
  let prepaidApplied = zero;
  for (const g of usable) {
    if (g.kind !== 'prepaid' || due.isZero()) continue;
    const amount = min(g.balance, due).round(digits);
    due = due.sub(amount);
    prepaidApplied = prepaidApplied.add(amount);
    draws.push({ grantId: g.id, kind: g.kind, amount, description: creditDescription(g) });
  }
  return { lines, totals, draws, prepaidApplied, amountDue: due };
}

/**
 * Step 11's amount due: total − prepaid credits applied − credit notes − payments, never below 0.
 */
export function amountDue(total: Decimal, deductions: readonly Decimal[], currency: string): Decimal {
  const digits = currencyDigits(currency);
  return atLeastZero(deductions.reduce((due, d) => due.sub(d), total).round(digits), digits);
}
