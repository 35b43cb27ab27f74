/**
 * `stripe catalog sync` end to end: the CLI in-process, the real `stripe` package and the fake
 * Stripe, on SQLite and Postgres. A second run creates nothing; a plan Stripe cannot bill is
 * refused with the reason; a replaced catalog version gets new prices under the same lookup keys.
 */
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { SAMPLE_CATALOG } from '../helpers/fixtures.js';
import { STRIPE_READY_CATALOG } from '../helpers/stripe-catalog.js';
import { billingWorld, posts, readyStore, type BillingWorld } from './helpers.js';

afterAll(dropSchemas);

interface SyncJson {
  livemode: boolean;
  dry_run: boolean;
  versions: string[];
  created: { products: number; prices: number };
  products: { id: string; name: string; action: string }[];
  plans: {
    version: string; plan: string; status: string; reasons: string[]; notes: string[];
    prices: { item: string; lookup_key: string; price: string | null; action: string; previous_price: string | null }[];
  }[];
}

describeEachBackend('stripe catalog sync', (backend) => {
  let w: BillingWorld;
  beforeEach(async () => {
    w = await billingWorld(backend, '2026-10-10T12:00:00Z');
    await readyStore(w, { sync: false });
  });
  afterEach(async () => {
    await w.close();
  });

  it('creates a product per billable thing and a price per plan and meter; a second run creates nothing', async () => {
    const dry = await w.runJson<SyncJson>(['stripe', 'catalog', 'sync', '--dry-run']);
    expect(dry.created).toEqual({ products: 0, prices: 0 });
    expect(dry.products.map((p) => p.action)).toEqual(Array(5).fill('would_create'));
    expect(w.fake.billing.prices.size).toBe(0);

    const first = await w.runJson<SyncJson>(['stripe', 'catalog', 'sync']);
    expect(first).toMatchObject({ livemode: false, dry_run: false, versions: ['2026-10'], created: { products: 5, prices: 9 } });
    expect(first.products.map((p) => [p.id, p.name, p.action])).toEqual([
      ['billctl_gpu_seconds', 'GPU time', 'created'], ['billctl_input_tokens', 'Input tokens', 'created'],
      ['billctl_output_tokens', 'Output tokens', 'created'], ['billctl_api_calls', 'API calls', 'created'], ['billctl_plan_pro', 'Pro plan', 'created'],
    ]);
    expect(first.plans.map((p) => [p.plan, p.status, p.prices.map((x) => x.item).join(',')])).toEqual([
      ['pro', 'synced', 'gpu_seconds,input_tokens,output_tokens,api_calls,fee'],
      ['starter', 'synced', 'gpu_seconds,input_tokens,output_tokens,api_calls'],
    ]);
    expect(w.fake.billing.products.size).toBe(5);
    expect(w.fake.billing.prices.size).toBe(9);

    // What Stripe holds: Pro's GPU price is 0.1 cent a second after 36,000 free seconds (10 h).
    const gpuMeter = [...w.fake.state.meters.values()].find((m) => m.object.event_name === 'billctl_gpu_seconds')!.object.id;
    const pro = w.fake.billing.prices.get(w.fake.billing.lookupKeys.get('billctl:2026-10:pro:gpu_seconds')!)!;
    expect(pro.object).toMatchObject({
      active: true, billing_scheme: 'tiered', tiers_mode: 'graduated', currency: 'usd', product: 'billctl_gpu_seconds',
      recurring: { interval: 'month', interval_count: 1, usage_type: 'metered', meter: gpuMeter },
      metadata: { billctl_version: '2026-10', billctl_plan: 'pro', billctl_item: 'gpu_seconds' },
    });
    expect(w.fake.billing.priceOut(pro, true).tiers).toEqual([
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: 0, unit_amount_decimal: '0', up_to: 36000 },
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: null, unit_amount_decimal: '0.1', up_to: null },
    ]);
    const fee = w.fake.billing.prices.get(w.fake.billing.lookupKeys.get('billctl:2026-10:pro:fee')!)!;
    expect(fee.object).toMatchObject({ billing_scheme: 'per_unit', unit_amount: 9900, unit_amount_decimal: '9900', recurring: { usage_type: 'licensed', meter: null } });
    const input = w.fake.billing.prices.get(w.fake.billing.lookupKeys.get('billctl:2026-10:starter:input_tokens')!)!;
    expect(input.object).toMatchObject({ billing_scheme: 'per_unit', unit_amount: null, unit_amount_decimal: '0.0003' });

    const postsBefore = posts(w.fake, /^\/v1\/(prices|products)/).length;
    const second = await w.runJson<SyncJson>(['stripe', 'catalog', 'sync']);
    expect(second.created).toEqual({ products: 0, prices: 0 });
    expect(second.products.every((p) => p.action === 'found')).toBe(true);
    expect(second.plans.flatMap((p) => p.prices).every((p) => p.action === 'found')).toBe(true);
    expect(posts(w.fake, /^\/v1\/(prices|products)/).length).toBe(postsBefore);
    expect(w.fake.billing.prices.size).toBe(9);

    const rows = await w.withStore((s) => s.stripeBilling.prices(false, '2026-10'));
    expect(rows.map((r) => [r.lookupKey, r.priceId])).toEqual(
      first.plans.flatMap((p) => p.prices).map((p) => [p.lookup_key, p.price]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    const audit = await w.runJson<{ command: string; details: Record<string, unknown> }[]>(['audit']);
    expect(audit.filter((a) => a.command === 'stripe catalog sync').map((a) => [a.details.created_products, a.details.created_prices])).toEqual([[5, 9], [0, 0]]);

    const table = await w.run(['stripe', 'catalog', 'sync']);
    expect(table.stdout).toMatch(/2026-10\s+│\s+pro\s+│\s+fee\s+│\s+billctl:2026-10:pro:fee\s+│\s+price_\w+\s+│\s+found/);
    expect(table.stderr).toContain('Test mode: created 0 product(s) and 0 price(s); 9 price(s) were there already.');
  });

  it('refuses, with the reasons, the plans of a catalog Stripe cannot bill exactly, and makes none of them', async () => {
    await w.run(['catalog', 'import', SAMPLE_CATALOG]);
    const r = await w.run(['stripe', 'catalog', 'sync', '2026-01', '--format', 'json'], 3);
    const j = JSON.parse(r.stdout) as SyncJson;
    expect(j.plans.map((p) => [p.plan, p.status, p.prices.length])).toEqual([['enterprise', 'refused', 0], ['free', 'refused', 0], ['pro', 'refused', 0], ['team', 'refused', 0]]);
    expect(j.plans[2]!.reasons).toContain(
      "gpu_seconds: the GPU rates differ (a100-40gb / a100-80gb / rtx-3090 / rtx-4090), but Stripe's gpu_seconds meter counts them together, " +
        'so one price cannot bill them apart (a meter per GPU does not exist)',
    );
    expect(r.stderr).toContain('warning: no plan of catalog 2026-01 was synced: Stripe cannot bill its prices exactly as billctl would:\n  - GPU rate a100-40gb: ');
    expect(r.stderr).toContain('warning: plan pro of catalog 2026-01, besides that:\n');
    expect(r.stderr).toContain('\n  - plan pro: its 10,000,000 included tokens are one pool');
    expect(r.stderr).toContain('\n  - plan team: its minimum commitment of 1500 has no Stripe price; syncing it is not supported yet\n');
    expect(r.stderr).toContain('warning: 4 plan(s) refused.');
    expect(w.fake.billing.prices.size).toBe(0);
    expect(w.fake.billing.products.size).toBe(0);
    await w.run(['stripe', 'catalog', 'sync', 'nope'], 2);
  });

  it('a replaced catalog version: new prices take the lookup keys over, the old ones are archived', async () => {
    const first = await w.runJson<SyncJson>(['stripe', 'catalog', 'sync']);
    const oldFee = first.plans[0]!.prices.find((p) => p.item === 'fee')!.price!;
    await w.run(['catalog', 'import', '--replace', w.file('v2.yaml', STRIPE_READY_CATALOG.replace('monthly_fee: "99"', 'monthly_fee: "109"'))]);
    const again = await w.runJson<SyncJson>(['stripe', 'catalog', 'sync']);
    const fee = again.plans[0]!.prices.find((p) => p.item === 'fee')!;
    expect(fee).toMatchObject({ action: 'replaced', previous_price: oldFee });
    expect(again.plans.flatMap((p) => p.prices).filter((p) => p.action !== 'found')).toHaveLength(1);
    expect(w.fake.billing.prices.get(oldFee)!.object).toMatchObject({ active: false, lookup_key: null });
    expect(w.fake.billing.prices.get(fee.price!)!.object).toMatchObject({ active: true, lookup_key: 'billctl:2026-10:pro:fee', unit_amount: 10900 });
    expect((await w.withStore((s) => s.stripeBilling.prices(false, '2026-10', 'pro'))).find((r) => r.item === 'fee')!.priceId).toBe(fee.price);
    // And the next run finds it.
    expect((await w.runJson<SyncJson>(['stripe', 'catalog', 'sync'])).created).toEqual({ products: 0, prices: 0 });
  });
});
