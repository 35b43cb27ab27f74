/**
 * The receivables identity as a property, on a real store of each backend: for any sequence of
 * invoices, credit grants, credit notes, payments, undone payments and voids, what is owed adds
 * up to the cent:
 *
 *   Σ amount due = Σ totals − Σ credits applied − Σ credit notes − Σ payments
 *
 * over the issued invoices that are not void, where credits applied are the prepaid credits the
 * invoices drew, credit notes the part of each note that lowered its invoice's amount due (the
 * rest of a note is a prepaid grant, applied as credit by later invoices), and payments those not
 * undone. Alongside: no amount due below 0 or above its total, paid exactly when a payment left
 * nothing due, no grant drawn beyond its amount, and every grant of a credit note worth the part
 * of the note that was not applied.
 */
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';
import { grantCredit, type Audit } from '../../src/app/credits.js';
import { issueCreditNote } from '../../src/app/credit-notes.js';
import { finalizeDraft, generateDraft } from '../../src/app/invoices.js';
import { StoreRating } from '../../src/app/rating-service.js';
import { recordPayment, reverseLastPayment, voidInvoice } from '../../src/app/settlement.js';
import { defaultConfig } from '../../src/config.js';
import { Decimal } from '../../src/domain/money.js';
import { UsageError } from '../../src/errors.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { makeStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

const TENANTS = ['a', 'b'] as const;

type Op =
  | { op: 'invoice'; tenant: number }
  | { op: 'grant'; tenant: number; kind: 'promotional' | 'prepaid'; cents: number; expires: string | null }
  | { op: 'note'; invoice: number; cents: number; paidFirst: boolean }
  | { op: 'pay'; invoice: number; cents: number | null }
  | { op: 'unpay'; invoice: number }
  | { op: 'void'; invoice: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('invoice' as const), tenant: fc.nat(1) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('grant' as const), tenant: fc.nat(1), kind: fc.constantFrom('promotional' as const, 'prepaid' as const),
      cents: fc.integer({ min: 1, max: 20_000 }), expires: fc.constantFrom(null, '2026-03-01', '2026-06-01'),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('note' as const), invoice: fc.nat(9), cents: fc.integer({ min: 1, max: 12_000 }), paidFirst: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('pay' as const), invoice: fc.nat(9), cents: fc.option(fc.integer({ min: 1, max: 12_000 }), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unpay' as const), invoice: fc.nat(9) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('void' as const), invoice: fc.nat(9) }) },
);

const money = (cents: number) => Decimal.of(BigInt(cents), 2).toString();
const sum = (xs: readonly Decimal[]) => xs.reduce((s, x) => s.add(x), Decimal.of(0n, 2));

/** Runs the operations; a refusal (a cap reached, nothing due, a paid invoice voided) is part of the game. */
async function play(store: Store, ops: readonly Op[]): Promise<void> {
  const config = defaultConfig();
  config.issuer = { ...config.issuer, name: 'Test Cloud GmbH', address: 'Teststr. 1' };
  const rating = await StoreRating.load(store, false);
  const audit: Audit = async (command, details) => store.appendAudit({ at: '2026-01-01T00:00:00Z', actor: 'property', command, details });
  const months = [0, 0];
  const issued: string[] = [];
  const at = (issueDate: string) => `${issueDate}T12:00:00.000Z`;
  let today = '2026-02-01';
  const attempt = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
    }
  };
  for (const o of ops) {
    switch (o.op) {
      case 'invoice': {
        const t = (await store.getTenant(TENANTS[o.tenant]!))!;
        const m = ++months[o.tenant]!;
        if (m > 9) break;
        const period = `2026-0${m}`;
        const issueDate = `2026-${String(m + 1).padStart(2, '0')}-01`;
        today = issueDate > today ? issueDate : today;
        const draft = await generateDraft(store, rating, t, period, at(today));
        const done = await finalizeDraft(store, rating, config, draft.invoice!.id, issueDate, at(today), audit);
        if (done?.status === 'issued') issued.push(done.invoice.id);
        break;
      }
      case 'grant':
        await grantCredit(store, {
          tenantId: TENANTS[o.tenant]!, amount: money(o.cents), kind: o.kind, start: '2026-01-01', expires: o.expires ?? undefined,
        }, at(today), audit);
        break;
      case 'note': {
        const id = issued[o.invoice % Math.max(1, issued.length)];
        if (id === undefined) break;
        if (o.paidFirst) await attempt(() => recordPayment(store, id, today, undefined, at(today), audit));
        await attempt(() => issueCreditNote(store, config, { invoice: id, amount: money(o.cents), reason: 'property', issueDate: today }, at(today), audit));
        break;
      }
      case 'pay': {
        const id = issued[o.invoice % Math.max(1, issued.length)];
        if (id !== undefined) await attempt(() => recordPayment(store, id, today, o.cents === null ? undefined : money(o.cents), at(today), audit));
        break;
      }
      case 'unpay': {
        const id = issued[o.invoice % Math.max(1, issued.length)];
        if (id !== undefined) await attempt(() => reverseLastPayment(store, id, at(today), audit));
        break;
      }
      case 'void': {
        const id = issued[o.invoice % Math.max(1, issued.length)];
        if (id !== undefined) await attempt(() => voidInvoice(store, id, 'property', at(today), audit));
        break;
      }
      default:
        o satisfies never;
    }
  }
}

