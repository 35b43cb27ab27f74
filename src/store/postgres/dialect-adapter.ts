/** Postgres's side of the dialect adapter (src/store/dialect-adapter.ts). */
import type { DialectAdapter } from '../dialect-adapter.js';
import type { IngestStore } from '../ingest.js';
import type { Row, SqlDriver } from '../sql.js';
import type { PostgresDriver } from './driver.js';

/** A 64-bit advisory lock key per schema and purpose, so stores sharing a database do not collide. */
export function advisoryKey(schema: string, purpose: string): string {
  let h = 0xcbf29ce484222325n;
  for (const ch of Buffer.from(`${schema}\u0000${purpose}`, 'utf8')) {
    h ^= BigInt(ch);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return BigInt.asIntN(64, h).toString();
}

export const postgresDialect: DialectAdapter = {
  name: 'postgres',
  quantitySum: (expr) => `sum(${expr})`,
  quantityAdd: (a, b) => `${a} + ${b}`,
  // Text, for numeric columns: exact beyond 2^53.
  quantityParam: (v) => v.toString(),
  decimalSum: (expr) => `trim_scale(COALESCE(sum((${expr})::numeric), 0))::text`,
  decimalAdd: (a, b) => `trim_scale(${a}::numeric + ${b}::numeric)::text`,
  rowLock: (mode) => (mode === 'update' ? ' FOR UPDATE' : ' FOR SHARE'),
  collate: (expr) => `${expr} COLLATE "C"`,
  advisoryLocks: {
    async tryLock(db: SqlDriver, purpose: string): Promise<string | undefined> {
      const key = advisoryKey((db as PostgresDriver).schema, purpose);
      const got = await db.get<Row>('SELECT pg_try_advisory_lock(?::bigint) AS ok', [key]);
      return got?.ok === true ? key : undefined;
    },
    async unlock(db: SqlDriver, key: string): Promise<void> {
      await db.run('SELECT pg_advisory_unlock(?::bigint)', [key]);
    },
  },
  async ingestStore(db: SqlDriver): Promise<IngestStore> {
    const { PostgresIngestStore } = await import('./ingest.js');
    return new PostgresIngestStore(db as PostgresDriver);
  },
};
