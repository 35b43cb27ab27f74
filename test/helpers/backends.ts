/**
 * Every store test runs on each backend: a fresh SQLite file, and a fresh schema in the Postgres
 * database named by BILLCTL_TEST_PG (default postgres://postgres@127.0.0.1:5432/test). Without a
 * server the Postgres half is skipped with a notice, except under CI=true, where it fails.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';

export const PG_URL = process.env.BILLCTL_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

let pgProbe: Promise<string | undefined> | undefined;

/** Undefined when Postgres answers, else why not. */
export function pgUnavailable(): Promise<string | undefined> {
  pgProbe ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return undefined;
    } catch (err) {
      return (err as Error).message || String(err);
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return pgProbe;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** A location for a brand-new, empty store. */
  fresh(): Promise<string>;
}

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'billctl-test-'));
const schemas: string[] = [];

export function tempDir(label = 'dir'): string {
  return fs.mkdtempSync(path.join(tmpRoot, `${label}-`));
}

export const sqliteBackend: Backend = {
  name: 'sqlite',
  fresh: async () => path.join(tempDir('sqlite'), 'billing.db'),
};

export const postgresBackend: Backend = {
  name: 'postgres',
  fresh: async () => {
    const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    schemas.push(schema);
    const u = new URL(PG_URL);
    u.searchParams.set('schema', schema);
    return u.toString();
  },
};

/** Drops the schemas this test file made. */
export async function dropSchemas(): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: PG_URL });
  try {
    await client.connect();
    for (const s of schemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } catch {
    // best effort
  } finally {
    await client.end().catch(() => {});
  }
}

const reason = await pgUnavailable();
if (reason !== undefined && process.env.CI === 'true') {
  throw new Error(`Postgres is required under CI=true but ${PG_URL} does not answer: ${reason}`);
}
if (reason !== undefined) {
  process.stderr.write(`\n[notice] Postgres tests SKIPPED: ${PG_URL} does not answer (${reason}). Set BILLCTL_TEST_PG to run them.\n`);
}

/** The backends to run on here. */
export const BACKENDS: Backend[] = reason === undefined ? [sqliteBackend, postgresBackend] : [sqliteBackend];

/**
 * `describe` once per backend. On a machine without Postgres its half shows as skipped.
 */
export function describeEachBackend(title: string, fn: (backend: Backend) => void): void {
  for (const b of [sqliteBackend, postgresBackend]) {
    const run = BACKENDS.includes(b);
    (run ? describe : describe.skip)(`${title} [${b.name}]`, () => fn(b));
  }
}
