/**
 * Price models wherever the catalog names a price (billing-rules.md, "Price models"; issue 14):
 * GPU rates, token classes and request_rate as graduated, volume or package prices, stored and read
 * back, rated by invoices, usage reports, daily costs and recommend alike, on both stores.
 */
import { afterAll, expect, it } from 'vitest';
import { StoreRating } from '../../src/app/rating-service.js';
import { openStore } from '../../src/store/open.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf, jsonOf, makeStore, type TestStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

/** The example at list prices, with a graduated GPU and a graduated request price beside it; nothing included. */
export const TIERED_CATALOG = `version: "tiers-1"
effective_from: 2026-01-01T00:00:00Z
currency: USD
default_plan: metered
gpu_rates:
  rtx-4090:  { name: "RTX 4090", price: { model: volume, tiers: [ { up_to: 10, price: "0.90" }, { up_to: null, price: "0.75", flat_fee: "1" } ] } }
  a100-80gb: { name: "A100 80GB", price: { model: graduated, tiers: [ { up_to: 1, price: "2.00" }, { up_to: null, price: "1.00" } ] } }
token_unit: 1000
token_rates:
  gemma-2b: { name: "Gemma-2B", input: { model: package, size: 1000000, price: "0.05" }, output: "0.0002" }
request_rate: { model: graduated, tiers: [ { up_to: 2, price: "0" }, { up_to: null, price: "0.01" } ] }
plans:
  metered: { name: "Metered", monthly_fee: "0" }
`;

interface LineJson {
  kind: string; key: string; catalog_version: string | null; used: number; included: number; billed: number;
  unit: string | null; unit_price: string | null; unit_size: number | null; amount: string;
}

async function tieredStore(db: string): Promise<TestStore> {
  const s = await makeStore(db, { catalog: false });
  await s.run(['catalog', 'import', s.file('tiers.yaml', TIERED_CATALOG)]);
  await s.run(['tenant', 'add', 'acme', '--name', 'Acme', '--plan', 'metered']);
  // 11 GPU hours of RTX 4090 and 1,500,000 Gemma-2B input tokens over two days; 1.5 h of A100 on the second.
  await s.run(['import', s.file('r.csv', csvOf([
    ['r1', 'acme', '2026-10-05T10:00:00Z', 'completed', 'gemma-2b', 'rtx-4090', 21600, 1000000, 0],
    ['r2', 'acme', '2026-10-06T10:00:00Z', 'completed', 'gemma-2b', 'rtx-4090', 18000, 500000, 0],
    ['r3', 'acme', '2026-10-06T11:00:00Z', 'completed', '', 'a100-80gb', 5400, 0, 0],
  ]))]);
  return s;
}

