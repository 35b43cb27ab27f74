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
import { openStore } from '../../src/store/open.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { spawnCli } from '../helpers/cli.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, opsStore } from './helpers.js';

afterAll(dropSchemas);

export const LARGE = 150_000;
/** MB of V8 old space: holding 150,000 receipts takes about 80 MB (measured), streaming them about 11 MB live. */
const HEAP_CAP_MB = 64;

const COLUMNS = 'tenant_id, id, ts, billable, status, user_id, project_id, provider, model, model_key, gpu_type, gpu_key, gpu_seconds, input_tokens, output_tokens, reported_cost, unsplit, batch_id';

/** Inserts `count` receipts of one tenant in one SQL statement (no import engine: fast and independent of it). */
export async function bulkReceipts(db: string, tenant: string, count: number, startMs: number): Promise<void> {
  const store = (await openStore(db)) as SqlStore;
  try {
    if (store.dialect === 'sqlite') {
      await store.db.run(
        `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
         INSERT INTO receipts (${COLUMNS})
         SELECT ?, 'r' || printf('%08d', i), ? + i * 1000, 1, 'completed', 'user-' || (i % 97), NULL, 'openai', 'Qwen-70B', 'qwen-70b',
           'A100 80GB', 'a100-80gb', i % 3600, i % 20000, i % 4000, '0.0123', 0, 0 FROM n`,
        [count, tenant, startMs],
      );
    } else {
      await store.db.run(
        `INSERT INTO receipts (${COLUMNS})
         SELECT ?, 'r' || lpad(i::text, 8, '0'), ?::bigint + i * 1000, 1, 'completed', 'user-' || (i % 97), NULL, 'openai', 'Qwen-70B', 'qwen-70b',
           'A100 80GB', 'a100-80gb', i % 3600, i % 20000, i % 4000, '0.0123', 0, 0 FROM generate_series(0, ?::int - 1) AS i`,
        [tenant, startMs, count],
      );
    }
    await store.rebuildRollups(tenant, 'UTC');
  } finally {
    await store.close();
  }
}

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
    expect(lines[1]).toBe('big,r00000000,2026-10-01T00:00:00.000Z,true,completed,user-0,,openai,Qwen-70B,qwen-70b,A100 80GB,a100-80gb,0,0,0,0.0123,false');
    expect(lines[LARGE]).toMatch(/^big,r00149999,/);
  }, 120_000);
});
