/**
 * Crash safety: a real billctl process (the built one, with its reading thread) importing files is
 * killed with SIGKILL at random moments; running the same command again must leave exactly the
 * store, batch records and rejects file that one clean run leaves, and print the same summary.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BACKENDS, describeEachBackend, dropSchemas, postgresBackend, tempDir } from '../helpers/backends.js';
import { BIN, ROOT, spawnCli, type CliResult } from '../helpers/cli.js';
import { dumpStore, expectAuditMatches, freshStore, query, write } from './helpers.js';

afterAll(dropSchemas);

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) throw new Error('build first: npx tsc -p tsconfig.json');
});

/** A deterministic file: receipts over 50 tenants, with duplicates, conflicts and rejects mixed in. */
function receipts(n: number, seed: number): { jsonl: string; csv: string } {
  let x = seed;
  const rand = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const lines: string[] = [];
  const rows: string[] = ['id,tenant_id,timestamp,status,model,gpu_type,gpu_seconds,input_tokens,output_tokens,cost'];
  for (let i = 0; i < n; i++) {
    const t = `crash-${Math.floor(rand() * 50)}`;
    const ts = new Date(Date.UTC(2026, 9, 1) + Math.floor(rand() * 30 * 86_400_000)).toISOString();
    const rec = {
      id: `c${i}`, tenant_id: t, timestamp: ts, status: rand() < 0.05 ? 'failed' : 'completed',
      cost_data: { inference: { model: 'Qwen-70B', input_tokens: Math.floor(rand() * 5000), output_tokens: Math.floor(rand() * 900) },
        gpu_allocation: { gpu_type: 'A100 80GB', duration_seconds: Math.floor(rand() * 400) }, total_usd: Math.floor(rand() * 9999) / 1000 },
    };
    lines.push(JSON.stringify(rec));
    if (i % 97 === 0) lines.push(JSON.stringify(rec)); // duplicate
    if (i % 389 === 0) lines.push(JSON.stringify({ ...rec, cost_data: { ...rec.cost_data, inference: { ...rec.cost_data.inference, output_tokens: 1 } } })); // conflict
    if (i % 211 === 0) lines.push(`{"id": "bad${i}", "tenant_id": "${t}"}`); // reject
    if (i % 3 === 0) {
      rows.push([`v${i}`, t, ts, 'completed', 'gemma-2b', 'RTX 4090', Math.floor(rand() * 100), Math.floor(rand() * 100), 1, '0.01'].join(','));
    }
  }
  return { jsonl: `${lines.join('\n')}\n`, csv: `${rows.join('\n')}\n` };
}

/**
 * Runs billctl and kills it with SIGKILL: once `ready()` says so (polled), after a further random
 * pause of up to `jitterMs`, or at `deadlineMs` at the latest.
 */
function runKilled(
  argv: string[],
  env: Record<string, string>,
  ready: () => Promise<boolean>,
  jitterMs: number,
  deadlineMs: number,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { env: { ...process.env, ...env, BILLCTL_ACTOR: 'test' }, stdio: 'ignore' });
    let done = false;
    const kill = () => {
      if (!done) child.kill(signal);
    };
    const deadline = setTimeout(kill, deadlineMs);
    const poll = async () => {
      while (!done) {
        if (await ready().catch(() => false)) {
          setTimeout(kill, Math.floor(Math.random() * jitterMs));
          return;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    void poll();
    child.on('error', reject);
    child.on('exit', (code, got) => {
      done = true;
      clearTimeout(deadline);
      resolve({ killed: got === signal, code });
    });
  });
}

/**
 * The receipts, with each one's batch named by its file: batch ids are numbers a killed run may
 * have used up (a Postgres sequence does not roll back).
 */
async function receiptsByFile(db: string) {
  const files = new Map((await query<{ id: number; path: string }>(db, 'SELECT id, path FROM ingest_batches')).map((b) => [b.id, b.path]));
  return (await dumpStore(db, true)).receipts.map(({ batch_id: b, ...r }) => ({ ...r, file: files.get(b as number) }));
}

async function batches(db: string) {
  return query(
    db,
    `SELECT id, path, status, lines, imported, duplicates, conflicts, rejected, new_tenants, unsplit_tokens, checkpoint_records
     FROM ingest_batches ORDER BY id`,
  );
}