describeEachBackend('price models in the catalog', (backend) => {
  it('rates the issue example: 39,600 s by volume cost 9.25, 1,500,000 tokens by packages 0.10', async () => {
    const s = await tieredStore(await backend.fresh());
    const inv = jsonOf<{ subtotal: string; total: string; lines: LineJson[] }>(
      await s.run(['invoice', 'preview', '--tenant', 'acme', '--period', '2026-10', '--format', 'json']),
    );
    const line = (kind: string, key: string, used: number, amount: string): LineJson => ({
      kind, key, catalog_version: 'tiers-1', used, included: 0, billed: used,
      unit: kind === 'gpu' ? 'second' : kind === 'requests' ? 'request' : 'token', unit_price: null, unit_size: null, amount,
    });
    expect(inv.lines.map(({ kind, key, catalog_version, used, included, billed, unit, unit_price, unit_size, amount }) =>
      ({ kind, key, catalog_version, used, included, billed, unit, unit_price, unit_size, amount }))).toEqual([
      // Graduated in hours over seconds: 1 h at 2.00 + 0.5 h at 1.00.
      line('gpu', 'a100-80gb', 5400, '2.50'),
      // Volume: 11 h are past 10 h, so all 11 at 0.75, + 1 flat fee.
      line('gpu', 'rtx-4090', 39600, '9.25'),
      // Package: 1,500,000 tokens start 2 packages of 1,000,000 at 0.05.
      line('input_tokens', 'gemma-2b', 1500000, '0.10'),
      // Graduated requests: the first 2 free, the 3rd at 0.01 (a tiered request price always makes the line).
      line('requests', 'requests', 3, '0.01'),
    ]);
    expect([inv.subtotal, inv.total]).toEqual(['11.86', '11.86']);

    // Every report prices through the same models: per key, the invoice lines; per day, each day's share
    // of the line's price after the days before it (day 1: 6 h at 0.90 and 1 package; day 2: the rest).
    const byGpu = jsonOf<{ gpu: string; rated_amount: string }[]>(await s.run(['usage', '--period', '2026-10', '--by', 'gpu', '--format', 'json']));
    expect(byGpu.map((r) => [r.gpu, r.rated_amount])).toEqual([['a100-80gb', '2.50'], ['rtx-4090', '9.25']]);
    const byModel = jsonOf<{ model: string; rated_amount: string }[]>(await s.run(['usage', '--period', '2026-10', '--by', 'model', '--format', 'json']));
    expect(byModel.map((r) => [r.model, r.rated_amount])).toEqual([[null, '0.00'], ['gemma-2b', '0.10']]);
    const byDay = jsonOf<{ day: string; rated_amount: string }[]>(await s.run(['usage', '--period', '2026-10', '--by', 'day', '--format', 'json']));
    // 5.40 + 0.05 + 0 (1st request); 3.85 + 0.05 + 2.50 + 0.01 (2nd and 3rd requests).
    expect(byDay.map((r) => [r.day, r.rated_amount])).toEqual([['2026-10-05', '5.45'], ['2026-10-06', '6.41']]);
    const total = jsonOf<{ rated_amount: string }[]>(await s.run(['usage', '--period', '2026-10', '--format', 'json']));
    expect(total.map((r) => r.rated_amount)).toEqual(['11.86']);

    // Daily costs (spike alerts) at list prices, and recommend's top models, the same way.
    const store = await openStore(s.db);
    try {
      const rating = await StoreRating.load(store, false);
      const tenant = (await store.getTenant('acme'))!;
      expect(await rating.dailyCosts(tenant, '2026-10')).toEqual([{ date: '2026-10-05', amount: '5.45' }, { date: '2026-10-06', amount: '6.41' }]);
    } finally {
      await store.close();
    }
    const advice = jsonOf<{ current_amount: string; top_models: unknown[] }[]>(
      await s.run(['recommend', '--tenant', 'acme', '--period', '2026-10', '--format', 'json'], 0, { BILLCTL_NOW: '2026-11-10T09:00:00Z' }),
    );
    expect(advice.map((a) => [a.current_amount, a.top_models])).toEqual([
      ['11.86', [{ model: 'gemma-2b', name: 'Gemma-2B', amount: '0.10', share_percent: '0.8' }]],
    ]);

    // Finalized, the invoice keeps the same lines.
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'acme', '--finalize', '--issue-date', '2026-11-01', '--yes']);
    const shown = jsonOf<{ total: string; lines: LineJson[] }>(await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json']));
    expect(shown.total).toBe('11.86');
    expect(shown.lines.map((l) => [l.kind, l.key, l.unit_price, l.amount])).toEqual([
      ['gpu', 'a100-80gb', null, '2.50'], ['gpu', 'rtx-4090', null, '9.25'], ['input_tokens', 'gemma-2b', null, '0.10'], ['requests', 'requests', null, '0.01'],
    ]);
  });

  it('stores a tiered price and reads it back as the catalog wrote it', async () => {
    const s = await tieredStore(await backend.fresh());
    const doc = jsonOf<Record<string, unknown>>(await s.run(['catalog', 'show', 'tiers-1', '--format', 'json']));
    expect(doc).toMatchObject({
      gpu_rates: {
        'a100-80gb': { name: 'A100 80GB', price: { model: 'graduated', tiers: [{ up_to: 1, price: '2.00' }, { up_to: null, price: '1.00' }] } },
        'rtx-4090': { name: 'RTX 4090', price: { model: 'volume', tiers: [{ up_to: 10, price: '0.90' }, { up_to: null, price: '0.75', flat_fee: '1' }] } },
      },
      token_rates: { 'gemma-2b': { name: 'Gemma-2B', input: { model: 'package', size: 1000000, price: '0.05' }, output: '0.0002' } },
      request_rate: { model: 'graduated', tiers: [{ up_to: 2, price: '0' }, { up_to: null, price: '0.01' }] },
    });
    const table = (await s.run(['catalog', 'show', 'tiers-1'])).stdout;
    expect(table).toContain('volume (up to 10: 0.90; above: 0.75 + 1 flat fee) per GPU hour');
    expect(table).toContain('package of 1000000: 0.05 in / 0.0002 out per 1000 tokens');
    expect(table).toContain('graduated (up to 2: 0; above: 0.01) per request');
    // The same file again is the same version (its digest read back equal).
    const again = await s.run(['catalog', 'import', s.file('tiers.yaml', TIERED_CATALOG), '--format', 'json']);
    expect(jsonOf<{ version: string }>(again).version).toBe('tiers-1');
  });

  it('refuses a bad price by its path, every problem at once, and imports nothing', async () => {
    const s = await makeStore(await backend.fresh(), { catalog: false });
    await s.run(['catalog', 'import', s.file('tiers.yaml', TIERED_CATALOG)]);
    const bad = TIERED_CATALOG.replace('version: "tiers-1"', 'version: "tiers-2"')
      .replace('{ up_to: 10, price: "0.90" }, { up_to: null', '{ up_to: 10, price: "0.90" }, { up_to: 5, price: "0.80" }, { up_to: null')
      .replace('{ up_to: 1, price: "2.00" }, { up_to: null, price: "1.00" }', '{ up_to: null, price: "2.00" }, { up_to: 10, price: "1.00" }')
      .replace('size: 1000000, price: "0.05"', 'size: 0, price: "-0.05"')
      .replace('output: "0.0002"', 'output: { model: tiered, tiers: [] }')
      .replace('{ up_to: 2, price: "0" }, { up_to: null, price: "0.01" }', '{ up_to: 2, price: "0" }');
    const r = await s.run(['catalog', 'import', s.file('bad.yaml', bad)], 2);
    expect(r.stderr.split('\n').slice(1, -2)).toEqual([
      '  - request_rate.tiers[0].up_to: 2, but the last tier\'s up_to must be null (no bound)',
      '  - gpu_rates.rtx-4090.price.tiers[1].up_to: 5 is not above tiers[0].up_to, 10: tiers are listed in strictly increasing order',
      '  - gpu_rates.a100-80gb.price.tiers[1]: follows tiers[0], whose up_to is null: only the last tier is unbounded',
      '  - token_rates.gemma-2b.input.size: 0 must be at least 1: a package size counts whole tokens',
      '  - token_rates.gemma-2b.input.price: "-0.05" is negative',
      '  - token_rates.gemma-2b.output.model: "tiered" is not a price model (graduated, volume or package)',
    ]);
    expect(r.stderr).toMatch(/bad\.yaml: 6 problems\n/);
    const list = jsonOf<{ version: string }[]>(await s.run(['catalog', 'list', '--format', 'json']));
    expect(list.map((c) => c.version)).toEqual(['tiers-1']);
  });
});
