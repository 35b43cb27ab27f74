/** What catalog sync would make in Stripe, worked out without Stripe: exact prices, or the reason. */
import fc from 'fast-check';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { METER_KEYS } from '../../src/config.js';
import { parseCatalog, type CatalogVersion } from '../../src/domain/catalog.js';
import { Decimal } from '../../src/domain/money.js';
import { graduated, packagePrice, perUnit, priceLine, volume, type PriceModel, type PriceTier } from '../../src/domain/price-models/index.js';
import {
  FIRST_WAVE_METERS,
  currencyProblem, exactRatio, meteredShape, planStripeCatalog, priceLookupKey, shapeKey, type ShapeContext, type StripePriceShape,
} from '../../src/stripe/catalog-plan.js';
import { priceModelFor as priceModelOf } from '../../src/domain/rating.js';
import { sampleCatalogDoc } from '../helpers/fixtures.js';
import { STRIPE_READY_CATALOG } from '../helpers/stripe-catalog.js';
import { stripeAmount } from '../helpers/stripe-tiers.js';

function catalog(doc: unknown): CatalogVersion {
  const r = parseCatalog(doc);
  if (!r.catalog) throw new Error(r.problems.join('; '));
  return r.catalog;
}

const ctx = { currency: 'USD', label: 'GPU rate a100-80gb', allowance: 0n, unit: 'second', priceUnit: 'GPU hour' };

describe('meteredShape', () => {
  it('a GPU price per hour over a meter of seconds: exact in 12 decimals of a cent, or refused', () => {
    const ok = meteredShape(perUnit(Decimal.parse('3.60'), 3600n), 2, ctx);
    expect('shape' in ok && shapeKey(ok.shape)).toBe(JSON.stringify(['per_unit', '0.1', null]));
    const half = meteredShape(perUnit(Decimal.parse('0.90'), 3600n), 2, ctx);
    expect('shape' in half && shapeKey(half.shape)).toBe(JSON.stringify(['per_unit', '0.025', null]));
    const no = meteredShape(perUnit(Decimal.parse('4.00'), 3600n), 2, ctx);
    expect(no).toEqual({
      refused:
        'GPU rate a100-80gb: 4.00 USD per GPU hour is 0.11111111111111… of Stripe\'s minor unit (1/100 USD) per second, ' +
        "more than the 12 decimals Stripe's unit_amount_decimal holds: Stripe cannot bill it exactly",
    });
  });

  it('an allowance becomes a free first tier up to it, then the unit price (graduated)', () => {
    const r = meteredShape(perUnit(Decimal.parse('3.60'), 3600n), 2, { ...ctx, allowance: 36_000n });
    expect('shape' in r && shapeKey(r.shape)).toBe(JSON.stringify(['tiered', 'graduated', [['36000', '0', '0'], ['inf', '0.1', '0']]]));
    // A free price needs no tier.
    const zero = meteredShape(perUnit(Decimal.parse('0'), 1n), 2, { ...ctx, allowance: 10n });
    expect('shape' in zero && shapeKey(zero.shape)).toBe(JSON.stringify(['per_unit', '0', null]));
  });

  it('token prices per 1,000 tokens in JPY and KWD', () => {
    const jpy = meteredShape(perUnit(Decimal.parse('0.5'), 1000n), 0, { ...ctx, currency: 'JPY' });
    expect('shape' in jpy && shapeKey(jpy.shape)).toBe(JSON.stringify(['per_unit', '0.0005', null]));
    const kwd = meteredShape(perUnit(Decimal.parse('0.0011'), 1000n), 3, { ...ctx, currency: 'KWD' });
    expect('shape' in kwd && shapeKey(kwd.shape)).toBe(JSON.stringify(['per_unit', '0.0011', null]));
  });
});

describe('exactRatio', () => {
  it('is exact when defined, and defined exactly when the quotient ends within 12 decimals', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.bigInt({ min: 1n, max: 10n ** 6n }), (num, den) => {
        const q = exactRatio(num, den);
        // Does num/den end within 12 decimals? num * 10^12 divisible by den.
        const ends = (num * 10n ** 12n) % den === 0n;
        expect(q !== undefined).toBe(ends);
        if (q) expect(q.units * den).toBe(num * 10n ** BigInt(q.scale));
      }),
    );
  });
});

