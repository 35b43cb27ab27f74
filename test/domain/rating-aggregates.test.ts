import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dayNumberOf, localDayNumber, periodInterval } from '../../src/domain/period.js';
import {
  type DayTotals, RatingInputError, UnpricedUsageError, dayTotals, detailDays, ratePeriod,
} from '../../src/domain/rating.js';
import {
  aggregatesOf, catalog, ms, rateAll, rateFast, receipt, SAMPLE, scenarioArb, scenarioTenant, summary, tenant,
} from './rating-builders.js';

const day = (date: string) => dayNumberOf(date);
const totals = (date: string, gpuSeconds: bigint, tokens: bigint, receipts: bigint): DayTotals => ({ day: day(date), gpuSeconds, tokens, receipts });
const none = { gpuHours: 0n, tokens: 0n, apiCalls: 0n };
const detail = (s: Set<number>) => [...s].sort((a, b) => a - b).map((d) => new Date(d * 86_400_000).toISOString().slice(0, 10));

describe('detailDays', () => {
  const base = { timezone: 'UTC', period: '2026-10', versionStarts: [ms('2026-01-01T00:00:00Z')] };

  it('no allowance and no version start inside the period: every day is an aggregate', () => {
    const days = [totals('2026-10-01', 10n, 10n, 1n), totals('2026-10-02', 10n, 10n, 1n)];
    expect(detail(detailDays({ ...base, days, included: none }))).toEqual([]);
  });

  it('the day an allowance runs out in needs detail, for each pool on its own', () => {
    const days = [
      totals('2026-10-01', 3000n, 100n, 5n),
      totals('2026-10-02', 1000n, 100n, 5n), // GPU: 600 s left of 3600, 1000 used
      totals('2026-10-03', 0n, 900n, 5n), // tokens: 800 left of 1000, 900 used
      totals('2026-10-04', 0n, 0n, 6n), // calls: 5 left of 20, 6 used
      totals('2026-10-05', 10n, 10n, 1n), // everything used up: aggregate
    ];
    expect(detail(detailDays({ ...base, days, included: { gpuHours: 1n, tokens: 1000n, apiCalls: 20n } })))
      .toEqual(['2026-10-02', '2026-10-03', '2026-10-04']);
  });

  it('an allowance that covers a day exactly leaves it an aggregate, and the next day too (0 left)', () => {
    const days = [totals('2026-10-01', 3600n, 0n, 1n), totals('2026-10-02', 5n, 0n, 1n)];
    expect(detail(detailDays({ ...base, days, included: { gpuHours: 1n, tokens: 0n, apiCalls: 1n } }))).toEqual([]);
  });

  it('sums a day given twice, in any order', () => {
    const days = [totals('2026-10-02', 10n, 0n, 1n), totals('2026-10-01', 1000n, 0n, 1n), totals('2026-10-01', 1000n, 0n, 1n)];
    // 3600 − 2000 = 1600 left before Oct 2, which uses 10: aggregate. Oct 1 uses 2000 of 3600: aggregate.
    expect(detail(detailDays({ ...base, days, included: { gpuHours: 1n, tokens: 0n, apiCalls: 0n } }))).toEqual([]);
    expect(detail(detailDays({ ...base, days, included: { gpuHours: 1n, tokens: 0n, apiCalls: 3n } }))).toEqual([]);
    expect(detail(detailDays({ ...base, days: [...days, totals('2026-10-02', 0n, 0n, 1n)], included: { gpuHours: 0n, tokens: 0n, apiCalls: 3n } })))
      .toEqual(['2026-10-02']);
  });

  const usage = ['2026-10-14', '2026-10-15', '2026-10-16', '2026-10-17'].map((d) => totals(d, 1n, 1n, 1n));
  const cases: [what: string, tz: string, start: string, expected: string[]][] = [
    ['at UTC midnight in UTC', 'UTC', '2026-10-16T00:00:00Z', []],
    ['at mid-day in UTC', 'UTC', '2026-10-16T12:00:00Z', ['2026-10-16']],
    ['at UTC midnight, which is 02:00 in Berlin', 'Europe/Berlin', '2026-10-16T00:00:00Z', ['2026-10-16']],
    ['at Berlin midnight (22:00Z the day before)', 'Europe/Berlin', '2026-10-15T22:00:00Z', []],
    ['at UTC midnight, 20:00 the day before in St. John\'s', 'America/St_Johns', '2026-10-16T00:00:00Z', ['2026-10-15']],
    ['at Kolkata midnight (18:30Z)', 'Asia/Kolkata', '2026-10-15T18:30:00Z', []],
    ['1 ms after Chatham midnight', 'Pacific/Chatham', '2026-10-15T10:15:00.001Z', ['2026-10-16']],
    ['on a day without usage', 'UTC', '2026-10-20T12:00:00Z', []],
    ['at the period start (not inside a day)', 'Europe/Berlin', '2026-09-30T22:00:00Z', []],
    ['after the period', 'UTC', '2026-11-01T12:00:00Z', []],
  ];
  it.each(cases)('a version starting %s', (_what, tz, start, expected) => {
    expect(detail(detailDays({ timezone: tz, period: '2026-10', days: usage, included: none, versionStarts: [ms(start)] }))).toEqual(expected);
  });

  it('a version starting when a day with no midnight begins (Havana, 2026-03-08 05:00Z) splits nothing', () => {
    const days = [totals('2026-03-07', 1n, 0n, 1n), totals('2026-03-08', 1n, 0n, 1n)];
    expect(detail(detailDays({ timezone: 'America/Havana', period: '2026-03', days, included: none, versionStarts: [ms('2026-03-08T05:00:00Z')] })))
      .toEqual([]);
    expect(detail(detailDays({ timezone: 'America/Havana', period: '2026-03', days, included: none, versionStarts: [ms('2026-03-08T04:59:59.999Z')] })))
      .toEqual(['2026-03-07']);
  });

  it('refuses a day outside the period', () => {
    expect(() => detailDays({ ...base, days: [totals('2026-11-01', 1n, 1n, 1n)], included: none })).toThrow(RatingInputError);
  });
});

