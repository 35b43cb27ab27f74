/**
 * Plan rates (billing-rules.md, "Plan rates"; issue 14): `plans.<p>.rates` replace list prices for
 * the plan's tenants, class by class; lines carry `plan` and `price_model`; the PDF shows a tiered
 * line's tiers in words. On both stores.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf, jsonOf, makeStore, type TestStore } from '../helpers/store-setup.js';
import { pdfText, popplerMissing, squash } from '../pdf/poppler.js';

afterAll(dropSchemas);

/** List prices per unit; the plan `volume` prices RTX 4090 hours by volume and Gemma-2B input by packages (the example). */
export const PLAN_RATES_CATALOG = `version: "plans-1"
effective_from: 2026-01-01T00:00:00Z
currency: USD
default_plan: list
gpu_rates:
  rtx-4090: { name: "RTX 4090", price: "0.90" }
token_unit: 1000
token_rates:
  gemma-2b: { name: "Gemma-2B", input: "0.0001", output: "0.0002" }
request_rate: "0"
plans:
  list:   { name: "List", monthly_fee: "0" }
  volume:
    name: "Volume"
    monthly_fee: "0"
    rates:
      gpu_rates:
        rtx-4090: { price: { model: volume, tiers: [ { up_to: 10, price: "0.90" }, { up_to: null, price: "0.75", flat_fee: "1" } ] } }
        h100: { name: "H100", price: "3.00" }
      token_rates:
        gemma-2b: { input: { model: package, size: 1000000, price: "0.05" } }
      request_rate: "0.001"
`;

interface LineJson {
  kind: string; key: string; plan: string | null; description: string; used: number; billed: number;
  unit_price: string | null; unit_size: number | null; price_model?: string; amount: string;
}
type InvoiceJson = { subtotal: string; total: string; plan: string; lines: LineJson[]; number: string | null; pdf: string | null };

async function planStore(db: string): Promise<TestStore> {
  const s = await makeStore(db, { catalog: false });
  await s.run(['catalog', 'import', s.file('plans.yaml', PLAN_RATES_CATALOG)]);
  for (const [id, plan] of [['on-list', 'list'], ['on-volume', 'volume']] as const) {
    await s.run(['tenant', 'add', id, '--name', id, '--plan', plan]);
  }
  // The same usage for both: 39,600 s of RTX 4090, 1,500,000 Gemma-2B input tokens, 2,000 output tokens.
  await s.run(['import', s.file('r.csv', csvOf(['on-list', 'on-volume'].flatMap((t) => [
    [`${t}-1`, t, '2026-10-05T10:00:00Z', 'completed', 'gemma-2b', 'rtx-4090', 21600, 1000000, 2000],
    [`${t}-2`, t, '2026-10-06T10:00:00Z', 'completed', 'gemma-2b', 'rtx-4090', 18000, 500000, 0],
  ])))]);
  return s;
}

const preview = async (s: TestStore, tenant: string) =>
  jsonOf<InvoiceJson>(await s.run(['invoice', 'preview', '--tenant', tenant, '--period', '2026-10', '--format', 'json']));
const brief = (l: LineJson) => ({ kind: l.kind, key: l.key, plan: l.plan, used: l.used, unit_price: l.unit_price, unit_size: l.unit_size, price_model: l.price_model, amount: l.amount });

