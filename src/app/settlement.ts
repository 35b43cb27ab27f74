/**
 * What happens to an issued invoice after it is sent: payments (whole or in part), undoing a
 * mistaken payment, and voiding (billing-rules.md step 11 and "Invoices"). The amount due is
 * always recomputed from what is recorded: total − prepaid credits applied − credit notes −
 * payments, never below 0. Each change is one transaction with its audit entries.
 */
import { amountDue } from '../domain/credits.js';
import { Decimal, formatAmount } from '../domain/money.js';
import { UsageError } from '../errors.js';
import type { InvoiceRecord } from '../store/invoice-repo.js';
import type { Store } from '../store/store.js';
import { parseAmount } from './budgets.js';
import { redrawDrafts, type Audit } from './credits.js';

/**
 * The amount due of an issued invoice from its records, and the status that goes with it: paid
 * once a payment has brought (or, with credit notes, helped bring) the amount due to 0.
 */
export async function settlementState(store: Store, inv: InvoiceRecord): Promise<{ amountDue: Decimal; paid: boolean }> {
  const payments = (await store.invoices.payments(inv.id)).filter((p) => p.reversedAt === null);
  const notes = await store.creditNotes.list({ invoiceId: inv.id });
  const due = amountDue(inv.totals.total, [inv.prepaidApplied, ...notes.map((n) => n.applied), ...payments.map((p) => p.amount)], inv.currency);
  return { amountDue: due, paid: due.isZero() && payments.length > 0 };
}

/** Writes an invoice's amount due and status after a change; `date` is when it became paid, if it did. */
export async function settle(store: Store, inv: InvoiceRecord, date: string, at: string): Promise<InvoiceRecord> {
  const s = await settlementState(store, inv);
  const paidDate = s.paid ? (inv.status === 'paid' ? inv.paidDate : date) : null;
  if (!(await store.invoices.settle(inv.id, { status: s.paid ? 'paid' : 'finalized', amountDue: s.amountDue, paidDate }, at))) {
    throw new Error(`invoice ${inv.number} changed while its amount due was recorded`);
  }
  return (await store.invoices.get(inv.id))!;
}

export interface PaymentPlan {
  amount: Decimal;
  /** True when the payment settles what is due. */
  settles: boolean;
}

/**
 * Checks a payment before it is recorded: on a finalized invoice, on or after its issue date, and
 * no more than its amount due (the whole amount due when no amount is given).
 */
export function planPayment(inv: InvoiceRecord, date: string, amountText: string | undefined): PaymentPlan {
  const what = inv.number ?? inv.id;
  if (inv.status === 'paid') throw new UsageError(`invoice ${what} is already paid (on ${inv.paidDate})`, `To undo that: billctl invoice mark-unpaid ${what}`);
  if (inv.status !== 'finalized') throw new UsageError(`invoice ${what} is ${inv.status}; only a finalized invoice can be marked paid`);
  if (date < inv.issueDate!) {
    throw new UsageError(
      `--date ${date} is before ${inv.number}'s issue date ${inv.issueDate}: an invoice is paid after it is issued`,
      `Give the day the payment arrived: billctl invoice mark-paid ${inv.number} --date YYYY-MM-DD (${inv.issueDate} or later)`,
    );
  }
  if (amountText === undefined) return { amount: inv.amountDue, settles: true };
  const amount = parseAmount(amountText, inv.currency, '--amount');
  const c = inv.currency;
  if (amount.cmp(inv.amountDue) > 0) {
    throw new UsageError(
      `--amount ${formatAmount(amount, c)} is more than the ${formatAmount(inv.amountDue, c)} ${c} due on ${inv.number}`,
      `Record at most the amount due; money paid beyond it is a prepaid credit: billctl credit grant ${inv.tenantId} --kind prepaid --amount X`,
    );
  }
  return { amount, settles: amount.eq(inv.amountDue) };
}

/** Records a payment (checked again under the invoice's lock); the invoice is paid when nothing is left due. */
export async function recordPayment(
  store: Store, invoiceId: string, date: string, amountText: string | undefined, at: string, audit: Audit,
): Promise<InvoiceRecord> {
  return store.transaction(async () => {
    const inv = await lockIssued(store, invoiceId);
    const plan = planPayment(inv, date, amountText);
    await store.invoices.addPayment(inv.id, plan.amount, date, at);
    const after = await settle(store, inv, date, at);
    await audit('invoice mark-paid', {
      invoice: inv.id, number: inv.number, date, amount: formatAmount(plan.amount, inv.currency), currency: inv.currency,
      amount_due: formatAmount(after.amountDue, inv.currency), paid: after.status === 'paid' ? 1 : 0,
    });
    return after;
  });
}

