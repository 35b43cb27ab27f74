/** The invoice chart's series: what each day was charged, after allowances, adding up to the usage lines. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.js';
import { formatDayNumber, localDayNumber, periodDays, periodInterval } from '../../src/domain/period.js';
import { dailyCharges, dayTotals, detailDays, resolvePlanTerms, sortVersions, type RatePeriodInput } from '../../src/domain/rating.js';
import {
  SAMPLE, aggregatesOf, plans, receipt, scenarioArb, scenarioTenant, sorted, tenant, type Scenario,
} from './rating-builders.js';

const days = (r: ReturnType<typeof dailyCharges>) => r.days.map((d) => [formatDayNumber(d.day), d.amount.toString()]);

/** Receipt by receipt. */
function allReceipts(s: Scenario, currency: string): RatePeriodInput {
  const { start, end } = periodInterval(s.tz, s.period);
  return {
    tenant: scenarioTenant(s), period: s.period, versions: s.versions.map((v) => ({ ...v, currency })), allowUnpriced: true,
    receipts: sorted(s.receipts.filter((r) => r.ts >= start && r.ts < end)),
  };
}

/** As the store rates: days as aggregates where the allowance allows, the rest receipt by receipt. */
function fast(s: Scenario, currency: string): RatePeriodInput {
  const input = allReceipts(s, currency);
  const inPeriod = [...(input.receipts ?? [])];
  const aggregates = aggregatesOf(s.tz, inPeriod);
  const versions = sortVersions(input.versions);
  const detail = detailDays({
    timezone: s.tz, period: s.period, days: dayTotals(aggregates),
    included: resolvePlanTerms(input.tenant, s.period, versions).plan.included, versionStarts: versions.map((v) => v.effectiveFrom),
  });
  return {
    ...input,
    receipts: inPeriod.filter((r) => detail.has(localDayNumber(s.tz, r.ts))),
    dayAggregates: aggregates.filter((a) => !detail.has(a.day)),
  };
}

describe('daily charges', () => {
  it('charts the worked example as billed: nothing on the day the allowance covered, 10.60 on 2026-10-15', () => {
    const acme = tenant({ id: 'acme', timezone: 'Europe/Berlin', taxRate: '0.19', plans: plans(['pro', '2026-10']) });
    const receipts = sorted([
      receipt({ id: 'r1', ts: '2026-09-30T22:30:00Z', gs: 360_000, input: 9_000_000, output: 500_000 }),
      receipt({ id: 'r2', ts: '2026-10-15T08:00:00Z', gs: 3600, input: 400_000, output: 1_200_000 }),
    ]);
    const r = dailyCharges({ tenant: acme, period: '2026-10', versions: [SAMPLE()], allowUnpriced: false, receipts });
    // At list prices (before allowances) 2026-10-01 would be a 430.00 bar: 100 GPU hours and 9.5M tokens.
    expect(days(r)).toEqual([['2026-10-15', '10.60']]);
    expect(r.rated.totals.usage.toString()).toBe('10.60');
  });

  it('splits a line whose billing starts mid-month at the day the allowance ran out', () => {
    const t = tenant({ plans: plans(['free', null]) }); // 1,000,000 tokens included
    const receipts = sorted([
      receipt({ ts: '2026-10-02T10:00:00Z', input: 900_000 }),
      receipt({ ts: '2026-10-03T10:00:00Z', input: 300_000 }), // 100,000 covered, 200,000 billed: 0.60
      receipt({ ts: '2026-10-09T10:00:00Z', input: 1_000_000 }), // 3.00
    ]);
    const r = dailyCharges({ tenant: t, period: '2026-10', versions: [SAMPLE()], allowUnpriced: false, receipts });
    expect(days(r)).toEqual([['2026-10-03', '0.60'], ['2026-10-09', '3.00']]);
  });

  it('adds up to the usage lines exactly, the same from rollups as receipt by receipt (USD, JPY, KWD)', () => {
    fc.assert(
      fc.property(scenarioArb(), fc.constantFrom('USD', 'JPY', 'KWD'), (s, currency) => {
        const slow = dailyCharges(allReceipts(s, currency));
        const quick = dailyCharges(fast(s, currency));
        expect(days(quick)).toEqual(days(slow));
        const sum = slow.days.reduce((a, d) => a.add(d.amount), Decimal.of(0n, slow.rated.digits));
        expect(sum.toString()).toBe(slow.rated.totals.usage.toString());
        const { first, last } = periodDays(s.period);
        for (const d of slow.days) {
          expect(d.day).toBeGreaterThanOrEqual(first);
          expect(d.day).toBeLessThanOrEqual(last);
          expect(d.amount.scale).toBe(slow.rated.digits);
        }
      }),
      { numRuns: 300 },
    );
  });
});
