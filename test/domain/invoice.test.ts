import fc from 'fast-check';
import { toJson } from '../../src/json.js';
import { describe, expect, it } from 'vitest';
import {
  type AdjustmentLine, type BilledLine, type InvoiceLine, invoiceLineJson, invoiceTotals, lateUsageAdjustments, lineKey, orderInvoiceLines,
} from '../../src/domain/invoice.js';
import { Decimal } from '../../src/domain/money.js';
import type { RatedLine, RatedPeriod } from '../../src/domain/rating.js';
import { catalog, makeVersion, plans, rateAll, receipt, SAMPLE, scenarioArb, scenarioTenant, tenant } from './rating-builders.js';

const d = (s: string) => Decimal.parse(s);
/** What a finalized invoice keeps of its lines (and of adjustment lines on it). */
const billedOf = (lines: readonly InvoiceLine[]): BilledLine[] => lines.map((l) => ({ ...l }));
const adj = (a: AdjustmentLine) => `${a.adjusts} ${a.key}@${a.catalogVersion} ${a.used}/${a.included}/${a.billed} ${a.amount.toString()}`;

describe('late usage: the worked example of billing-rules.md', () => {
  const b = tenant({ id: 'b', plans: plans(['free', null]) });
  const versions = [SAMPLE()];
  const o1 = receipt({ id: 'o1', ts: '2026-10-10T00:00:00Z', model: 'qwen-70b', input: 800_000, output: 100_000 });
  const o0 = receipt({ id: 'o0', ts: '2026-10-05T00:00:00Z', model: 'qwen-70b', input: 500_000 });
  const n1 = receipt({ id: 'n1', ts: '2026-11-03T00:00:00Z', model: 'gemma-2b', input: 1_000, output: 1_000 });

  const october = rateAll({ tenant: b, period: '2026-10', versions, receipts: [o1] });

  it('October as finalized: two fully covered lines, no fee line, total 0.00', () => {
    expect(october.lines.map((l) => [l.description, l.used, l.included, l.billed, l.amount.toString()])).toEqual([
      ['Qwen-70B input tokens', 800_000n, 800_000n, 0n, '0.00'],
      ['Qwen-70B output tokens', 100_000n, 100_000n, 0n, '0.00'],
    ]);
    expect(october.totals.total.toString()).toBe('0.00');
  });

  it('November: n1 covered, October re-rated with o0 first: adjustments 0.90 and 0.60, total 1.50', () => {
    const november = rateAll({ tenant: b, period: '2026-11', versions, receipts: [n1] });
    expect(november.lines.map((l) => `${l.description} ${l.amount.toString()}`)).toEqual([
      'Gemma-2B input tokens 0.00', 'Gemma-2B output tokens 0.00',
    ]);
    const rerated = rateAll({ tenant: b, period: '2026-10', versions, receipts: [o1, o0] });
    expect(rerated.lines.map((l) => [l.used, l.included, l.billed, l.amount.toString()])).toEqual([
      [1_300_000n, 1_000_000n, 300_000n, '0.90'],
      [100_000n, 0n, 100_000n, '0.60'],
    ]);
    const adjustments = lateUsageAdjustments({ period: '2026-10', rerated, billed: billedOf(october.lines) });
    expect(adjustments.map((a) => [a.description, a.amount.toString()])).toEqual([
      ['Adjustment for 2026-10: Qwen-70B input tokens', '0.90'],
      ['Adjustment for 2026-10: Qwen-70B output tokens', '0.60'],
    ]);
    // Quantities are the differences from what October's invoice showed.
    expect(adjustments.map(adj)).toEqual([
      'input_tokens qwen-70b@2026-01 500000/200000/300000 0.90',
      'output_tokens qwen-70b@2026-01 0/-100000/100000 0.60',
    ]);
    const lines = orderInvoiceLines(november.lines, adjustments);
    const t = invoiceTotals(lines, b.taxRate, 'USD');
    expect([t.usage, t.adjustments, t.subtotal, t.tax, t.total].map(String)).toEqual(['0.00', '1.50', '1.50', '0.00', '1.50']);
    // As printed: quantities are JSON numbers.
    expect(JSON.parse(toJson(invoiceLineJson(lines[2]!, '2026-11', 'USD')))).toEqual({
      kind: 'adjustment', adjusts: 'input_tokens', key: 'qwen-70b', catalog_version: '2026-01', period: '2026-10',
      description: 'Adjustment for 2026-10: Qwen-70B input tokens', used: 500000, included: 200000, billed: 300000,
      unit: 'token', unit_price: '0.003', unit_size: 1000, plan: null, amount: '0.90',
    });
    expect(invoiceLineJson(lines[0]!, '2026-11', 'USD').period).toBe('2026-11');
  });

  it('never bills twice: a later re-rating subtracts the earlier adjustments too', () => {
    const rerated1 = rateAll({ tenant: b, period: '2026-10', versions, receipts: [o1, o0] });
    const first = lateUsageAdjustments({ period: '2026-10', rerated: rerated1, billed: billedOf(october.lines) });
    // Nothing new: no lines at all.
    expect(lateUsageAdjustments({ period: '2026-10', rerated: rerated1, billed: [...billedOf(october.lines), ...billedOf(first)] })).toEqual([]);
    // More late usage: only the difference.
    const o2 = receipt({ id: 'o2', ts: '2026-10-20T00:00:00Z', model: 'qwen-70b', output: 50_000 });
    const rerated2 = rateAll({ tenant: b, period: '2026-10', versions, receipts: [o1, o0, o2] });
    const second = lateUsageAdjustments({ period: '2026-10', rerated: rerated2, billed: [...billedOf(october.lines), ...billedOf(first)] });
    expect(second.map(adj)).toEqual(['output_tokens qwen-70b@2026-01 50000/0/50000 0.30']);
  });
});