/** The invoice, locked for the rest of the transaction (after its tenant, the order finalize takes them in). */
async function lockIssued(store: Store, invoiceId: string): Promise<InvoiceRecord> {
  const seen = (await store.invoices.get(invoiceId))!;
  await store.invoices.lockTenant(seen.tenantId);
  return (await store.invoices.lock(invoiceId))!;
}

/**
 * Undoes the last payment recorded on an invoice (a mistaken mark-paid): it is reversed, not
 * deleted, and the invoice is owed again. Earlier partial payments stay; run it again to undo them.
 */
export async function reverseLastPayment(store: Store, invoiceId: string, at: string, audit: Audit): Promise<{ invoice: InvoiceRecord; amount: Decimal; date: string }> {
  return store.transaction(async () => {
    const inv = await lockIssued(store, invoiceId);
    const what = inv.number ?? inv.id;
    if (inv.status !== 'paid' && inv.status !== 'finalized') throw new UsageError(`invoice ${what} is ${inv.status}: it has no payment to undo`);
    const last = (await store.invoices.payments(inv.id)).filter((p) => p.reversedAt === null).pop();
    if (!last) throw new UsageError(`invoice ${what} has no payment recorded: nothing to undo`);
    await store.invoices.reversePayment(last.id, at);
    const after = await settle(store, inv, last.date, at);
    await audit('invoice mark-unpaid', {
      invoice: inv.id, number: inv.number, payment_date: last.date, amount: formatAmount(last.amount, inv.currency), currency: inv.currency,
      amount_due: formatAmount(after.amountDue, inv.currency), unpaid: 1,
    });
    return { invoice: after, amount: last.amount, date: last.date };
  });
}

/** Checks that an invoice can be voided: finalized, with no payment and no credit note recorded. */
export async function checkVoidable(store: Store, inv: InvoiceRecord): Promise<void> {
  const what = inv.number ?? inv.id;
  if (inv.status === 'draft') throw new UsageError(`invoice ${inv.id} is a draft: a draft is not voided, it is regenerated or left unissued`);
  if (inv.status !== 'finalized') throw new UsageError(`invoice ${what} is ${inv.status}; only a finalized, unpaid invoice can be voided`);
  if ((await store.invoices.payments(inv.id)).some((p) => p.reversedAt === null)) {
    throw new UsageError(`invoice ${what} has a payment recorded: a paid invoice is not voided`, `If the payment was recorded by mistake, undo it first: billctl invoice mark-unpaid ${what}`);
  }
  const notes = await store.creditNotes.list({ invoiceId: inv.id });
  if (notes.length > 0) {
    throw new UsageError(
      `invoice ${what} has credit notes (${notes.map((n) => n.number).join(', ')}): an invoice with credit notes is not voided`,
      `Credit what is left instead: billctl invoice credit-note ${what} --amount X --reason "…"`,
    );
  }
}

/** Voids an invoice: its number stays used, nothing is due, and its credit draws go back to their grants. */
export async function voidInvoice(store: Store, invoiceId: string, reason: string, at: string, audit: Audit): Promise<InvoiceRecord> {
  return store.transaction(async () => {
    const inv = await lockIssued(store, invoiceId);
    await checkVoidable(store, inv);
    if (!(await store.invoices.markVoid(inv.id, reason, at))) throw new UsageError(`invoice ${inv.number} changed meanwhile; look at it again`);
    await audit('invoice void', { invoice: inv.id, number: inv.number, reason, voided: 1 });
    const returned = await store.credits.returnDraws(inv.id, at);
    for (const d of returned) {
      await audit('credit return', {
        grant: d.grantId, invoice: inv.id, number: inv.number, tenant: inv.tenantId, kind: d.kind,
        amount: formatAmount(d.amount, inv.currency), currency: inv.currency,
      });
    }
    if (returned.length > 0) await redrawDrafts(store, inv.tenantId, at);
    return (await store.invoices.get(inv.id))!;
  });
}