describe('ratePeriod checks that aggregates are sound', () => {
  const t = tenant();
  const rs = [
    receipt({ id: 'x', ts: '2026-10-05T01:00:00Z', gs: 30_000 }),
    receipt({ id: 'y', ts: '2026-10-05T02:00:00Z', gs: 10_000 }),
  ];
  it('refuses a day where an allowance runs out', () => {
    expect(() => ratePeriod({ tenant: t, period: '2026-10', versions: [SAMPLE()], allowUnpriced: false, dayAggregates: aggregatesOf('UTC', rs) }))
      .toThrow(/GPU allowance runs out during it/);
  });

  it('refuses a day in which a catalog version starts', () => {
    const v2 = catalog({ version: 'v2', effective_from: '2026-10-05T01:30:00Z' });
    const small = rs.map((r) => ({ ...r, gpuSeconds: 1 }));
    expect(() => ratePeriod({ tenant: t, period: '2026-10', versions: [SAMPLE(), v2], allowUnpriced: false, dayAggregates: aggregatesOf('UTC', small) }))
      .toThrow(/catalog v2 starts during it/);
  });

  it('refuses a receipt on a day that was also given as an aggregate, and an aggregate outside the period', () => {
    const small = rs.map((r) => ({ ...r, gpuSeconds: 1 }));
    expect(() => ratePeriod({
      tenant: t, period: '2026-10', versions: [SAMPLE()], allowUnpriced: false, dayAggregates: aggregatesOf('UTC', small.slice(0, 1)), receipts: small.slice(1),
    })).toThrow(/also given as an aggregate/);
    const nov = aggregatesOf('UTC', [receipt({ ts: '2026-11-01T00:00:00Z', gs: 1 })]);
    expect(() => ratePeriod({ tenant: t, period: '2026-10', versions: [SAMPLE()], allowUnpriced: false, dayAggregates: nov })).toThrow(RatingInputError);
  });

  it('rates the worked example the same with aggregates', () => {
    const acme = tenant({ id: 'acme', timezone: 'Europe/Berlin', taxRate: '0.19', plans: [{ plan: 'pro', from: '2026-10', seq: 1, setAt: '' }] });
    const receipts = [
      receipt({ id: 'r1', ts: '2026-09-30T22:30:00Z', model: 'qwen-70b', input: 9_000_000, output: 500_000, gpu: 'a100-80gb', gs: 360_000 }),
      receipt({ id: 'r2', ts: '2026-10-15T08:00:00Z', model: 'qwen-70b', input: 400_000, output: 1_200_000, gpu: 'a100-80gb', gs: 3_600 }),
    ];
    const fast = rateFast({ tenant: acme, period: '2026-10', versions: [SAMPLE()], receipts });
    // r1 uses exactly all GPU seconds and leaves tokens: Oct 1 is an aggregate; r2's day crosses the token allowance.
    expect(detail(fast.detail)).toEqual(['2026-10-15']);
    expect(localDayNumber('Europe/Berlin', receipts[0]!.ts)).toBe(day('2026-10-01'));
    expect(summary(fast.rated)).toEqual(summary(rateAll({ tenant: acme, period: '2026-10', versions: [SAMPLE()], receipts })));
    expect(fast.rated.totals.total.toString()).toBe('130.42');
  });

  it('counts unpriced receipts exactly from aggregates', () => {
    const unpriced = [
      receipt({ ts: '2026-10-03T00:00:00Z', model: 'mystery', gpu: 'h100', gs: 10, input: 0 }),
      receipt({ ts: '2026-10-03T01:00:00Z', model: 'mystery', gpu: 'h100', gs: 0, input: 5 }),
      receipt({ ts: '2026-10-03T02:00:00Z', model: 'mystery', gpu: 'h100', gs: 3, output: 5 }),
    ];
    const dayAggregates = aggregatesOf('UTC', unpriced);
    expect(dayAggregates).toHaveLength(1);
    try {
      ratePeriod({ tenant: t, period: '2026-10', versions: [SAMPLE()], allowUnpriced: false, dayAggregates });
      expect.unreachable();
    } catch (e) {
      expect((e as UnpricedUsageError).unpriced).toEqual([
        { kind: 'gpu', key: 'h100', catalogVersion: '2026-01', receipts: 2n },
        { kind: 'model', key: 'mystery', catalogVersion: '2026-01', receipts: 2n },
      ]);
    }
  });
});

