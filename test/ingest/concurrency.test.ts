/**
 * Imports running at the same time, as real billctl processes: two runs of one file never split
 * it between them (the second waits for the first, then finds the file imported); runs of
 * different files go on side by side.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { ROOT, spawnCli } from '../helpers/cli.js';
import { freshStore, query, write } from './helpers.js';

afterAll(dropSchemas);

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) throw new Error('build first: npx tsc -p tsconfig.json');
});

function receipts(n: number, prefix: string): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({
      id: `${prefix}${i}`, tenant_id: `t${i % 40}`, timestamp: new Date(Date.UTC(2026, 9, 1) + i * 100_000).toISOString(),
      model: 'Qwen-70B', input_tokens: 100 + (i % 7), output_tokens: 10,
    }));
  }
  return `${lines.join('\n')}\n`;
}

const summary = (stdout: string) => JSON.parse(stdout) as Record<string, number>;

/** Resolves once `check` holds (polled), or rejects after `ms`. */
async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeEachBackend('imports at the same time', (backend) => {
  // Small units make a run commit often and take a while: the second run starts in the middle.
  const env = { BILLCTL_IMPORT_UNIT: '200', BILLCTL_IMPORT_PARCEL: '50' };

  it('two runs of one file: the second waits for the first, then finds it imported', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('same');
    const file = write(dir, 'r.jsonl', receipts(100_000, 'r'));
    const link = path.join(dir, 'link.jsonl');
    fs.symlinkSync(file, link);
    const first = spawnCli(['import', file, '--db', s.db, '--format', 'json'], { env });
    await until(async () => {
      const rows = await query<{ n: number }>(s.db, "SELECT COALESCE(SUM(checkpoint_records), 0) AS n FROM ingest_batches WHERE status = 'running'");
      return Number(rows[0]?.n) > 0;
    }, 100_000);
    // The same file under another name (a symbolic link) is the same file.
    const second = await spawnCli(['import', link, '--db', s.db, '--format', 'json'], { env });
    const a = await first;
    expect([a.code, second.code]).toEqual([0, 0]);
    expect(summary(a.stdout)).toMatchObject({ lines: 100_000, imported: 100_000, duplicates: 0 });
    expect(summary(second.stdout)).toMatchObject({ lines: 100_000, imported: 0, duplicates: 100_000 });
    expect(second.stderr).toContain('link.jsonl: another import of this file is running');
    const batches = await query(s.db, 'SELECT status, lines, imported, duplicates FROM ingest_batches ORDER BY id');
    expect(batches).toEqual([{ status: 'complete', lines: 100_000, imported: 100_000, duplicates: 0 }]);
    expect((await query<{ n: number }>(s.db, 'SELECT COUNT(*) AS n FROM receipts'))[0]!.n).toBe(100_000);
    expect(await query(s.db, 'SELECT name FROM locks')).toEqual([]);
  }, 1100_000);

  it('runs of different files go on side by side', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('different');
    const a = write(dir, 'a.jsonl', receipts(5_000, 'a'));
    const b = write(dir, 'b.jsonl', receipts(5_000, 'b'));
    const [ra, rb] = await Promise.all([
      spawnCli(['import', a, '--db', s.db, '--format', 'json'], { env }),
      spawnCli(['import', b, '--db', s.db, '--format', 'json'], { env }),
    ]);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    expect(summary(ra.stdout)).toMatchObject({ imported: 5_000 });
    expect(summary(rb.stdout)).toMatchObject({ imported: 5_000 });
    expect(ra.stderr + rb.stderr).not.toContain('another import');
  }, 1100_000);
});