describe('late usage: discount, fee and keys', () => {
  const ent = { ent: { name: 'Ent', monthly_fee: '100', usage_discount_percent: '10' } };
  const versions = [catalog({ plans: ent, default_plan: 'ent' })];
  const t = tenant({ plans: plans(['ent', null]), taxRate: '0.19' });

  it('the discount is a line key like any other: it follows the period\'s usage; the fee stays, so no fee line', () => {
    // 2,500 s of A100 80GB = 2.777… -> 2.78; D = 0.278 -> 0.28
    const early = [receipt({ ts: '2026-10-02T00:00:00Z', gs: 2_500 })];
    const late = [receipt({ ts: '2026-10-03T00:00:00Z', gs: 45 })]; // +45 s: line 2,545 s = 2.8277… -> 2.83; D = 0.283 -> 0.28
    const october = rateAll({ tenant: t, period: '2026-10', versions, receipts: early });
    expect(october.lines.map((l) => `${l.kind} ${l.amount.toString()}`)).toEqual(['fee 100.00', 'gpu 2.78', 'discount -0.28']);
    const small = lateUsageAdjustments({ period: '2026-10', rerated: rateAll({ tenant: t, period: '2026-10', versions, receipts: [...early, ...late] }), billed: billedOf(october.lines) });
    expect(small.map(adj)).toEqual(['gpu a100-80gb@2026-01 45/0/45 0.05']);
    // +3,600 s more: GPU 6.83, D = 0.683 -> 0.68: discount adjustment −0.40
    const more = [...late, receipt({ ts: '2026-10-04T00:00:00Z', gs: 3_600 })];
    const big = lateUsageAdjustments({ period: '2026-10', rerated: rateAll({ tenant: t, period: '2026-10', versions, receipts: [...early, ...more] }), billed: billedOf(october.lines) });
    expect(big.map(adj)).toEqual(['gpu a100-80gb@2026-01 3645/0/3645 4.05', 'discount ent@2026-01 0/0/0 -0.40']);
    expect(big[1]!.description).toBe('Adjustment for 2026-10: Usage discount 10%');
    // On November's invoice the adjustments are taxed with the rest, once, on the subtotal.
    const november = rateAll({ tenant: t, period: '2026-11', versions, receipts: [receipt({ ts: '2026-11-02T00:00:00Z', gs: 3_600 })] });
    expect(november.lines.map((l) => `${l.kind} ${l.amount.toString()}`)).toEqual(['fee 100.00', 'gpu 4.00', 'discount -0.40']);
    const totals = invoiceTotals(orderInvoiceLines(november.lines, big), t.taxRate, 'USD');
    // S = 100 + 4.00 − 0.40 + 4.05 − 0.40 = 107.25; T = 20.3775 -> 20.38
    expect([totals.fee, totals.usage, totals.discount, totals.adjustments, totals.subtotal, totals.tax, totals.total].map(String))
      .toEqual(['100.00', '4.00', '0.40', '3.65', '107.25', '20.38', '127.63']);
  });

  it('a plan changed for a finalized period changes its fee (and allowances): fee lines adjust by key', () => {
    const early = [receipt({ ts: '2026-10-02T00:00:00Z', gs: 3_600 })];
    const october = rateAll({ tenant: tenant({ plans: plans(['free', null]) }), period: '2026-10', versions: [SAMPLE()], receipts: early });
    const rerated = rateAll({ tenant: tenant({ plans: plans(['pro', null]) }), period: '2026-10', versions: [SAMPLE()], receipts: early });
    expect(lateUsageAdjustments({ period: '2026-10', rerated, billed: billedOf(october.lines) }).map(adj)).toEqual(['fee pro@2026-01 0/0/0 99.00']);
  });

  it('a key the re-rating no longer has is taken back, described as the original line', () => {
    const v1 = makeVersion({ label: 'v1', effectiveFrom: 0, gpu: { 'a100-80gb': '4.00' }, tokens: {}, plan: { monthlyFee: d('0'), included: { gpuHours: 0n, tokens: 0n, apiCalls: 0n }, usageDiscountPercent: d('0') } });
    const v2 = { ...v1, version: 'v2', effectiveFrom: Date.parse('2026-10-01T12:00:00Z') };
    const tt = tenant({ plans: plans(['p', null]) });
    const rs = [receipt({ ts: '2026-10-02T00:00:00Z', gs: 3_600 })];
    const october = rateAll({ tenant: tt, period: '2026-10', versions: [v1], receipts: rs });
    const rerated = rateAll({ tenant: tt, period: '2026-10', versions: [v1, v2], receipts: rs });
    const out = lateUsageAdjustments({ period: '2026-10', rerated, billed: billedOf(october.lines) });
    expect(out.map(adj)).toEqual(['gpu a100-80gb@v2 3600/0/3600 4.00', 'gpu a100-80gb@v1 -3600/0/-3600 -4.00']);
    expect(out[1]!.description).toBe('Adjustment for 2026-10: A100-80GB GPU hours');
    expect(out[1]!.unit).toBe('second');
  });

  it('refuses adjustments of another period in what was billed, and a re-rating of another period', () => {
    const october = rateAll({ tenant: t, period: '2026-10', versions, receipts: [] });
    const wrong: BilledLine = { kind: 'adjustment', adjusts: 'gpu', period: '2026-09', key: 'x', catalogVersion: '2026-01', description: '', used: 0n, included: 0n, billed: 0n, amount: d('1.00') };
    expect(() => lateUsageAdjustments({ period: '2026-10', rerated: october, billed: [wrong] })).toThrow(/2026-09/);
    expect(() => lateUsageAdjustments({ period: '2026-09', rerated: october, billed: [] })).toThrow(RangeError);
  });
});

