/**
 * Invoice math beyond one rated period (billing-rules.md, "Invoices" and "Late usage"): line
 * identity, adjustment lines for usage that arrived after a period was finalized, and the totals
 * of an invoice made of a period's lines plus adjustments. Pure, exact, rounded once per line.
 */
import { Decimal, currencyDigits } from './money.js';
import type { Period } from './period.js';
import type { TieredModelName } from './price-models/index.js';
import {
  LINE_KIND_ORDER, type RatedLine, type RatedLineKind, type RatedPeriod, type Unit, type UsageKind, unitOf,
} from './rating.js';
import { compareIds } from './receipt.js';

export type InvoiceLineKind = RatedLineKind | 'adjustment' | 'credit';

/** A correction, on a later invoice, of what an earlier finalized period billed for one line key. */
export interface AdjustmentLine extends Omit<RatedLine, 'kind'> {
  kind: 'adjustment';
  /** The kind of the line it corrects. */
  adjusts: RatedLineKind;
  /** The earlier period it corrects. */
  period: Period;
}

/**
 * A promotional credit drawn by the invoice (billing-rules.md, "Credits"): one negative line per
 * grant, keyed by the grant's id, before tax. Not usage: late-usage re-rating never touches it.
 */
export interface CreditLine extends Omit<RatedLine, 'kind'> {
  kind: 'credit';
}

export type InvoiceLine = RatedLine | AdjustmentLine | CreditLine;

/** What identifies a line across ratings: (kind, key, catalog version); an adjustment counts as the kind it adjusts. */
export interface LineIdentity {
  kind: InvoiceLineKind;
  /** Required when kind is `adjustment`. */
  adjusts?: RatedLineKind | null;
  key: string;
  catalogVersion: string | null;
  /** The first local date of the line's segment, in a period split by a plan change (else absent). */
  from?: string | null;
}

/**
 * The line key (kind, key, catalog_version) as a string fit for a Map. An adjustment line has the
 * key of the line it adjusts, so a period's invoice lines and all later adjustments for that
 * period add up per key.
 */
export function lineKey(line: LineIdentity): string {
  const kind = effectiveKind(line);
  // A segment's lines are keyed by the segment too; an unsplit period's keys are as they always were.
  return line.from ? JSON.stringify([kind, line.key, line.catalogVersion, line.from]) : JSON.stringify([kind, line.key, line.catalogVersion]);
}

function effectiveKind(line: LineIdentity): Exclude<InvoiceLineKind, 'adjustment'> {
  if (line.kind !== 'adjustment') return line.kind;
  if (line.adjusts === undefined || line.adjusts === null) throw new RangeError(`adjustment line ${line.key} has no "adjusts" kind`);
  return line.adjusts;
}

/** A line already billed for a period: on its finalized invoice, or an adjustment for it on a later finalized invoice. */
export interface BilledLine extends LineIdentity {
  /** On an adjustment line: the period it adjusts (checked against the period being adjusted). */
  period?: Period | null;
  description: string;
  used: bigint;
  included: bigint;
  billed: bigint;
  amount: Decimal;
}

export interface LateUsageInput {
  /** The earlier, finalized period. */
  period: Period;
  /** That period rated again now, with all its receipts (`ratePeriod`). */
  rerated: RatedPeriod;
  /**
   * Everything already billed for `period`: the lines of its finalized invoice and every
   * adjustment line with `period` on later finalized invoices (not drafts, not void invoices).
   */
  billed: Iterable<BilledLine>;
}

function adjustmentPrefix(period: Period): string {
  return `Adjustment for ${period}: `;
}

/**
 * Adjustment lines for late usage: for every line key of the re-rating or of what was billed,
 * amount = re-rated amount − everything already billed for the key, with the quantities' differences
 * alongside; keys whose amount difference is 0 get no line (their quantity differences, if any,
 * show up on a later adjustment of the same key, since they are still unbilled). The discount
 * and the fee are keys like any other: the discount follows the period's usage, the fee changes
 * only if the period's plan did. Lines come in the re-rating's order (see `compareRatedLines`),
 * then any key the re-rating no longer has.
 */
