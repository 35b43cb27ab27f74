/**
 * The seam between the store and a database: SQLite (better-sqlite3) and Postgres (pg) both
 * implement this driver, so the store's SQL is written once. Statements use `?` placeholders;
 * the Postgres driver numbers them.
 */
import type { DialectAdapter } from './dialect-adapter.js';

export type SqlValue = string | number | bigint | null;
export type Row = Record<string, unknown>;
export type Dialect = 'sqlite' | 'postgres';

export interface SqlDriver {
  /** The SQL that differs between the stores (src/store/dialect-adapter.ts). */
  readonly dialect: DialectAdapter;
  /** Where the store is, safe to print (no password). */
  readonly location: string;
  all<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** Runs a statement; returns the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Runs several statements separated by semicolons, without parameters. */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` in one write transaction (SQLite: BEGIN IMMEDIATE, so writers queue instead of
   * failing). A transaction inside a transaction joins the outer one.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /** True while a transaction is open. */
  readonly inTransaction: boolean;
  close(): Promise<void>;
}

/** Integer columns come back as number, bigint or string depending on the driver. */
export function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'string') return BigInt(v);
  if (v === null || v === undefined) return 0n;
  throw new TypeError(`not an integer: ${String(v)}`);
}

export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') return Number(v);
  if (v === null || v === undefined) return 0;
  throw new TypeError(`not a number: ${String(v)}`);
}

export function toStringOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

/** Rewrites `?` placeholders as `$1, $2, ...` (statements here never hold `?` in literals). */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Placeholders for `count` values: `?, ?, ?`. */
export function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}