describe('lineKey', () => {
  const line = { kind: 'output_tokens', key: 'qwen-70b', catalogVersion: '2026-01' } as const;
  it('is (kind, key, catalog_version); an adjustment has the key of the line it adjusts', () => {
    expect(lineKey(line)).toBe(lineKey({ kind: 'adjustment', adjusts: 'output_tokens', key: 'qwen-70b', catalogVersion: '2026-01' }));
    expect(lineKey(line)).not.toBe(lineKey({ ...line, catalogVersion: '2026-02' }));
    expect(lineKey(line)).not.toBe(lineKey({ ...line, kind: 'input_tokens' }));
    expect(lineKey({ ...line, catalogVersion: null })).not.toBe(lineKey({ ...line, catalogVersion: 'null' }));
    // No separator can make two different keys collide.
    expect(lineKey({ kind: 'gpu', key: 'a","b', catalogVersion: 'c' })).not.toBe(lineKey({ kind: 'gpu', key: 'a', catalogVersion: 'b","c' }));
  });
  it('refuses an adjustment that does not say what it adjusts', () => {
    expect(() => lineKey({ kind: 'adjustment', key: 'x', catalogVersion: null })).toThrow(RangeError);
  });
});

describe('invoiceTotals', () => {
  const line = (kind: InvoiceLine['kind'], amount: string) => ({ kind, amount: d(amount) });
  it('sums rounded lines and rounds tax half up once on the subtotal', () => {
    const t = invoiceTotals([line('fee', '10.00'), line('gpu', '0.50'), line('discount', '-0.05'), line('adjustment', '0.05')], d('0.05'), 'USD');
    // S = 10.50; T = 0.525 -> 0.53 (half-even would give 0.52)
    expect([t.fee, t.usage, t.discount, t.adjustments, t.subtotal, t.tax, t.total].map(String)).toEqual(['10.00', '0.50', '0.05', '0.05', '10.50', '0.53', '11.03']);
  });
  it('a negative subtotal (adjustments giving money back) rounds half away from zero', () => {
    const t = invoiceTotals([line('adjustment', '-10.50')], d('0.05'), 'USD');
    expect([t.subtotal, t.tax, t.total].map(String)).toEqual(['-10.50', '-0.53', '-11.03']);
  });
  it('works in JPY and KWD, and refuses an amount that was not rounded to the currency', () => {
    expect(invoiceTotals([line('gpu', '105')], d('0.1'), 'JPY').tax.toString()).toBe('11'); // 10.5 -> 11
    expect(invoiceTotals([line('gpu', '1.005')], d('0.5'), 'KWD').tax.toString()).toBe('0.503'); // 0.5025 -> 0.503
    expect(() => invoiceTotals([line('gpu', '1.005')], d('0'), 'USD')).toThrow(/not rounded/);
    expect(() => invoiceTotals([line('gpu', '1.50')], d('0'), 'JPY')).toThrow(/not rounded to 0 digits/);
    expect(invoiceTotals([line('gpu', '2.000')], d('0'), 'JPY').subtotal.toString()).toBe('2');
  });
  it('orders an invoice: own lines, then adjustments by period', () => {
    const a = (period: string, key: string): AdjustmentLine => ({
      kind: 'adjustment', adjusts: 'gpu', period, key, catalogVersion: 'v', description: '', used: 0n, included: 0n, billed: 0n,
      unit: 'second', unitPrice: null, unitSize: null, amount: d('1.00'), unpriced: false,
    });
    const own: RatedLine[] = [];
    expect(orderInvoiceLines(own, [a('2026-09', 'z'), a('2026-08', 'y'), a('2026-09', 'a')]).map((l) => `${(l as AdjustmentLine).period} ${l.key}`))
      .toEqual(['2026-08 y', '2026-09 z', '2026-09 a']);
  });
});

