/** Catalog prices read by parsePrice: every model, and every problem named by its field path. */
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.js';
import {
  GPU_PRICE_UNIT, graduated, metricPriceUnit, packagePrice, parsePrice, perUnit, REQUEST_PRICE_UNIT, tokenPriceUnit, volume,
} from '../../src/domain/price-models/index.js';

const D = (s: string) => Decimal.parse(s);
const P = 'plans.pro.rates.token_rates.qwen-70b.output';
const TOKENS = tokenPriceUnit(1000n);
const problems = (value: unknown, unit = TOKENS) => parsePrice(value, P, unit).problems;
const tiered = (tiers: unknown[], m = 'graduated') => ({ model: m, tiers });

describe('parsePrice reads', () => {
  it('a decimal, as text or by a number\'s shortest decimal text, as per-unit', () => {
    expect(parsePrice('0.006', P, TOKENS)).toEqual({ model: perUnit(D('0.006'), 1000n), problems: [] });
    expect(parsePrice(0.1, 'gpu_rates.a100-80gb.price', GPU_PRICE_UNIT).model).toEqual(perUnit(D('0.1'), 3600n));
    expect(parsePrice('0', 'request_rate', REQUEST_PRICE_UNIT).model).toEqual(perUnit(D('0'), 1n));
    expect(parsePrice('5', 'plans.team.charges.seats.price', metricPriceUnit(10n)).model).toEqual(perUnit(D('5'), 10n));
  });

  it('graduated and volume tiers, bounds in allowance units held in counting units', () => {
    const doc = tiered([{ up_to: 10, price: '0.90' }, { up_to: '20', price: 0.8, flat_fee: 1 }, { up_to: null, price: '0.75' }]);
    const tiers = [
      { upTo: 36_000n, price: D('0.90'), flatFee: D('0') },
      { upTo: 72_000n, price: D('0.8'), flatFee: D('1') },
      { upTo: null, price: D('0.75'), flatFee: D('0') },
    ];
    expect(parsePrice(doc, P, GPU_PRICE_UNIT)).toEqual({ model: graduated(tiers, 3600n), problems: [] });
    expect(parsePrice({ ...doc, model: 'volume' }, P, GPU_PRICE_UNIT).model).toEqual(volume(tiers, 3600n));
    expect(parsePrice(tiered([{ up_to: 50000000, price: '0.003' }, { up_to: null, price: '0.002' }]), P, TOKENS).model)
      .toEqual(graduated([{ upTo: 50_000_000n, price: D('0.003'), flatFee: D('0') }, { upTo: null, price: D('0.002'), flatFee: D('0') }], 1000n));
  });

  it('a package, its size in allowance units', () => {
    expect(parsePrice({ model: 'package', size: 1000000, price: '2.00' }, P, TOKENS).model).toEqual(packagePrice(1_000_000n, D('2.00')));
    expect(parsePrice({ model: 'package', size: 1, price: '2.00' }, P, GPU_PRICE_UNIT).model).toEqual(packagePrice(3600n, D('2.00')));
  });
});