export function lateUsageAdjustments(input: LateUsageInput): AdjustmentLine[] {
  const { period, rerated } = input;
  if (rerated.period !== period) throw new RangeError(`re-rating is of ${rerated.period}, not ${period}`);
  const digits = rerated.digits;

  interface Sum { line: BilledLine; kind: RatedLineKind; description: string | undefined; used: bigint; included: bigint; billed: bigint; amount: Decimal }
  const billed = new Map<string, Sum>();
  for (const b of input.billed) {
    // Credit lines are not usage: a re-rating never takes them back or adds to them.
    if (b.kind === 'credit') continue;
    if (b.kind === 'adjustment' && b.period != null && b.period !== period) {
      // An adjustment of another period must never count against this one.
      throw new RangeError(`adjustment "${b.description}" is for ${b.period}, not ${period}`);
    }
    const k = lineKey(b);
    const s = billed.get(k);
    const original = b.kind === 'adjustment' ? undefined : b.description;
    if (s === undefined) {
      billed.set(k, { line: b, kind: effectiveKind(b) as RatedLineKind, description: original, used: b.used, included: b.included, billed: b.billed, amount: b.amount });
    } else {
      s.description ??= original;
      s.used += b.used;
      s.included += b.included;
      s.billed += b.billed;
      s.amount = s.amount.add(b.amount);
    }
  }

  const out: AdjustmentLine[] = [];
  const prefix = adjustmentPrefix(period);
  const seen = new Set<string>();
  for (const line of rerated.lines) {
    const k = lineKey(line);
    seen.add(k);
    const before = billed.get(k);
    const amount = line.amount.sub(before?.amount ?? Decimal.ZERO).round(digits);
    if (amount.isZero()) continue;
    out.push({
      ...line,
      kind: 'adjustment',
      adjusts: line.kind,
      period,
      description: prefix + line.description,
      used: line.used - (before?.used ?? 0n),
      included: line.included - (before?.included ?? 0n),
      billed: line.billed - (before?.billed ?? 0n),
      amount,
    });
  }
  // Keys billed before that the re-rating no longer has (a catalog version inserted later): take them back.
  const gone = [...billed].filter(([k]) => !seen.has(k)).map(([, s]) => s);
  gone.sort((a, b) =>
    LINE_KIND_ORDER.indexOf(a.kind) - LINE_KIND_ORDER.indexOf(b.kind) ||
    compareIds(a.line.key, b.line.key) ||
    compareIds(a.line.catalogVersion ?? '', b.line.catalogVersion ?? ''));
  for (const s of gone) {
    const amount = s.amount.neg().round(digits);
    if (amount.isZero()) continue;
    const usage = s.kind !== 'fee' && s.kind !== 'discount' && s.kind !== 'commitment';
    const description = s.description ?? stripPrefix(s.line.description, prefix);
    out.push({
      kind: 'adjustment',
      adjusts: s.kind,
      period,
      key: s.line.key,
      catalogVersion: s.line.catalogVersion,
      description: prefix + description,
      used: -s.used,
      included: -s.included,
      billed: -s.billed,
      unit: s.kind === 'metric' ? 'unit' : usage ? unitOf(s.kind as UsageKind) : null,
      unitPrice: null,
      unitSize: null,
      amount,
      unpriced: false,
    });
  }
  return out;
}

/** An adjustment line's description without its "Adjustment for <period>: " prefix: the line it corrects. */
export function adjustedLineDescription(line: AdjustmentLine): string {
  return stripPrefix(line.description, adjustmentPrefix(line.period));
}

function stripPrefix(text: string, prefix: string): string {
  return text.startsWith(prefix) ? text.slice(prefix.length) : text;
}

export interface InvoiceTotals {
  /** Sum of fee lines. */
  fee: Decimal;
  /** Sum of usage lines (gpu, tokens, requests) of the invoice's own period. */
  usage: Decimal;
  /** The discount as a positive amount (discount lines carry it negative). */
  discount: Decimal;
  /** Sum of adjustment lines (may be negative). */
  adjustments: Decimal;
  /** Promotional credits drawn, as a positive amount (credit lines carry them negative). */
  credits: Decimal;
  /** fee + usage − discount + adjustments − credits: the sum of the rounded lines. */
  subtotal: Decimal;
  /** subtotal × tax rate, rounded half up once. */
  tax: Decimal;
  total: Decimal;
}

/**
 * Totals of an invoice: a period's lines (fee, usage, discount) plus adjustment lines for earlier
 * periods. The subtotal is the sum of the rounded lines; tax applies to the whole subtotal,
 * adjustments included, rounded half up once. Every amount must already be rounded to the
 * currency's minor unit (lines are rounded once, when rated).
 */
