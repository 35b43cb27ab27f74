/** What catalog sync would make in Stripe, worked out without Stripe: exact prices, or the reason. */
import fc from 'fast-check';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseCatalog, type CatalogVersion } from '../../src/domain/catalog.js';
import { Decimal } from '../../src/domain/money.js';
import { graduated, packagePrice, perUnit, volume } from '../../src/domain/price-models/index.js';
import {
  currencyProblem, exactRatio, meteredShape, planStripeCatalog, priceLookupKey, shapeKey,
} from '../../src/stripe/catalog-plan.js';
import { sampleCatalogDoc } from '../helpers/fixtures.js';
import { STRIPE_READY_CATALOG } from '../helpers/stripe-catalog.js';

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

  it('refuses graduated, volume and package prices, never billing them otherwise', () => {
    const tiers = [{ upTo: 36_000n, price: Decimal.parse('0.90'), flatFee: Decimal.ZERO }, { upTo: null, price: Decimal.parse('0.72'), flatFee: Decimal.ZERO }];
    expect(meteredShape(graduated(tiers, 3600n), 2, ctx)).toEqual({ refused: 'GPU rate a100-80gb: billctl does not sync a graduated price to Stripe; bill this plan by invoice' });
    expect(meteredShape(volume(tiers, 3600n), 2, ctx)).toEqual({ refused: 'GPU rate a100-80gb: billctl does not sync a volume price to Stripe; bill this plan by invoice' });
    expect(meteredShape(packagePrice(3600n, Decimal.parse('1')), 2, ctx)).toEqual({ refused: 'GPU rate a100-80gb: billctl does not sync a package price to Stripe; bill this plan by invoice' });
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
      'plan enterprise: its 100,000,000 included tokens are one pool that input and output tokens draw from in receipt order; ' +
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