describe('currencies', () => {
  it("refuses a currency whose minor unit in Stripe is not ISO 4217's", () => {
    expect(currencyProblem('USD')).toBeUndefined();
    expect(currencyProblem('JPY')).toBeUndefined();
    expect(currencyProblem('KWD')).toBeUndefined();
    expect(currencyProblem('MGA')).toBe("Stripe counts MGA in 0 decimals, ISO 4217 (and billctl's invoices) in 2: the amounts would not agree");
    expect(currencyProblem('ISK')).toMatch(/^Stripe treats ISK specially/);
  });
});

describe('planStripeCatalog', () => {
  it('a catalog Stripe can bill: a price per meter and a fee price per plan, with allowances as free tiers', () => {
    const plan = planStripeCatalog(catalog(YAML.parse(STRIPE_READY_CATALOG)));
    expect(plan.products.map((p) => [p.id, p.name])).toEqual([
      ['billctl_gpu_seconds', 'GPU time'], ['billctl_input_tokens', 'Input tokens'], ['billctl_output_tokens', 'Output tokens'],
      ['billctl_api_calls', 'API calls'], ['billctl_plan_pro', 'Pro plan'],
    ]);
    const pro = plan.plans.find((p) => p.plan === 'pro')!;
    expect(pro.reasons).toEqual([]);
    expect(pro.prices.map((p) => [p.lookupKey, p.usageType, shapeKey(p.shape)])).toEqual([
      ['billctl:2026-10:pro:gpu_seconds', 'metered', JSON.stringify(['tiered', 'graduated', [['36000', '0', '0'], ['inf', '0.1', '0']]])],
      ['billctl:2026-10:pro:input_tokens', 'metered', JSON.stringify(['per_unit', '0.0003', null])],
      ['billctl:2026-10:pro:output_tokens', 'metered', JSON.stringify(['per_unit', '0.0006', null])],
      ['billctl:2026-10:pro:api_calls', 'metered', JSON.stringify(['tiered', 'graduated', [['1000', '0', '0'], ['inf', '0.01', '0']]])],
      ['billctl:2026-10:pro:fee', 'licensed', JSON.stringify(['per_unit', '9900', null])],
    ]);
    // A free plan has no fee item.
    expect(plan.plans.find((p) => p.plan === 'starter')!.prices.map((p) => p.item)).toEqual(['gpu_seconds', 'input_tokens', 'output_tokens', 'api_calls']);
  });

  it('a token class with a price of its own and no Stripe meter yet: every plan is refused, with what to run', () => {
    const doc = YAML.parse(STRIPE_READY_CATALOG) as { token_rates: Record<string, Record<string, string>> };
    doc.token_rates['qwen-70b']!.cached_input = '0.0015';
    doc.token_rates['qwen-70b']!.reasoning = '0.008';
    const plan = planStripeCatalog(catalog(doc));
    for (const p of plan.plans) {
      expect(p.reasons).toEqual([
        `plan ${p.plan}: qwen-70b cached_input, qwen-70b reasoning have prices of their own, and there is no Stripe meter for ` +
          'cached_input_tokens, reasoning_tokens yet: run billctl stripe setup (it makes a meter for each token class the store holds receipts of), ' +
          'or bill this plan by invoice',
      ]);
    }
    // Only the reasoning meter: cached input is still refused.
    const some = planStripeCatalog(catalog(doc), undefined, new Set([...FIRST_WAVE_METERS, 'reasoning_tokens']));
    expect(some.plans.find((p) => p.plan === 'pro')!.reasons).toEqual([
      'plan pro: qwen-70b cached_input has a price of its own, and there is no Stripe meter for cached_input_tokens yet: ' +
        'run billctl stripe setup (it makes a meter for each token class the store holds receipts of), or bill this plan by invoice',
    ]);
    // Without them the same catalog syncs.
    expect(planStripeCatalog(catalog(YAML.parse(STRIPE_READY_CATALOG))).plans.find((p) => p.plan === 'pro')!.reasons).toEqual([]);
  });

  it('with the class meters set up, each class price goes to its meter; reasoning without a price of its own bills at the output price', () => {
    const doc = YAML.parse(STRIPE_READY_CATALOG) as { token_rates: Record<string, Record<string, string>> };
    doc.token_rates['qwen-70b']!.cached_input = '0.0015';
    doc.token_rates['qwen-70b']!.cache_write = '0.00375';
    const plan = planStripeCatalog(catalog(doc), undefined, new Set(METER_KEYS));
    expect(plan.products.map((p) => [p.id, p.name, p.unitLabel])).toEqual([
      ['billctl_gpu_seconds', 'GPU time', 'second'], ['billctl_input_tokens', 'Input tokens', 'token'],
      ['billctl_cached_input_tokens', 'Cached input tokens', 'token'], ['billctl_cache_write_tokens', 'Cache write tokens', 'token'],
      ['billctl_output_tokens', 'Output tokens', 'token'], ['billctl_reasoning_tokens', 'Reasoning tokens', 'token'],
      ['billctl_api_calls', 'API calls', 'call'], ['billctl_plan_pro', 'Pro plan', null],
    ]);
    const pro = plan.plans.find((p) => p.plan === 'pro')!;
    expect(pro.reasons).toEqual([]);
    // Per 1,000 tokens in USD → cents per token: 0.0015 → 0.00015, 0.00375 → 0.000375, reasoning = output 0.006 → 0.0006.
    expect(pro.prices.map((p) => [p.lookupKey, p.productId, shapeKey(p.shape)])).toEqual([
      ['billctl:2026-10:pro:gpu_seconds', 'billctl_gpu_seconds', JSON.stringify(['tiered', 'graduated', [['36000', '0', '0'], ['inf', '0.1', '0']]])],
      ['billctl:2026-10:pro:input_tokens', 'billctl_input_tokens', JSON.stringify(['per_unit', '0.0003', null])],
      ['billctl:2026-10:pro:cached_input_tokens', 'billctl_cached_input_tokens', JSON.stringify(['per_unit', '0.00015', null])],
      ['billctl:2026-10:pro:cache_write_tokens', 'billctl_cache_write_tokens', JSON.stringify(['per_unit', '0.000375', null])],
      ['billctl:2026-10:pro:output_tokens', 'billctl_output_tokens', JSON.stringify(['per_unit', '0.0006', null])],
      ['billctl:2026-10:pro:reasoning_tokens', 'billctl_reasoning_tokens', JSON.stringify(['per_unit', '0.0006', null])],
      ['billctl:2026-10:pro:api_calls', 'billctl_api_calls', JSON.stringify(['tiered', 'graduated', [['1000', '0', '0'], ['inf', '0.01', '0']]])],
      ['billctl:2026-10:pro:fee', 'billctl_plan_pro', JSON.stringify(['per_unit', '9900', null])],
    ]);
    // A class meter no model prices: no price on it, and a note (billctl refuses such usage as unpriced).
    const bare = planStripeCatalog(catalog(YAML.parse(STRIPE_READY_CATALOG)), undefined, new Set(METER_KEYS)).plans.find((p) => p.plan === 'pro')!;
    expect(bare.reasons).toEqual([]);
    expect(bare.prices.map((p) => p.item)).toEqual(['gpu_seconds', 'input_tokens', 'output_tokens', 'reasoning_tokens', 'api_calls', 'fee']);
    expect(bare.notes).toEqual([
      "cached_input_tokens: catalog 2026-10 prices no model's cached input tokens, so no price bills this meter (billctl's own rating refuses such usage as unpriced)",
      "cache_write_tokens: catalog 2026-10 prices no model's cache write tokens, so no price bills this meter (billctl's own rating refuses such usage as unpriced)",
    ]);
  });

  it('a class some models price and others do not is refused: one Stripe price would bill the unpriced ones', () => {
    const doc = YAML.parse(STRIPE_READY_CATALOG) as { token_rates: Record<string, Record<string, string>> };
    doc.token_rates['qwen-70b']!.cached_input = '0.0015';
    doc.token_rates['gemma-2b'] = { input: '0.003', output: '0.006', name: 'Gemma-2B' };
    const pro = planStripeCatalog(catalog(doc), undefined, new Set(METER_KEYS)).plans.find((p) => p.plan === 'pro')!;
    expect(pro.reasons).toEqual([
      "cached_input_tokens: gemma-2b has no cached input price (billctl refuses such usage as unpriced), but Stripe's cached_input_tokens meter " +
        'counts its tokens with qwen-70b, so one price would bill them',
    ]);
    expect(pro.prices).toEqual([]);
  });

  it('the sample catalog: every plan refused, each with every reason', () => {
    const plan = planStripeCatalog(catalog(sampleCatalogDoc()));
    expect(plan.plans.map((p) => [p.plan, p.prices.length])).toEqual([['enterprise', 0], ['free', 0], ['pro', 0]]);
    const enterprise = plan.plans[0]!.reasons;
    expect(enterprise).toContain(
      'GPU rate a100-80gb: 4.00 USD per GPU hour is 0.11111111111111… of Stripe\'s minor unit (1/100 USD) per second, ' +
        "more than the 12 decimals Stripe's unit_amount_decimal holds: Stripe cannot bill it exactly",
    );
    expect(enterprise).toContain(
      "input_tokens: the input tokens prices differ (gemma-2b / qwen-30b / qwen-70b), but Stripe's input_tokens meter counts them together, " +
        'so one price cannot bill them apart (a meter per model does not exist)',
    );
    expect(enterprise).toContain(
      'plan enterprise: its 100,000,000 included tokens are one pool that every token class draws from in receipt order; ' +
        'Stripe applies a free tier to each meter on its own, so it cannot bill the pool exactly',
    );
    expect(enterprise).toContain(
      'plan enterprise: its 10 % usage discount is taken from the sum of the usage lines and rounded once; a Stripe coupon rounds otherwise and would discount the fee too',
    );
    expect(plan.products).toEqual([]);
  });

  it('a fee with fractions of a cent, and a catalog without GPUs', () => {
    const doc = YAML.parse(STRIPE_READY_CATALOG) as Record<string, unknown>;
    delete doc.gpu_rates;
    (doc.plans as Record<string, Record<string, unknown>>).pro!.monthly_fee = '99.995';
    const plan = planStripeCatalog(catalog(doc));
    const pro = plan.plans.find((p) => p.plan === 'pro')!;
    expect(pro.reasons).toEqual(['plan pro: its monthly fee 99.995 USD is not a whole number of USD\'s minor unit']);
    const starter = plan.plans.find((p) => p.plan === 'starter')!;
    expect(starter.reasons).toEqual([]);
    expect(starter.notes).toEqual(["gpu_seconds: catalog 2026-10 prices no GPU, so no price bills this meter (billctl's own rating refuses such usage as unpriced)"]);
    expect(starter.prices.map((p) => p.item)).toEqual(['input_tokens', 'output_tokens', 'api_calls']);
  });

  it('lookup keys stay within 200 characters', () => {
    expect(priceLookupKey('2026-10', 'pro', 'fee')).toBe('billctl:2026-10:pro:fee');
    const long = priceLookupKey('v'.repeat(150), 'p'.repeat(100), 'gpu_seconds');
    expect(long).toMatch(/^billctl:[0-9a-f]{40}:gpu_seconds$/);
  });
});

