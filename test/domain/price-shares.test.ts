/**
 * Shares of a line's price (price-models `addPriceShare`, `PriceRun`): how usage by day, user or
 * provider, daily costs and recommend split or sum a line without multiplying a price themselves.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal, ExactSum } from '../../src/domain/money.js';
import {
  addPriceShare, catalogPriceFromStored, catalogPriceToStored, GPU_PRICE_UNIT, graduated, isZeroPrice, modelOf, packagePrice,
  parseCatalogPrice, perUnit, type PriceModel, type PriceTier, priceLine, PriceRun, tokenPriceUnit, volume,
} from '../../src/domain/price-models/index.js';

const D = (s: string) => Decimal.parse(s);
const tier = (upTo: bigint | null, price: string, flatFee = '0'): PriceTier => ({ upTo, price: D(price), flatFee: D(flatFee) });

const priceArb = fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 9n }), fc.integer({ min: 0, max: 6 })).map(([u, s]) => Decimal.of(u, s));
const feeArb = fc.oneof(fc.constant(Decimal.ZERO), priceArb);
const unitSizeArb = fc.constantFrom(1n, 7n, 1000n, 3600n);
const tiersArb = fc
  .array(fc.tuple(fc.bigInt({ min: 1n, max: 10n ** 7n }), priceArb, feeArb), { maxLength: 4 })
  .chain((bounded) =>
    fc.tuple(priceArb, feeArb).map(([price, flatFee]) => {
      const bounds = [...new Set(bounded.map(([b]) => b))].sort((a, b) => (a < b ? -1 : 1));
      return [...bounds.map((b, i): PriceTier => ({ upTo: b, price: bounded[i]![1], flatFee: bounded[i]![2] })), { upTo: null, price, flatFee }];
    }),
  );
const modelArb: fc.Arbitrary<PriceModel> = fc.oneof(
  fc.tuple(priceArb, unitSizeArb).map(([p, u]) => perUnit(p, u)),
  fc.tuple(tiersArb, unitSizeArb).map(([t, u]) => graduated(t, u)),
  fc.tuple(tiersArb, unitSizeArb).map(([t, u]) => volume(t, u)),
  fc.tuple(fc.bigInt({ min: 1n, max: 10n ** 6n }), priceArb).map(([s, p]) => packagePrice(s, p)),
);
const partsArb = fc.array(fc.bigInt({ min: 0n, max: 10n ** 7n }), { maxLength: 6 });

describe('shares of a line', () => {
  it('add up to the line priced whole, exactly, whatever the split (rounded once)', () => {
    fc.assert(
      fc.property(modelArb, partsArb, fc.constantFrom(0, 2, 3), (model, parts, digits) => {
        const run = new PriceRun(model);
        const sum = new ExactSum();
        for (const p of parts) run.add(p, sum);
        const q = parts.reduce((a, b) => a + b, 0n);
        expect(sum.round(digits).toString()).toBe(priceLine(model, q, digits).toString());
      }),
    );
  });

  it('under per-unit are units × price / unit size, whatever came before', () => {
    fc.assert(
      fc.property(priceArb, unitSizeArb, fc.bigInt({ min: 0n, max: 10n ** 9n }), fc.bigInt({ min: 0n, max: 10n ** 9n }), (p, u, before, units) => {
        const a = addPriceShare(new ExactSum(), perUnit(p, u), units, before).round(12).toString();
        expect(a).toBe(new ExactSum().add(p.mul(units), u).round(12).toString());
      }),
    );
  });

  it("follow the tiers: a day's units after earlier days pay the later tier", () => {
    // Volume up to 10 h at 0.90, beyond 0.75 + 1: 6 h cost 5.40; 5 more make 11 h, 9.25 in all, so they cost 3.85.
    const v = volume([tier(36000n, '0.90'), tier(null, '0.75', '1')], 3600n);
    expect(addPriceShare(new ExactSum(), v, 21600n).round(2).toString()).toBe('5.40');
    expect(addPriceShare(new ExactSum(), v, 18000n, 21600n).round(2).toString()).toBe('3.85');
    // Graduated: crossing into a cheaper tier never makes a share negative; volume may (that is the model).
    const g = graduated([tier(3600n, '2.00'), tier(null, '1.00')], 3600n);
    expect(addPriceShare(new ExactSum(), g, 1800n, 3600n).round(2).toString()).toBe('0.50');
    const cheaper = volume([tier(10n, '1'), tier(null, '0.5')], 1n);
    expect(addPriceShare(new ExactSum(), cheaper, 1n, 10n).round(2).toString()).toBe('-4.50');
    // Package: a started package is paid by the share that starts it.
    const pk = packagePrice(1_000_000n, D('0.05'));
    const run = new PriceRun(pk);
    expect([1_000_000n, 1n, 999_999n, 1n].map((n) => run.add(n, new ExactSum()).round(2).toString())).toEqual(['0.05', '0.05', '0.00', '0.05']);
    expect(() => addPriceShare(new ExactSum(), pk, -1n)).toThrow(RangeError);
  });
});

describe('catalog prices', () => {
  it('keep a decimal a Decimal (the per-unit model) and a model a model; stored and read back the same', () => {
    const tokens = tokenPriceUnit(1000n);
    const plain = parseCatalogPrice('0.90', 'price', GPU_PRICE_UNIT).price!;
    expect(plain).toEqual(D('0.90'));
    expect(modelOf(plain, GPU_PRICE_UNIT)).toEqual(perUnit(D('0.90'), 3600n));
    expect(catalogPriceToStored(plain, GPU_PRICE_UNIT)).toBe('0.90');
    expect(catalogPriceFromStored('0.90', GPU_PRICE_UNIT)).toEqual(D('0.90'));
    const tiered = parseCatalogPrice({ model: 'graduated', tiers: [{ up_to: 2, price: '0.90' }, { up_to: null, price: '0.75', flat_fee: '1' }] }, 'price', GPU_PRICE_UNIT).price!;
    expect(tiered).toEqual(graduated([tier(7200n, '0.90'), tier(null, '0.75', '1')], 3600n));
    const stored = catalogPriceToStored(tiered, GPU_PRICE_UNIT);
    expect(stored).toBe('{"model":"graduated","tiers":[{"up_to":2,"price":"0.90"},{"up_to":null,"price":"0.75","flat_fee":"1"}]}');
    expect(catalogPriceFromStored(stored, GPU_PRICE_UNIT)).toEqual(tiered);
    const pk = parseCatalogPrice({ model: 'package', size: 1000000, price: '0.05' }, 'input', tokens).price!;
    expect(catalogPriceFromStored(catalogPriceToStored(pk, tokens), tokens)).toEqual(pk);
    expect([isZeroPrice(D('0')), isZeroPrice(D('0.00')), isZeroPrice(D('0.01')), isZeroPrice(pk)]).toEqual([true, true, false, false]);
  });
});
