// A store of N receipts for T tenants in one month, built straight in SQL (a recursive CTE) so
// benchmarks do not wait on JSON parsing; the rollups are computed in SQL the way imports keep
// them (UTC tenants: the local day is the UTC day). Used by the rating and usage benchmarks.
// A third of the receipts carry token classes (cached input, cache write, reasoning); the catalog is
// the example one with cached input and cache write prices added (reasoning bills at the output price).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { BIN, ROOT } from './lib.mjs';

export const PERIOD = '2026-10';
const START = Date.parse('2026-10-01T00:00:00Z');
const SPAN = 31 * 86_400_000;

/** The example catalog, its models pricing cached input and cache write (written once into bench/.data). */
function classCatalog() {
  const file = path.join(ROOT, 'bench', '.data', 'catalog-classes.yaml');
  const text = fs.readFileSync(path.join(ROOT, 'templates', 'catalog.example.yaml'), 'utf8')
    .replace(/(\n  [a-z0-9-]+: \{ input: "([0-9.]+)",\s*output: "[0-9.]+",)/g, (m, head, input) => {
      const cached = (Number(input) / 10).toFixed(6).replace(/0+$/, '');
      return `${head} cached_input: "${cached}", cache_write: "${input}",`;
    });
  if (!text.includes('cached_input')) throw new Error('the example catalog changed shape: bench/store-2m.mjs adds no class prices');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

export function buildStore(file, { receipts, tenants }) {
  if (fs.existsSync(file)) {
    const db = new Database(file, { readonly: true });
    const n = db.prepare('SELECT COUNT(*) n FROM receipts').get().n;
    const classes = db.prepare('SELECT COUNT(*) n FROM receipts WHERE reasoning_tokens > 0').get().n;
    db.close();
    if (n === receipts && classes > 0) return file;
    for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const run = (args) => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--db', file, '--quiet'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`billctl ${args.join(' ')}: ${r.stderr}`);
  };
  run(['init', '--yes']);
  run(['catalog', 'import', classCatalog()]);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const now = new Date().toISOString();
  const plans = ['free', 'pro', 'enterprise'];
  db.transaction(() => {
    const t = db.prepare(`INSERT INTO tenants (id, name, timezone, tax_rate, tax_label, net_days, billing_mode, auto_created, created_at, updated_at)
      VALUES (?, ?, 'UTC', '0.19', 'VAT', 30, 'invoice', 0, ?, ?)`);
    const p = db.prepare('INSERT INTO tenant_plans (tenant_id, seq, plan, from_period, set_at) VALUES (?, 1, ?, NULL, ?)');
    for (let i = 0; i < tenants; i++) {
      const id = `tenant-${String(i).padStart(4, '0')}`;
      t.run(id, `Tenant ${i}`, now, now);
      p.run(id, plans[i % 3], now);
    }
    db.prepare(`INSERT INTO ingest_batches (kind, path, display, format, settings, status, started_at) VALUES ('import', 'bench', 'bench', 'sql', '{}', 'complete', ?)`).run(now);
  })();
  // Pseudo-random but deterministic columns from the row number.
  db.exec(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${receipts})
    INSERT INTO receipts (tenant_id, id, ts, billable, status, user_id, project_id, provider, model, model_key, gpu_type, gpu_key,
      gpu_seconds, input_tokens, output_tokens, reported_cost, unsplit, batch_id, cached_input_tokens, cache_write_tokens, reasoning_tokens)
    SELECT printf('tenant-%04d', (i * 7919) % ${tenants}),
           printf('r%08x%04d', (i * 2654435761) % 4294967296, i % 10000),
           ${START} + ((i * 104729) % ${SPAN / 1000}) * 1000,
           CASE WHEN i % 37 = 0 THEN 0 ELSE 1 END,
           CASE WHEN i % 37 = 0 THEN 'failed' ELSE 'completed' END,
           printf('u%d', i % 50), NULL, 'self-hosted',
           CASE i % 3 WHEN 0 THEN 'Qwen-70B' WHEN 1 THEN 'Qwen-30B' ELSE 'Gemma-2B' END,
           CASE i % 3 WHEN 0 THEN 'qwen-70b' WHEN 1 THEN 'qwen-30b' ELSE 'gemma-2b' END,
           CASE i % 4 WHEN 0 THEN 'A100 80GB' WHEN 1 THEN 'A100 40GB' WHEN 2 THEN 'RTX 4090' ELSE 'RTX 3090' END,
           CASE i % 4 WHEN 0 THEN 'a100-80gb' WHEN 1 THEN 'a100-40gb' WHEN 2 THEN 'rtx-4090' ELSE 'rtx-3090' END,
           (i * 31) % 900, (i * 131) % 20000, (i * 71) % 5000, NULL, 0, 1,
           CASE WHEN (i / 3) % 3 = 0 THEN (i * 53) % 8000 ELSE 0 END,
           CASE WHEN (i / 3) % 3 = 0 THEN (i * 17) % 2000 ELSE 0 END,
           CASE WHEN (i / 3) % 3 = 0 THEN 1 + (i * 29) % 3000 ELSE 0 END
    FROM n;
    INSERT INTO receipt_rollups (tenant_id, day, model_key, gpu_key, receipts, requests, gpu_seconds, input_tokens, output_tokens, reported_cost, unsplit,
      cached_input_tokens, cache_write_tokens, reasoning_tokens)
    SELECT tenant_id, ts / 86400000, COALESCE(model_key, ''), COALESCE(gpu_key, ''), COUNT(*), SUM(billable),
           SUM(CASE WHEN billable = 1 THEN gpu_seconds ELSE 0 END), SUM(CASE WHEN billable = 1 THEN input_tokens ELSE 0 END),
           SUM(CASE WHEN billable = 1 THEN output_tokens ELSE 0 END), '0', 0,
           SUM(CASE WHEN billable = 1 THEN cached_input_tokens ELSE 0 END), SUM(CASE WHEN billable = 1 THEN cache_write_tokens ELSE 0 END),
           SUM(CASE WHEN billable = 1 THEN reasoning_tokens ELSE 0 END)
    FROM receipts GROUP BY tenant_id, ts / 86400000, COALESCE(model_key, ''), COALESCE(gpu_key, '');
  `);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return file;
}

export function monthBounds() {
  return { start: START, end: START + SPAN };
}
