/**
 * `stripe catalog sync` of graduated, volume and package prices, on SQLite and Postgres, against
 * the fake Stripe through the real `stripe` package: the tiers Stripe holds, exactly; a second run
 * creates nothing; what Stripe would bill for a metered quantity equals what billctl's price model
 * bills for the quantity after the plan's allowance; a price Stripe cannot bill exactly is refused
 * with the reason. The catalog's prices are per unit (the catalog cannot hold price models yet):
 * the sync is given the price models through its price lookup.
 */
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { syncCatalog, type CatalogSyncReport } from '../../src/app/stripe-catalog.js';
import { defaultConfig } from '../../src/config.js';
import { Decimal } from '../../src/domain/money.js';
import { graduated, packagePrice, priceLine, volume, type PriceModel, type PriceTier } from '../../src/domain/price-models/index.js';
import type { UsageKind } from '../../src/domain/rating.js';
import { openStripe } from '../../src/stripe/client.js';
import type { PriceLookup } from '../../src/stripe/catalog-plan.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { billingWorld, posts, readyStore, type BillingWorld } from './helpers.js';

afterAll(dropSchemas);

const D = (t: string) => Decimal.parse(t);
const tier = (upTo: bigint | null, price: string, flatFee = '0'): PriceTier => ({ upTo, price: D(price), flatFee: D(flatFee) });
const SCALE = 10n ** 12n;

const MODELS: Partial<Record<UsageKind, PriceModel>> = {
  gpu: graduated([tier(36_000n, '0.90'), tier(null, '0.72', '5')], 3600n),
  input_tokens: volume([tier(1_000_000n, '0.003'), tier(null, '0.002', '1')], 1000n),
  output_tokens: packagePrice(1_000_000n, D('5')),
  requests: graduated([tier(10_000n, '0.0001'), tier(null, '0.00005')], 1n),
};
const byModel: PriceLookup = (_v, _plan, kind) => MODELS[kind];

