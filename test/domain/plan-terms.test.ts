/** Plan rates and minimum commitments in the catalog: read, written back, resolved per plan (billing-rules.md, "Plan rates", "Commitments"). */
import { describe, expect, it } from 'vitest';
import {
  catalogFromStoredTerms, catalogTermsDocument, catalogToDocument, gpuPriceFor, parseCatalog, rateNameFor, requestPriceFor, tokenPriceFor,
} from '../../src/domain/catalog.js';
import { Decimal } from '../../src/domain/money.js';
import { sampleCatalogDoc } from '../helpers/fixtures.js';

const D = (s: string) => Decimal.parse(s);

function withPlanRates(): Record<string, unknown> {
  const doc = sampleCatalogDoc();
  const plans = doc.plans as Record<string, Record<string, unknown>>;
  plans.pro = {
    ...plans.pro,
    minimum_commitment: '250',
    rates: {
      gpu_rates: { 'A100 80GB': { price: { model: 'graduated', tiers: [{ up_to: 100, price: '4.00' }, { up_to: null, price: '3.50' }] } }, h100: { price: '3', name: 'H100' } },
      token_rates: { 'qwen-70b': { output: '0.005' } },
      request_rate: '0.0001',
    },
  };
  return doc;
}

describe('plan rates', () => {
  it('resolve class by class: the plan price, else the list price; a key only the plan names for that plan alone', () => {
    const r = parseCatalog(withPlanRates());
    expect(r.problems).toEqual([]);
    const c = r.catalog!;
    expect(tokenPriceFor(c, 'qwen-70b', 'output', 'pro')).toEqual(D('0.005'));
    expect(tokenPriceFor(c, 'qwen-70b', 'input', 'pro')).toEqual(D('0.003'));
    expect(tokenPriceFor(c, 'qwen-70b', 'output', 'free')).toEqual(D('0.006'));
    expect(tokenPriceFor(c, 'qwen-70b', 'output')).toEqual(D('0.006'));
    expect(gpuPriceFor(c, 'h100', 'pro')).toEqual(D('3'));
    expect(gpuPriceFor(c, 'h100', 'free')).toBeUndefined();
    expect(rateNameFor(c, 'gpu', 'h100', 'pro')).toBe('H100');
    expect(rateNameFor(c, 'gpu', 'a100-80gb', 'pro')).toBe('A100 80GB');
    expect(requestPriceFor(c, 'pro')).toEqual(D('0.0001'));
    expect(requestPriceFor(c, 'enterprise')).toEqual(D('0'));
    expect(c.plans.get('pro')!.minimumCommitment).toEqual(D('250'));
    expect(c.plans.get('free')!.minimumCommitment).toBeUndefined();
  });

  it('are written back in the catalog form and read back from the stored terms unchanged', () => {
    const c = parseCatalog(withPlanRates()).catalog!;
    const pro = (catalogToDocument(c).plans as Record<string, Record<string, unknown>>).pro!;
    expect(pro.minimum_commitment).toBe('250');
    expect(pro.rates).toEqual({
      gpu_rates: {
        'a100-80gb': { price: { model: 'graduated', tiers: [{ up_to: 100, price: '4.00' }, { up_to: null, price: '3.50' }] } },
        h100: { name: 'H100', price: '3' },
      },
      token_rates: { 'qwen-70b': { output: '0.005' } },
      request_rate: '0.0001',
    });
    const back = catalogFromStoredTerms(JSON.stringify(catalogTermsDocument(c)));
    expect(catalogTermsDocument(back)).toEqual(catalogTermsDocument(c));
    expect(back.plans.get('pro')!.rates).toEqual(c.plans.get('pro')!.rates);
  });

  it('leave the document of a catalog without them as it was (no rates, no minimum_commitment keys)', () => {
    const plans = catalogToDocument(parseCatalog(sampleCatalogDoc()).catalog!).plans as Record<string, Record<string, unknown>>;
    for (const p of Object.values(plans)) expect(Object.keys(p).sort()).toEqual(['hard_cap', 'included', 'monthly_fee', 'name', 'usage_discount_percent']);
  });

  it('refuses bad plan rates by path', () => {
    const doc = withPlanRates();
    const pro = (doc.plans as Record<string, Record<string, unknown>>).pro!;
    pro.rates = { gpu_rates: { h100: {} }, token_rates: { 'new-model': { output: '1' }, 'qwen-70b': {} }, request_rate: { model: 'package', size: 0, price: '1' } };
    pro.minimum_commitment = 'lots';
    const r = parseCatalog(doc);
    expect(r.problems).toEqual([
      'plans.pro.rates.gpu_rates.h100.price: missing',
      'plans.pro.rates.token_rates.new-model.input: missing',
      'plans.pro.rates.token_rates.qwen-70b: names no price (input or output)',
      'plans.pro.rates.request_rate.size: 0 must be at least 1: a package size counts whole requests',
      expect.stringMatching(/^plans\.pro\.minimum_commitment: /),
    ]);
  });
});
