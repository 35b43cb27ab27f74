/**
 * SQLite through better-sqlite3: WAL (readers never block the writer), foreign keys on, a busy
 * timeout so a second process waits for a lock instead of failing, synchronous=NORMAL (in WAL
 * mode a committed transaction survives a killed process).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import type { SqlDriver, SqlValue } from '../sql.js';
import { makeDirectory } from '../../make-directory.js';
import { sqliteDialect } from './dialect-adapter.js';
import { decimalSqlFunctions } from './functions.js';

export interface SqliteOptions {
  /** Create the file when it does not exist (only `init` does). */
  create: boolean;
  readonly?: boolean;
}

export class SqliteDriver implements SqlDriver {
  readonly dialect = sqliteDialect;
  readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private depth = 0;

  constructor(readonly location: string, options: SqliteOptions) {
    if (options.create) makeDirectory(path.dirname(path.resolve(location)));
    this.db = new Database(location, { fileMustExist: !options.create, readonly: options.readonly ?? false });
    this.db.defaultSafeIntegers(true);
    this.db.pragma('busy_timeout = 10000');
    if (!options.readonly) this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    decimalSqlFunctions(this.db);
  }

  statement(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.statement(sql).all(...params) as T[];
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.statement(sql).get(...params) as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    const s = this.statement(sql);
    if (s.reader) {
      s.all(...params);
      return 0;
    }
    return s.run(...params).changes;
  }

  async exec(sql: string): Promise<void> {
    this.db.exec(sql);
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.depth > 0) {
      this.depth++;
      try {
        return await fn();
      } finally {
        this.depth--;
      }
    }
    this.db.exec('BEGIN IMMEDIATE');
    this.depth = 1;
    try {
      const result = await fn();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    } finally {
      this.depth = 0;
    }
  }

  async close(): Promise<void> {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }
}