describe('property: rating with aggregates equals rating receipt by receipt', () => {
  it('for random receipts, days, versions and allowances', () => {
    fc.assert(
      fc.property(scenarioArb(), (s) => {
        const args = { tenant: scenarioTenant(s), period: s.period, versions: s.versions, receipts: s.receipts, allowUnpriced: true };
        const slow = rateAll(args);
        const fast = rateFast(args);
        expect(summary(fast.rated)).toEqual(summary(slow));
        // Without --allow-unpriced both refuse alike, or both rate alike.
        let a: unknown;
        let b: unknown;
        try {
          a = summary(rateAll({ ...args, allowUnpriced: false }));
        } catch (e) {
          a = (e as UnpricedUsageError).unpriced;
        }
        try {
          b = summary(rateFast({ ...args, allowUnpriced: false }).rated);
        } catch (e) {
          b = (e as UnpricedUsageError).unpriced;
        }
        expect(b).toEqual(a);
      }),
      { numRuns: 400 },
    );
  });

  it('detail days are few: at most one per pool plus the days versions start in', () => {
    fc.assert(
      fc.property(scenarioArb(), (s) => {
        const args = { tenant: scenarioTenant(s), period: s.period, versions: s.versions, receipts: s.receipts, allowUnpriced: true };
        const { start, end } = periodInterval(s.tz, s.period);
        const inner = s.versions.filter((v) => v.effectiveFrom > start && v.effectiveFrom < end).length;
        expect(rateFast(args).detail.size).toBeLessThanOrEqual(3 + inner);
      }),
      { numRuns: 200 },
    );
  });

  it('dayTotals sums aggregates per day', () => {
    const rs = [
      receipt({ ts: '2026-10-01T01:00:00Z', model: 'qwen-70b', gpu: 'a100-80gb', gs: 5, input: 1, output: 2 }),
      receipt({ ts: '2026-10-01T02:00:00Z', model: 'gemma-2b', gpu: 'a100-80gb', gs: 7, input: 3 }),
      receipt({ ts: '2026-10-02T02:00:00Z', model: 'gemma-2b' }),
    ];
    expect(dayTotals(aggregatesOf('UTC', rs))).toEqual([
      { day: day('2026-10-01'), gpuSeconds: 12n, tokens: 6n, receipts: 2n },
      { day: day('2026-10-02'), gpuSeconds: 0n, tokens: 0n, receipts: 1n },
    ]);
  });
});
