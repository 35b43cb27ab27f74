// Issues 3 and 12: importing receipts. Every figure is a ratio to a baseline measured in the same
// run, or a peak RSS as the operating system sees the whole billctl process (all its threads:
// /usr/bin/time's maximum resident set size):
//   - billctl import of 1,000,000 enhanced strike receipts of 1,000 tenants (~580 MB JSON Lines; a
//     third of them with token classes: cached input, cache write, reasoning)
//     into a fresh SQLite store / the sqlite3 tool's `.import` of the same rows as CSV into a table
//     with the same columns and indexes (sqlite3's defaults)                    goal <= 1.2x
//     (three interleaved pairs; the figure is the median of their ratios)
//   - peak RSS of that import, and of one of 2,000,000 receipts of 1,000 tenants (memory does not
//     grow with the file, nor with the number of tenants), on each store          goal <= 300 MB
//   - importing the same file again (skipped) / the first import                 goal <= 0.05x
//   - the same with --force (read again, every receipt a duplicate)              goal <= 0.6x
//   - Postgres: billctl import / psql \copy of the same CSV into the same table  goal <= 1.5x
//     (each timed load starts after a CHECKPOINT, so neither writes out the other's pages)
// BENCH_SMOKE=1 runs 5,000 and 10,000 receipts. Data lives in bench/.data/.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, median, ratio, timeCommand } from './lib.mjs';

const DATA = path.join(ROOT, 'bench', '.data');
const PG = process.env.BILLCTL_BENCH_PG ?? process.env.BILLCTL_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
/** The server's URL as psql takes it (billctl's own parameters, such as ?schema=, left off). */
const PSQL_URL = PG.replace(/\?.*$/, '');

/** Receipts of this many tenants: memory must not grow with them. */
const TENANTS = 1000;

/** JSON Lines and the matching CSV rows for `count` receipts of TENANTS tenants, generated once and kept. */
function dataset(count, withCsv, log) {
  const jsonl = path.join(DATA, `import-${count}-t${TENANTS}-classes.jsonl`);
  const csv = path.join(DATA, `import-${count}-t${TENANTS}-classes.csv`);
  if (fs.existsSync(jsonl) && (!withCsv || fs.existsSync(csv))) return { jsonl, csv };
  fs.mkdirSync(DATA, { recursive: true });
  log(`generating ${count} receipts of ${TENANTS} tenants...`);
  const args = [path.join(ROOT, 'bench', 'gen-receipts.mjs'), '--count', String(count), '--tenants', String(TENANTS), '--out', jsonl];
  if (withCsv) args.push('--csv', csv);
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('generator failed');
  return { jsonl, csv };
}

/**
 * The receipts table and its index, exactly as the migrations make them (migration 2's table, the
 * columns later ones add: token classes, event type, quantity), for a baseline table.
 */
async function receiptsDdl(dialect) {
  const { MIGRATIONS, migrationSql } = await import(path.join(ROOT, 'dist', 'store', 'migrations.js'));
  const sql = migrationSql(MIGRATIONS.find((m) => m.sql.includes('CREATE TABLE receipts (')), dialect);
  const table = /CREATE TABLE receipts \([\s\S]*?\n\s*\);/.exec(sql)[0];
  const index = /CREATE INDEX receipts_tenant_ts[^;]*;/.exec(sql)[0];
  const added = MIGRATIONS.flatMap((m) => migrationSql(m, dialect).match(/ALTER TABLE receipts ADD COLUMN [^;]*;/g) ?? []);
  return `${table}\n${added.join('\n')}\n${index}\n`;
}

function rm(file) {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
}

