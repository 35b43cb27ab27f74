/** The price models priced exactly (billing-rules.md, "Price models"): boundaries, currencies, properties. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.js';
import {
  describePrice, GPU_PRICE_UNIT, graduated, listedPrice, packagePrice, parsePrice, perUnit, plainPriceWords,
  type PriceModel, type PriceTier, priceDocument, priceLine, REQUEST_PRICE_UNIT, tokenPriceUnit, volume,
} from '../../src/domain/price-models/index.js';
import type { PriceUnit } from '../../src/domain/price-models/index.js';

const D = (s: string) => Decimal.parse(s);
const tier = (upTo: bigint | null, price: string, flatFee = '0'): PriceTier => ({ upTo, price: D(price), flatFee: D(flatFee) });
const TOKENS = tokenPriceUnit(1000n);

/** A catalog value read as the catalog will read it; the test fails on any problem. */
function model(value: unknown, unit: PriceUnit): PriceModel {
  const r = parsePrice(value, 'price', unit);
  expect(r.problems).toEqual([]);
  return r.model!;
}

const amount = (m: PriceModel, q: bigint, digits = 2) => priceLine(m, q, digits).toString();

describe("the issue's example, at the price-model level", () => {
  // A plan pricing RTX 4090 hours by volume and Gemma-2B input by packages, with nothing included.
  const rtx = model({ model: 'volume', tiers: [{ up_to: 10, price: '0.90' }, { up_to: null, price: '0.75', flat_fee: '1' }] }, GPU_PRICE_UNIT);
  const gemma = model({ model: 'package', size: 1000000, price: '0.05' }, TOKENS);

  it('39,600 s and 1,500,000 tokens cost 9.25 and 0.10', () => {
    expect(amount(rtx, 39_600n)).toBe('9.25');
    expect(amount(gemma, 1_500_000n)).toBe('0.10');
  });

  it('says so in words a customer can check', () => {
    expect(describePrice(rtx, 39_600n, plainPriceWords('second', 3600n, 2))).toBe('all 11 h at 0.75 / h (over 10 h) + 1.00 flat fee');
    expect(describePrice(gemma, 1_500_000n, plainPriceWords('token', 1000n, 2))).toBe('2 packages of 1,000,000 at 0.05');
  });
});

describe('graduated', () => {
  // billing-rules.md's worked example, plus a flat fee on the second tier.
  const g = graduated([tier(2_000_000n, '0.006'), tier(null, '0.004', '5')], 1000n);

  it.each([
    [0n, '0.00'], // nothing billed: no tier holds any, no flat fee
    [1n, '0.00'], // 0.000006
    [2_000_000n, '12.00'], // on the bound: the first tier only
    [2_000_001n, '17.00'], // one past it: 12 + 0.000004 + the second tier's flat fee 5
    [3_000_000n, '21.00'], // 12 + 4 + 5
  ])('prices %s tokens at %s', (q, expected) => {
    expect(amount(g, q)).toBe(expected);
  });

  it("is the worked example's 16.00 without the flat fee", () => {
    expect(amount(graduated([tier(2_000_000n, '0.006'), tier(null, '0.004')], 1000n), 3_000_000n)).toBe('16.00');
  });

  it('adds a first tier flat fee from the first unit on, never at 0', () => {
    const f = graduated([tier(100n, '1', '10'), tier(null, '0.5')], 1n);
    expect([0n, 1n, 100n, 101n].map((q) => amount(f, q))).toEqual(['0.00', '11.00', '110.00', '110.50']);
  });

  it('counts GPU tier bounds in hours over seconds, rounding the line once, half up', () => {
    const gpu = model({ model: 'graduated', tiers: [{ up_to: 10, price: '0.90' }, { up_to: null, price: '0.75' }] }, GPU_PRICE_UNIT);
    expect(amount(gpu, 36_000n)).toBe('9.00'); // 10 h, on the bound
    expect(amount(gpu, 36_001n)).toBe('9.00'); // 9 + 0.75 / 3600 = 9.000208…
    expect(amount(gpu, 37_800n)).toBe('9.38'); // 9 + 0.375: half up
    expect(amount(gpu, 39_600n)).toBe('9.75');
    expect(amount(gpu, 18_000n)).toBe('4.50');
  });
});