describe('parsePrice names every problem by its path', () => {
  it.each<[string, unknown, string[]]>([
    ['a missing price', undefined, [`${P}: missing`]],
    ['a negative price', '-0.006', [`${P}: "-0.006" is negative`]],
    ['text that is no decimal', 'cheap', [`${P}: "cheap" is not a decimal number (write it like "4.00")`]],
    ['an absurd price', '1e999999', [`${P}: "1e999999" is out of range (a price is below 10^15, with at most 12 digits after the decimal point)`]],
    ['too many decimals', '0.0000000000001', [`${P}: "0.0000000000001" has more than 12 digits after the decimal point`]],
    ['a price too large', 1e20, [`${P}: 100000000000000000000 is too large (at most 15 digits before the decimal point)`]],
    ['neither a decimal nor a map', ['0.006'], [`${P}: must be a decimal price (like "0.003") or a price model ({ model: graduated | volume | package, ... })`]],
    ['a map without a model', { tiers: [] }, [`${P}.model: missing (graduated, volume or package)`]],
    ['an unknown model', { model: 'tiered', tiers: [] }, [`${P}.model: "tiered" is not a price model (graduated, volume or package)`]],
    ['per_unit as a map', { model: 'per_unit', price: '1' }, [`${P}.model: "per_unit": write a per-unit price as a plain decimal, like "0.003"`]],
    ['missing tiers', { model: 'graduated' }, [`${P}.tiers: missing (a list of { up_to, price, flat_fee }, the last with up_to: null)`]],
    ['tiers that are no list', { model: 'volume', tiers: { up_to: null, price: '1' } }, [`${P}.tiers: must be a list of { up_to, price, flat_fee }, the last with up_to: null`]],
    ['no tier', tiered([]), [`${P}.tiers: empty: a tiered price needs at least one tier, the last with up_to: null`]],
    ['a tier that is no map', tiered(['0.006', { up_to: null, price: '1' }]), [`${P}.tiers[0]: must be a map: { up_to, price, flat_fee }`]],
    ['unknown keys', { model: 'graduated', tiers: [{ up_to: null, price: '1', flat_fe: '5' }], tier: 1 }, [
      `${P}.tier: unknown field (a graduated price has model and tiers)`,
      `${P}.tiers[0].flat_fe: unknown field (a tier has up_to, price and flat_fee)`,
    ]],
    ['a package with tiers', { model: 'package', size: 10, price: '1', tiers: [] }, [`${P}.tiers: unknown field (a package price has model, size and price)`]],
    ['unsorted tiers', tiered([{ up_to: 200, price: '2' }, { up_to: 100, price: '1' }, { up_to: null, price: '0.5' }]), [
      `${P}.tiers[1].up_to: 100 is not above tiers[0].up_to, 200: tiers are listed in strictly increasing order`,
    ]],
    ['a repeated bound', tiered([{ up_to: 100, price: '2' }, { up_to: 100, price: '1' }, { up_to: null, price: '0.5' }], 'volume'), [
      `${P}.tiers[1].up_to: 100 is not above tiers[0].up_to, 100: tiers are listed in strictly increasing order`,
    ]],
    ['a bound after null', tiered([{ up_to: null, price: '2' }, { up_to: 100, price: '1' }, { up_to: null, price: '0.5' }]), [
      `${P}.tiers[1]: follows tiers[0], whose up_to is null: only the last tier is unbounded`,
    ]],
    ['a last tier with a bound', tiered([{ up_to: 100, price: '2' }, { up_to: 200, price: '1' }]), [
      `${P}.tiers[1].up_to: 200, but the last tier's up_to must be null (no bound)`,
    ]],
    ['unsorted and bounded at the end', tiered([{ up_to: 200, price: '2' }, { up_to: 100, price: '1' }]), [
      `${P}.tiers[1].up_to: 100 is not above tiers[0].up_to, 200: tiers are listed in strictly increasing order`,
      `${P}.tiers[1].up_to: 100, but the last tier's up_to must be null (no bound)`,
    ]],
    ['a missing bound', tiered([{ price: '2' }, { up_to: null, price: '1' }]), [
      `${P}.tiers[0].up_to: missing (a whole number of tokens, or null for the last tier)`,
    ]],
    ['a decimal bound', tiered([{ up_to: 2.5, price: '2' }, { up_to: null, price: '1' }]), [
      `${P}.tiers[0].up_to: 2.5 is not a whole number: tier bounds count whole tokens`,
    ]],
    ['a bound of 0', tiered([{ up_to: 0, price: '2' }, { up_to: null, price: '1' }]), [
      `${P}.tiers[0].up_to: 0 must be at least 1: tier bounds count whole tokens`,
    ]],
    ['an absurd bound', tiered([{ up_to: 1e30, price: '2' }, { up_to: null, price: '1' }]), [
      `${P}.tiers[0].up_to: 1e+30 is too large (at most 2^53 − 1, 9007199254740991): tier bounds count whole tokens`,
    ]],
    ['a negative tier price', tiered([{ up_to: 100, price: '-2' }, { up_to: null, price: '1' }]), [`${P}.tiers[0].price: "-2" is negative`]],
    ['a missing tier price', tiered([{ up_to: null }]), [`${P}.tiers[0].price: missing`]],
    ['a negative flat fee', tiered([{ up_to: null, price: '1', flat_fee: '-5' }], 'volume'), [`${P}.tiers[0].flat_fee: "-5" is negative`]],
    ['a package size of 0', { model: 'package', size: 0, price: '2' }, [`${P}.size: 0 must be at least 1: a package size counts whole tokens`]],
    ['a package size not whole', { model: 'package', size: '1000.5', price: '2' }, [`${P}.size: "1000.5" is not a whole number: a package size counts whole tokens`]],
    ['a missing package size and price', { model: 'package' }, [
      `${P}.size: missing (a whole number of tokens, at least 1)`,
      `${P}.price: missing`,
    ]],
    ['a negative package price', { model: 'package', size: 10, price: -1 }, [`${P}.price: -1 is negative`]],
  ])('%s', (_, value, expected) => {
    const r = parsePrice(value, P, TOKENS);
    expect(r.problems).toEqual(expected);
    expect(r.model).toBeUndefined();
  });

  it('names GPU bounds in GPU hours', () => {
    expect(problems(tiered([{ up_to: 0.5, price: '2' }, { up_to: null, price: '1' }], 'volume'), GPU_PRICE_UNIT)).toEqual([
      `${P}.tiers[0].up_to: 0.5 is not a whole number: tier bounds count whole GPU hours`,
    ]);
    expect(problems({ model: 'package', size: 0, price: '1' }, GPU_PRICE_UNIT)).toEqual([
      `${P}.size: 0 must be at least 1: a package size counts whole GPU hours`,
    ]);
  });

  it('reports every problem of a price at once', () => {
    expect(problems(tiered([{ up_to: 100, price: '-1', flat_fee: 'x' }, { up_to: 50, price: '1' }, { up_to: 70 }]))).toEqual([
      `${P}.tiers[0].price: "-1" is negative`,
      `${P}.tiers[0].flat_fee: "x" is not a decimal number (write it like "4.00")`,
      `${P}.tiers[1].up_to: 50 is not above tiers[0].up_to, 100: tiers are listed in strictly increasing order`,
      `${P}.tiers[2].price: missing`,
      `${P}.tiers[2].up_to: 70, but the last tier's up_to must be null (no bound)`,
    ]);
  });
});
