/**
 * A large export stays under a memory bound: the built billctl runs with V8's heap capped below
 * what the receipts would take if they were held at once (150,000 receipts as objects: about
 * 80 MB, measured), so an export that buffered them would die of "heap out of memory", while a
 * streamed one (about 11 MB live, page by page) finishes. Needs `npx tsc -p tsconfig.json` first
 * (it runs bin/billctl.js).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { spawnCli } from '../helpers/cli.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, bulkReceipts, opsStore } from './helpers.js';

afterAll(dropSchemas);

export const LARGE = 150_000;
/** MB of V8 old space: holding 150,000 receipts takes about 80 MB (measured), streaming them about 11 MB live. */
const HEAP_CAP_MB = 64;

describeEachBackend('a large export', (backend) => {
  let s: TestStore;

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'big', 'pro');
    await bulkReceipts(s.db, 'big', LARGE, Date.UTC(2026, 9, 1));
  });

  it(`streams ${LARGE.toLocaleString('en-US')} receipts with V8's heap capped at ${HEAP_CAP_MB} MB`, async () => {
    const r = await spawnCli(['export', 'receipts', '--out', 'big.csv', '--db', s.db], {
      cwd: s.dir,
      env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MB}` },
    });
    expect(r.code, r.stderr).toBe(0);
    const text = fs.readFileSync(path.join(s.dir, 'big.csv'), 'utf8');
    const lines = text.split('\r\n');
    expect(lines).toHaveLength(LARGE + 2);
    expect(lines[1]).toBe('big,r00000000,2026-10-01T00:00:00.000Z,true,completed,user-0,,openai,Qwen-70B,qwen-70b,A100 80GB,a100-80gb,,0,0,0,0,0,0,0,0.0123,false');
    expect(lines[LARGE]).toMatch(/^big,r00149999,/);
  }, 120_000);
});