describeEachBackend('crash safety', (backend) => {
  it('kill -9 at random moments, then the same command: exactly one clean run', async () => {
    const dir = tempDir('crash');
    const data = receipts(12_000, 7);
    const a = write(dir, 'in/a.jsonl', data.jsonl);
    write(dir, 'in/b.csv.gz', zlib.gzipSync(data.csv));
    const env = { BILLCTL_IMPORT_UNIT: '600', BILLCTL_IMPORT_PARCEL: '150', BILLCTL_ROLLUP_KEYS: '40' };
    const args = (db: string, rejects: string) => ['import', path.join(dir, 'in'), '--db', db, '--format', 'json', '--rejects', rejects];

    const clean = await freshStore(backend);
    const started = Date.now();
    const cleanRun: CliResult = await spawnCli(args(clean.db, path.join(dir, 'clean-rejects.jsonl')), { env });
    const duration = Date.now() - started;
    expect(cleanRun.code).toBe(3);
    const want = JSON.parse(cleanRun.stdout) as Record<string, number>;
    expect(want).toMatchObject({ files: 2, conflicts: 31 });

    const crashed = await freshStore(backend);
    const total = want.lines!;
    const progress = async () => {
      const rows = await query<{ n: number }>(crashed.db, 'SELECT COALESCE(SUM(checkpoint_records), 0) AS n FROM ingest_batches');
      return Number(rows[0]?.n ?? 0);
    };
    let kills = 0;
    // A kill before anything is committed (start-up, hashing), then kills after ever more progress.
    const first = await runKilled(args(crashed.db, path.join(dir, 'rejects.jsonl')), env, async () => true, 150, duration);
    if (first.killed) kills++;
    for (let round = 1; round <= 5; round++) {
      const target = Math.floor((total * round) / 6 + Math.random() * (total / 8));
      // Ctrl-C (SIGINT) as well as kill -9: neither may leave a change without its audit entry.
      const signal = round % 2 === 0 ? 'SIGINT' : 'SIGKILL';
      const r = await runKilled(
        args(crashed.db, path.join(dir, 'rejects.jsonl')), env, async () => (await progress()) >= target, 60, duration * 2, signal,
      );
      if (r.killed) kills++;
      await expectAuditMatches(crashed.db);
    }
    expect(kills).toBeGreaterThan(2);
    const last = await spawnCli(args(crashed.db, path.join(dir, 'rejects.jsonl')), { env });
    const got = JSON.parse(last.stdout) as Record<string, number>;
    // Files finished before the last run are skipped and counted as a re-read (duplicates).
    const skipped = last.stderr.includes('already imported with the same settings');
    if (!skipped) expect(got).toEqual(want);

    expect(await receiptsByFile(crashed.db)).toEqual(await receiptsByFile(clean.db));
    expect((await dumpStore(crashed.db)).rollups).toEqual((await dumpStore(clean.db)).rollups);
    await expectAuditMatches(crashed.db);
    await expectAuditMatches(clean.db);
    const strip = (bs: Record<string, unknown>[]) => bs.map(({ id: _id, ...b }) => b);
    expect(strip(await batches(crashed.db))).toEqual(strip(await batches(clean.db)));
    const rejectRows = (db: string) =>
      query(db, 'SELECT b.path, r.line, r.kind, r.reason, r.text FROM ingest_rejects r JOIN ingest_batches b ON b.id = r.batch_id ORDER BY b.path, r.line');
    expect(await rejectRows(crashed.db)).toEqual(await rejectRows(clean.db));
    if (!skipped) {
      expect(fs.readFileSync(path.join(dir, 'rejects.jsonl'), 'utf8')).toBe(fs.readFileSync(path.join(dir, 'clean-rejects.jsonl'), 'utf8'));
    }
    void a;
  }, 240_000);
});

/** A TCP proxy in front of Postgres whose connections can be cut (a network failure, a server restart). */
async function proxyTo(target: URL): Promise<{ url: (db: string) => string; cut: () => void; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: (db) => {
      const u = new URL(db);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

it.runIf(BACKENDS.includes(postgresBackend))('a dropped Postgres connection: exit 1 saying so, what was committed, and that a re-run goes on', async () => {
  const dir = tempDir('dropped');
  const data = receipts(12_000, 11);
  write(dir, 'in/a.jsonl', data.jsonl);
  write(dir, 'in/b.csv.gz', zlib.gzipSync(data.csv));
  const env = { BILLCTL_IMPORT_UNIT: '600', BILLCTL_IMPORT_PARCEL: '150' };
  const args = (db: string) => ['import', path.join(dir, 'in'), '--db', db, '--format', 'json'];
  const clean = await freshStore(postgresBackend);
  expect((await spawnCli(args(clean.db), { env })).code).toBe(3);

  const s = await freshStore(postgresBackend);
  const proxy = await proxyTo(new URL(s.db));
  try {
    const total = Number((await query<{ n: number }>(clean.db, 'SELECT SUM(lines) AS n FROM ingest_batches'))[0]!.n);
    let cuts = 0;
    for (const share of [0.2, 0.5, 0.8]) {
      const progress = async () =>
        Number((await query<{ n: number }>(s.db, 'SELECT COALESCE(SUM(checkpoint_records), 0) AS n FROM ingest_batches'))[0]!.n);
      const run = spawnCli(args(proxy.url(s.db)), { env });
      const end = Date.now() + 60_000;
      while ((await progress()) < total * share && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      proxy.cut();
      const r = await run;
      if (r.code === 3) continue; // it finished before the cut
      cuts++;
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('billctl: error: lost the connection to the database at postgres://');
      expect(r.stderr).toContain('run the same command again to import the rest: it goes on where this run stopped');
      // The cause stays in parentheses (write EPIPE, Connection terminated unexpectedly...); the words say what happened.
      expect(r.stderr).not.toMatch(/internal error|^billctl: failed: write EPIPE/m);
      const got = JSON.parse(r.stdout) as { imported: number; error: string; unfinished: { file: string; from_line: number }[] };
      expect(got.error).toContain('lost the connection');
      expect(got.unfinished.length).toBeGreaterThan(0);
      // What the summary says was imported is what the store holds, and what the audit log accounts for.
      expect(got.imported).toBe(Number((await query<{ n: number }>(s.db, 'SELECT COUNT(*) AS n FROM receipts'))[0]!.n));
      await expectAuditMatches(s.db);
    }
    expect(cuts).toBeGreaterThan(0);
    const last = await spawnCli(args(proxy.url(s.db)), { env });
    expect(last.code).toBe(3);
    expect(await receiptsByFile(s.db)).toEqual(await receiptsByFile(clean.db));
    expect((await dumpStore(s.db)).rollups).toEqual((await dumpStore(clean.db)).rollups);
    await expectAuditMatches(s.db);
  } finally {
    await proxy.close();
  }
}, 240_000);
