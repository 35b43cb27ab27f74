/**
 * billing-rules.md, "Token classes" and steps 2-6: the allowance order input -> cached -> cache
 * write -> output -> reasoning; a line per (model, version, class); reasoning at the output price
 * unless priced; a cached or cache-write class without a price is unpriced, never 0.00. Rated
 * receipt by receipt and from day aggregates alike.
 */
import { describe, expect, it } from 'vitest';
import { UnpricedUsageError } from '../../src/domain/rating.js';
import { sampleCatalogDoc } from '../helpers/fixtures.js';
import { catalog, plans, rateAll, rateFast, receipt, row, tenant } from '../domain/rating-builders.js';

/** The sample catalog, with qwen-70b's entry given these class prices. */
function withClassPrices(prices: Record<string, string>) {
  const doc = sampleCatalogDoc();
  const rates = doc.token_rates as Record<string, Record<string, unknown>>;
  rates['qwen-70b'] = { ...rates['qwen-70b'], ...prices };
  return catalog({ token_rates: rates });
}

/** The spec's c1: prompt 3,000,000 with 2,000,000 cached; completion 500,000 with 100,000 reasoning. */
const c1 = () => receipt({ id: 'c1', ts: '2026-10-05T10:00:00Z', input: 1_000_000, cached: 2_000_000, output: 400_000, reasoning: 100_000 });

function both(args: Parameters<typeof rateAll>[0]) {
  const slow = rateAll(args);
  const fast = rateFast(args).rated;
  expect(fast.lines.map(row)).toEqual(slow.lines.map(row));
  return slow;
}

describe('token classes in rating', () => {
  it("the worked example's c1 under pro: every class its own line, all covered by the allowance", () => {
    const rated = both({
      tenant: tenant({ plans: plans(['pro', null]) }), period: '2026-10', versions: [withClassPrices({ cached_input: '0.0003' })], receipts: [c1()],
    });
    expect(rated.usageLines.map((l) => [l.description, l.used, l.included, l.billed, l.amount.toString()])).toEqual([
      ['Qwen-70B input tokens', 1_000_000n, 1_000_000n, 0n, '0.00'],
      ['Qwen-70B cached input tokens', 2_000_000n, 2_000_000n, 0n, '0.00'],
      ['Qwen-70B output tokens', 400_000n, 400_000n, 0n, '0.00'],
      ['Qwen-70B reasoning tokens', 100_000n, 100_000n, 0n, '0.00'],
    ]);
    expect(rated.usageLines.map((l) => l.kind)).toEqual(['input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens']);
    expect(rated.allowances.tokens).toEqual({ granted: 10_000_000n, consumed: 3_500_000n });
  });

  it('takes allowance input first, then cached, cache write, output, reasoning; reasoning at the output price', () => {
    const cat = withClassPrices({ cached_input: '0.0003', cache_write: '0.00375' });
    const free = tenant({ plans: plans(['free', null]) }); // 1,000,000 tokens
    const r = receipt({ id: 'x', ts: '2026-10-05T10:00:00Z', input: 600_000, cached: 300_000, cacheWrite: 200_000, output: 100_000, reasoning: 50_000 });
    const rated = both({ tenant: free, period: '2026-10', versions: [cat], receipts: [r] });
    // input 600,000 covered; cached 300,000 covered; cache write 100,000 of 200,000 covered; output and reasoning billed.
    expect(rated.usageLines.map(row)).toEqual([
      'input_tokens qwen-70b@2026-01 600000/600000/0 0.00',
      'cached_input_tokens qwen-70b@2026-01 300000/300000/0 0.00',
      'cache_write_tokens qwen-70b@2026-01 200000/100000/100000 0.38', // 100 × 0.00375 = 0.375 -> 0.38
      'output_tokens qwen-70b@2026-01 100000/0/100000 0.60', // 100 × 0.006
      'reasoning_tokens qwen-70b@2026-01 50000/0/50000 0.30', // 50 × 0.006 (the output price)
    ]);
    const reasoning = rated.usageLines.find((l) => l.kind === 'reasoning_tokens')!;
    expect([reasoning.unitPrice?.toString(), reasoning.unitSize, reasoning.description]).toEqual(['0.006', 1000n, 'Qwen-70B reasoning tokens']);
    expect(rated.totals.subtotal.toString()).toBe('1.28');
  });

  it('a reasoning price of its own wins over the output price', () => {
    const rated = both({
      tenant: tenant({ plans: plans(['free', null]) }), period: '2026-10', versions: [withClassPrices({ reasoning: '0.01' })],
      receipts: [receipt({ id: 'x', ts: '2026-10-05T10:00:00Z', input: 1_000_000, reasoning: 250_000 })],
    });
    expect(rated.usageLines.map(row)).toEqual([
      'input_tokens qwen-70b@2026-01 1000000/1000000/0 0.00',
      'reasoning_tokens qwen-70b@2026-01 250000/0/250000 2.50',
    ]);
  });

  it('cached input without a price is unpriced: refused, or UNPRICED at 0.00 with --allow-unpriced; never billed at 0 as if priced', () => {
    const args = {
      tenant: tenant({ id: 'c', plans: plans(['free', null]) }), period: '2026-10', versions: [catalog()],
      receipts: [
        receipt({ id: 'a', ts: '2026-10-05T10:00:00Z', input: 10, cached: 2_000_000 }),
        receipt({ id: 'b', ts: '2026-10-06T10:00:00Z', cacheWrite: 5 }),
        receipt({ id: 'c', ts: '2026-10-07T10:00:00Z', cached: 1 }),
      ],
    };
    let err: unknown;
    try {
      rateAll(args);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnpricedUsageError);
    expect((err as Error).message).toBe(
      'c 2026-10: usage without a price, rating refused:\n' +
        '  - cached input tokens of model "qwen-70b" have no cached_input price in catalog 2026-01: 2 receipts\n' +
        '  - cache write tokens of model "qwen-70b" have no cache_write price in catalog 2026-01: 1 receipt',
    );
    const rated = both({ ...args, allowUnpriced: true });
    expect(rated.usageLines.map((l) => `${row(l)} ${l.description}`)).toEqual([
      'input_tokens qwen-70b@2026-01 10/10/0 0.00 Qwen-70B input tokens',
      'cached_input_tokens qwen-70b@2026-01 2000001/999990/1000011 0.00 UNPRICED Qwen-70B cached input tokens (UNPRICED)',
      'cache_write_tokens qwen-70b@2026-01 5/0/5 0.00 UNPRICED Qwen-70B cache write tokens (UNPRICED)',
    ]);
    expect(rated.unpriced.map((u) => [u.kind, u.key, u.receipts])).toEqual([
      ['cached_input_tokens', 'qwen-70b', 2n],
      ['cache_write_tokens', 'qwen-70b', 1n],
    ]);
  });
});