describeEachBackend('stripe catalog sync of price models', (backend) => {
  let w: BillingWorld;
  beforeEach(async () => {
    w = await billingWorld(backend, '2026-10-10T12:00:00Z');
    await readyStore(w, { sync: false });
  });
  afterEach(async () => {
    await w.close();
  });

  const sync = (priceOf: PriceLookup) =>
    w.withStore(async (store) => {
      const client = await openStripe(w.fake.env);
      try {
        return await syncCatalog(store, client, { dryRun: false, meters: defaultConfig().stripe.meters, now: Date.parse('2026-10-10T12:00:00Z'), priceOf });
      } finally {
        client.close();
      }
    });
  const price = (lookupKey: string) => w.fake.billing.prices.get(w.fake.billing.lookupKeys.get(lookupKey)!)!;
  const actions = (r: CatalogSyncReport) => r.plans.map((p) => [p.plan, p.status, p.prices.map((x) => `${x.item}:${x.action}`).join(',')]);

  it('graduated, volume and package prices become Stripe tiers and transform_quantity; a second run creates nothing', async () => {
    const first = await sync(byModel);
    expect(actions(first)).toEqual([
      ['pro', 'synced', 'gpu_seconds:created,input_tokens:created,output_tokens:created,api_calls:created,fee:created'],
      ['starter', 'synced', 'gpu_seconds:created,input_tokens:created,output_tokens:created,api_calls:created'],
    ]);
    expect(w.fake.billing.prices.size).toBe(9);

    // Pro: 10 GPU hours (36,000 s) free, then 10 h at 0.90 (0.025 cents a second), then 0.72 with a 5.00 flat fee.
    const gpu = price('billctl:2026-10:pro:gpu_seconds');
    expect(gpu.object).toMatchObject({ billing_scheme: 'tiered', tiers_mode: 'graduated', unit_amount: null, unit_amount_decimal: null, transform_quantity: null });
    expect(w.fake.billing.priceOut(gpu, true).tiers).toEqual([
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: 0, unit_amount_decimal: '0', up_to: 36000 },
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: null, unit_amount_decimal: '0.025', up_to: 72000 },
      { flat_amount: 500, flat_amount_decimal: '500', unit_amount: null, unit_amount_decimal: '0.02', up_to: null },
    ]);
    expect(w.fake.billing.priceOut(price('billctl:2026-10:starter:gpu_seconds'), true).tiers).toEqual([
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: 0, unit_amount_decimal: '0', up_to: 3600 },
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: null, unit_amount_decimal: '0.025', up_to: 39600 },
      { flat_amount: 500, flat_amount_decimal: '500', unit_amount: null, unit_amount_decimal: '0.02', up_to: null },
    ]);
    // Input tokens by volume (no token allowance): 0.0003 cents a token up to 1,000,000, beyond 0.0002 and 1.00 flat.
    const input = price('billctl:2026-10:pro:input_tokens');
    expect(input.object).toMatchObject({ billing_scheme: 'tiered', tiers_mode: 'volume' });
    expect(w.fake.billing.priceOut(input, true).tiers).toEqual([
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: null, unit_amount_decimal: '0.0003', up_to: 1000000 },
      { flat_amount: 100, flat_amount_decimal: '100', unit_amount: null, unit_amount_decimal: '0.0002', up_to: null },
    ]);
    // Output tokens in packages of 1,000,000 at 5.00.
    const output = price('billctl:2026-10:pro:output_tokens');
    expect(output.object).toMatchObject({
      billing_scheme: 'per_unit', tiers_mode: null, unit_amount: 500, unit_amount_decimal: '500', transform_quantity: { divide_by: 1000000, round: 'up' },
    });
    expect(w.fake.billing.priceOut(output, true).tiers).toBeNull();
    expect(w.fake.billing.priceOut(price('billctl:2026-10:starter:api_calls'), true).tiers).toEqual([
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: 0, unit_amount_decimal: '0', up_to: 100 },
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: null, unit_amount_decimal: '0.01', up_to: 10100 },
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: null, unit_amount_decimal: '0.005', up_to: null },
    ]);

    // What the fake Stripe bills for a month's metered quantity is billctl's amount for the quantity after the allowance.
    const cases: [string, UsageKind, bigint, bigint[]][] = [
      ['billctl:2026-10:pro:gpu_seconds', 'gpu', 36_000n, [0n, 1n, 36_000n, 36_001n, 72_000n, 72_001n, 100_000n]],
      ['billctl:2026-10:starter:gpu_seconds', 'gpu', 3_600n, [0n, 3_600n, 3_601n, 39_600n, 39_601n, 123_457n]],
      ['billctl:2026-10:pro:input_tokens', 'input_tokens', 0n, [0n, 1n, 999_999n, 1_000_000n, 1_000_001n, 2_345_678n]],
      ['billctl:2026-10:pro:output_tokens', 'output_tokens', 0n, [0n, 1n, 1_000_000n, 1_000_001n, 3_500_000n]],
      ['billctl:2026-10:pro:api_calls', 'requests', 1_000n, [0n, 1_000n, 1_001n, 11_000n, 11_001n, 250_000n]],
    ];
    for (const [key, kind, allowance, quantities] of cases) {
      for (const q of quantities) {
        const billed = q > allowance ? q - allowance : 0n;
        const cents = priceLine(MODELS[kind]!, billed, 2).units;
        expect([key, q, w.fake.billing.amountFor(price(key), q * SCALE)]).toEqual([key, q, cents]);
      }
    }
    // For instance Pro's 100,000 GPU seconds: 36,000 free, 36,000 at 0.90 an hour, 28,000 at 0.72 and the flat fee.
    expect(w.fake.billing.amountFor(price('billctl:2026-10:pro:gpu_seconds'), 100_000n * SCALE)).toBe(900n + 560n + 500n);

    const before = posts(w.fake, /^\/v1\/(prices|products)/).length;
    const second = await sync(byModel);
    expect(second.products.every((p) => p.action === 'found')).toBe(true);
    expect(second.plans.flatMap((p) => p.prices).every((p) => p.action === 'found')).toBe(true);
    expect(posts(w.fake, /^\/v1\/(prices|products)/).length).toBe(before);
    expect(w.fake.billing.prices.size).toBe(9);
    const rows = await w.withStore((s) => s.stripeBilling.prices(false, '2026-10'));
    expect(rows.map((r) => [r.lookupKey, r.priceId])).toEqual(
      first.plans.flatMap((p) => p.prices).map((p) => [p.lookupKey, p.priceId]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
  });

  it('refuses, with the reason, a volume price after an allowance and a package price after one', async () => {
    const r = await sync((_v, _plan, kind) =>
      kind === 'gpu' ? volume([tier(36_000n, '0.90'), tier(null, '0.72')], 3600n) : kind === 'requests' ? packagePrice(100n, D('0.01')) : MODELS[kind]);
    expect(r.plans.map((p) => [p.plan, p.status, p.prices.length])).toEqual([['pro', 'refused', 0], ['starter', 'refused', 0]]);
    expect(r.plans[1]!.reasons).toEqual([
      "GPU rate a100-80gb: a volume price after the plan's allowance of 3,600 seconds: billctl prices the billed quantity (after the allowance) " +
        "at the tier that holds it, Stripe's volume tiers price the whole metered quantity, allowance included; a tier's flat amount could take " +
        "the allowance's 90 minor units back only where it is at least that and stays whole (tiers[0]: 0), so Stripe cannot bill it exactly",
      "request_rate: a package price after the plan's allowance of 100 calls: billctl counts the packages of the billed quantity " +
        "(after the allowance), Stripe's transform_quantity divides the whole metered quantity and cannot be combined with a free tier",
    ]);
    expect(w.fake.billing.prices.size).toBe(0);
    expect(w.fake.billing.products.size).toBe(0);
  });
});
