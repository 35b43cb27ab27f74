/** Rollup sums are exact whatever the costs: scaled integers while safe, decimals beyond. */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.js';
import { RollupAccumulator } from '../../src/ingest/rollups.js';
import { QUANTITY_COUNT } from '../../src/domain/quantities.js';
import { DELTA, type ReceiptRow } from '../../src/ingest/types.js';

/** A row with every quantity of the field table q. */
const row = (tenant: string, cost: string | null, billable: 0 | 1, q: number): ReceiptRow => [
  tenant, 'id', 0, billable, null, null, null, null, 'm', 'm', 'g', 'g', null, cost, 0, 1, ...new Array<number>(QUANTITY_COUNT).fill(q),
];

it('sums costs and quantities exactly, adding and taking out, with canonical decimal text', () => {
  const cost = fc.oneof(
    fc.constantFrom('0', '0.1', '0.10', '-0.5', '7', '123456789012345', '0.000000000000001', '99999999999999.99'),
    fc.tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 20 })).map(([u, s]) => Decimal.of(u, s).toString()),
  );
  fc.assert(
    fc.property(
      fc.array(fc.record({ t: fc.constantFrom('a', 'b'), cost: fc.option(cost), billable: fc.constantFrom<0 | 1>(0, 1), q: fc.nat(1000), sign: fc.constantFrom<1 | -1>(1, 1, -1), day: fc.nat(3) }), { maxLength: 40 }),
      (items) => {
        const acc = new RollupAccumulator();
        const want = new Map<string, { cost: Decimal; receipts: number; q: number }>();
        for (const it of items) {
          acc.add(row(it.t, it.cost, it.billable, it.q), it.day, it.sign);
          const k = `${it.t}|${it.day}`;
          const w = want.get(k) ?? { cost: Decimal.ZERO, receipts: 0, q: 0 };
          w.receipts += it.sign;
          if (it.billable && it.cost !== null) w.cost = w.cost.add(Decimal.parse(it.cost).mul(BigInt(it.sign)));
          if (it.billable) w.q += it.sign * it.q;
          want.set(k, w);
        }
        const got = new Map(acc.deltas().map((d) => [`${d[0]}|${d[1]}`, d]));
        for (const [k, w] of want) {
          const d = got.get(k);
          if (w.receipts === 0 && w.q === 0 && w.cost.isZero()) continue;
          expect(d, k).toBeDefined();
          expect(Decimal.parse(d![DELTA.reportedCost]).eq(w.cost)).toBe(true);
          expect(d![DELTA.reportedCost]).toBe(w.cost.normalize().toString());
          expect(Number(d![DELTA.receipts])).toBe(w.receipts);
          for (let i = 0; i < QUANTITY_COUNT; i++) expect(Number(d![DELTA.quantities + i])).toBe(w.q);
        }
      },
    ),
    { numRuns: 500 },
  );
});

it('keeps sums beyond 2^53 exact', () => {
  const acc = new RollupAccumulator();
  for (let i = 0; i < 3; i++) acc.add(row('a', '9007199254740991', 1, 9007199254740991), 0);
  const [d] = acc.deltas();
  for (let i = 0; i < QUANTITY_COUNT; i++) expect(d![DELTA.quantities + i]).toBe(27021597764222973n);
  expect(d![DELTA.reportedCost]).toBe('27021597764222973');
});

it('takes out the days before a day and keeps summing the rest, as if never split', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ t: fc.constantFrom('a', 'b', 'c'), day: fc.nat(5), q: fc.nat(100), cut: fc.option(fc.nat(6), { nil: undefined }) }), { maxLength: 60 }),
      (items) => {
        const whole = new RollupAccumulator();
        const pieces = new RollupAccumulator();
        const sent = new RollupAccumulator();
        for (const it of items) {
          whole.add(row(it.t, '0.5', 1, it.q), it.day);
          pieces.add(row(it.t, '0.5', 1, it.q), it.day);
          if (it.cut !== undefined) {
            const taken = pieces.takeBefore(it.cut);
            expect(taken.every((d) => d[1] < it.cut!)).toBe(true);
            for (const d of taken) sent.addDelta(d);
          }
        }
        for (const d of pieces.deltas()) sent.addDelta(d);
        const sorted = (ds: ReturnType<RollupAccumulator['deltas']>) => ds.map((d) => d.map(String).join('|')).sort();
        expect(sorted(sent.deltas())).toEqual(sorted(whole.deltas()));
      },
    ),
    { numRuns: 300 },
  );
});
