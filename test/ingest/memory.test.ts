/**
 * Memory: a streamed import stays under the bound (300 MB peak RSS) and does not grow with the
 * file. CI runs a smoke size; BILLCTL_MEMORY_RECORDS raises it (bench/ runs 1,000,000 and 5,000,000).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { sqliteBackend, tempDir } from '../helpers/backends.js';
import { ROOT } from '../helpers/cli.js';
import { freshStore } from './helpers.js';

const RECORDS = Number(process.env.BILLCTL_MEMORY_RECORDS ?? 60_000);
const BOUND_MB = 300;

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) throw new Error('build first: npx tsc -p tsconfig.json');
});

/** Runs billctl (built) in a child and returns its peak RSS in MB. */
function importPeakRss(dir: string, db: string, file: string, env: Record<string, string> = {}): number {
  const runner = path.join(dir, 'run.mjs');
  fs.writeFileSync(
    runner,
    `import { main, processIo } from ${JSON.stringify(path.join(ROOT, 'dist', 'main.js'))};\n` +
      'const code = await main(process.argv.slice(2), processIo());\n' +
      'process.stderr.write(`maxrss ${process.resourceUsage().maxRSS}\\n`);\n' +
      'process.exitCode = code;\n',
  );
  const r = spawnSync(process.execPath, [runner, 'import', file, '--db', db, '--format', 'json'], { encoding: 'utf8', env: { ...process.env, BILLCTL_ACTOR: 'test', ...env } });
  expect(r.status, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ imported: expect.any(Number) as number });
  const m = /maxrss (\d+)/.exec(r.stderr);
  return Number(m![1]) / 1024;
}

function generate(dir: string, name: string, count: number): string {
  const file = path.join(dir, name);
  const g = spawnSync(process.execPath, [path.join(ROOT, 'bench', 'gen-receipts.mjs'), '--count', String(count), '--out', file], { encoding: 'utf8' });
  expect(g.status, g.stderr).toBe(0);
  return file;
}

it(`a streamed import of ${RECORDS} receipts stays under ${BOUND_MB} MB`, async () => {
  const dir = tempDir('memory');
  const file = generate(dir, 'large.jsonl', RECORDS);
  const rss = importPeakRss(dir, (await freshStore(sqliteBackend)).db, file);
  process.stderr.write(`[memory] ${RECORDS} receipts: peak RSS ${rss.toFixed(0)} MB\n`);
  expect(rss).toBeLessThan(BOUND_MB);
  fs.rmSync(dir, { recursive: true, force: true });
}, 300_000);

it('memory does not grow with the file once the bounded caches are full', async () => {
  // With a small page cache and small units, both runs are past the warm-up of every cache and
  // heap (about 100,000 receipts); what is left would be memory per receipt.
  const dir = tempDir('memory');
  const env = { BILLCTL_SQLITE_CACHE_MB: '4', BILLCTL_IMPORT_UNIT: '8192' };
  const small = generate(dir, 'small.jsonl', RECORDS * 2);
  const large = generate(dir, 'large.jsonl', RECORDS * 4);
  const rssSmall = importPeakRss(dir, (await freshStore(sqliteBackend)).db, small, env);
  const rssLarge = importPeakRss(dir, (await freshStore(sqliteBackend)).db, large, env);
  process.stderr.write(`[memory] ${RECORDS * 2} receipts: ${rssSmall.toFixed(0)} MB; ${RECORDS * 4}: ${rssLarge.toFixed(0)} MB\n`);
  // Twice the receipts: holding even 250 bytes per receipt would add some 30 MB.
  expect(rssLarge - rssSmall).toBeLessThan(30);
  fs.rmSync(dir, { recursive: true, force: true });
}, 300_000);
