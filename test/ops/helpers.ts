/** Stores with tenants and receipts for the ops tests (exports, budgets, alerts, quota, metrics, advice). */
import { stringify } from 'csv-stringify/sync';
import { expect } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { makeStore, type TestStore } from '../helpers/store-setup.js';

export interface ReceiptInput {
  id: string;
  tenant: string;
  ts: string;
  status?: string;
  model?: string;
  gpu?: string;
  gpuSeconds?: number;
  input?: number;
  output?: number;
  user?: string;
  provider?: string;
}

const HEADER = ['id', 'tenant_id', 'timestamp', 'status', 'model', 'gpu_type', 'gpu_seconds', 'input_tokens', 'output_tokens', 'user_id', 'provider'];

/** RFC 4180 CSV of receipts (quoted where needed, so ids like =HYPERLINK("x") survive). */
export function receiptsCsv(rows: readonly ReceiptInput[]): string {
  return stringify([
    HEADER,
    ...rows.map((r) => [
      r.id, r.tenant, r.ts, r.status ?? 'completed', r.model ?? '', r.gpu ?? '', r.gpuSeconds ?? 0, r.input ?? 0, r.output ?? 0,
      r.user ?? '', r.provider ?? '',
    ]),
  ]);
}

let fileNo = 0;

/** Imports receipts with `billctl import` and checks every one was imported. */
export async function importReceipts(s: TestStore, rows: readonly ReceiptInput[]): Promise<void> {
  const file = s.file(`receipts-${++fileNo}.csv`, receiptsCsv(rows));
  const r = await s.run(['import', file, '--format', 'json']);
  const out = JSON.parse(r.stdout) as { imported: number; rejected: number; conflicts: number };
  expect(out, `import of ${rows.length} receipts: ${r.stderr}`).toMatchObject({ imported: rows.length, rejected: 0, conflicts: 0 });
}

export async function opsStore(db: string): Promise<TestStore> {
  return makeStore(db);
}

export async function addTenant(s: TestStore, id: string, plan: string, extra: string[] = []): Promise<void> {
  await s.run(['tenant', 'add', id, '--plan', plan, ...extra]);
}

export function parseJson<T>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

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