async function check(store: Store): Promise<void> {
  const invoices = (await store.invoices.list({})).filter((i) => i.status === 'finalized' || i.status === 'paid');
  const notes = await store.creditNotes.list({});
  let due = Decimal.of(0n, 2);
  let owed = Decimal.of(0n, 2);
  for (const i of invoices) {
    const payments = (await store.invoices.payments(i.id)).filter((p) => p.reversedAt === null);
    const applied = sum(notes.filter((n) => n.invoiceId === i.id).map((n) => n.applied));
    const paid = sum(payments.map((p) => p.amount));
    const own = i.totals.total.sub(i.prepaidApplied).sub(applied).sub(paid);
    expect(i.amountDue.toFixed(2), `invoice ${i.number}`).toBe(own.toFixed(2));
    expect(i.amountDue.sign()).toBeGreaterThanOrEqual(0);
    expect(i.amountDue.cmp(i.totals.total)).toBeLessThanOrEqual(0);
    expect(i.totals.subtotal.sign()).toBeGreaterThanOrEqual(0);
    expect(i.status === 'paid', `status of ${i.number}`).toBe(i.amountDue.isZero() && payments.length > 0);
    due = due.add(i.amountDue);
    owed = owed.add(i.totals.total).sub(i.prepaidApplied).sub(applied).sub(paid);
  }
  expect(due.toFixed(2)).toBe(owed.toFixed(2));
  // What invoices drew is what grants lost; no grant is drawn beyond its amount.
  const grants = await store.credits.listGrants({});
  const drawn = sum(invoices.map((i) => i.totals.credits.add(i.prepaidApplied)));
  expect(sum(grants.map((g) => g.drawn)).toFixed(2)).toBe(drawn.toFixed(2));
  for (const g of grants) expect(g.balance.sign(), `grant ${g.id}`).toBeGreaterThanOrEqual(0);
  // Every credit note is applied or granted, to the cent.
  for (const n of notes) {
    expect(n.applied.add(n.granted).eq(n.total)).toBe(true);
    const grant = grants.find((g) => g.creditNoteId === n.id);
    expect(grant?.amount.toFixed(2) ?? '0.00', n.number).toBe(n.granted.toFixed(2));
  }
}

describeEachBackend('receivables identity', (backend) => {
  it('Σ amount due = Σ totals − credits applied − credit notes − payments, for any sequence of operations', async () => {
    const runs = backend.name === 'sqlite' ? 40 : 12;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 4, maxLength: 30 }), async (ops) => {
        const s = await makeStore(await backend.fresh());
        await s.run(['tenant', 'add', 'a', '--name', 'A', '--plan', 'pro', '--tax-rate', '0.19']);
        await s.run(['tenant', 'add', 'b', '--name', 'B', '--plan', 'pro', '--tax-rate', '0.075']);
        const store = await openStore(s.db);
        try {
          await play(store, ops);
          await check(store);
        } finally {
          await store.close();
        }
      }),
      { numRuns: runs },
    );
  }, 300_000);
});