describe('volume', () => {
  const v = volume([tier(36_000n, '0.90'), tier(null, '0.75', '1')], 3600n);

  it.each([
    [0n, '0.00'], // q = 0 costs 0, flat fee or not
    [1n, '0.00'], // 0.00025
    [36_000n, '9.00'], // on the bound: all at 0.90
    [36_001n, '8.50'], // one past it: all at 0.75 + 1 = 8.5002…; a cheaper total is the model's nature
    [39_600n, '9.25'],
  ])('prices %s GPU seconds at %s', (q, expected) => {
    expect(amount(v, q)).toBe(expected);
  });

  it("charges the holding tier's flat fee, and only when something is billed", () => {
    const f = volume([tier(10n, '1', '3'), tier(null, '1', '2')], 1n);
    expect([0n, 1n, 10n, 11n].map((q) => amount(f, q))).toEqual(['0.00', '4.00', '13.00', '13.00']);
  });
});

describe('package', () => {
  const p = model({ model: 'package', size: 1000000, price: '0.05' }, TOKENS);

  it.each([
    [0n, '0.00'],
    [1n, '0.05'], // a started package is paid in full
    [1_000_000n, '0.05'], // on the bound
    [1_000_001n, '0.10'], // one past it
  ])('prices %s tokens at %s', (q, expected) => {
    expect(amount(p, q)).toBe(expected);
  });

  it('counts a GPU package size in hours', () => {
    const gpu = model({ model: 'package', size: 2, price: '3.00' }, GPU_PRICE_UNIT);
    expect(gpu).toEqual(packagePrice(7200n, D('3.00')));
    expect([0n, 1n, 7200n, 7201n].map((q) => amount(gpu, q))).toEqual(['0.00', '3.00', '3.00', '6.00']);
  });
});

describe('currencies: one rounding per line, half up, to the minor unit', () => {
  it('JPY (0 digits)', () => {
    const g = model({ model: 'graduated', tiers: [{ up_to: 1000000, price: '0.5' }, { up_to: null, price: '0.3' }] }, TOKENS);
    expect(amount(g, 1_001_000n, 0)).toBe('500'); // 500.3
    expect(amount(g, 1_005_000n, 0)).toBe('502'); // 501.5: half up
    const v = model({ model: 'volume', tiers: [{ up_to: 10, price: '150' }, { up_to: null, price: '120', flat_fee: '50' }] }, GPU_PRICE_UNIT);
    expect(amount(v, 1_800n, 0)).toBe('75');
    expect(amount(v, 36_012n, 0)).toBe('1250'); // 1200.4 + 50
    expect(amount(v, 36_015n, 0)).toBe('1251'); // 1200.5 + 50: half up
    expect(amount(model({ model: 'package', size: 100, price: '99' }, REQUEST_PRICE_UNIT), 101n, 0)).toBe('198');
  });

  it('KWD (3 digits)', () => {
    const v = model({ model: 'volume', tiers: [{ up_to: 100, price: '0.0005' }, { up_to: null, price: '0.0004' }] }, REQUEST_PRICE_UNIT);
    expect(amount(v, 1n, 3)).toBe('0.001'); // 0.0005: half up
    expect(amount(v, 3n, 3)).toBe('0.002'); // 0.0015
    expect(amount(v, 101n, 3)).toBe('0.040'); // 0.0404
    const g = model({ model: 'graduated', tiers: [{ up_to: 1, price: '1.2345', flat_fee: '0.0005' }, { up_to: null, price: '1' }] }, GPU_PRICE_UNIT);
    expect(amount(g, 3600n, 3)).toBe('1.235'); // 1.2345 + 0.0005, rounded once
    expect(amount(g, 5400n, 3)).toBe('1.735'); // + 0.5
    expect(amount(model({ model: 'package', size: 1000, price: '0.1235' }, TOKENS), 1n, 3)).toBe('0.124');
  });
});