describe('property: what a period bills, over all its invoices, equals its latest re-rating', () => {
  it('for random receipts arriving in two late batches', () => {
    fc.assert(
      fc.property(scenarioArb(), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 60, maxLength: 60 }), (s, batchOf) => {
        const base = { tenant: scenarioTenant(s), period: s.period, versions: s.versions, allowUnpriced: true };
        const upTo = (batch: number) => s.receipts.filter((_r, i) => batchOf[i]! <= batch);
        const finalized: RatedPeriod = rateAll({ ...base, receipts: upTo(0) });
        const billed: BilledLine[] = billedOf(finalized.lines);
        for (const batch of [1, 2]) {
          const rerated = rateAll({ ...base, receipts: upTo(batch) });
          billed.push(...billedOf(lateUsageAdjustments({ period: s.period, rerated, billed })));
          // Per key and in total, everything billed now equals the re-rating: never lost, never twice.
          const sums = new Map<string, Decimal>();
          for (const l of billed) sums.set(lineKey(l), (sums.get(lineKey(l)) ?? Decimal.ZERO).add(l.amount));
          // A line whose amount never moved from 0.00 got no adjustment: nothing billed for it, rightly.
          for (const l of rerated.lines) expect((sums.get(lineKey(l)) ?? Decimal.ZERO).eq(l.amount)).toBe(true);
          for (const [k, v] of sums) if (!rerated.lines.some((l) => lineKey(l) === k)) expect(v.isZero()).toBe(true);
          expect(Decimal.sum(billed.map((l) => l.amount)).eq(rerated.totals.subtotal)).toBe(true);
          expect(lateUsageAdjustments({ period: s.period, rerated, billed })).toEqual([]);
        }
      }),
      { numRuns: 200 },
    );
  });
});
