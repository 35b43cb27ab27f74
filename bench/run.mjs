#!/usr/bin/env node
// `npm run bench`: runs every bench/*.bench.mjs and prints its figures as ratios against a
// baseline measured in the same run (machines are noisy; absolute times mean little).
// BENCH_SMOKE=1 runs tiny sizes (CI uses it to prove the benchmarks still run).
// BENCH_ONLY=name runs the benchmarks whose file name contains `name`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.env.BENCH_ONLY;
const smoke = process.env.BENCH_SMOKE === '1';
const files = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs') && (!only || f.includes(only)))
  .sort();

const results = [];
for (const f of files) {
  const mod = await import(pathToFileURL(path.join(here, f)).href);
  process.stderr.write(`\n== ${f}${smoke ? ' (smoke)' : ''}\n`);
  const figures = await mod.run({ smoke, log: (s) => process.stderr.write(`   ${s}\n`) });
  for (const fig of figures) {
    results.push({ bench: f.replace('.bench.mjs', ''), ...fig });
    const goal = fig.goal ? `  goal ${fig.goal}` : '';
    const verdict = fig.ok === undefined ? '' : fig.ok ? '  ok' : '  MISSED';
    process.stdout.write(`${f.replace('.bench.mjs', '').padEnd(10)} ${fig.name.padEnd(58)} ${String(fig.value).padStart(10)}${goal}${verdict}\n`);
  }
}
if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2));
