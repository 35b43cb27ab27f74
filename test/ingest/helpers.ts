/** Helpers for import tests: a store with the sample catalog, and a dump of everything imports write. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImportSummary } from '../../src/app/import.js';
import { openStore } from '../../src/store/open.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import type { Backend } from '../helpers/backends.js';
import { cli, type CliOptions, type CliResult } from '../helpers/cli.js';
import { SAMPLE_CATALOG } from '../helpers/fixtures.js';
import { expect } from 'vitest';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/receipts');

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

/** A fresh store (init + the sample catalog); returns a runner bound to it. */
export async function freshStore(backend: Backend): Promise<{ db: string; run: (argv: string[], o?: CliOptions) => Promise<CliResult> }> {
  const db = await backend.fresh();
  const init = await cli(['init', '--yes', '--db', db]);
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  const cat = await cli(['catalog', 'import', SAMPLE_CATALOG, '--db', db]);
  if (cat.code !== 0) throw new Error(`catalog import failed: ${cat.stderr}`);
  return { db, run: (argv, o) => cli([...argv, '--db', db], o) };
}

export interface StoreDump {
  receipts: Record<string, unknown>[];
  rollups: Record<string, unknown>[];
  tenants: Record<string, unknown>[];
}

/** Text columns that look numeric stay text (reported costs, ids); integer columns become numbers on both databases. */
const TEXT_COLUMNS = new Set(['id', 'tenant_id', 'user_id', 'project_id', 'reported_cost', 'status', 'model', 'model_key', 'gpu_type', 'gpu_key', 'text', 'reason', 'display', 'path', 'sha256', 'fingerprint', 'settings', 'plan', 'from_period', 'timezone']);

function normalizeRow(r: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) {
    out[k] = typeof v === 'bigint' ? Number(v) : typeof v === 'string' && !TEXT_COLUMNS.has(k) && /^-?\d+$/.test(v) ? Number(v) : v;
  }
  return out;
}

/** Receipts (without batch ids), rollups and tenants, in a fixed order: equal stores dump equal. */
export async function dumpStore(db: string, withBatch = false): Promise<StoreDump> {
  const store = (await openStore(db)) as SqlStore;
  try {
    const receipts = (await store.db.all<Record<string, unknown>>('SELECT * FROM receipts ORDER BY tenant_id, id')).map((r) => {
      const n = normalizeRow(r);
      if (!withBatch) delete n.batch_id;
      return n;
    });
    const rollups = (
      await store.db.all<Record<string, unknown>>('SELECT * FROM receipt_rollups ORDER BY tenant_id, day, model_key, gpu_key')
    ).map(normalizeRow);
    const tenants = (
      await store.db.all<Record<string, unknown>>('SELECT id, timezone, auto_created FROM tenants ORDER BY id')
    ).map(normalizeRow);
    return { receipts, rollups, tenants };
  } finally {
    await store.close();
  }
}

/** Runs raw SQL on a store (tests only). */
export async function query<T = Record<string, unknown>>(db: string, sql: string, params: (string | number)[] = []): Promise<T[]> {
  const store = (await openStore(db)) as SqlStore;
  try {
    return (await store.db.all<Record<string, unknown>>(sql, params)).map(normalizeRow) as T[];
  } finally {
    await store.close();
  }
}

/** Writes a file under `dir` and returns its path. */
export function write(dir: string, name: string, content: string | Buffer): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

export type SummaryJson = ImportSummary;

export function summaryOf(r: CliResult): SummaryJson {
  try {
    return JSON.parse(r.stdout) as SummaryJson;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** The audit log accounts for exactly what the store holds: per batch, its entries add up to its counts. */
export async function expectAuditMatches(db: string) {
  const audit = await query<{ details: string }>(db, "SELECT details FROM audit_log WHERE command = 'import' ORDER BY id");
  const perBatch = new Map<number, Record<string, number>>();
  for (const { details } of audit) {
    const d = JSON.parse(details) as Record<string, number>;
    const sums = perBatch.get(d.batch!) ?? {};
    for (const k of ['lines', 'imported', 'duplicates', 'conflicts', 'rejected', 'new_tenants', 'unsplit_tokens']) sums[k] = (sums[k] ?? 0) + d[k]!;
    perBatch.set(d.batch!, sums);
  }
  const stored = await query<Record<string, number>>(
    db, 'SELECT id, lines, imported, duplicates, conflicts, rejected, new_tenants, unsplit_tokens FROM ingest_batches ORDER BY id',
  );
  expect(Object.fromEntries(stored.map(({ id, ...c }) => [Number(id), c]))).toEqual(Object.fromEntries(perBatch));
  const n = (await query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM receipts"))[0]!.n;
  expect([...perBatch.values()].reduce((t, c) => t + c.imported!, 0)).toBe(n);
}