const D = (t: string) => Decimal.parse(t);
const tier = (upTo: bigint | null, price: string, flatFee = '0'): PriceTier => ({ upTo, price: D(price), flatFee: D(flatFee) });

/** The shape, or the test fails with the refusal. */
function shapeOf(model: PriceModel, digits: number, c: ShapeContext): StripePriceShape {
  const r = meteredShape(model, digits, c);
  if ('refused' in r) throw new Error(r.refused);
  return r.shape;
}

/** Stripe's amount for each metered quantity equals billctl's for the billed quantity (after the allowance). */
function expectSameAmounts(model: PriceModel, shape: StripePriceShape, allowance: bigint, digits: number, quantities: bigint[]): void {
  for (const q of quantities) {
    const billed = q > allowance ? q - allowance : 0n;
    expect([q, stripeAmount(shape, q, digits).toString()]).toEqual([q, priceLine(model, billed, digits).toString()]);
  }
}

const tokens = { currency: 'USD', label: 'input price of qwen-70b', allowance: 0n, unit: 'token', priceUnit: '1000 tokens' };

describe('meteredShape: graduated, volume and package prices', () => {
  const gpuTiers = [tier(36_000n, '0.90'), tier(null, '0.72', '5')];
  const GPU_QUANTITIES = [0n, 1n, 3_599n, 3_600n, 3_601n, 35_999n, 36_000n, 36_001n, 39_600n, 39_601n, 100_000n, 123_457n];

  it('graduated GPU hours over a meter of seconds: cents per second in each tier, bounds in seconds, flat fees in cents', () => {
    const model = graduated(gpuTiers, 3600n);
    const shape = shapeOf(model, 2, ctx);
    expect(shapeKey(shape)).toBe(JSON.stringify(['tiered', 'graduated', [['36000', '0.025', '0'], ['inf', '0.02', '500']]]));
    expectSameAmounts(model, shape, 0n, 2, GPU_QUANTITIES);
    // 10 h at 0.90 and 1 s at 0.72 with its flat fee: 9.00 + 0.0002 + 5 = 14.00.
    expect(stripeAmount(shape, 36_001n, 2).toString()).toBe('14.00');
  });

  it('graduated after an allowance: a free first tier and every bound moved up by it', () => {
    const model = graduated(gpuTiers, 3600n);
    const shape = shapeOf(model, 2, { ...ctx, allowance: 3600n });
    expect(shapeKey(shape)).toBe(JSON.stringify(['tiered', 'graduated', [['3600', '0', '0'], ['39600', '0.025', '0'], ['inf', '0.02', '500']]]));
    expectSameAmounts(model, shape, 3600n, 2, GPU_QUANTITIES);
    // A flat fee on the first priced tier is fine after an allowance: the free tier holds 0.
    const fee = graduated([tier(1_000n, '0.006', '1'), tier(null, '0.004')], 1000n);
    const s2 = shapeOf(fee, 2, { ...tokens, allowance: 500n });
    expect(shapeKey(s2)).toBe(JSON.stringify(['tiered', 'graduated', [['500', '0', '0'], ['1500', '0.0006', '100'], ['inf', '0.0004', '0']]]));
    expectSameAmounts(fee, s2, 500n, 2, [0n, 499n, 500n, 501n, 1_500n, 1_501n, 2_000_000n]);
  });

  it('graduated tokens per 1,000 in JPY and KWD', () => {
    const jpy = graduated([tier(2_000_000n, '0.5'), tier(null, '0.25')], 1000n);
    const js = shapeOf(jpy, 0, { ...tokens, currency: 'JPY' });
    expect(shapeKey(js)).toBe(JSON.stringify(['tiered', 'graduated', [['2000000', '0.0005', '0'], ['inf', '0.00025', '0']]]));
    expectSameAmounts(jpy, js, 0n, 0, [0n, 999n, 1_000n, 2_000_000n, 2_000_001n, 3_333_333n]);
    const kwd = graduated([tier(1_000n, '0.0011'), tier(null, '0.0009', '0.5')], 1000n);
    const ks = shapeOf(kwd, 3, { ...tokens, currency: 'KWD' });
    expect(shapeKey(ks)).toBe(JSON.stringify(['tiered', 'graduated', [['1000', '0.0011', '0'], ['inf', '0.0009', '500']]]));
    expectSameAmounts(kwd, ks, 0n, 3, [0n, 1n, 1_000n, 1_001n, 987_654n]);
  });

  it('volume: the tier holding the quantity prices all of it', () => {
    const model = volume(gpuTiers, 3600n);
    const shape = shapeOf(model, 2, ctx);
    expect(shapeKey(shape)).toBe(JSON.stringify(['tiered', 'volume', [['36000', '0.025', '0'], ['inf', '0.02', '500']]]));
    expectSameAmounts(model, shape, 0n, 2, GPU_QUANTITIES);
    // 36,001 s all at 0.72 an hour, and the flat fee: 7.2002 + 5 = 12.20.
    expect(stripeAmount(shape, 36_001n, 2).toString()).toBe('12.20');
  });

  it('volume after an allowance: exact only when every flat fee can take the allowance back', () => {
    // billctl prices q = Q − 3,600 at the tier holding q; Stripe prices all of Q: each tier's flat
    // amount is its fee less 3,600 s at its price (100 − 90 and 100 − 72 cents).
    const model = volume([tier(36_000n, '0.90', '1'), tier(null, '0.72', '1')], 3600n);
    const shape = shapeOf(model, 2, { ...ctx, allowance: 3600n });
    expect(shapeKey(shape)).toBe(JSON.stringify(['tiered', 'volume', [['3600', '0', '0'], ['39600', '0.025', '10'], ['inf', '0.02', '28']]]));
    expectSameAmounts(model, shape, 3600n, 2, GPU_QUANTITIES);
    expect(meteredShape(volume(gpuTiers, 3600n), 2, { ...ctx, allowance: 3600n })).toEqual({
      refused:
        "GPU rate a100-80gb: a volume price after the plan's allowance of 3,600 seconds: billctl prices the billed quantity (after the allowance) " +
        "at the tier that holds it, Stripe's volume tiers price the whole metered quantity, allowance included; a tier's flat amount could take " +
        "the allowance's 90 minor units back only where it is at least that and stays whole (tiers[0]: 0), so Stripe cannot bill it exactly",
    });
  });

  it('package: a per-unit price of the package with transform_quantity divide_by = size, round up', () => {
    // Issue 14's example: Gemma-2B input by packages of 1,000,000 tokens at 0.05: 1,500,000 tokens cost 0.10.
    const model = packagePrice(1_000_000n, D('0.05'));
    const shape = shapeOf(model, 2, tokens);
    expect(shapeKey(shape)).toBe(JSON.stringify(['per_unit', '5', ['1000000', 'up']]));
    expect(stripeAmount(shape, 1_500_000n, 2).toString()).toBe('0.10');
    expectSameAmounts(model, shape, 0n, 2, [0n, 1n, 999_999n, 1_000_000n, 1_000_001n, 1_500_000n, 7_000_000n]);
    // GPU packages of 10 hours (36,000 s) at 8.125: Stripe's unit amount holds decimals of a cent.
    const gpu = packagePrice(36_000n, D('8.125'));
    const gs = shapeOf(gpu, 2, ctx);
    expect(shapeKey(gs)).toBe(JSON.stringify(['per_unit', '812.5', ['36000', 'up']]));
    expectSameAmounts(gpu, gs, 0n, 2, [0n, 1n, 36_000n, 36_001n, 72_001n, 108_000n]);
  });

  it('refuses, with the reason, what Stripe cannot bill exactly', () => {
    // The issue-14 example's RTX 4090 price beyond 10 h: 0.75 an hour is 0.0208333… cents a second.
    expect(meteredShape(volume([tier(36_000n, '0.90'), tier(null, '0.75', '1')], 3600n), 2, { ...ctx, label: 'GPU rate rtx-4090' })).toEqual({
      refused:
        "GPU rate rtx-4090 (tiers[1]): 0.75 USD per GPU hour is 0.02083333333333… of Stripe's minor unit (1/100 USD) per second, " +
        "more than the 12 decimals Stripe's unit_amount_decimal holds: Stripe cannot bill it exactly",
    });
    expect(meteredShape(graduated([tier(10n, '1', '0.005'), tier(null, '0.5')], 1n), 2, { ...ctx, label: 'request_rate', unit: 'call', priceUnit: 'request' })).toEqual({
      refused: "request_rate (tiers[0]): its flat fee 0.005 USD is not a whole number of USD's minor unit, which Stripe's flat_amount counts",
    });
    const firstFee = 'GPU rate a100-80gb (tiers[0]): its flat fee 2 USD is billed by billctl only when the billed quantity is above 0; ' +
      "Stripe bills the first tier's flat amount for a quantity of 0 too (a period without usage)";
    expect(meteredShape(graduated([tier(3600n, '0.90', '2'), tier(null, '0.72')], 3600n), 2, ctx)).toEqual({ refused: firstFee });
    expect(meteredShape(volume([tier(3600n, '0.90', '2'), tier(null, '0.72')], 3600n), 2, ctx)).toEqual({ refused: firstFee });
    expect(meteredShape(packagePrice(3600n, D('1')), 2, { ...ctx, allowance: 36_000n })).toEqual({
      refused:
        "GPU rate a100-80gb: a package price after the plan's allowance of 36,000 seconds: billctl counts the packages of the billed quantity " +
        "(after the allowance), Stripe's transform_quantity divides the whole metered quantity and cannot be combined with a free tier",
    });
    expect(meteredShape(graduated([tier(2n ** 53n, '0.003'), tier(null, '0.002')], 1000n), 2, { ...tokens, allowance: 10n })).toEqual({
      refused:
        'input price of qwen-70b (tiers[0]): its bound, 9,007,199,254,741,002 tokens on Stripe\'s meter, is above 2^53 − 1, ' +
        'the largest whole number billctl sends to Stripe and reads back exactly',
    });
  });
});

