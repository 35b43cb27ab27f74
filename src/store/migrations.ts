/**
 * Versioned migrations, recorded in `schema_migrations`. Each is applied in its own transaction.
 * The SQL is written once for both databases; `{…}` placeholders stand for what differs:
 *   {key}     a text key compared byte by byte (Postgres: COLLATE "C"; SQLite's BINARY already is)
 *   {serial}  an auto-numbered integer primary key
 *   {bigint}  a 64-bit integer
 *   {norowid} SQLite's WITHOUT ROWID for tables whose primary key is the whole story
 * A released migration never changes; a change to the schema is a new migration.
 */
import type { Dialect } from './sql.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const TOKENS: Record<Dialect, Record<string, string>> = {
  sqlite: {
    key: 'TEXT',
    serial: 'INTEGER PRIMARY KEY AUTOINCREMENT',
    bigint: 'INTEGER',
    norowid: ' WITHOUT ROWID',
  },
  postgres: {
    key: 'TEXT COLLATE "C"',
    serial: 'BIGSERIAL PRIMARY KEY',
    bigint: 'BIGINT',
    norowid: '',
  },
};

export function migrationSql(m: Migration, dialect: Dialect): string {
  return m.sql.replace(/\{(\w+)\}/g, (_, name: string) => {
    const t = TOKENS[dialect][name];
    if (t === undefined) throw new Error(`migration ${m.version}: unknown token {${name}}`);
    return t;
  });
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'catalogs, tenants, plan history, audit log',
    sql: `
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE catalog_versions (
        version {key} PRIMARY KEY,
        effective_from {bigint} NOT NULL UNIQUE,
        currency TEXT NOT NULL,
        digest TEXT NOT NULL,
        body TEXT NOT NULL,
        source TEXT,
        imported_at TEXT NOT NULL
      );
      CREATE TABLE tenants (
        id {key} PRIMARY KEY,
        name TEXT NOT NULL,
        timezone TEXT NOT NULL DEFAULT 'UTC',
        tax_rate TEXT NOT NULL DEFAULT '0',
        tax_label TEXT NOT NULL DEFAULT 'Tax',
        net_days INTEGER NOT NULL DEFAULT 30,
        currency TEXT,
        email TEXT,
        address TEXT,
        billing_mode TEXT NOT NULL DEFAULT 'invoice',
        stripe_customer_id TEXT,
        auto_created INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE tenant_plans (
        tenant_id {key} NOT NULL REFERENCES tenants(id),
        seq INTEGER NOT NULL,
        plan TEXT NOT NULL,
        from_period TEXT,
        set_at TEXT NOT NULL,
        PRIMARY KEY (tenant_id, seq)
      );
      CREATE TABLE audit_log (
        id {serial},
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        command TEXT NOT NULL,
        details TEXT NOT NULL
      );
      CREATE INDEX audit_log_at ON audit_log (at);
    `,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