describeEachBackend('plan rates', (backend) => {
  it("prices the issue's example by the plan's rates: 9.25 and 0.10 with nothing included; list prices elsewhere", async () => {
    const s = await planStore(await backend.fresh());
    const onVolume = await preview(s, 'on-volume');
    expect(onVolume.lines.map(brief)).toEqual([
      { kind: 'gpu', key: 'rtx-4090', plan: 'volume', used: 39600, unit_price: null, unit_size: null, price_model: 'volume', amount: '9.25' },
      { kind: 'input_tokens', key: 'gemma-2b', plan: 'volume', used: 1500000, unit_price: null, unit_size: null, price_model: 'package', amount: '0.10' },
      // The plan names no output price: the list price, 2,000 × 0.0002 / 1,000 = 0.0004 → 0.00.
      { kind: 'output_tokens', key: 'gemma-2b', plan: 'volume', used: 2000, unit_price: '0.0002', unit_size: 1000, price_model: undefined, amount: '0.00' },
      // The plan's request price: 2 × 0.001 = 0.002 → 0.00 (the line is made: the price is not 0).
      { kind: 'requests', key: 'requests', plan: 'volume', used: 2, unit_price: '0.001', unit_size: 1, price_model: undefined, amount: '0.00' },
    ]);
    expect(onVolume.lines.every((l) => !('price_model' in l) || l.unit_price === null)).toBe(true);
    expect(onVolume.subtotal).toBe('9.35');
    // The list plan: 11 h × 0.90 = 9.90; 1,500,000 × 0.0001 / 1,000 = 0.15; no request line (list request_rate 0).
    const onList = await preview(s, 'on-list');
    expect(onList.lines.map(brief)).toEqual([
      { kind: 'gpu', key: 'rtx-4090', plan: 'list', used: 39600, unit_price: '0.90', unit_size: 3600, price_model: undefined, amount: '9.90' },
      { kind: 'input_tokens', key: 'gemma-2b', plan: 'list', used: 1500000, unit_price: '0.0001', unit_size: 1000, price_model: undefined, amount: '0.15' },
      { kind: 'output_tokens', key: 'gemma-2b', plan: 'list', used: 2000, unit_price: '0.0002', unit_size: 1000, price_model: undefined, amount: '0.00' },
    ]);
    expect(onList.subtotal).toBe('10.05');
    // Reports price by the tenant's plan too: per day, each day's share of the volume line.
    const byDay = jsonOf<{ tenant_id: string; day: string; rated_amount: string }[]>(
      await s.run(['usage', '--period', '2026-10', '--by', 'day', '--format', 'json']),
    );
    expect(byDay.map((r) => [r.tenant_id, r.day, r.rated_amount])).toEqual([
      ['on-list', '2026-10-05', '5.50'], ['on-list', '2026-10-06', '4.55'],
      // 6 h at 0.90 + 1 package + 0.001 request; 3.85 + 1 package + 0.001 (0.0004 of output tokens on day 1).
      ['on-volume', '2026-10-05', '5.45'], ['on-volume', '2026-10-06', '3.90'],
    ]);
  });

  it('a GPU only the plan prices is priced for that plan alone', async () => {
    const s = await planStore(await backend.fresh());
    await s.run(['import', s.file('h.csv', csvOf([
      ['h1', 'on-volume', '2026-10-07T10:00:00Z', 'completed', '', 'h100', 1800, 0, 0],
      ['h2', 'on-list', '2026-10-07T10:00:00Z', 'completed', '', 'h100', 1800, 0, 0],
    ]))]);
    const onVolume = await preview(s, 'on-volume');
    expect(onVolume.lines.filter((l) => l.key === 'h100').map((l) => [l.description, l.unit_price, l.amount])).toEqual([['H100 GPU hours', '3.00', '1.50']]);
    const refused = await s.run(['invoice', 'preview', '--tenant', 'on-list', '--period', '2026-10'], 2);
    expect(refused.stderr).toContain('h100');
  });

  it('the PDF shows a tiered line\'s tiers in words; a finalized invoice keeps plan and price_model', async () => {
    const s = await planStore(await backend.fresh());
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'on-volume', '--finalize', '--issue-date', '2026-11-01', '--yes']);
    const inv = jsonOf<InvoiceJson>(await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json']));
    expect(inv.lines.map(brief)).toEqual((await preview(s, 'on-volume')).lines.map(brief));
    if (popplerMissing) return;
    // Raw text order keeps a wrapped cell's lines together.
    const text = squash(pdfText(fs.readFileSync(path.join(s.dir, inv.pdf!)), undefined, 'raw'));
    expect(text).toContain('all 11 h at 0.75 / h (over 10 h) + 1.00 flat fee');
    expect(text).toContain('2 packages of 1,000,000 at 0.05');
  });

  it('refuses bad plan rates by path, and a model only the plan names without both prices', async () => {
    const s = await makeStore(await backend.fresh(), { catalog: false });
    const bad = PLAN_RATES_CATALOG
      .replace('h100: { name: "H100", price: "3.00" }', 'h100: { name: "H100" }')
      .replace('gemma-2b: { input: { model: package, size: 1000000, price: "0.05" } }',
        'gemma-2b: { input: { model: package, size: 0, price: "0.05" } }\n        qwen-70b: { output: "0.006" }');
    const r = await s.run(['catalog', 'import', s.file('bad.yaml', bad)], 2);
    expect(r.stderr.split('\n').slice(1, -2)).toEqual([
      '  - plans.volume.rates.gpu_rates.h100.price: missing',
      '  - plans.volume.rates.token_rates.gemma-2b.input.size: 0 must be at least 1: a package size counts whole tokens',
      '  - plans.volume.rates.token_rates.qwen-70b.input: missing',
    ]);
    expect(jsonOf<unknown[]>(await s.run(['catalog', 'list', '--format', 'json']))).toEqual([]);
  });
});
