/**
 * Postgres through pg. One client per store: a CLI run is one session. A `schema` query
 * parameter in the URL (`postgres://…/db?schema=billing`) selects the schema, so several stores
 * can share one database (the tests use a fresh schema per run).
 */
import pg from 'pg';
import { BillctlError, ConnectionLostError, ExitCode, UsageError } from '../../errors.js';
import { redactUrl } from '../location.js';
import { numberPlaceholders, type SqlDriver, type SqlValue } from '../sql.js';
import { shellWord } from '../../shell-word.js';
import { postgresDialect } from './dialect-adapter.js';

export interface PostgresOptions {
  create: boolean;
}

export function splitSchema(url: string): { connectionString: string; schema: string } {
  const u = new URL(url);
  const schema = u.searchParams.get('schema') ?? 'public';
  u.searchParams.delete('schema');
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new BillctlError(
      `bad schema name "${schema}" in the database URL`,
      ExitCode.usage,
      'A schema name is letters, digits and _ (at most 63), starting with a letter or _.',
    );
  }
  return { connectionString: u.toString(), schema };
}

/** SQLSTATE classes and socket errors that mean the connection is gone. */
const LOST_CODES = new Set(['57P01', '57P02', '57P03', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'ENOTCONN', 'EHOSTUNREACH']);

/** Whether an error from pg means the connection dropped (pg says so in several ways, some without a code). */
export function connectionLost(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code.startsWith('08') || LOST_CODES.has(code)) return true;
  return /connection terminated|encountered a connection error|not queryable|client was closed|socket hang up/i.test(String(e?.message ?? ''));
}

/** The database of the URL does not exist: say how to create it (exit 2, like a missing SQLite store). */
function missingDatabase(c: pg.Client): UsageError {
  const createdb = ['createdb', '-h', c.host, '-p', String(c.port), '-U', c.user ?? 'postgres', c.database ?? ''].map(shellWord).join(' ');
  return new UsageError(
    `database "${c.database}" does not exist on ${c.host}:${c.port}`,
    `Create it: run billctl init again with --create-database (as a role allowed to create databases), or: ${createdb}`,
  );
}

/**
 * Creates the URL's database when it does not exist, through the server's maintenance database
 * (postgres, else template1). True when it was created, false when it was already there.
 */
export async function createDatabaseIfMissing(url: string): Promise<boolean> {
  const { connectionString } = splitSchema(url);
  const target = new pg.Client({ connectionString });
  const name = target.database ?? '';
  for (const maintenance of ['postgres', 'template1']) {
    const u = new URL(connectionString);
    u.pathname = `/${maintenance}`;
    const client = new pg.Client({ connectionString: u.toString(), application_name: 'billctl' });
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (err) {
      if ((err as { code?: string }).code === '3D000') continue;
      throw new BillctlError(`cannot connect to ${redactUrl(u.toString())} to create database "${name}": ${(err as Error).message}`);
    }
    try {
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (exists.rowCount) return false;
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '42P04') return false; // created meanwhile by another run
      throw new BillctlError(
        `cannot create database "${name}": ${(err as Error).message}`,
        ExitCode.failed,
        code === '42501' ? `Ask a database administrator to run: CREATE DATABASE ${pg.escapeIdentifier(name)} OWNER ${pg.escapeIdentifier(target.user ?? 'postgres')}` : undefined,
      );
    } finally {
      await client.end().catch(() => {});
    }
  }
  throw new BillctlError(`cannot create database "${name}": the server has neither a postgres nor a template1 database to connect to`);
}

export class PostgresDriver implements SqlDriver {
  readonly dialect = postgresDialect;
  readonly location: string;
  readonly schema: string;
  private readonly sqlCache = new Map<string, string>();
  private depth = 0;

  private constructor(
    readonly client: pg.Client,
    url: string,
    schema: string,
  ) {
    this.location = redactUrl(url);
    this.schema = schema;
  }

  static async connect(url: string, options: PostgresOptions): Promise<PostgresDriver> {
    const { connectionString, schema } = splitSchema(url);
    const client = new pg.Client({ connectionString, application_name: 'billctl' });
    // An idle client that loses its server must not crash the process: the next query fails instead.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '3D000') throw missingDatabase(client);
      const why = code === 'ECONNREFUSED' ? 'connection refused' : (err as Error).message;
      throw new BillctlError(
        `cannot connect to ${redactUrl(url)}: ${why}`,
        ExitCode.failed,
        'Is the Postgres server running and the URL right? Example: postgres://postgres@127.0.0.1:5432/billing',
      );
    }
    const driver = new PostgresDriver(client, url, schema);
    const ident = pg.escapeIdentifier(schema);
    if (options.create && schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident}`);
    await client.query(`SET search_path TO ${ident}`);
    return driver;
  }

  private text(sql: string): string {
    let t = this.sqlCache.get(sql);
    if (t === undefined) {
      t = numberPlaceholders(sql);
      this.sqlCache.set(sql, t);
    }
    return t;
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /** A lost connection as ConnectionLostError; any other error as it is. */
  translate(err: unknown): unknown {
    return connectionLost(err) && !(err instanceof ConnectionLostError) ? new ConnectionLostError(this.location, err) : err;
  }

  private async query(sql: string, params?: readonly SqlValue[]): Promise<pg.QueryResult> {
    try {
      return await this.client.query(sql, params as unknown[] | undefined);
    } catch (err) {
      throw this.translate(err);
    }
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const r = await this.query(this.text(sql), params);
    return r.rows as T[];
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    const r = await this.query(this.text(sql), params);
    return r.rows[0] as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    const r = await this.query(this.text(sql), params);
    return r.rowCount ?? 0;
  }

  async exec(sql: string): Promise<void> {
    await this.query(sql);
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
    await this.query('BEGIN');
    this.depth = 1;
    try {
      const result = await fn();
      await this.query('COMMIT');
      return result;
    } catch (err) {
      await this.client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      this.depth = 0;
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}
