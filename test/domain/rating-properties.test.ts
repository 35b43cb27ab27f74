/**
 * Properties of rating, checked against a naive reference written straight from billing-rules.md
 * (its own ordering, version lookup, allowance loop and half-up rounding on integers).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CatalogVersion } from '../../src/domain/catalog.js';
import { invoiceTotals } from '../../src/domain/invoice.js';
import { Decimal } from '../../src/domain/money.js';
import { periodInterval } from '../../src/domain/period.js';
import { type RatedPeriod, ratePeriod } from '../../src/domain/rating.js';
import { type Scenario, makeVersion, rateAll, scenarioArb, scenarioTenant, summary } from './rating-builders.js';

/** This reference prices per unit: its catalogs hold plain decimals (price models have their own tests). */
function perUnitPrice(p: CatalogVersion['requestRate']): Decimal {
  if (!(p instanceof Decimal)) throw new Error('the reference prices plain decimals only');
  return p;
}

// ---------------------------------------------------------------------------------------------
// The reference

const codePoints = (s: string) => Array.from(s, (c) => c.codePointAt(0)!);
function byCodePoint(a: string, b: string): number {
  const x = codePoints(a);
  const y = codePoints(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** n / d rounded half away from zero, for n >= 0, d > 0. */
function halfUp(n: bigint, d: bigint): bigint {
  const q = n / d;
  return 2n * (n - q * d) >= d ? q + 1n : q;
}

/** value × num / den rounded half up to `digits`, as minor units (value may be negative). */
function roundTo(value: Decimal, num: Decimal, den: bigint, digits: number): bigint {
  const n = value.units * num.units * 10n ** BigInt(digits);
  const d = den * 10n ** BigInt(value.scale + num.scale);
  return n < 0n ? -halfUp(-n, d) : halfUp(n, d);
}

interface RefLine { kind: string; key: string; version: string | null; used: bigint; included: bigint; amount: bigint; unpriced: boolean }

function reference(s: Scenario, digits: number) {
  const { start, end } = periodInterval(s.tz, s.period);
  const versions = [...s.versions].sort((a, b) => a.effectiveFrom - b.effectiveFrom);
  const at = (t: number): CatalogVersion | undefined => versions.filter((v) => v.effectiveFrom <= t).at(-1);
  const terms = at(start) ?? versions.find((v) => v.effectiveFrom >= start && v.effectiveFrom < end)!;
  const plan = terms.plans.get('p')!;
  let gpu = plan.included.gpuHours * 3600n;
  let tokens = plan.included.tokens;
  let calls = plan.included.apiCalls;
  const lines = new Map<string, RefLine>();
  const add = (kind: string, key: string, v: CatalogVersion | undefined, used: bigint, included: bigint) => {
    const id = `${kind}|${key}|${v?.version ?? '-'}`;
    const l = lines.get(id) ?? { kind, key, version: v?.version ?? null, used: 0n, included: 0n, amount: 0n, unpriced: false };
    l.used += used;
    l.included += included;
    lines.set(id, l);
  };
  const take = (left: bigint, q: bigint): [bigint, bigint] => (q <= left ? [q, left - q] : [left, 0n]);
  const receipts = s.receipts.filter((r) => r.billable && r.ts >= start && r.ts < end)
    .sort((a, b) => a.ts - b.ts || byCodePoint(a.id, b.id));
  for (const r of receipts) {
    const v = at(r.ts);
    let c: bigint;
    if (r.gpuSeconds > 0) {
      [c, gpu] = take(gpu, BigInt(r.gpuSeconds));
      add('gpu', r.gpuKey!, v, BigInt(r.gpuSeconds), c);
    }
    if (r.inputTokens > 0) {
      [c, tokens] = take(tokens, BigInt(r.inputTokens));
      add('input_tokens', r.modelKey!, v, BigInt(r.inputTokens), c);
    }
    if (r.outputTokens > 0) {
      [c, tokens] = take(tokens, BigInt(r.outputTokens));
      add('output_tokens', r.modelKey!, v, BigInt(r.outputTokens), c);
    }
    [c, calls] = take(calls, 1n);
    if (v !== undefined && perUnitPrice(v.requestRate).sign() > 0) add('requests', 'requests', v, 1n, c);
  }
  const byLabel = new Map(versions.map((v) => [v.version, v]));
  for (const l of lines.values()) {
    const v = l.version === null ? undefined : byLabel.get(l.version);
    const billed = l.used - l.included;
    let price: [Decimal, bigint] | undefined;
    if (v !== undefined) {
      if (l.kind === 'gpu' && v.gpuRates.has(l.key)) price = [perUnitPrice(v.gpuRates.get(l.key)!.price), 3600n];
      if (l.kind === 'input_tokens' && v.tokenRates.has(l.key)) price = [perUnitPrice(v.tokenRates.get(l.key)!.input), v.tokenUnit];
      if (l.kind === 'output_tokens' && v.tokenRates.has(l.key)) price = [perUnitPrice(v.tokenRates.get(l.key)!.output), v.tokenUnit];
      if (l.kind === 'requests') price = [perUnitPrice(v.requestRate), 1n];
    }
    if (price === undefined) l.unpriced = true;
    else l.amount = roundTo(Decimal.of(billed), price[0], price[1], digits);
  }
  const fee = roundTo(plan.monthlyFee, Decimal.of(1n), 1n, digits);
  const usage = [...lines.values()].reduce((a, l) => a + l.amount, 0n);
  const discount = roundTo(Decimal.of(usage, digits), plan.usageDiscountPercent, 100n, digits);
  const subtotal = fee + usage - discount;
  const tax = roundTo(Decimal.of(subtotal, digits), Decimal.parse(s.taxRate), 1n, digits);
  const totals = { fee, usage, discount, subtotal, tax, total: subtotal + tax };
  return { lines: [...lines.values()], totals, usedTotals: { gpu: receipts.reduce((a, r) => a + BigInt(r.gpuSeconds), 0n) } };
}

const minor = (d: Decimal, digits: number) => {
  expect(d.scale).toBe(digits);
  return d.units;
};

function withCurrency(s: Scenario, currency: string): Scenario {
  return { ...s, versions: s.versions.map((v) => ({ ...v, currency })) };
}

const args = (s: Scenario, allowUnpriced = true) =>
  ({ tenant: scenarioTenant(s), period: s.period, versions: s.versions, receipts: s.receipts, allowUnpriced });

// ---------------------------------------------------------------------------------------------

describe('rating properties', () => {
  it('agrees with the naive reference on every line and total (USD, JPY, KWD)', () => {
    fc.assert(
      fc.property(scenarioArb(), fc.constantFrom(['USD', 2] as const, ['JPY', 0] as const, ['KWD', 3] as const), (s0, [currency, digits]) => {
        const s = withCurrency(s0, currency);
        const rated = rateAll(args(s));
        const ref = reference(s, digits);
        const got = rated.usageLines.map((l) => ({
          kind: l.kind, key: l.key, version: l.catalogVersion, used: l.used, included: l.included, amount: minor(l.amount, digits), unpriced: l.unpriced,
        }));
        const key = (l: RefLine) => `${l.kind}|${l.key}|${l.version ?? '-'}`;
        expect(new Map(got.map((l) => [key(l), l]))).toEqual(new Map(ref.lines.map((l) => [key(l), l])));
        expect(got).toHaveLength(ref.lines.length);
        const t = rated.totals;
        expect({
          fee: minor(t.fee, digits), usage: minor(t.usage, digits), discount: minor(t.discount, digits),
          subtotal: minor(t.subtotal, digits), tax: minor(t.tax, digits), total: minor(t.total, digits),
        }).toEqual(ref.totals);
      }),
      { numRuns: 300 },
    );
  });

  it('any input order, once sorted, rates the same', () => {
    fc.assert(
      fc.property(
        scenarioArb().chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray(s.receipts, { minLength: s.receipts.length, maxLength: s.receipts.length }))),
        ([s, shuffled]) => {
          expect(summary(rateAll(args({ ...s, receipts: shuffled })))).toEqual(summary(rateAll(args(s))));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('totals add up: S = sum of rounded lines, total = S + T, and invoiceTotals agrees', () => {
    fc.assert(
      fc.property(scenarioArb(), (s) => {
        const rated: RatedPeriod = rateAll(args(s));
        const t = rated.totals;
        expect(Decimal.sum(rated.lines.map((l) => l.amount)).eq(t.subtotal)).toBe(true);
        expect(t.fee.add(t.usage).sub(t.discount).eq(t.subtotal)).toBe(true);
        expect(t.subtotal.add(t.tax).eq(t.total)).toBe(true);
        expect(Decimal.sum(rated.usageLines.map((l) => l.amount)).eq(t.usage)).toBe(true);
        const inv = invoiceTotals(rated.lines, rated.taxRate, rated.currency);
        expect([inv.fee, inv.usage, inv.discount, inv.subtotal, inv.tax, inv.total].map(String))
          .toEqual([t.fee, t.usage, t.discount, t.subtotal, t.tax, t.total].map(String));
        expect(inv.adjustments.isZero()).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('usage lines are never negative, keep used = included + billed, and never show used 0', () => {
    fc.assert(
      fc.property(scenarioArb(), (s) => {
        const rated = rateAll(args(s));
        for (const l of rated.usageLines) {
          expect(l.amount.sign()).toBeGreaterThanOrEqual(0);
          expect(l.used).toBeGreaterThan(0n);
          expect(l.included).toBeGreaterThanOrEqual(0n);
          expect(l.billed).toBeGreaterThanOrEqual(0n);
          expect(l.included + l.billed).toBe(l.used);
          if (l.unpriced) expect(l.amount.isZero()).toBe(true);
        }
        if (rated.discount) expect(rated.discount.amount.sign()).toBe(-1);
        if (rated.fee) expect(rated.fee.amount.sign()).toBe(1);
      }),
      { numRuns: 200 },
    );
  });

  it('allowances: what lines include is what the pools gave, min(granted, used)', () => {
    fc.assert(
      fc.property(scenarioArb(), (s) => {
        const rated = rateAll(args(s));
        const sum = (kinds: string[], f: (l: RatedPeriod['lines'][number]) => bigint) =>
          rated.usageLines.filter((l) => kinds.includes(l.kind)).reduce((a, l) => a + f(l), 0n);
        const min = (a: bigint, b: bigint) => (a < b ? a : b);
        const { gpuSeconds, tokens, apiCalls } = rated.allowances;
        expect(sum(['gpu'], (l) => l.included)).toBe(gpuSeconds.consumed);
        expect(gpuSeconds.consumed).toBe(min(gpuSeconds.granted, sum(['gpu'], (l) => l.used)));
        expect(sum(['input_tokens', 'output_tokens'], (l) => l.included)).toBe(tokens.consumed);
        expect(tokens.consumed).toBe(min(tokens.granted, sum(['input_tokens', 'output_tokens'], (l) => l.used)));
        expect(apiCalls.consumed).toBe(min(apiCalls.granted, rated.receipts));
      }),
      { numRuns: 200 },
    );
  });

  it('refusal is all or nothing: without allowUnpriced, rating refuses exactly when a line would be UNPRICED', () => {
    fc.assert(
      fc.property(scenarioArb(), (s) => {
        const allowed = rateAll(args(s));
        const anyUnpriced = allowed.lines.some((l) => l.unpriced);
        expect(allowed.unpriced.length > 0).toBe(anyUnpriced);
        if (anyUnpriced) expect(() => rateAll(args(s, false))).toThrow(/without a price/);
        else expect(summary(rateAll(args(s, false)))).toEqual(summary(allowed));
      }),
      { numRuns: 200 },
    );
  });

  it('rates a million receipts in one pass, and quantities past 2^53 stay exact', () => {
    const { start } = periodInterval('UTC', '2026-10');
    const n = 1_000_000;
    function* receipts() {
      for (let i = 0; i < n; i++) {
        yield {
          id: `r${String(i).padStart(9, '0')}`, ts: start + i, billable: true, modelKey: 'qwen-70b', gpuKey: 'a100-80gb',
          gpuSeconds: 1, inputTokens: 9_007_199_254_740, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0,
        };
      }
    }
    const t0 = performance.now();
    const rated = ratePeriod({
      tenant: scenarioTenant({ tz: 'UTC', period: '2026-10', taxRate: '0', versions: [], receipts: [] }),
      period: '2026-10', versions: [bigCatalog()], allowUnpriced: false, receipts: receipts(),
    });
    const elapsed = performance.now() - t0;
    const input = rated.usageLines.find((l) => l.kind === 'input_tokens')!;
    expect(input.used).toBe(9_007_199_254_740n * BigInt(n));
    expect(input.used > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(elapsed).toBeLessThan(20_000);
  });
});

function bigCatalog(): CatalogVersion {
  return makeVersion({
    label: 'v0', effectiveFrom: 0, gpu: { 'a100-80gb': '4.00' }, tokens: { 'qwen-70b': ['0.003', '0.006'] },
    plan: { monthlyFee: Decimal.parse('0'), included: { gpuHours: 1n, tokens: 1000n, apiCalls: 10n }, usageDiscountPercent: Decimal.parse('0') },
  });
}
