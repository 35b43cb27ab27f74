/**
 * Versioned migrations, recorded in `schema_migrations`. Each is applied in its own transaction.
 * The SQL is written once for both databases; `{…}` placeholders stand for what differs:
 *   {key}     a text key compared byte by byte (Postgres: COLLATE "C"; SQLite's BINARY already is)
 *   {serial}  an auto-numbered integer primary key
 *   {bigint}  a 64-bit integer
 *   {norowid} SQLite's WITHOUT ROWID for tables whose primary key is the whole story
 *   {exact}   a whole number of any size (sums of quantities): Postgres NUMERIC; in SQLite no type,
 *             so it keeps a 64-bit integer as one and a larger number as its decimal text
 * A released migration never changes; a change to the schema is a new migration.
 */
import { INVOICE_MIGRATION_SQL } from './invoice-repo.js';
import { LEDGER_MIGRATION_SQL } from './ledger-repo.js';
import { LOCK_MIGRATION_SQL } from './lock-repo.js';
import { ALERT_MIGRATION_SQL } from './alert-repo.js';
import { BUDGET_MIGRATION_SQL, USER_BUDGET_MIGRATION_SQL } from './budget-repo.js';
import { STRIPE_BILLING_MIGRATION_SQL } from './stripe-billing-repo.js';
import { STRIPE_EVENT_MIGRATION_SQL, STRIPE_OBJECT_RANK_MIGRATION_SQL } from './stripe-event-repo.js';
import { TOKEN_MIGRATION_SQL } from './token-repo.js';
import type { Dialect } from './sql.js';
import { USAGE_CACHE_MIGRATION_SQL } from './usage-cache-repo.js';
import { RECEIVABLES_MIGRATION_SQL } from './credit-repo.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** SQL only one database runs, after `sql` (what differs too much for a token: JSON functions). */
  perDialect?: Record<Dialect, string>;
}

const TOKENS: Record<Dialect, Record<string, string>> = {
  sqlite: {
    key: 'TEXT',
    serial: 'INTEGER PRIMARY KEY AUTOINCREMENT',
    bigint: 'INTEGER',
    norowid: ' WITHOUT ROWID',
    exact: '',
  },
  postgres: {
    key: 'TEXT COLLATE "C"',
    serial: 'BIGSERIAL PRIMARY KEY',
    bigint: 'BIGINT',
    norowid: '',
    exact: 'NUMERIC',
  },
};