describe('planStripeCatalog with price models', () => {
  const doc = () => YAML.parse(STRIPE_READY_CATALOG) as Record<string, unknown>;

  it('each meter priced by a model: tiers in the meter units, allowances as free tiers', () => {
    const models: Record<string, PriceModel> = {
      gpu: graduated([tier(36_000n, '0.90'), tier(null, '0.72', '5')], 3600n),
      input_tokens: volume([tier(1_000_000n, '0.003'), tier(null, '0.002')], 1000n),
      output_tokens: packagePrice(1_000_000n, D('5')),
      requests: graduated([tier(10_000n, '0.0001'), tier(null, '0.00005')], 1n),
    };
    const plan = planStripeCatalog(catalog(doc()), (_v, _p, kind) => models[kind]);
    const pro = plan.plans.find((p) => p.plan === 'pro')!;
    expect(pro.reasons).toEqual([]);
    expect(pro.prices.map((p) => [p.item, shapeKey(p.shape)])).toEqual([
      ['gpu_seconds', JSON.stringify(['tiered', 'graduated', [['36000', '0', '0'], ['72000', '0.025', '0'], ['inf', '0.02', '500']]])],
      ['input_tokens', JSON.stringify(['tiered', 'volume', [['1000000', '0.0003', '0'], ['inf', '0.0002', '0']]])],
      ['output_tokens', JSON.stringify(['per_unit', '500', ['1000000', 'up']])],
      ['api_calls', JSON.stringify(['tiered', 'graduated', [['1000', '0', '0'], ['11000', '0.01', '0'], ['inf', '0.005', '0']]])],
      ['fee', JSON.stringify(['per_unit', '9900', null])],
    ]);
  });

  it('refuses a tiered or package price on a meter that sums several GPUs or models', () => {
    const d = doc();
    (d.gpu_rates as Record<string, unknown>)['h100'] = { price: '3.60', name: 'H100' };
    const model = graduated([tier(36_000n, '0.90'), tier(null, '0.72')], 3600n);
    const plan = planStripeCatalog(catalog(d), (v, _p, kind, key) => (kind === 'gpu' ? model : priceModelOf(v, kind, key)));
    const pro = plan.plans.find((p) => p.plan === 'pro')!;
    expect(pro.prices).toEqual([]);
    expect(pro.reasons).toEqual([
      'gpu_seconds: GPU rate a100-80gb, GPU rate h100 are graduated prices, which billctl applies to each GPU\'s line on its own, ' +
        "but Stripe's gpu_seconds meter sums a100-80gb, h100 first, so its tiers would apply to the sum",
    ]);
    const d2 = doc();
    (d2.token_rates as Record<string, unknown>)['gemma-2b'] = { input: '0.003', output: '0.006', name: 'Gemma-2B' };
    const packages = planStripeCatalog(catalog(d2), (v, _p, kind, key) =>
      kind === 'input_tokens' && key === 'gemma-2b' ? packagePrice(1_000_000n, D('3')) : priceModelOf(v, kind, key));
    expect(packages.plans.find((p) => p.plan === 'starter')!.reasons).toEqual([
      "input_tokens: input price of gemma-2b is a package price, which billctl applies to each model's line on its own, " +
        "but Stripe's input_tokens meter sums qwen-70b, gemma-2b first, so its packages would be counted over the sum",
    ]);
  });
});
