/**
 * `stripe catalog sync` with token class prices (issue 13): a plan pricing cached input of its own
 * is refused while the store has no cached input meter (the reason says to run `stripe setup`);
 * once setup made the meter (the store holds receipts with cached input tokens), the class price
 * is synced to it, and a second sync creates nothing. In-process, the real `stripe` package and the
 * fake Stripe, on SQLite and Postgres.
 */
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { STRIPE_READY_CATALOG } from '../helpers/stripe-catalog.js';
import { insertReceipts } from '../stripe-push/helpers.js';
import { billingWorld, type BillingWorld } from './helpers.js';

afterAll(dropSchemas);

interface SyncJson {
  created: { products: number; prices: number };
  plans: { plan: string; status: string; reasons: string[]; prices: { item: string; lookup_key: string; action: string }[] }[];
}

const CLASS_CATALOG = STRIPE_READY_CATALOG.replace(
  'qwen-70b: { input: "0.003", output: "0.006", name: "Qwen-70B" }',
  'qwen-70b: { input: "0.003", output: "0.006", cached_input: "0.0015", name: "Qwen-70B" }',
);

describeEachBackend('stripe catalog sync with token class prices', (backend) => {
  let w: BillingWorld;
  beforeEach(async () => {
    w = await billingWorld(backend, '2026-10-10T12:00:00Z');
    await w.run(['init', '--yes']);
    await w.run(['catalog', 'import', w.file('class-catalog.yaml', CLASS_CATALOG)]);
    await w.run(['stripe', 'setup']);
  });
  afterEach(async () => {
    await w.close();
  });

  it('refuses a class price without its meter, saying to run stripe setup; after setup the price goes to the class meter', async () => {
    expect(CLASS_CATALOG).toContain('cached_input: "0.0015"');
    const refused = await w.runJson<SyncJson>(['stripe', 'catalog', 'sync'], 3);
    for (const p of refused.plans) {
      expect(p.status).toBe('refused');
      expect(p.reasons).toEqual([
        `plan ${p.plan}: qwen-70b cached_input has a price of its own, and there is no Stripe meter for cached_input_tokens yet: ` +
          'run billctl stripe setup (it makes a meter for each token class the store holds receipts of), or bill this plan by invoice',
      ]);
    }
    expect(w.fake.billing.prices.size).toBe(0);

    await insertReceipts(w.db, [
      { tenantId: 'acme', id: 'c1', ts: Date.parse('2026-10-09T10:00:00Z'), billable: true, gpuSeconds: 0n, inputTokens: 100n, outputTokens: 10n, cachedInputTokens: 900n },
    ]);
    const setup = await w.runJson<{ created: number; not_seen: string[] }>(['stripe', 'setup']);
    expect(setup).toMatchObject({ created: 1, not_seen: ['cache_write_tokens', 'reasoning_tokens'] });
    const cachedMeter = [...w.fake.state.meters.values()].find((m) => m.object.event_name === 'billctl_cached_input_tokens')!.object.id;

    const synced = await w.runJson<SyncJson>(['stripe', 'catalog', 'sync']);
    expect(synced.plans.map((p) => [p.plan, p.status, p.prices.map((x) => x.item).join(',')])).toEqual([
      ['pro', 'synced', 'gpu_seconds,input_tokens,cached_input_tokens,output_tokens,api_calls,fee'],
      ['starter', 'synced', 'gpu_seconds,input_tokens,cached_input_tokens,output_tokens,api_calls'],
    ]);
    expect(synced.created).toEqual({ products: 6, prices: 11 });
    const price = w.fake.billing.prices.get(w.fake.billing.lookupKeys.get('billctl:2026-10:pro:cached_input_tokens')!)!;
    // 0.0015 USD per 1,000 tokens: 0.00015 cents a token.
    expect(price.object).toMatchObject({
      active: true, billing_scheme: 'per_unit', unit_amount: null, unit_amount_decimal: '0.00015', currency: 'usd', product: 'billctl_cached_input_tokens',
      recurring: { interval: 'month', interval_count: 1, usage_type: 'metered', meter: cachedMeter },
    });
    expect(w.fake.billing.products.get('billctl_cached_input_tokens')!.object).toMatchObject({ name: 'Cached input tokens', unit_label: 'token' });

    const again = await w.runJson<SyncJson>(['stripe', 'catalog', 'sync']);
    expect(again.created).toEqual({ products: 0, prices: 0 });
  });
});
