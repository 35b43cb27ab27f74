/** SQLite's side of the dialect adapter (src/store/dialect-adapter.ts). */
import type { DialectAdapter } from '../dialect-adapter.js';
import type { IngestStore } from '../ingest.js';
import type { SqlDriver } from '../sql.js';
import { sqliteInteger } from './functions.js';

export const sqliteDialect: DialectAdapter = {
  name: 'sqlite',
  // The decimal and whole-number functions come with every connection (functions.ts).
  quantitySum: (expr) => `billctl_int_sum(${expr})`,
  quantityAdd: (a, b) => `billctl_int_add(${a}, ${b})`,
  quantityParam: (v) => sqliteInteger(v),
  decimalSum: (expr) => `billctl_dec_sum(${expr})`,
  decimalAdd: (a, b) => `billctl_dec_add(${a}, ${b})`,
  // BEGIN IMMEDIATE already lets one writer in at a time.
  rowLock: () => '',
  // BINARY, SQLite's default, already compares bytes.
  collate: (expr) => expr,
  advisoryLocks: null,
  async ingestStore(db: SqlDriver): Promise<IngestStore> {
    const { SqliteIngestStore } = await import('./ingest.js');
    return new SqliteIngestStore(db as import('./driver.js').SqliteDriver);
  },
};
