/**
 * Properties of a plan change inside a period (billing-rules.md, "A plan change inside a period"):
 * the segments' prorated fees add up to the monthly fee within one minor unit per segment, the
 * segments cover the period's days exactly, and a period with one segment is rated exactly as before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.js';
import { formatDayNumber, periodDays } from '../../src/domain/period.js';
import { planSegments, ratePeriod } from '../../src/domain/rating.js';
import { PERIODS, ZONES, catalog, plans, rateAll, scenarioArb, scenarioTenant, summary, tenant } from './rating-builders.js';

describe('plan segments', () => {
  it('prorated fees sum to the monthly fee within one minor unit per segment; the segments cover every day once', () => {
    fc.assert(fc.property(
      fc.constantFrom(...ZONES), fc.constantFrom(...PERIODS), fc.bigInt({ min: 1n, max: 10_000_000n }),
      fc.uniqueArray(fc.integer({ min: 2, max: 28 }), { minLength: 1, maxLength: 4 }),
      (tz, period, cents, changeDays) => {
        const fee = Decimal.of(cents, 2).toString();
        const versions = [catalog({ default_plan: 'a', plans: { a: { name: 'A', monthly_fee: fee }, b: { name: 'B', monthly_fee: fee } } })];
        const days = [...changeDays].sort((x, y) => x - y);
        // Alternating plans, so every change day starts a segment.
        const history = plans(['a', period], ...days.map((d, i): [string, string] => [i % 2 === 0 ? 'b' : 'a', `${period}-${String(d).padStart(2, '0')}`]));
        const t = tenant({ timezone: tz, plans: history });
        const segments = planSegments(t, period);
        expect(segments.length).toBe(days.length + 1);
        const { first, last } = periodDays(period);
        expect(segments.reduce((n, g) => n + g.days, 0)).toBe(last - first + 1);
        expect(segments.map((g) => formatDayNumber(g.firstDay).slice(8)).slice(1)).toEqual(days.map((d) => String(d).padStart(2, '0')));
        const rated = ratePeriod({ tenant: t, period, versions, allowUnpriced: false, receipts: [] });
        const fees = rated.lines.filter((l) => l.kind === 'fee');
        // A share that rounds to 0.00 makes no line (step 7).
        expect(fees.length).toBeLessThanOrEqual(segments.length);
        const sum = fees.reduce((acc, l) => acc.add(l.amount), Decimal.of(0n, 2));
        const d = sum.sub(Decimal.parse(fee));
        const diff = d.sign() < 0 ? d.neg() : d;
        expect(diff.cmp(Decimal.of(BigInt(segments.length), 2)) <= 0).toBe(true);
      },
    ), { numRuns: 200 });
  });

  it('a period with one segment rates exactly as before (a dated entry that keeps the plan, or one in another month)', () => {
    fc.assert(fc.property(scenarioArb({ maxReceipts: 30 }), fc.integer({ min: 1, max: 28 }), (s, day) => {
      const before = rateAll({ tenant: scenarioTenant(s), period: s.period, versions: s.versions, receipts: s.receipts, allowUnpriced: true });
      const date = `${s.period}-${String(day).padStart(2, '0')}`;
      for (const extra of [['p', date], ['p', '2030-01-15']] as [string, string][]) {
        const t = { ...scenarioTenant(s), plans: plans(['p', null], extra) };
        expect(planSegments(t, s.period).length).toBeLessThanOrEqual(1);
        const after = rateAll({ tenant: t, period: s.period, versions: s.versions, receipts: s.receipts, allowUnpriced: true });
        expect(summary(after)).toEqual(summary(before));
        expect(after.lines).toEqual(before.lines);
      }
    }), { numRuns: 150 });
  });
});