export function migrationSql(m: Migration, dialect: Dialect): string {
  return `${m.sql}\n${m.perDialect?.[dialect] ?? ''}`.replace(/\{(\w+)\}/g, (_, name: string) => {
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
  {
    version: 2,
    name: 'receipts, daily rollups, import batches and rejects',
    // receipts: one row per (tenant_id, id); ts in ms UTC; billable/unsplit 0/1; reported_cost is
    // decimal text. receipt_rollups: per tenant, local day (days since 1970-01-01 in the tenant's
    // timezone), model key and GPU key ('' for none); sums over billable receipts except `receipts`
    // (all) and `unsplit`. A rowid table for receipts: measured faster to load than WITHOUT ROWID.
    sql: `
      CREATE TABLE ingest_batches (
        id {serial},
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        display TEXT NOT NULL,
        format TEXT NOT NULL,
        settings TEXT NOT NULL,
        size {bigint},
        sha256 TEXT,
        fingerprint TEXT,
        status TEXT NOT NULL,
        lines {bigint} NOT NULL DEFAULT 0,
        imported {bigint} NOT NULL DEFAULT 0,
        duplicates {bigint} NOT NULL DEFAULT 0,
        conflicts {bigint} NOT NULL DEFAULT 0,
        rejected {bigint} NOT NULL DEFAULT 0,
        new_tenants {bigint} NOT NULL DEFAULT 0,
        unsplit_tokens {bigint} NOT NULL DEFAULT 0,
        out_of_range {bigint} NOT NULL DEFAULT 0,
        checkpoint_records {bigint} NOT NULL DEFAULT 0,
        checkpoint_line {bigint} NOT NULL DEFAULT 0,
        checkpoint_byte {bigint} NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        finished_at TEXT
      );
      CREATE INDEX ingest_batches_sha256 ON ingest_batches (sha256);
      CREATE INDEX ingest_batches_path ON ingest_batches (path);
      CREATE TABLE receipts (
        tenant_id {key} NOT NULL,
        id {key} NOT NULL,
        ts {bigint} NOT NULL,
        billable INTEGER NOT NULL,
        status TEXT,
        user_id TEXT,
        project_id TEXT,
        provider TEXT,
        model TEXT,
        model_key {key},
        gpu_type TEXT,
        gpu_key {key},
        gpu_seconds {bigint} NOT NULL,
        input_tokens {bigint} NOT NULL,
        output_tokens {bigint} NOT NULL,
        reported_cost TEXT,
        unsplit INTEGER NOT NULL,
        batch_id {bigint} NOT NULL,
        PRIMARY KEY (tenant_id, id)
      );
      CREATE INDEX receipts_tenant_ts ON receipts (tenant_id, ts, id);
      CREATE TABLE receipt_rollups (
        tenant_id {key} NOT NULL,
        day INTEGER NOT NULL,
        model_key {key} NOT NULL,
        gpu_key {key} NOT NULL,
        receipts {bigint} NOT NULL,
        requests {bigint} NOT NULL,
        gpu_seconds {bigint} NOT NULL,
        input_tokens {bigint} NOT NULL,
        output_tokens {bigint} NOT NULL,
        reported_cost TEXT NOT NULL,
        unsplit {bigint} NOT NULL,
        PRIMARY KEY (tenant_id, day, model_key, gpu_key)
      ){norowid};
      CREATE TABLE ingest_rejects (
        batch_id {bigint} NOT NULL,
        line {bigint} NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        text TEXT NOT NULL,
        tenant_id TEXT,
        receipt_id TEXT,
        stored TEXT,
        PRIMARY KEY (batch_id, line)
      );
    `,
  },
  {
    version: 3,
    name: 'invoices, invoice lines and gapless number sequences',
    sql: INVOICE_MIGRATION_SQL,
  },
  {
    version: 4,
    name: 'Stripe push ledger and run locks',
    sql: LEDGER_MIGRATION_SQL + LOCK_MIGRATION_SQL,
  },
  {
    version: 5,
    name: 'budgets, fired alerts and the alert webhook outbox',
    sql: BUDGET_MIGRATION_SQL + ALERT_MIGRATION_SQL,
  },
  {
    version: 6,
    name: 'a cache of rated amounts per tenant-period for usage reports',
    sql: USAGE_CACHE_MIGRATION_SQL,
  },
  {
    version: 7,
    name: 'when a tenant moved from invoices to Stripe',
    sql: 'ALTER TABLE tenants ADD COLUMN stripe_since {bigint};',
  },
  {
    version: 8,
    name: "a tenant's invoices by status",
    // Finalizing asks each tenant's issued invoices; without this index every question scanned
    // all invoices (the partial index invoices_one_live does not serve status IN (...)).
    sql: 'CREATE INDEX invoices_by_tenant ON invoices (tenant_id, status, id);',
  },
  {
    version: 9,
    name: 'import batches by size',
    // A file is hashed before it is read only when a complete batch of its size exists (only then
    // can its content have been imported already); this asks that once per file, as an index probe.
    sql: 'CREATE INDEX ingest_batches_size ON ingest_batches (size, status);',
  },
  {
    version: 10,
    name: "a tenant's tax id and purchase order number, for its invoices",
    sql: 'ALTER TABLE tenants ADD COLUMN tax_id TEXT; ALTER TABLE tenants ADD COLUMN po_number TEXT;',
  },
  {
    version: 11,
    name: 'billctl serve: API tokens, Stripe events and object states, per-user budgets',
    sql: TOKEN_MIGRATION_SQL + STRIPE_EVENT_MIGRATION_SQL + USER_BUDGET_MIGRATION_SQL,
  },
  {
    version: 12,
    name: 'rejected records that hold a NUL character; rollup sums of quantities of any size; catalog rates by key',
    // Postgres text cannot hold U+0000: such a record is kept as a JSON string literal, marked here.
    // A day's sum of a quantity can pass 2^63 − 1 (1,025 receipts of 2^53 − 1 tokens): exact columns.
    // An import writes sums as it reads and takes out what it did not import: rollups that come to
    // no receipts are deleted, found by a partial index that holds only them.
    sql: `
      ALTER TABLE ingest_rejects ADD COLUMN text_escaped INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE receipt_rollups_exact (
        tenant_id {key} NOT NULL,
        day INTEGER NOT NULL,
        model_key {key} NOT NULL,
        gpu_key {key} NOT NULL,
        receipts {bigint} NOT NULL,
        requests {bigint} NOT NULL,
        gpu_seconds {exact} NOT NULL,
        input_tokens {exact} NOT NULL,
        output_tokens {exact} NOT NULL,
        reported_cost TEXT NOT NULL,
        unsplit {bigint} NOT NULL,
        PRIMARY KEY (tenant_id, day, model_key, gpu_key)
      ){norowid};
      INSERT INTO receipt_rollups_exact (tenant_id, day, model_key, gpu_key, receipts, requests, gpu_seconds, input_tokens,
          output_tokens, reported_cost, unsplit)
        SELECT tenant_id, day, model_key, gpu_key, receipts, requests, gpu_seconds, input_tokens, output_tokens, reported_cost, unsplit
        FROM receipt_rollups;
      DROP TABLE receipt_rollups;
      ALTER TABLE receipt_rollups_exact RENAME TO receipt_rollups;
      CREATE INDEX receipt_rollups_empty ON receipt_rollups (receipts) WHERE receipts = 0;
      CREATE TABLE catalog_rates (
        version {key} NOT NULL,
        kind TEXT NOT NULL,
        key {key} NOT NULL,
        name TEXT NOT NULL,
        price TEXT,
        input TEXT,
        output TEXT,
        PRIMARY KEY (version, kind, key)
      ){norowid};
    `,
    // A catalog version's rates move to catalog_rates (kind 'gpu': price; 'token': input and
    // output), so a command reads the few it needs, not a document of a million; its body keeps
    // the rest (plans, currency, units).
    perDialect: {
      sqlite: `
        INSERT INTO catalog_rates (version, kind, key, name, price)
          SELECT v.version, 'gpu', j.key, json_extract(j.value, '$.name'), json_extract(j.value, '$.price')
          FROM catalog_versions v, json_each(v.body, '$.gpu_rates') j;
        INSERT INTO catalog_rates (version, kind, key, name, input, output)
          SELECT v.version, 'token', j.key, json_extract(j.value, '$.name'), json_extract(j.value, '$.input'), json_extract(j.value, '$.output')
          FROM catalog_versions v, json_each(v.body, '$.token_rates') j;
        UPDATE catalog_versions SET body = json_remove(body, '$.gpu_rates', '$.token_rates');
      `,
      postgres: `
        INSERT INTO catalog_rates (version, kind, key, name, price)
          SELECT v.version, 'gpu', j.key, j.value ->> 'name', j.value ->> 'price'
          FROM catalog_versions v, jsonb_each(v.body::jsonb -> 'gpu_rates') j;
        INSERT INTO catalog_rates (version, kind, key, name, input, output)
          SELECT v.version, 'token', j.key, j.value ->> 'name', j.value ->> 'input', j.value ->> 'output'
          FROM catalog_versions v, jsonb_each(v.body::jsonb -> 'token_rates') j;
        UPDATE catalog_versions SET body = (body::jsonb - 'gpu_rates' - 'token_rates')::text;
      `,
    },
  },
  {
    version: 13,
    name: 'credits, credit notes and payments',
    sql: RECEIVABLES_MIGRATION_SQL,
  },
  {
    version: 14,
    name: "Stripe Billing: the prices catalog sync made, tenants' subscriptions, Stripe object states ranked",
    sql: STRIPE_BILLING_MIGRATION_SQL + STRIPE_OBJECT_RANK_MIGRATION_SQL,
  },
  {
    version: 15,
    name: 'price models: the model that priced an invoice line, and its tiers in words',
    sql: 'ALTER TABLE invoice_lines ADD COLUMN price_model TEXT; ALTER TABLE invoice_lines ADD COLUMN price_words TEXT;',
  },
  {
    version: 16,
    name: 'receipt token classes, event type and quantity; their rollup sums; token class prices',
    // The field table's new quantities (domain/quantities.ts): a receipt column each (0 for every
    // receipt stored before: none had them) and a rollup sum each; the event type's key. Token rates
    // may price the cached input, cache write and reasoning classes.
    sql: `
      ALTER TABLE receipts ADD COLUMN event_type {key};
      ALTER TABLE receipts ADD COLUMN cached_input_tokens {bigint} NOT NULL DEFAULT 0;
      ALTER TABLE receipts ADD COLUMN cache_write_tokens {bigint} NOT NULL DEFAULT 0;
      ALTER TABLE receipts ADD COLUMN reasoning_tokens {bigint} NOT NULL DEFAULT 0;
      ALTER TABLE receipts ADD COLUMN quantity {bigint} NOT NULL DEFAULT 0;
      ALTER TABLE receipt_rollups ADD COLUMN cached_input_tokens {exact} NOT NULL DEFAULT 0;
      ALTER TABLE receipt_rollups ADD COLUMN cache_write_tokens {exact} NOT NULL DEFAULT 0;
      ALTER TABLE receipt_rollups ADD COLUMN reasoning_tokens {exact} NOT NULL DEFAULT 0;
      ALTER TABLE receipt_rollups ADD COLUMN quantity {exact} NOT NULL DEFAULT 0;
      ALTER TABLE catalog_rates ADD COLUMN cached_input TEXT;
      ALTER TABLE catalog_rates ADD COLUMN cache_write TEXT;
      ALTER TABLE catalog_rates ADD COLUMN reasoning TEXT;
    `,
  },
  {
    version: 17,
    name: 'catalog versions form one chain per currency: effective_from is unique within a currency; import order',
    // billing-rules.md, "Currencies": versions of different currencies may take effect at the same
    // instant, and of two such the first imported sets the default currency: \`seq\` is the import
    // order (a clock fixed by BILLCTL_NOW cannot tell it). SQLite cannot drop a column's UNIQUE, so
    // the table is rebuilt (nothing references it).
    sql: '',
    perDialect: {
      sqlite: `
        CREATE TABLE catalog_versions_chained (
          version {key} PRIMARY KEY,
          effective_from {bigint} NOT NULL,
          currency TEXT NOT NULL,
          digest TEXT NOT NULL,
          body TEXT NOT NULL,
          source TEXT,
          imported_at TEXT NOT NULL,
          seq INTEGER NOT NULL
        );
        INSERT INTO catalog_versions_chained (version, effective_from, currency, digest, body, source, imported_at, seq)
          SELECT version, effective_from, currency, digest, body, source, imported_at, rowid FROM catalog_versions;
        DROP TABLE catalog_versions;
        ALTER TABLE catalog_versions_chained RENAME TO catalog_versions;
        CREATE UNIQUE INDEX catalog_versions_chain ON catalog_versions (currency, effective_from);
      `,
      postgres: `
        ALTER TABLE catalog_versions DROP CONSTRAINT catalog_versions_effective_from_key;
        ALTER TABLE catalog_versions ADD COLUMN seq BIGINT;
        UPDATE catalog_versions SET seq = o.n FROM (SELECT version, ROW_NUMBER() OVER (ORDER BY imported_at, version) AS n FROM catalog_versions) o
          WHERE catalog_versions.version = o.version;
        ALTER TABLE catalog_versions ALTER COLUMN seq SET NOT NULL;
        CREATE UNIQUE INDEX catalog_versions_chain ON catalog_versions (currency, effective_from);
      `,
    },
  },
  {
    version: 18,
    name: 'plan changes inside a period: an invoice line\'s segment (its plan, first and last local dates)',
    // Null on every line of a period without a plan change (all lines stored before).
    sql: 'ALTER TABLE invoice_lines ADD COLUMN segment_plan TEXT; ALTER TABLE invoice_lines ADD COLUMN segment_from TEXT; ALTER TABLE invoice_lines ADD COLUMN segment_to TEXT;',
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
