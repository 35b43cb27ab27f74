/** Stores with tenants and receipts for the ops tests (exports, budgets, alerts, quota, metrics, advice). */
import { stringify } from 'csv-stringify/sync';
import { expect } from 'vitest';
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