describe('listedPrice', () => {
  it('shows unit price and size under per-unit, the model name otherwise', () => {
    expect(listedPrice(perUnit(D('4.00'), 3600n))).toEqual({ unitPrice: D('4.00'), unitSize: 3600n, priceModel: null });
    expect(listedPrice(graduated([tier(null, '1')], 1n))).toEqual({ unitPrice: null, unitSize: null, priceModel: 'graduated' });
    expect(listedPrice(volume([tier(null, '1')], 1n))).toEqual({ unitPrice: null, unitSize: null, priceModel: 'volume' });
    expect(listedPrice(packagePrice(10n, D('1')))).toEqual({ unitPrice: null, unitSize: null, priceModel: 'package' });
  });
});

describe('constructors keep the invariants the parser checks', () => {
  it.each([
    ['no tier', () => graduated([], 1n)],
    ['a bounded last tier', () => graduated([tier(10n, '1')], 1n)],
    ['an unbounded tier before the last', () => volume([tier(null, '1'), tier(null, '1')], 1n)],
    ['bounds not increasing', () => graduated([tier(10n, '1'), tier(10n, '1'), tier(null, '1')], 1n)],
    ['a bound of 0', () => volume([tier(0n, '1'), tier(null, '1')], 1n)],
    ['a negative price', () => graduated([tier(null, '-1')], 1n)],
    ['a negative flat fee', () => volume([tier(null, '1', '-1')], 1n)],
    ['a unit size of 0', () => graduated([tier(null, '1')], 0n)],
    ['a package of 0', () => packagePrice(0n, D('1'))],
    ['a negative package price', () => packagePrice(1n, D('-1'))],
  ])('refuse %s', (_, make) => {
    expect(make).toThrow(RangeError);
  });
  it('refuse a negative billed quantity', () => {
    expect(() => priceLine(perUnit(D('1'), 1n), -1n, 2)).toThrow(RangeError);
  });
});

