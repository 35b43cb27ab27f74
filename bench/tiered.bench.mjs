// Issue 14: rating every tenant of a month with tiered prices (graduated GPU hours and output
// tokens, volume input tokens, package requests) vs sqlite3 reading the month's receipts once in
// (tenant_id, ts, id) order (goal <= 1.5x), on the store of the rating benchmark (2,000,000
// receipts, 1,000 tenants) with its catalog replaced by a tiered one of the same label.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BIN, ROOT, medianTime, ratio } from './lib.mjs';
import { buildStore, monthBounds, PERIOD } from './store-2m.mjs';

const TIERED_CATALOG = `version: "2026-01"
effective_from: 2026-01-01T00:00:00Z
currency: USD
default_plan: free
gpu_rates:
  a100-40gb: { name: "A100 40GB", price: { model: graduated, tiers: [ { up_to: 100, price: "2.50" }, { up_to: 1000, price: "2.20", flat_fee: "5" }, { up_to: null, price: "2.00" } ] } }
  a100-80gb: { name: "A100 80GB", price: { model: graduated, tiers: [ { up_to: 100, price: "4.00" }, { up_to: null, price: "3.50" } ] } }
  rtx-4090:  { name: "RTX 4090",  price: { model: volume, tiers: [ { up_to: 10, price: "0.90" }, { up_to: null, price: "0.75", flat_fee: "1" } ] } }
  rtx-3090:  { name: "RTX 3090",  price: "0.60" }
token_unit: 1000
token_rates:
  gemma-2b: { name: "Gemma-2B", input: { model: package, size: 1000000, price: "0.05" }, output: "0.0002" }
  qwen-30b: { name: "Qwen-30B", input: { model: volume, tiers: [ { up_to: 5000000, price: "0.001" }, { up_to: null, price: "0.0008" } ] }, output: "0.002" }
  qwen-70b: { name: "Qwen-70B", input: "0.003", output: { model: graduated, tiers: [ { up_to: 2000000, price: "0.006" }, { up_to: null, price: "0.004" } ] } }
request_rate: { model: package, size: 1000, price: "0.10" }
plans:
  free:       { name: "Free", monthly_fee: "0",   included: { gpu_hours: 10,  tokens: 1000000,  api_calls: 10000 },  hard_cap: true }
  pro:        { name: "Pro",  monthly_fee: "99",  included: { gpu_hours: 100, tokens: 10000000, api_calls: 100000 } }
  enterprise: { name: "Enterprise", monthly_fee: "2500", included: { gpu_hours: 1000, tokens: 100000000, api_calls: 1000000 }, usage_discount_percent: "10" }
`;

export async function run({ smoke, log }) {
  const receipts = smoke ? 20_000 : 2_000_000;
  const tenants = smoke ? 50 : 1000;
  const file = path.join(ROOT, 'bench', '.data', `tiered-${receipts}.db`);
  const t0 = Date.now();
  buildStore(file, { receipts, tenants });
  await medianTime(1, process.execPath, [BIN, 'init', '--yes', '--quiet', '--db', file]);
  const catalog = path.join(ROOT, 'bench', '.data', 'tiered-catalog.yaml');
  fs.writeFileSync(catalog, TIERED_CATALOG);
  await medianTime(1, process.execPath, [BIN, 'catalog', 'import', catalog, '--replace', '--quiet', '--db', file]);
  log(`store of ${receipts} receipts for ${tenants} tenants, tiered catalog, ready in ${Date.now() - t0} ms`);
  const { start, end } = monthBounds();
  const n = smoke ? 1 : 3;
  const ordered = await medianTime(n, 'sqlite3', [file,
    `SELECT tenant_id, ts, id, billable, model_key, gpu_key, gpu_seconds, input_tokens, output_tokens FROM receipts WHERE ts >= ${start} AND ts < ${end} ORDER BY tenant_id, ts, id`]);
  const usage = ['usage', '--period', PERIOD, '--format', 'json', '--db', file];
  const cold = [];
  for (let i = 0; i < n; i++) {
    const db = new Database(file);
    db.exec('DELETE FROM usage_cache');
    db.close();
    cold.push(await medianTime(1, process.execPath, [BIN, ...usage]));
  }
  cold.sort((a, b) => a - b);
  const rateAll = cold[Math.floor(cold.length / 2)];
  log(`sqlite3 ordered read ${ordered.toFixed(0)} ms; rating every tenant with tiered prices ${rateAll.toFixed(0)} ms`);
  const r = ratio(rateAll, ordered);
  return [{ name: 'rate every tenant, tiered prices / sqlite3 ordered read', value: `${r}x`, goal: '<= 1.5x', ok: smoke ? undefined : r <= 1.5 }];
}
