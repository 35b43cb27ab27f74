#!/usr/bin/env node
// Generates enhanced strike receipts (receipts.md, "Enhanced strike receipt") for benchmarks and
// large tests, deterministically from a seed: JSON Lines as gateways write them, and, for the
// sqlite3/psql baselines, the same receipts as CSV rows of the `receipts` table (one column per
// table column, in table order).
//
//   node bench/gen-receipts.mjs --count 1000000 --out bench/.data/r.jsonl [--csv bench/.data/r.csv] [--seed 1] [--tenants 200]
//
// A third of them carry token classes (cached input, cache write, reasoning).
// Receipts run forward in time (as logs do) from 2026-09-01, ~2.5 s apart, over 200 tenants (or --tenants).
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { mulberry32 as prng } from '../dist/prng.js';

const GPUS = [
  ['A100 80GB', 'a100-80gb', '4.0'],
  ['A100 40GB', 'a100-40gb', '2.5'],
  ['RTX 4090', 'rtx-4090', '0.9'],
  ['RTX 3090', 'rtx-3090', '0.6'],
];
const MODELS = [
  ['Qwen-70B', 'qwen-70b', 3],
  ['Qwen-30B', 'qwen-30b', 1],
  ['gemma-2b', 'gemma-2b', 0.1],
];
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];

/** The project's seeded PRNG (mulberry32), from the build. */
export { prng };

function uuid(rand) {
  const h = () => Math.floor(rand() * 0x10000).toString(16).padStart(4, '0');
  return `${h()}${h()}-${h()}-4${h().slice(1)}-a${h().slice(1)}-${h()}${h()}${h()}`;
}

/** Yields [jsonLine, csvRow] for `count` receipts. */
export function* receipts({ count, seed = 1, tenants = 200, start = Date.UTC(2026, 8, 1) }) {
  const rand = prng(seed);
  const covenants = Array.from({ length: tenants }, () => uuid(rand));
  let ts = start;
  for (let i = 0; i < count; i++) {
    ts += Math.floor(rand() * 5000);
    const t = Math.floor(rand() * tenants);
    const tenant = `tenant-${String(t).padStart(4, '0')}`;
    const [gpu, gpuKey, rate] = GPUS[Math.floor(rand() * GPUS.length)];
    const [model, modelKey] = MODELS[Math.floor(rand() * MODELS.length)];
    const seconds = 1 + Math.floor(rand() * 3600);
    const input = Math.floor(rand() * 20000);
    const output = Math.floor(rand() * 4000);
    const gpuCost = Math.round(seconds * Number(rate) * 10000 / 3600) / 10000;
    const infCost = Math.round((input + output) * 0.03) / 10000;
    const total = Math.round((gpuCost + infCost) * 10000) / 10000;
    const failed = rand() < 0.02;
    const status = failed ? 'failed' : 'completed';
    const id = uuid(rand);
    const user = `u_${Math.floor(rand() * 5000)}`;
    const iso = new Date(ts).toISOString();
    // Token classes (receipts.md, "Token classes") on a third of the receipts: cached input, cache
    // write and reasoning, each its own count (the enhanced receipt's fields are not "included in").
    const classes = i % 3 === 0;
    const cached = classes ? Math.floor(rand() * 8000) : 0;
    const cacheWrite = classes ? Math.floor(rand() * 2000) : 0;
    const reasoning = classes ? Math.floor(rand() * 3000) : 0;
    const inference = { model, input_tokens: input, output_tokens: output, cost_per_1k_tokens: 0.003, total_cost: infCost };
    if (classes) Object.assign(inference, { cached_input_tokens: cached, cache_write_tokens: cacheWrite, reasoning_tokens: reasoning });
    const rec = {
      strike_id: id,
      covenant_id: covenants[t],
      tenant_id: tenant,
      timestamp: iso,
      status,
      user_id: user,
      cost_data: {
        gpu_allocation: { allocation_id: `al-${i}`, gpu_type: gpu, duration_seconds: seconds, rate_per_hour: Number(rate), total_cost: gpuCost },
        inference,
        total_usd: total,
        billing_metadata: { region: REGIONS[i % 3], node: `node-${i % 64}` },
      },
    };
    // The table row: tenant_id,id,ts,billable,status,user_id,project_id,provider,model,model_key,
    // gpu_type,gpu_key,gpu_seconds,input_tokens,output_tokens,reported_cost,unsplit,batch_id, then
    // migration 16's event_type,cached_input_tokens,cache_write_tokens,reasoning_tokens,quantity
    const csv = [
      tenant, id, ts, failed ? 0 : 1, status, user, covenants[t], '', model, modelKey, gpu, gpuKey, seconds, input, output, String(total), 0, 1,
      '', cached, cacheWrite, reasoning, 0,
    ].join(',');
    yield [JSON.stringify(rec), csv];
  }
}

function main() {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const count = Number(opt('count', '1000'));
  const out = opt('out');
  const csv = opt('csv');
  const seed = Number(opt('seed', '1'));
  const tenants = Number(opt('tenants', '200'));
  if (!out) {
    process.stderr.write('usage: gen-receipts.mjs --count N --out FILE.jsonl [--csv FILE.csv] [--seed S] [--tenants T]\n');
    process.exit(2);
  }
  const o = fs.openSync(out, 'w');
  const c = csv ? fs.openSync(csv, 'w') : undefined;
  let jb = [];
  let cb = [];
  const flush = () => {
    fs.writeSync(o, jb.join(''));
    if (c !== undefined) fs.writeSync(c, cb.join(''));
    jb = [];
    cb = [];
  };
  for (const [j, r] of receipts({ count, seed, tenants })) {
    jb.push(j, '\n');
    if (c !== undefined) cb.push(r, '\n');
    if (jb.length >= 20000) flush();
  }
  flush();
  fs.closeSync(o);
  if (c !== undefined) fs.closeSync(c);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
export { createHash };
