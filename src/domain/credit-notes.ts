/**
 * Credit notes (billing-rules.md, "Credit notes"): their tax, the cap at the invoice's total, and
 * what part lowers the invoice's amount due and what part becomes a prepaid grant. Pure.
 */
import { Decimal, currencyDigits } from './money.js';

export interface CreditNoteAmounts {
  net: Decimal;
  /** net × the invoice's tax rate, rounded half up to the minor unit. */
  tax: Decimal;
  total: Decimal;
}

export function creditNoteAmounts(net: Decimal, taxRate: Decimal, currency: string): CreditNoteAmounts {
  const digits = currencyDigits(currency);
  const n = net.round(digits);
  const tax = n.mulDivRound(taxRate, 1n, digits);
  return { net: n, tax, total: n.add(tax) };
}

/**
 * The largest net amount whose credit note (net + tax) still fits in `room` (what the invoice's
 * total leaves after its earlier credit notes), or 0 when none does.
 */
export function largestNet(room: Decimal, taxRate: Decimal, currency: string): Decimal {
  const digits = currencyDigits(currency);
  const unit = Decimal.of(1n, digits);
  const zero = Decimal.of(0n, digits);
  if (room.sign() <= 0) return zero;
  // room / (1 + rate), rounded; then step one minor unit until it is the largest that fits.
  const scale = 10n ** BigInt(taxRate.scale);
  let n = room.mulDivRound(scale, scale + taxRate.units, digits);
  const fits = (x: Decimal) => creditNoteAmounts(x, taxRate, currency).total.cmp(room) <= 0;
  while (n.sign() > 0 && !fits(n)) n = n.sub(unit);
  while (fits(n.add(unit))) n = n.add(unit);
  return n.sign() < 0 ? zero : n;
}

export interface CreditNoteSplit {
  /** What lowers the invoice's amount due. */
  applied: Decimal;
  /** What becomes a prepaid grant ("Credit note CN-…"). */
  granted: Decimal;
}

/**
 * On an unpaid invoice a credit note lowers the amount due, never below 0, and the part beyond it
 * becomes a prepaid grant; on a paid invoice the whole note becomes a prepaid grant.
 */
export function splitCreditNote(total: Decimal, amountDue: Decimal, paid: boolean): CreditNoteSplit {
  if (paid || amountDue.sign() <= 0) return { applied: total.sub(total), granted: total };
  const applied = total.cmp(amountDue) <= 0 ? total : amountDue;
  return { applied, granted: total.sub(applied) };
}
