/** Catalog documents: the magnitudes and labels a catalog may hold, its digest, and rate tables read as needed. */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  catalogDigest, catalogToDocument, parseCatalog, RateTable, type TokenRate,
} from '../../src/domain/catalog.js';
import { Decimal } from '../../src/domain/money.js';
import { sampleCatalogDoc } from '../helpers/fixtures.js';

type Doc = Record<string, any>;

const problemsOf = (edit: (d: Doc) => void): string[] => {
  const d = sampleCatalogDoc() as Doc;
  edit(d);
  return parseCatalog(d).problems;
};

describe('magnitudes', () => {
  it('refuses a price past 10^15 or with more than 12 decimals, before expanding an absurd exponent', () => {
    const started = Date.now();
    expect(problemsOf((d) => (d.gpu_rates['a100-80gb'].price = '1e999999'))).toEqual([
      'gpu_rates.a100-80gb.price: "1e999999" is out of range (a price is below 10^15, with at most 12 digits after the decimal point)',
    ]);
    expect(problemsOf((d) => (d.gpu_rates['a100-80gb'].price = '1e-999999'))).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(500);
    expect(problemsOf((d) => (d.token_rates['gemma-2b'].input = '0.0000000000001'))).toEqual([
      'token_rates.gemma-2b.input: "0.0000000000001" has more than 12 digits after the decimal point',
    ]);
    expect(problemsOf((d) => (d.plans.pro.monthly_fee = '1000000000000000'))).toEqual([
      'plans.pro.monthly_fee: "1000000000000000" is too large (at most 15 digits before the decimal point)',
    ]);
    expect(problemsOf((d) => (d.request_rate = 1e20))).toEqual([
      'request_rate: 100000000000000000000 is too large (at most 15 digits before the decimal point)',
    ]);
  });

  it('accepts every price inside the limits, trailing zeros not counted', () => {
    const ok = (price: unknown) => problemsOf((d) => (d.gpu_rates['a100-80gb'].price = price));
    expect(ok('999999999999999.999999999999')).toEqual([]);
    expect(ok('0.000000000001')).toEqual([]);
    expect(ok('1.50000000000000000000')).toEqual([]);
    expect(ok(1e-12)).toEqual([]);
    expect(ok('4e2')).toEqual([]);
  });

  it('refuses an allowance or token unit past 2^53 − 1', () => {
    expect(problemsOf((d) => (d.plans.free.included.tokens = '9007199254740992'))).toEqual([
      'plans.free.included.tokens: "9007199254740992" is too large (at most 2^53 − 1, 9007199254740991)',
    ]);
    expect(problemsOf((d) => (d.token_unit = 1e30))).toEqual(['token_unit: 1e+30 is too large (at most 2^53 − 1, 9007199254740991)']);
    expect(problemsOf((d) => (d.plans.free.included.tokens = '9007199254740991'))).toEqual([]);
  });
});

describe('labels', () => {
  it('must be text: a number is refused, quoted as it was written when the source says so', () => {
    expect(problemsOf((d) => (d.version = 2026.1))).toEqual(['version: 2026.1 is a number, not text: put it in quotes, as in "2026.1"']);
    const d = { ...sampleCatalogDoc(), version: 2026.1 };
    expect(parseCatalog(d, (p) => (p === 'version' ? '2026.10' : undefined)).problems).toEqual([
      'version: 2026.10 is a number, not text (it reads as 2026.1): put it in quotes, as in "2026.10"',
    ]);
    expect(problemsOf((x) => (x.plans.pro.name = 99))).toEqual(['plans.pro.name: 99 is a number, not text: put it in quotes, as in "99"']);
    expect(problemsOf((x) => (x.default_plan = 7))).toEqual(['default_plan: 7 is a number, not text: put it in quotes, as in "7"']);
  });

  it('are at most 200 characters', () => {
    expect(problemsOf((d) => (d.version = 'v'.repeat(201)))).toEqual(['version: longer than 200 characters']);
    expect(problemsOf((d) => (d.token_rates['m'.repeat(201)] = { input: '1', output: '1' }))).toHaveLength(1);
  });
});

describe('the digest', () => {
  it('is the SHA-256 of the canonical document, hashed a piece at a time', () => {
    const price = fc.integer({ min: 0, max: 10_000_000 }).map((n) => Decimal.of(BigInt(n), 4).toString());
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.tuple(price, price, fc.string())), fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), price), (tokens, gpus) => {
        const d = sampleCatalogDoc() as Doc;
        d.token_rates = Object.fromEntries(Object.entries(tokens).map(([k, [i, o, n]]) => [`m${k}`, { input: i, output: o, name: `n${n}` }]));
        d.gpu_rates = Object.fromEntries(Object.entries(gpus).map(([k, p]) => [`g${k}`, { price: p }]));
        const c = parseCatalog(d).catalog;
        if (!c) return; // two spellings of one key: refused, nothing to hash
        expect(catalogDigest(c)).toBe(createHash('sha256').update(JSON.stringify(catalogToDocument(c))).digest('hex'));
      }),
      { numRuns: 200 },
    );
  });
});

describe('rate tables', () => {
  it('answer for the keys read, remember keys read and absent, and refuse a key never read', () => {
    const t = new RateTable<TokenRate>('catalog x token rates');
    const rate: TokenRate = { key: 'a', name: 'A', input: Decimal.parse('1'), output: Decimal.parse('2') };
    expect(t.missing(['a', 'b', 'a'])).toEqual(['a', 'b']);
    t.fill(new Map([['a', rate]]), ['a', 'b']);
    expect(t.get('a')).toBe(rate);
    expect(t.has('b')).toBe(false);
    expect(t.missing(['a', 'b', 'c'])).toEqual(['c']);
    expect(() => t.get('c')).toThrow('catalog x token rates: the rate of "c" was not loaded from the store');
    expect(() => t.size).toThrow(/not every rate was loaded/);
    expect(t.loaded).toBe(1);
    t.fill(new Map([['a', rate]]), 'all');
    expect(t.get('c')).toBeUndefined();
    expect([...t.keys()]).toEqual(['a']);
    expect(t.size).toBe(1);
  });
});
