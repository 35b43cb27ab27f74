// Issue 4, on a store of 2,000,000 receipts for 1,000 tenants in one month (a third of them with
// token classes, issue 13):
//  - `billctl usage --period P` (all tenants) vs sqlite3 running the plain GROUP BY tenant over the
//    month's receipts (goal <= 0.1x): it reads the rollups and the rating cache, not the receipts;
//  - rating every tenant for the month (`usage` with the cache emptied: what `invoice generate --all`
//    rates) vs sqlite3 reading the month's receipts once in (tenant_id, ts, id) order (goal <= 1.5x).
import path from 'node:path';
import Database from 'better-sqlite3';
import { BIN, ROOT, medianTime, ratio } from './lib.mjs';
import { buildStore, monthBounds, PERIOD } from './store-2m.mjs';

export async function run({ smoke, log }) {
  const receipts = smoke ? 20_000 : 2_000_000;
  const tenants = smoke ? 50 : 1000;
  const file = path.join(ROOT, 'bench', '.data', `rating-${receipts}.db`);
  const t0 = Date.now();
  buildStore(file, { receipts, tenants });
  await medianTime(1, process.execPath, [BIN, 'init', '--yes', '--quiet', '--db', file]);
  log(`store of ${receipts} receipts for ${tenants} tenants ready in ${Date.now() - t0} ms`);
  const { start, end } = monthBounds();
  const n = smoke ? 1 : 3;
  const groupBy = await medianTime(n, 'sqlite3', [file,
    `SELECT tenant_id, COUNT(*), SUM(billable), SUM(gpu_seconds), SUM(input_tokens), SUM(output_tokens) FROM receipts WHERE ts >= ${start} AND ts < ${end} GROUP BY tenant_id`]);
  const ordered = await medianTime(n, 'sqlite3', [file,
    `SELECT tenant_id, ts, id, billable, model_key, gpu_key, gpu_seconds, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens FROM receipts WHERE ts >= ${start} AND ts < ${end} ORDER BY tenant_id, ts, id`]);
  const usage = ['usage', '--period', PERIOD, '--format', 'json', '--db', file];
  const clear = () => {
    const db = new Database(file);
    db.exec('DELETE FROM usage_cache');
    db.close();
  };
  const cold = [];
  for (let i = 0; i < n; i++) {
    clear();
    cold.push(await medianTime(1, process.execPath, [BIN, ...usage]));
  }
  cold.sort((a, b) => a - b);
  const rateAll = cold[Math.floor(cold.length / 2)];
  const warm = await medianTime(smoke ? 1 : 5, process.execPath, [BIN, ...usage]);
  log(`sqlite3 GROUP BY ${groupBy.toFixed(0)} ms, ordered read ${ordered.toFixed(0)} ms; billctl usage ${warm.toFixed(0)} ms, rating every tenant ${rateAll.toFixed(0)} ms`);
  const r1 = ratio(warm, groupBy);
  const r2 = ratio(rateAll, ordered);
  return [
    { name: 'usage --period (all tenants) / sqlite3 GROUP BY tenant', value: `${r1}x`, goal: '<= 0.1x', ok: smoke ? undefined : r1 <= 0.1 },
    { name: 'rate every tenant for the month / sqlite3 ordered read', value: `${r2}x`, goal: '<= 1.5x', ok: smoke ? undefined : r2 <= 1.5 },
  ];
}