export function invoiceTotals(
  lines: Iterable<Pick<InvoiceLine, 'kind' | 'amount'>>, taxRate: Decimal, currency: string,
): InvoiceTotals {
  const digits = currencyDigits(currency);
  const zero = Decimal.of(0n, digits);
  let fee = zero;
  let usage = zero;
  let discount = zero;
  let adjustments = zero;
  let credits = zero;
  for (const l of lines) {
    if (!l.amount.round(digits).eq(l.amount)) {
      throw new RangeError(`line amount ${l.amount} is not rounded to ${digits} digits (${currency})`);
    }
    const amount = l.amount.round(digits);
    switch (l.kind) {
      case 'fee':
      case 'commitment':
        fee = fee.add(amount);
        break;
      case 'gpu':
      case 'input_tokens':
      case 'cached_input_tokens':
      case 'cache_write_tokens':
      case 'output_tokens':
      case 'reasoning_tokens':
      case 'requests':
      case 'metric':
        usage = usage.add(amount);
        break;
      case 'discount':
        discount = discount.sub(amount);
        break;
      case 'adjustment':
        adjustments = adjustments.add(amount);
        break;
      case 'credit':
        credits = credits.sub(amount);
        break;
      default: {
        l.kind satisfies never;
        throw new Error(`unknown line kind ${String(l.kind)}`);
      }
    }
  }
  const subtotal = fee.add(usage).sub(discount).add(adjustments).sub(credits);
  const tax = subtotal.mulDivRound(taxRate, 1n, digits);
  return { fee, usage, discount, adjustments, credits, subtotal, tax, total: subtotal.add(tax) };
}

/**
 * Invoice order of all lines: the period's own (fee, usage, discount), then adjustments by period,
 * each period in rating order. Credit lines, drawn on these (src/domain/credits.ts), come last.
 */
export function orderInvoiceLines(own: readonly RatedLine[], adjustments: readonly AdjustmentLine[]): InvoiceLine[] {
  const byPeriod = [...adjustments].map((a, i) => ({ a, i }));
  // Stable by period: within a period, the order lateUsageAdjustments produced.
  byPeriod.sort((x, y) => (x.a.period < y.a.period ? -1 : x.a.period > y.a.period ? 1 : x.i - y.i));
  return [...own, ...byPeriod.map((x) => x.a)];
}

/**
 * The JSON line shape of cli.md ("invoice show --format json"). Quantities are whole numbers of
 * any size, written as JSON numbers with every digit (toJson), never as strings when large.
 */
export interface InvoiceLineJson {
  kind: InvoiceLineKind;
  adjusts?: RatedLineKind;
  key: string;
  catalog_version: string | null;
  period: Period;
  description: string;
  used: bigint;
  included: bigint;
  billed: bigint;
  unit: Unit | null;
  unit_price: string | null;
  unit_size: bigint | null;
  /** The plan whose terms priced the line; null on adjustments and credits. */
  plan: string | null;
  /** On a line priced by a graduated, volume or package model (its unit price and size are null). */
  price_model?: TieredModelName;
  /** In a period split by a plan change: the line's segment, first and last local dates. */
  from?: string;
  to?: string;
  amount: string;
}

/**
 * A line as cli.md's JSON: amounts with exactly the currency's minor digits, prices as their decimal
 * text. `plan` is the invoice's plan: the plan of its own lines (null on adjustments and credits).
 */
export function invoiceLineJson(line: InvoiceLine, invoicePeriod: Period, currency: string, plan: string | null = null): InvoiceLineJson {
  const digits = currencyDigits(currency);
  return {
    kind: line.kind,
    ...(line.kind === 'adjustment' ? { adjusts: line.adjusts } : {}),
    key: line.key,
    catalog_version: line.catalogVersion,
    period: line.kind === 'adjustment' ? line.period : invoicePeriod,
    description: line.description,
    used: line.used,
    included: line.included,
    billed: line.billed,
    unit: line.unit,
    unit_price: line.unitPrice === null ? null : line.unitPrice.toString(),
    unit_size: line.unitSize,
    plan: line.kind === 'adjustment' || line.kind === 'credit' ? null : line.plan ?? plan,
    ...(line.priceModel !== undefined ? { price_model: line.priceModel } : {}),
    ...(line.from !== undefined && line.to !== undefined ? { from: line.from, to: line.to } : {}),
    amount: line.amount.toFixed(digits),
  };
}
