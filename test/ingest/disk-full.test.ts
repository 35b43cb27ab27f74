/**
 * A disk that fills up during an import, as a real billctl process meets it: a file size limit
 * (prlimit --fsize) makes every write past it fail, as a full disk does. Whatever the moment, the
 * run says what it committed and what it did not, alike in every format; the store, its batches and
 * the audit log agree with that; and the same command run again ends as one clean run.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BACKENDS, dropSchemas, postgresBackend, sqliteBackend, tempDir } from '../helpers/backends.js';
import { BIN, ROOT, spawnCli, type CliResult } from '../helpers/cli.js';
import { dumpStore, expectAuditMatches, freshStore, query, write } from './helpers.js';

afterAll(dropSchemas);

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) throw new Error('build first: npx tsc -p tsconfig.json');
  if (spawnSync('prlimit', ['--version']).status !== 0) throw new Error('prlimit (util-linux) is needed');
});

/** billctl under a file size limit of `bytes` (writes past it fail with EFBIG, as on a full disk). */
function limited(bytes: number, argv: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('prlimit', [`--fsize=${bytes}`, process.execPath, BIN, ...argv], {
      env: { ...process.env, ...env, BILLCTL_ACTOR: 'test', NO_COLOR: '1' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

function receipts(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({
      id: `d${i}`, tenant_id: `t${i % 30}`, timestamp: new Date(Date.UTC(2026, 9, 1) + i * 60_000).toISOString(),
      model: 'Qwen-70B', input_tokens: 100 + (i % 9), output_tokens: 5, user_id: `u${i % 100}`,
    }));
    if (i % 50 === 0) lines.push(JSON.stringify({ id: `bad${i}`, tenant_id: 't1', note: 'x'.repeat(400) }));
  }
  return `${lines.join('\n')}\n`;
}

const count = async (db: string, sql: string) => Number((await query<{ n: number }>(db, sql))[0]!.n);

it.runIf(BACKENDS.includes(sqliteBackend))('the disk fills up during an import (SQLite): what was committed is said, and a re-run finishes it', async () => {
  const dir = tempDir('full');
  const file = write(dir, 'r.jsonl', receipts(12_000));
  const env = { BILLCTL_IMPORT_UNIT: '500', BILLCTL_IMPORT_PARCEL: '100' };
  const clean = await freshStore(sqliteBackend);
  const cleanRun = await spawnCli(['import', file, '--db', clean.db, '--format', 'json'], { env });
  expect(cleanRun.code).toBe(3);
  const size = fs.statSync(clean.db).size;
  let stopped = 0;
  for (const share of [0.3, 0.6, 0.9]) {
    const s = await freshStore(sqliteBackend);
    const r = await limited(Math.floor(size * share), ['import', file, '--db', s.db, '--format', 'json'], env);
    if (r.code === 3) continue;
    stopped++;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/billctl: error: .*\(SQLITE_(FULL|IOERR\w*)\)/);
    expect(r.stderr).toContain('Is the disk full? Free some space. The summary counts what was committed; run the same command again');
    const got = JSON.parse(r.stdout) as { files: number; lines: number; imported: number; error: string; unfinished: { file: string; from_line: number }[] };
    expect(got.files).toBe(0);
    expect(got.error).toMatch(/SQLITE_(FULL|IOERR)/);
    const batch = (await query<{ status: string; lines: number; imported: number; checkpoint_line: number }>(
      s.db, 'SELECT status, lines, imported, checkpoint_line FROM ingest_batches',
    ))[0]!;
    // Not everything is in: the batch runs on from where the summary says, and says what it holds.
    expect(batch.status).toBe('running');
    expect([batch.lines, batch.imported]).toEqual([got.lines, got.imported]);
    expect(got.unfinished).toEqual([{ file, from_line: batch.checkpoint_line + 1 }]);
    expect(await count(s.db, 'SELECT COUNT(*) AS n FROM receipts')).toBe(got.imported);
    await expectAuditMatches(s.db);
    // The same in a table: the summary's fields, the error and what is left.
    const t = await limited(Math.floor(size * share), ['import', file, '--db', s.db], env);
    if (t.code === 1) {
      expect(t.stdout).toMatch(/imported\s.*\d/);
      expect(t.stdout).toMatch(/error\s.*SQLITE_/);
      expect(t.stdout).toMatch(/unfinished\s.*r\.jsonl from line \d+/);
    }
    const again = await spawnCli(['import', file, '--db', s.db, '--format', 'json'], { env });
    expect(again.code).toBe(3);
    expect(JSON.parse(again.stdout)).toEqual(JSON.parse(cleanRun.stdout));
    expect(await dumpStore(s.db)).toEqual(await dumpStore(clean.db));
    expect((await query<{ status: string }>(s.db, 'SELECT status FROM ingest_batches')).map((b) => b.status)).toEqual(['complete']);
    await expectAuditMatches(s.db);
  }
  expect(stopped).toBeGreaterThan(1);
}, 180_000);

it.runIf(BACKENDS.includes(postgresBackend))('the disk fills up while the rejects file is written: the import is complete and says so', async () => {
  const dir = tempDir('full-rejects');
  const file = write(dir, 'r.jsonl', receipts(3_000));
  const s = await freshStore(postgresBackend);
  const rejects = path.join(dir, 'rejects.jsonl');
  const r = await limited(4096, ['import', file, '--db', s.db, '--format', 'json', '--rejects', rejects], {});
  expect(r.code).toBe(1);
  const got = JSON.parse(r.stdout) as Record<string, unknown>;
  expect(got).toMatchObject({ files: 1, lines: 3_060, imported: 3_000, rejected: 60, unfinished: [] });
  expect(got.error).toMatch(/^cannot write .*rejects\.jsonl: .*EFBIG/);
  expect(r.stderr).toContain('The import itself is complete. Run the same command again to write the file');
  expect(fs.readdirSync(dir)).toEqual(['r.jsonl']); // no half-written file left
  expect((await query<{ status: string }>(s.db, 'SELECT status FROM ingest_batches')).map((b) => b.status)).toEqual(['complete']);
  await expectAuditMatches(s.db);
  const again = await spawnCli(['import', file, '--db', s.db, '--format', 'json', '--rejects', rejects]);
  expect(again.code).toBe(3);
  expect(fs.readFileSync(rejects, 'utf8').trim().split('\n')).toHaveLength(60);
}, 120_000);
