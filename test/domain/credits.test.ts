/**
 * Credits, credit notes, aging and the tax report as pure functions (billing-rules.md, "Credits",
 * "Credit notes", step 11): table-driven, exact to the cent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { amountDue, applyCredits, compareForDraw, usableOn, type DrawableGrant } from '../../src/domain/credits.js';
import { creditNoteAmounts, largestNet, splitCreditNote } from '../../src/domain/credit-notes.js';
import type { InvoiceLine } from '../../src/domain/invoice.js';
import { Decimal } from '../../src/domain/money.js';
import { agingBucket, agingReport, taxReport } from '../../src/domain/receivables.js';

const d = (s: string) => Decimal.parse(s);
const fee = (amount: string): InvoiceLine => ({
  kind: 'fee', key: 'pro', catalogVersion: '2026-01', description: 'Pro plan fee', used: 0n, included: 0n, billed: 0n,
  unit: null, unitPrice: null, unitSize: null, amount: d(amount), unpriced: false,
});
const adjustment = (amount: string): InvoiceLine => ({
  kind: 'adjustment', adjusts: 'output_tokens', period: '2026-09', key: 'qwen-70b', catalogVersion: '2026-01',
  description: 'Adjustment for 2026-09: Qwen-70B output tokens', used: 0n, included: 0n, billed: 0n, unit: 'token', unitPrice: null,
  unitSize: null, amount: d(amount), unpriced: false,
});
const grant = (id: string, kind: DrawableGrant['kind'], balance: string, more: Partial<DrawableGrant> = {}): DrawableGrant => ({
  id, kind, name: null, start: '2026-01-01', expires: null, balance: d(balance), ...more,
});

describe('usable from the start up to, not including, the expiry', () => {
  it.each([
    ['2025-12-31', false],
    ['2026-01-01', true],
    ['2026-11-30', true],
    ['2026-12-01', false],
  ])('on %s: %s', (date, usable) => {
    expect(usableOn({ start: '2026-01-01', expires: '2026-12-01' }, date)).toBe(usable);
  });
  it('without an expiry: from the start on', () => {
    expect(usableOn({ start: '2026-01-01', expires: null }, '2999-01-01')).toBe(true);
  });
});

describe('draw order', () => {
  const cases: [string, DrawableGrant[], string[]][] = [
    ['promotional before prepaid', [grant('1', 'prepaid', '5'), grant('2', 'promotional', '5')], ['2', '1']],
    ['the one expiring first; no expiry last', [
      grant('1', 'promotional', '5'), grant('2', 'promotional', '5', { expires: '2027-03-01' }), grant('3', 'promotional', '5', { expires: '2027-01-01' }),
    ], ['3', '2', '1']],
    ['same expiry: the oldest (earliest start) first', [
      grant('1', 'promotional', '5', { start: '2026-06-01', expires: '2027-01-01' }), grant('2', 'promotional', '5', { start: '2026-02-01', expires: '2027-01-01' }),
    ], ['2', '1']],
    ['same expiry and start: by id, as numbers', [
      grant('10', 'prepaid', '5'), grant('9', 'prepaid', '5'), grant('11', 'prepaid', '5'),
    ], ['9', '10', '11']],
    ['every key at once', [
      grant('1', 'prepaid', '5', { expires: '2026-12-01' }), grant('2', 'promotional', '5'), grant('3', 'promotional', '5', { expires: '2027-01-01' }),
      grant('4', 'promotional', '5', { expires: '2027-01-01', start: '2025-01-01' }), grant('5', 'prepaid', '5'),
    ], ['4', '3', '2', '1', '5']],
  ];
  it.each(cases)('%s', (_, grants, order) => {
    expect([...grants].sort(compareForDraw).map((g) => g.id)).toEqual(order);
  });
});

describe('applyCredits', () => {
  const run = (lines: InvoiceLine[], grants: DrawableGrant[], rate = '0.19', date = '2026-11-02') =>
    applyCredits({ lines, grants, taxRate: d(rate), currency: 'USD', date });
  const view = (r: ReturnType<typeof run>) => ({
    lines: r.lines.filter((l) => l.kind === 'credit').map((l) => `${l.key} ${l.description} ${l.amount.toString()}`),
    draws: r.draws.map((x) => `${x.grantId} ${x.kind} ${x.amount.toString()}`),
    subtotal: r.totals.subtotal.toString(), tax: r.totals.tax.toString(), total: r.totals.total.toString(),
    prepaid: r.prepaidApplied.toString(), due: r.amountDue.toString(),
  });

  it('promotional lowers the subtotal before tax; prepaid lowers the amount due after tax (the worked example with both)', () => {
    const r = run([fee('109.60')], [grant('1', 'promotional', '10.00', { name: 'Launch promotion' }), grant('2', 'prepaid', '50.00')]);
    expect(view(r)).toEqual({
      lines: ['1 Credit: Launch promotion -10.00'], draws: ['1 promotional 10.00', '2 prepaid 50.00'],
      subtotal: '99.60', tax: '18.92', total: '118.52', prepaid: '50.00', due: '68.52',
    });
  });

  it('never takes the subtotal below 0: a grant larger than it is drawn in part, the next not at all', () => {
    const r = run([fee('99.00')], [grant('1', 'promotional', '60.00', { expires: '2027-01-01' }), grant('2', 'promotional', '60.00')]);
    expect(view(r)).toEqual({
      lines: ['1 Credit: Promotional credit -60.00', '2 Credit: Promotional credit -39.00'],
      draws: ['1 promotional 60.00', '2 promotional 39.00'], subtotal: '0.00', tax: '0.00', total: '0.00', prepaid: '0.00', due: '0.00',
    });
  });

  it('prepaid never takes the amount due below 0', () => {
    const r = run([fee('100.00')], [grant('1', 'prepaid', '500.00')], '0.2');
    expect(view(r)).toMatchObject({ draws: ['1 prepaid 120.00'], total: '120.00', prepaid: '120.00', due: '0.00' });
  });

  it('a subtotal at or below 0 (late-usage corrections) draws nothing', () => {
    const r = run([fee('10.00'), adjustment('-30.00')], [grant('1', 'promotional', '5'), grant('2', 'prepaid', '5')]);
    expect(view(r)).toMatchObject({ lines: [], draws: [], subtotal: '-20.00', total: '-23.80', due: '0.00' });
  });

  it('leaves out grants not usable on the date and those with nothing left', () => {
    const r = run([fee('100.00')], [
      grant('1', 'promotional', '5', { start: '2026-11-03' }), grant('2', 'promotional', '5', { expires: '2026-11-02' }),
      grant('3', 'promotional', '0.00'), grant('4', 'prepaid', '7', { expires: '2026-11-03' }),
    ]);
    expect(view(r).draws).toEqual(['4 prepaid 7.00']);
  });

  it('draws credit lines afresh: credit lines among the input are dropped first', () => {
    const first = run([fee('100.00')], [grant('1', 'promotional', '30')]);
    const again = run(first.lines, [grant('1', 'promotional', '20')]);
    expect(view(again).lines).toEqual(['1 Credit: Promotional credit -20.00']);
  });

  it('JPY: amounts in whole yen', () => {
    const r = applyCredits({ lines: [{ ...fee('1001'), amount: d('1001') }], grants: [grant('1', 'promotional', '1')], taxRate: d('0.1'), currency: 'JPY', date: '2026-11-02' });
    expect([r.totals.subtotal.toString(), r.totals.tax.toString(), r.totals.total.toString()]).toEqual(['1000', '100', '1100']);
  });

  it('property: credits never exceed the balances, S and the amount due never go below 0, and the sums hold exactly', () => {
    const money = fc.bigInt({ min: 0n, max: 100_000n }).map((c) => Decimal.of(c, 2));
    const g = fc.record({
      kind: fc.constantFrom('promotional' as const, 'prepaid' as const),
      balance: money,
      expires: fc.option(fc.constantFrom('2026-11-01', '2026-11-03', '2027-01-01'), { nil: null }),
    });
    fc.assert(fc.property(money, fc.array(g, { maxLength: 6 }), fc.constantFrom('0', '0.19', '0.075'), (feeAmount, gs, rate) => {
      const grants = gs.map((x, i) => grant(String(i + 1), x.kind, x.balance.toString(), { expires: x.expires }));
      const r = run([{ ...fee('0'), amount: feeAmount }], grants, rate);
      const promo = r.draws.filter((x) => x.kind === 'promotional').reduce((s, x) => s.add(x.amount), Decimal.ZERO);
      const pre = r.draws.filter((x) => x.kind === 'prepaid').reduce((s, x) => s.add(x.amount), Decimal.ZERO);
      for (const x of r.draws) expect(x.amount.cmp(grants.find((y) => y.id === x.grantId)!.balance)).toBeLessThanOrEqual(0);
      expect(r.totals.subtotal.eq(feeAmount.sub(promo))).toBe(true);
      expect(r.totals.subtotal.sign()).toBeGreaterThanOrEqual(0);
      expect(r.amountDue.eq(r.totals.total.sub(pre))).toBe(true);
      expect(r.amountDue.sign()).toBeGreaterThanOrEqual(0);
      expect(pre.eq(r.prepaidApplied)).toBe(true);
    }));
  });
});

describe('amount due', () => {
  it('total less prepaid, credit notes and payments, never below 0', () => {
    expect(amountDue(d('130.42'), [d('50'), d('23.80'), d('20')], 'USD').toString()).toBe('36.62');
    expect(amountDue(d('10.00'), [d('20')], 'USD').toString()).toBe('0.00');
  });
});

describe('credit notes', () => {
  it.each([
    ['20.00', '0.19', '3.80', '23.80'],
    ['0.05', '0.19', '0.01', '0.06'], // 0.0095 rounds half up to 0.01
    ['0.02', '0.25', '0.01', '0.03'], // 0.005 is a half: up
    ['10.00', '0', '0.00', '10.00'],
  ])('net %s at %s: tax %s, total %s', (net, rate, tax, total) => {
    const a = creditNoteAmounts(d(net), d(rate), 'USD');
    expect([a.net.toString(), a.tax.toString(), a.total.toString()]).toEqual([net, tax, total]);
  });

  it.each([
    ['130.42', '0.19', '109.60'],
    ['130.43', '0.19', '109.60'], // 109.61 would take 20.83 tax: 130.44
    ['130.44', '0.19', '109.61'],
    ['0.00', '0.19', '0.00'],
    ['0.01', '0.19', '0.01'],
    ['10.00', '0', '10.00'],
  ])('the largest net within %s at %s is %s', (room, rate, net) => {
    expect(largestNet(d(room), d(rate), 'USD').toString()).toBe(net);
  });

  it('property: the largest net fits and one cent more does not', () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 10_000_000n }), fc.constantFrom('0.19', '0.07', '0.2', '0.055', '0'), (cents, rate) => {
      const room = Decimal.of(cents, 2);
      const n = largestNet(room, d(rate), 'USD');
      expect(creditNoteAmounts(n, d(rate), 'USD').total.cmp(room)).toBeLessThanOrEqual(0);
      expect(creditNoteAmounts(n.add(d('0.01')), d(rate), 'USD').total.cmp(room)).toBe(1);
    }));
  });

  it.each([
    ['on an unpaid invoice: all of it lowers the amount due', '23.80', '130.42', false, '23.80', '0.00'],
    ['beyond the amount due: the rest becomes a prepaid grant', '23.80', '10.00', false, '10.00', '13.80'],
    ['on an unpaid invoice with nothing due: all of it is a grant', '23.80', '0.00', false, '0.00', '23.80'],
    ['on a paid invoice: all of it is a grant', '23.80', '0.00', true, '0.00', '23.80'],
  ])('%s', (_, total, due, paid, applied, granted) => {
    const s = splitCreditNote(d(total), d(due), paid);
    expect([s.applied.toFixed(2), s.granted.toFixed(2)]).toEqual([applied, granted]);
  });
});

describe('aging', () => {
  it.each([
    [-5, 'current'], [0, 'current'], [1, '1-30'], [30, '1-30'], [31, '31-60'], [60, '31-60'], [61, '61-90'], [90, '61-90'], [91, '90+'],
  ] as const)('%s days past due: %s', (days, bucket) => {
    expect(agingBucket(days)).toBe(bucket);
  });

  it('sums per tenant and currency, totals per currency, leaves out what is not owed', () => {
    const r = agingReport([
      { tenantId: 'b', currency: 'USD', dueDate: '2026-12-01', amountDue: d('10.00') },
      { tenantId: 'a', currency: 'USD', dueDate: '2026-10-15', amountDue: d('5.50') },
      { tenantId: 'a', currency: 'USD', dueDate: '2026-12-31', amountDue: d('1.25') },
      { tenantId: 'a', currency: 'EUR', dueDate: '2026-08-01', amountDue: d('7.00') },
      { tenantId: 'c', currency: 'USD', dueDate: '2026-08-01', amountDue: d('0.00') },
    ], '2026-12-31');
    const row = (x: (typeof r.rows)[number]) => [x.tenantId, x.currency, ...Object.values(x.buckets).map((v) => v.toString()), x.total.toString(), x.invoices];
    expect(r.rows.map(row)).toEqual([
      ['a', 'EUR', '0.00', '0.00', '0.00', '0.00', '7.00', '7.00', 1],
      ['a', 'USD', '1.25', '0.00', '0.00', '5.50', '0.00', '6.75', 2],
      ['b', 'USD', '0.00', '10.00', '0.00', '0.00', '0.00', '10.00', 1],
    ]);
    expect(r.totals.map(row)).toEqual([
      [null, 'EUR', '0.00', '0.00', '0.00', '0.00', '7.00', '7.00', 1],
      [null, 'USD', '1.25', '10.00', '0.00', '5.50', '0.00', '16.75', 3],
    ]);
  });
});

describe('tax report', () => {
  it('invoices less credit notes by label, rate and currency; equal rates are one row', () => {
    const r = taxReport([
      { kind: 'invoice', taxLabel: 'VAT', taxRate: d('0.19'), currency: 'EUR', net: d('100.00'), tax: d('19.00') },
      { kind: 'invoice', taxLabel: 'VAT', taxRate: d('0.190'), currency: 'EUR', net: d('50.00'), tax: d('9.50') },
      { kind: 'credit_note', taxLabel: 'VAT', taxRate: d('0.19'), currency: 'EUR', net: d('20.00'), tax: d('3.80') },
      { kind: 'invoice', taxLabel: 'VAT', taxRate: d('0.07'), currency: 'EUR', net: d('10.00'), tax: d('0.70') },
      { kind: 'invoice', taxLabel: 'Sales tax', taxRate: d('0'), currency: 'USD', net: d('5.00'), tax: d('0.00') },
    ]);
    expect(r.rows.map((x) => [x.taxLabel, x.taxRate!.toString(), x.currency, x.invoices, x.creditNotes, x.net.toString(), x.tax.toString()])).toEqual([
      ['VAT', '0.07', 'EUR', 1, 0, '10.00', '0.70'],
      ['VAT', '0.19', 'EUR', 2, 1, '130.00', '24.70'],
      ['Sales tax', '0', 'USD', 1, 0, '5.00', '0.00'],
    ]);
    expect(r.totals.map((x) => [x.currency, x.net.toString(), x.tax.toString()])).toEqual([['EUR', '140.00', '25.40'], ['USD', '5.00', '0.00']]);
  });
});
