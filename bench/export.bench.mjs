// Issue 7: `billctl export receipts` streams: rows per second, and peak memory (RSS, from
// /usr/bin/time) for exports of 1/200, about 2/5 and all of a 2,000,000-receipt store. Flat memory
// means the peak stops growing with the number of receipts (V8's heap grows lazily to a plateau of
// a few tens of MB above start-up; the live heap stays about 11 MB, page by page).
import fs from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, timeCommand } from './lib.mjs';
import { NOW, TENANTS, generatedStore } from './quota.bench.mjs';

const hasTime = fs.existsSync('/usr/bin/time');

async function exportRun(db, args, log) {
  const out = path.join(ROOT, 'bench', '.data', 'export-bench.csv');
  const r = await timeCommand(process.execPath, [BIN, 'export', 'receipts', '--db', db, '--out', out, ...args], {
    env: { BILLCTL_NOW: NOW }, rss: hasTime,
  });
  if (r.code !== 0) throw new Error(`export exited ${r.code}: ${r.stderr}`);
  const rows = Number(/exported (\d+)/.exec(r.stderr)?.[1] ?? NaN) || countLines(out) - 1;
  fs.rmSync(out, { force: true });
  log(`export receipts ${args.join(' ') || '(all)'}: ${rows.toLocaleString('en-US')} rows in ${(r.ms / 1000).toFixed(1)} s, peak RSS ${r.rssMb === undefined ? 'n/a' : `${r.rssMb.toFixed(0)} MB`}`);
  return { rows, ms: r.ms, rssMb: r.rssMb };
}

function countLines(file) {
  let n = 0;
  const buf = fs.readFileSync(file);
  for (const b of buf) if (b === 10) n++;
  return n;
}

export async function run({ smoke, log }) {
  const count = smoke ? 20_000 : 2_000_000;
  const db = await generatedStore(count, log);
  // One tenant's receipts (1/200 of the store), one month of every tenant's, and the whole store.
  const small = await exportRun(db, ['--tenant', 'tenant-0001'], log);
  const month = await exportRun(db, ['--period', '2026-10'], log);
  const large = await exportRun(db, [], log);
  const figures = [
    { name: `export receipts, rows/s (${large.rows.toLocaleString('en-US')} rows, ${TENANTS} tenants)`, value: Math.round(large.rows / (large.ms / 1000)) },
  ];
  if (small.rssMb !== undefined && month.rssMb !== undefined && large.rssMb !== undefined) {
    for (const r of [small, month, large]) figures.push({ name: `export peak RSS MB, ${r.rows.toLocaleString('en-US')} rows`, value: r.rssMb.toFixed(0) });
    // V8 grows its heap lazily up to a plateau; past it, more rows must not mean more memory.
    const growth = large.rssMb - month.rssMb;
    figures.push({ name: `export peak RSS growth MB, ${month.rows.toLocaleString('en-US')} -> ${large.rows.toLocaleString('en-US')} rows`, value: growth.toFixed(0), goal: '<= 32', ok: growth <= 32 });
  }
  return figures;
}