describe('tiers in words', () => {
  const tokens = plainPriceWords('token', 1000n, 2);
  const g = graduated([tier(2_000_000n, '0.006'), tier(null, '0.004')], 1000n);

  it("names the tiers that hold the line's billed quantity", () => {
    expect(describePrice(g, 3_000_000n, tokens)).toBe('first 2,000,000 at 0.006 / 1,000; next 1,000,000 at 0.004 / 1,000');
    expect(describePrice(g, 2_000_000n, tokens)).toBe('first 2,000,000 at 0.006 / 1,000');
    expect(describePrice(g, 1_500n, tokens)).toBe('first 1,500 at 0.006 / 1,000');
    expect(describePrice(g, 0n, tokens)).toBe('');
  });

  it('writes flat fees and package prices with the currency digits, prices as the catalog wrote them', () => {
    const f = graduated([tier(100n, '0.5', '1'), tier(null, '0.25', '0.0005')], 1n);
    const req = (digits: number) => plainPriceWords('request', 1n, digits);
    expect(describePrice(f, 150n, req(3))).toBe('first 100 at 0.5 / request + 1.000 flat fee; next 50 at 0.25 / request + 0.0005 flat fee');
    expect(describePrice(packagePrice(100n, D('99')), 101n, req(0))).toBe('2 packages of 100 at 99');
    expect(describePrice(packagePrice(100n, D('99')), 1n, req(2))).toBe('1 package of 100 at 99.00');
  });

  it('places a volume quantity in its tier', () => {
    const v = volume([tier(36_000n, '0.90'), tier(72_000n, '0.80'), tier(null, '0.75')], 3600n);
    const gpu = plainPriceWords('second', 3600n, 2);
    expect(describePrice(v, 5_400n, gpu)).toBe('all 1.5 h at 0.90 / h (up to 10 h)');
    expect(describePrice(v, 36_001n, gpu)).toBe('all 10.0003 h at 0.80 / h (over 10 h)');
    expect(describePrice(volume([tier(null, '0.75')], 3600n), 3_600_000n, gpu)).toBe('all 1,000 h at 0.75 / h');
    expect(describePrice(perUnit(D('0.003'), 1000n), 1_679_419n, tokens)).toBe('1,679,419 at 0.003 / 1,000');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

/** Exact rationals: the reference the models are checked against. */
interface Rat { n: bigint; d: bigint }
const ratOf = (x: Decimal): Rat => ({ n: x.units, d: 10n ** BigInt(x.scale) });
const ratAdd = (a: Rat, b: Rat): Rat => ({ n: a.n * b.d + b.n * a.d, d: a.d * b.d });
/** Half-up rounding of a non-negative rational to `digits` places, as decimal text. */
function refRound(r: Rat, digits: number): string {
  const scaled = r.n * 10n ** BigInt(digits);
  const q = scaled / r.d;
  const up = 2n * (scaled - q * r.d) >= r.d;
  return Decimal.of(q + (up ? 1n : 0n), digits).toString();
}

const priceArb = fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 9n }), fc.integer({ min: 0, max: 6 })).map(([u, s]) => Decimal.of(u, s));
const feeArb = fc.oneof(fc.constant(Decimal.ZERO), priceArb);
const unitSizeArb = fc.constantFrom(1n, 7n, 1000n, 3600n, 1_000_000n);
const digitsArb = fc.constantFrom(0, 2, 3);
const qArb = fc.bigInt({ min: 0n, max: 10n ** 12n });
/** 1 to 5 tiers with strictly increasing bounds, the last unbounded. */
const tiersArb = fc
  .array(fc.tuple(fc.bigInt({ min: 1n, max: 10n ** 11n }), priceArb, feeArb), { minLength: 0, maxLength: 4 })
  .chain((bounded) =>
    fc.tuple(priceArb, feeArb).map(([price, flatFee]) => {
      const bounds = [...new Set(bounded.map(([b]) => b))].sort((a, b) => (a < b ? -1 : 1));
      const tiers: PriceTier[] = bounds.map((b, i) => ({ upTo: b, price: bounded[i]![1], flatFee: bounded[i]![2] }));
      return [...tiers, { upTo: null, price, flatFee }];
    }),
  );

describe('properties', () => {
  it('graduated equals the sum of its tiers priced one by one, rounded once', () => {
    fc.assert(
      fc.property(tiersArb, unitSizeArb, qArb, digitsArb, (tiers, unitSize, q, digits) => {
        let sum: Rat = { n: 0n, d: 1n };
        let below = 0n;
        for (const t of tiers) {
          const top = t.upTo === null || q < t.upTo ? q : t.upTo;
          const part = top > below ? top - below : 0n;
          if (part > 0n) {
            const p = ratOf(t.price);
            sum = ratAdd(ratAdd(sum, { n: p.n * part, d: p.d * unitSize }), ratOf(t.flatFee));
          }
          below = t.upTo ?? below;
        }
        expect(priceLine(graduated(tiers, unitSize), q, digits).toString()).toBe(refRound(sum, digits));
      }),
    );
  });

  it('graduated equals its tiers priced one by one with the per-unit model, where per-unit is exact', () => {
    fc.assert(
      fc.property(tiersArb, fc.constantFrom(1n, 1000n, 1_000_000n), qArb, digitsArb, (tiers, unitSize, q, digits) => {
        let exact = Decimal.ZERO;
        let below = 0n;
        for (const t of tiers) {
          const top = t.upTo === null || q < t.upTo ? q : t.upTo;
          if (top > below) exact = exact.add(priceLine(perUnit(t.price, unitSize), top - below, 20)).add(t.flatFee);
          below = t.upTo ?? below;
        }
        expect(priceLine(graduated(tiers, unitSize), q, digits).toString()).toBe(exact.toFixed(digits));
      }),
    );
  });

  it('per-unit is a one-tier graduated or volume price', () => {
    fc.assert(
      fc.property(priceArb, unitSizeArb, qArb, digitsArb, (price, unitSize, q, digits) => {
        const expected = priceLine(perUnit(price, unitSize), q, digits).toString();
        const one = [{ upTo: null, price, flatFee: Decimal.ZERO }];
        expect(priceLine(graduated(one, unitSize), q, digits).toString()).toBe(expected);
        expect(priceLine(volume(one, unitSize), q, digits).toString()).toBe(expected);
      }),
    );
  });

  it('package is monotonic in the quantity', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 9n }), priceArb, qArb, qArb, digitsArb, (size, price, a, b, digits) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const p = packagePrice(size, price);
        expect(priceLine(p, lo, digits).cmp(priceLine(p, hi, digits))).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('graduated is monotonic in the quantity', () => {
    fc.assert(
      fc.property(tiersArb, unitSizeArb, qArb, qArb, digitsArb, (tiers, unitSize, a, b, digits) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const g = graduated(tiers, unitSize);
        expect(priceLine(g, lo, digits).cmp(priceLine(g, hi, digits))).toBeLessThanOrEqual(0);
      }),
    );
  });

  // Volume is monotonic inside a tier; crossing a bound into a cheaper tier may lower the amount
  // (36,000 s cost 9.00 and 36,001 s 8.50 above): that is the model billing-rules.md defines.
  it('volume is monotonic in the quantity inside each tier, and from 0', () => {
    fc.assert(
      fc.property(tiersArb, unitSizeArb, qArb, qArb, digitsArb, (tiers, unitSize, a, b, digits) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const v = volume(tiers, unitSize);
        const tierOf = (q: bigint) => tiers.findIndex((t) => t.upTo === null || q <= t.upTo);
        expect(priceLine(v, 0n, digits).cmp(priceLine(v, lo, digits))).toBeLessThanOrEqual(0);
        if (lo > 0n && tierOf(lo) === tierOf(hi)) {
          expect(priceLine(v, lo, digits).cmp(priceLine(v, hi, digits))).toBeLessThanOrEqual(0);
        }
      }),
    );
  });

  it('volume is monotonic in the quantity when no tier undercuts the one before', () => {
    const nonDecreasing = tiersArb.map((tiers) => {
      let price = Decimal.ZERO;
      let fee = Decimal.ZERO;
      return tiers.map((t) => {
        price = price.add(t.price);
        fee = fee.add(t.flatFee);
        return { ...t, price, flatFee: fee };
      });
    });
    fc.assert(
      fc.property(nonDecreasing, unitSizeArb, qArb, qArb, digitsArb, (tiers, unitSize, a, b, digits) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const v = volume(tiers, unitSize);
        expect(priceLine(v, lo, digits).cmp(priceLine(v, hi, digits))).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('a price reads back from its catalog form unchanged', () => {
    const unitArb = fc.constantFrom(GPU_PRICE_UNIT, TOKENS, REQUEST_PRICE_UNIT);
    // Bounds in whole allowance units; a flat fee of 0 is written by leaving it out, and reads back as 0.
    const held = (unit: PriceUnit) => (t: PriceTier[]) =>
      t.map((x) => ({ upTo: x.upTo && x.upTo * unit.allowanceUnit, price: x.price, flatFee: x.flatFee.isZero() ? Decimal.ZERO : x.flatFee }));
    const modelArb = (unit: PriceUnit) =>
      fc.oneof(
        priceArb.map((p) => perUnit(p, unit.unitSize) as PriceModel),
        tiersArb.map(held(unit)).map((t) => graduated(t, unit.unitSize)),
        tiersArb.map(held(unit)).map((t) => volume(t, unit.unitSize)),
        fc.tuple(fc.bigInt({ min: 1n, max: 10n ** 9n }), priceArb).map(([s, p]) => packagePrice(s * unit.allowanceUnit, p)),
      );
    fc.assert(
      fc.property(unitArb.chain((unit) => fc.tuple(fc.constant(unit), modelArb(unit))), ([unit, m]) => {
        const doc = JSON.parse(JSON.stringify(priceDocument(m, unit)));
        const back = parsePrice(doc, 'price', unit);
        expect(back.problems).toEqual([]);
        expect(back.model).toEqual(m);
      }),
    );
  });
});