async function billctl(args, options = {}) {
  const r = await timeCommand(process.execPath, [BIN, ...args], { ...options, env: { BILLCTL_ACTOR: 'bench', ...(options.env ?? {}) } });
  if (r.code !== 0 && r.code !== 3) throw new Error(`billctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

async function freshSqliteStore(file) {
  rm(file);
  await billctl(['init', '--yes', '--db', file]);
  await billctl(['catalog', 'import', path.join(ROOT, 'templates', 'catalog.example.yaml'), '--db', file]);
}

function psql(sql) {
  const r = spawnSync('psql', [PSQL_URL, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
}

/** CHECKPOINT, when the bench's role may (superuser or pg_checkpoint); without it the figure is noisier. */
function checkpoint() {
  spawnSync('psql', [PSQL_URL, '-q', '-c', 'CHECKPOINT'], { encoding: 'utf8' });
}

function pgAvailable() {
  const r = spawnSync('psql', [PSQL_URL, '-q', '-c', 'SELECT 1'], { encoding: 'utf8' });
  return r.status === 0;
}

const rssFigure = (store, count, mb) => ({
  name: `peak RSS importing ${count} receipts of ${TENANTS} tenants, ${store} (MB)`, value: Math.round(mb), goal: '<= 300', ok: mb <= 300,
});

export async function run({ smoke, log }) {
  const count = smoke ? 5_000 : 1_000_000;
  const bigCount = smoke ? 10_000 : 2_000_000;
  // Interleaved pairs (baseline, billctl); the figure is the median of the pairs' ratios, so a burst
  // of load from elsewhere on the machine skews one pair, not the figure.
  const pairs = smoke ? 1 : 3;
  const { jsonl, csv } = dataset(count, true, log);
  const big = dataset(bigCount, false, log).jsonl;
  const figures = [];
  const base = path.join(DATA, 'import-baseline.db');
  const ours = path.join(DATA, 'import-ours.db');
  const ddl = await receiptsDdl('sqlite');

  // 1. SQLite: sqlite3 .import vs billctl import, interleaved so machine load hits both alike.
  const baseTimes = [];
  const ourTimes = [];
  let rss = 0;
  for (let i = 0; i < pairs; i++) {
    rm(base);
    const b = await timeCommand('sqlite3', [base, ddl, '.mode csv', `.import ${csv} receipts`]);
    if (b.code !== 0) throw new Error(`sqlite3: ${b.stderr}`);
    baseTimes.push(b.ms);
    await freshSqliteStore(ours);
    const o = await billctl(['import', jsonl, '--db', ours, '--quiet', '--format', 'json'], { rss: true });
    const s = JSON.parse(o.stdout);
    if (s.imported !== count) throw new Error(`imported ${s.imported} of ${count}`);
    ourTimes.push(o.ms);
    rss = Math.max(rss, o.rssMb ?? 0);
    log(`sqlite3 .import ${(b.ms / 1000).toFixed(1)} s; billctl import ${(o.ms / 1000).toFixed(1)} s, peak RSS ${Math.round(o.rssMb ?? 0)} MB`);
  }
  const first = median(ourTimes);
  const r1 = ratio(median(ourTimes.map((o, i) => o / baseTimes[i])), 1);
  figures.push({ name: `SQLite import ${count} receipts / sqlite3 .import (wall)`, value: `${r1}x`, goal: '<= 1.2x', ok: r1 <= 1.2 });
  figures.push(rssFigure('SQLite', count, rss));

  // 2. The same file again: skipped at once; with --force: read again, all duplicates.
  const again = await billctl(['import', jsonl, '--db', ours, '--format', 'json']);
  if (!again.stderr.includes('1 file already imported')) throw new Error('the second import did not skip the file');
  const r2 = ratio(again.ms, first);
  figures.push({ name: 'import the same file again / first import (wall)', value: `${r2}x`, goal: '<= 0.05x', ok: r2 <= 0.05 });
  const forced = await billctl(['import', jsonl, '--db', ours, '--quiet', '--force', '--format', 'json']);
  if (JSON.parse(forced.stdout).duplicates !== count) throw new Error('--force did not count every receipt as a duplicate');
  const r3 = ratio(forced.ms, first);
  figures.push({ name: 'import --force the same file / first import (wall)', value: `${r3}x`, goal: '<= 0.6x', ok: r3 <= 0.6 });
  log(`again ${(again.ms / 1000).toFixed(2)} s, --force ${(forced.ms / 1000).toFixed(1)} s`);

  // 3. Memory does not grow with the file: twice the receipts, the same tenants.
  await freshSqliteStore(ours);
  const o2 = await billctl(['import', big, '--db', ours, '--quiet', '--format', 'json'], { rss: true });
  log(`${bigCount} receipts: ${(o2.ms / 1000).toFixed(1)} s, peak RSS ${Math.round(o2.rssMb ?? 0)} MB`);
  figures.push(rssFigure('SQLite', bigCount, o2.rssMb ?? 0));
  rm(base);
  rm(ours);

  // 4. Postgres: psql \copy of the CSV vs billctl import, each into a fresh schema; then twice the receipts.
  if (pgAvailable()) {
    const pgDdl = await receiptsDdl('postgres');
    const copyTimes = [];
    const pgTimes = [];
    let pgRss = 0;
    const freshPgStore = async (tag) => {
      const url = `${PSQL_URL}?schema=bench_ours_${tag}`;
      await billctl(['init', '--yes', '--db', url]);
      await billctl(['catalog', 'import', path.join(ROOT, 'templates', 'catalog.example.yaml'), '--db', url]);
      return url;
    };
    for (let i = 0; i < pairs; i++) {
      const tag = `${Date.now().toString(36)}_${i}`;
      psql(`DROP SCHEMA IF EXISTS bench_copy_${tag} CASCADE; CREATE SCHEMA bench_copy_${tag}; SET search_path TO bench_copy_${tag}; ${pgDdl}`);
      // Each timed load starts from a checkpoint, so neither pays for writing out the one before it.
      checkpoint();
      const c = await timeCommand('psql', [
        PSQL_URL, '-v', 'ON_ERROR_STOP=1', '-q', '-c', `SET search_path TO bench_copy_${tag}`, '-c',
        `\\copy receipts FROM '${csv}' WITH (FORMAT csv)`,
      ]);
      if (c.code !== 0) throw new Error(`psql \\copy: ${c.stderr}`);
      copyTimes.push(c.ms);
      const url = await freshPgStore(tag);
      checkpoint();
      const o = await billctl(['import', jsonl, '--db', url, '--quiet', '--format', 'json'], { rss: true });
      if (JSON.parse(o.stdout).imported !== count) throw new Error('Postgres import incomplete');
      pgTimes.push(o.ms);
      pgRss = Math.max(pgRss, o.rssMb ?? 0);
      log(`psql \\copy ${(c.ms / 1000).toFixed(1)} s; billctl import (Postgres) ${(o.ms / 1000).toFixed(1)} s, peak RSS ${Math.round(o.rssMb ?? 0)} MB`);
      psql(`DROP SCHEMA bench_copy_${tag} CASCADE; DROP SCHEMA bench_ours_${tag} CASCADE`);
    }
    const r4 = ratio(median(pgTimes.map((o, i) => o / copyTimes[i])), 1);
    figures.push({ name: `Postgres import ${count} receipts / psql \\copy (wall)`, value: `${r4}x`, goal: '<= 1.5x', ok: r4 <= 1.5 });
    figures.push(rssFigure('Postgres', count, pgRss));
    const tag = `${Date.now().toString(36)}_big`;
    const url = await freshPgStore(tag);
    const ob = await billctl(['import', big, '--db', url, '--quiet', '--format', 'json'], { rss: true });
    if (JSON.parse(ob.stdout).imported !== bigCount) throw new Error('Postgres import incomplete');
    log(`${bigCount} receipts (Postgres): ${(ob.ms / 1000).toFixed(1)} s, peak RSS ${Math.round(ob.rssMb ?? 0)} MB`);
    figures.push(rssFigure('Postgres', bigCount, ob.rssMb ?? 0));
    psql(`DROP SCHEMA bench_ours_${tag} CASCADE`);
  } else {
    log(`Postgres at ${PG} does not answer: its figures are skipped`);
  }
  // Smoke sizes measure start-up, not importing: no verdict on them.
  return smoke ? figures.map(({ ok: _ok, ...f }) => f) : figures;
}
