/**
 * What differs between SQLite and Postgres, in one place per store (architecture.md, habit 14):
 * sqlite/dialect-adapter.ts and postgres/dialect-adapter.ts. Every driver carries its adapter as
 * `db.dialect`; shared SQL (the repos, receipts-sql.ts, ingest-sql.ts) asks the adapter for the
 * fragment it needs and never tests which store it runs on (test/store/dialect-adapter.test.ts
 * greps src/store for such tests).
 */
import type { IngestStore } from './ingest.js';
import type { Dialect, SqlDriver, SqlValue } from './sql.js';

export interface DialectAdapter {
  /** The store's name: for the migrations' per-store SQL and what `init` prints, never for a branch in shared SQL. */
  readonly name: Dialect;

  /**
   * The sum of a whole quantity over rows, exact at any size (0 over none). Postgres sums bigints
   * as numeric; SQLite's SUM() fails past 2^63 − 1, so it sums through billctl_int_sum.
   */
  quantitySum(expr: string): string;
  /** a + b of two quantity sums, exact at any size (SQLite's `+` turns to an inexact float past 2^63 − 1). */
  quantityAdd(a: string, b: string): string;
  /** A quantity sum as a statement parameter (a number while exact, else what the column keeps). */
  quantityParam(v: bigint): SqlValue;

  /** The exact sum of decimal texts over rows, as decimal text without trailing zeros ('0' over none). */
  decimalSum(expr: string): string;
  /** a + b of two decimal texts, exactly, without trailing zeros (upserts of rollups). */
  decimalAdd(a: string, b: string): string;

  /**
   * The clause a SELECT inside a write transaction ends with to lock the rows it reads (`' FOR
   * UPDATE'`, `' FOR SHARE'`); '' where a write transaction already lets one writer in at a time.
   */
  rowLock(mode: 'update' | 'share'): string;

  /** `expr` compared byte by byte (Unicode code point order), as ids sort in the domain. */
  collate(expr: string): string;

  /**
   * Session advisory locks, freed by the server the moment a killed run's connection drops; null
   * where the store has none (SQLite: a lock row and its heartbeat are enough).
   */
  readonly advisoryLocks: AdvisoryLocks | null;

  /** The store's receipt writer: bulk insert as each database does it fastest (loaded on demand). */
  ingestStore(db: SqlDriver): Promise<IngestStore>;
}

export interface AdvisoryLocks {
  /** Takes the lock named `purpose` for this session if it is free: its key (for unlock), else undefined. */
  tryLock(db: SqlDriver, purpose: string): Promise<string | undefined>;
  unlock(db: SqlDriver, key: string): Promise<void>;
}
