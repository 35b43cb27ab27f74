/**
 * The Store over a SqlDriver. SQL shared by both databases lives here; what differs (bulk loads,
 * locks) is overridden by SqliteStore and PostgresStore.
 */
import {
  catalogFromStoredTerms, catalogTermsDocument, gpuRateFromStore, OPTIONAL_TOKEN_PRICES, RateTable, TOKEN_PRICE_PROPS, tokenRateFromStore,
  type CatalogVersion,
} from '../domain/catalog.js';
import { Decimal } from '../domain/money.js';
import { catalogPriceToStored, GPU_PRICE_UNIT, tokenPriceUnit } from '../domain/price-models/index.js';
import type { Period } from '../domain/period.js';
import type { BillingMode, PlanEntry, Tenant } from '../domain/tenant.js';
import { SqlInvoiceRepo, type InvoiceRepo } from './invoice-repo.js';
import { SqlLedgerRepo, type LedgerRepo } from './ledger-repo.js';
import { SqlBudgetRepo, type BudgetRepo } from './budget-repo.js';
import { SqlAlertRepo, type AlertRepo } from './alert-repo.js';
import { SqlTokenRepo, type TokenRepo } from './token-repo.js';
import { SqlStripeEventRepo, type StripeEventRepo } from './stripe-event-repo.js';
import { SqlCreditRepo, type CreditRepo } from './credit-repo.js';
import { SqlCreditNoteRepo, type CreditNoteRepo } from './credit-note-repo.js';
import { SqlStripeBillingRepo, type StripeBillingRepo } from './stripe-billing-repo.js';
import type { LockRepo } from './lock-repo.js';
import { SqlUsageCacheRepo, type UsageCacheRepo } from './usage-cache-repo.js';
import { LATEST_VERSION, MIGRATIONS, migrationSql } from './migrations.js';
import { placeholders, toNumber, toStringOrNull, type Row, type SqlDriver, type SqlValue } from './sql.js';
import type { AuditEntry, ChangeMarker, MigrationOutcome, NewTenant, Store, StoredCatalog, TenantPatch } from './store.js';
import type { Receipt } from '../domain/receipt.js';
import type { IngestStore, ReceiptQuery, RollupRow } from './ingest.js';
import { openIngestStore, rebuildRollups } from './ingest-sql.js';
import { receiptsInRange, rollupRows } from './receipts-sql.js';

/** Catalog rates inserted per statement, and keys looked up per statement. */
const RATE_ROWS = 500;
/** catalog_rates columns: GPU rates use `price`, token rates `input`, `output` and the optional class prices. */
const RATE_COLUMNS = ['version', 'kind', 'key', 'name', 'price', 'input', 'output', ...OPTIONAL_TOKEN_PRICES];
const RATE_KEYS = 500;

/** Tenants inserted per statement by insertTenantsIfAbsent. */
const TENANT_ROWS = 200;

const TENANT_COLUMNS = `id, name, timezone, tax_rate, tax_label, net_days, currency, email, address, tax_id, po_number,
  billing_mode, stripe_customer_id, auto_created, created_at, updated_at`;
const TENANT_VALUES = `(${placeholders(16)})`;

/** A new tenant's values, in TENANT_COLUMNS order. */
function tenantValues(t: NewTenant, at: string): (string | number | null)[] {
  return [
    t.id, t.name, t.timezone, t.taxRate.toString(), t.taxLabel, t.netDays, t.currency, t.email, t.address, t.taxId ?? null,
    t.poNumber ?? null, t.billingMode, t.stripeCustomerId, t.autoCreated ? 1 : 0, at, at,
  ];
}

const PLAN_COLUMNS = 'tenant_id, seq, plan, from_period, set_at';
/** One plan entry, next in its tenant's sequence: values tenant, tenant, plan, from, set at. */
const PLAN_ENTRY = '(?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM tenant_plans WHERE tenant_id = ?), ?, ?, ?)';

export abstract class SqlStore implements Store {
  readonly invoices: InvoiceRepo;
  readonly ledger: LedgerRepo;
  abstract readonly locks: LockRepo;
  readonly usageCache: UsageCacheRepo;
  readonly budgets: BudgetRepo;
  readonly alerts: AlertRepo;
  readonly tokens: TokenRepo;
  readonly stripeEvents: StripeEventRepo;
  readonly credits: CreditRepo;
  readonly creditNotes: CreditNoteRepo;
  readonly stripeBilling: StripeBillingRepo;

  constructor(readonly db: SqlDriver) {
    this.invoices = new SqlInvoiceRepo(db);
    this.ledger = new SqlLedgerRepo(db);
    this.usageCache = new SqlUsageCacheRepo(db);
    this.budgets = new SqlBudgetRepo(db);
    this.alerts = new SqlAlertRepo(db);
    this.tokens = new SqlTokenRepo(db);
    this.stripeEvents = new SqlStripeEventRepo(db);
    this.credits = new SqlCreditRepo(db);
    this.creditNotes = new SqlCreditNoteRepo(db);
    this.stripeBilling = new SqlStripeBillingRepo(db);
  }

  get dialect() {
    return this.db.dialect.name;
  }

  get location() {
    return this.db.location;
  }

  /** Serialises migrations between processes (SQLite's write lock does it; Postgres takes an advisory lock). */
  protected abstract withMigrationLock<T>(fn: () => Promise<T>): Promise<T>;
  protected abstract tableExists(name: string): Promise<boolean>;

  async schemaVersion(): Promise<number> {
    if (!(await this.tableExists('schema_migrations'))) return 0;
    const row = await this.db.get<Row>('SELECT MAX(version) AS v FROM schema_migrations');
    return row?.v === null || row?.v === undefined ? 0 : toNumber(row.v);
  }

  async migrate(options: { to?: number } = {}): Promise<MigrationOutcome> {
    const target = options.to ?? LATEST_VERSION;
    return this.withMigrationLock(async () => {
      await this.db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
      );
      const from = await this.schemaVersion();
      if (from > LATEST_VERSION) {
        throw new Error(
          `the store's schema is version ${from}, newer than this billctl knows (${LATEST_VERSION}): upgrade billctl`,
        );
      }
      const applied: MigrationOutcome['applied'] = [];
      for (const m of MIGRATIONS) {
        if (m.version <= from || m.version > target) continue;
        const done = await this.db.transaction(async () => {
          // Another process may have applied it since we looked.
          if (await this.db.get('SELECT 1 FROM schema_migrations WHERE version = ?', [m.version])) return false;
          await this.db.exec(migrationSql(m, this.db.dialect.name));
          await this.db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
            m.version,
            m.name,
            new Date().toISOString(),
          ]);
          return true;
        });
        if (done) applied.push({ version: m.version, name: m.name });
      }
      return { from, to: Math.max(from, ...applied.map((a) => a.version)), applied };
    });
  }

  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  close(): Promise<void> {
    return this.db.close();
  }

  async changeMarker(): Promise<ChangeMarker> {
    // Each import unit commits with its batch's progress (checkpoint_records grows), so the sum
    // moves with every commit of receipts; the other parts move with every write of their tables.
    const r = await this.db.get<Row>(
      `SELECT
         (SELECT COUNT(*) FROM ingest_batches) AS b_n,
         (SELECT COALESCE(SUM(checkpoint_records), 0) FROM ingest_batches) AS b_rec,
         (SELECT COUNT(*) FROM ingest_batches WHERE status = 'running') AS b_run,
         (SELECT COUNT(*) FROM tenants) AS t_n,
         (SELECT MAX(updated_at) FROM tenants) AS t_at,
         (SELECT COUNT(*) FROM tenant_plans) AS p_n,
         (SELECT COUNT(*) FROM budgets) AS bu_n,
         (SELECT MAX(updated_at) FROM budgets) AS bu_at,
         (SELECT COUNT(*) FROM user_budgets) AS ub_n,
         (SELECT MAX(updated_at) FROM user_budgets) AS ub_at,
         (SELECT COUNT(*) FROM catalog_versions) AS c_n,
         (SELECT MAX(imported_at) FROM catalog_versions) AS c_at,
         (SELECT COUNT(*) FROM api_tokens) AS k_n,
         (SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NOT NULL) AS k_rev`,
    );
    const t = (...keys: string[]) => keys.map((k) => String(r?.[k] ?? '')).join('|');
    return {
      receipts: t('b_n', 'b_rec', 'b_run'),
      terms: t('t_n', 't_at', 'p_n', 'bu_n', 'bu_at', 'ub_n', 'ub_at', 'c_n', 'c_at'),
      tokens: t('k_n', 'k_rev'),
    };
  }

  // -- settings ---------------------------------------------------------------------------------

  async getSetting(key: string): Promise<string | undefined> {
    const row = await this.db.get<Row>('SELECT value FROM settings WHERE key = ?', [key]);
    return row ? String(row.value) : undefined;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.db.run(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }

  // -- catalogs ---------------------------------------------------------------------------------

  // A version's body is its terms (catalogTermsDocument); its rates are rows of catalog_rates, read
  // as they are needed (loadRates), so a catalog of a million models costs a command what it uses.

  private catalogRow(row: Row): StoredCatalog {
    return {
      catalog: catalogFromStoredTerms(String(row.body)),
      digest: String(row.digest),
      source: toStringOrNull(row.source),
      importedAt: String(row.imported_at),
    };
  }

  async listCatalogs(): Promise<StoredCatalog[]> {
    const rows = await this.db.all<Row>('SELECT * FROM catalog_versions ORDER BY effective_from, seq');
    return rows.map((r) => this.catalogRow(r));
  }

  async getCatalog(version: string): Promise<StoredCatalog | undefined> {
    const row = await this.db.get<Row>('SELECT * FROM catalog_versions WHERE version = ?', [version]);
    return row ? this.catalogRow(row) : undefined;
  }

  async putCatalog(c: CatalogVersion, digest: string, source: string | null, at: string): Promise<void> {
    await this.db.transaction(async () => {
      await this.db.run(
        `INSERT INTO catalog_versions (version, effective_from, currency, digest, body, source, imported_at, seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM catalog_versions))
         ON CONFLICT (version) DO UPDATE SET effective_from = excluded.effective_from, currency = excluded.currency,
           digest = excluded.digest, body = excluded.body, source = excluded.source, imported_at = excluded.imported_at`,
        [c.version, c.effectiveFrom, c.currency, digest, JSON.stringify(catalogTermsDocument(c)), source, at],
      );
      await this.db.run('DELETE FROM catalog_rates WHERE version = ?', [c.version]);
      let part: SqlValue[] = [];
      const flush = async () => {
        if (part.length === 0) return;
        const rows = part.length / RATE_COLUMNS.length;
        await this.db.run(
          `INSERT INTO catalog_rates (${RATE_COLUMNS.join(', ')}) VALUES ${Array(rows).fill(`(${placeholders(RATE_COLUMNS.length)})`).join(', ')}`,
          part,
        );
        part = [];
      };
      const add = async (...row: SqlValue[]) => {
        part.push(...row);
        if (part.length >= RATE_ROWS * RATE_COLUMNS.length) await flush();
      };
      const tokens = tokenPriceUnit(c.tokenUnit);
      const noClassPrices = OPTIONAL_TOKEN_PRICES.map(() => null);
      for (const g of c.gpuRates.values()) {
        await add(c.version, 'gpu', g.key, g.name, catalogPriceToStored(g.price, GPU_PRICE_UNIT), null, null, ...noClassPrices);
      }
      for (const t of c.tokenRates.values()) {
        await add(
          c.version, 'token', t.key, t.name, null, catalogPriceToStored(t.input, tokens), catalogPriceToStored(t.output, tokens),
          ...OPTIONAL_TOKEN_PRICES.map((p) => {
            const price = t[TOKEN_PRICE_PROPS[p]];
            return price === undefined ? null : catalogPriceToStored(price, tokens);
          }),
        );
      }
      await flush();
    });
  }

  async deleteCatalog(version: string): Promise<void> {
    await this.db.run('DELETE FROM catalog_rates WHERE version = ?', [version]);
    await this.db.run('DELETE FROM catalog_versions WHERE version = ?', [version]);
  }

  async loadRates(c: CatalogVersion, keys: { models: Iterable<string>; gpus: Iterable<string> } | 'all'): Promise<void> {
    const load = async <R>(table: ReadonlyMap<string, R>, kind: string, wanted: Iterable<string>, rate: (r: Row) => R) => {
      if (!(table instanceof RateTable) || table.complete) return;
      const sql = `SELECT * FROM catalog_rates WHERE version = ? AND kind = ?`;
      if (keys === 'all') {
        const rows = await this.db.all<Row>(sql, [c.version, kind]);
        table.fill(new Map(rows.map((r) => [String(r.key), rate(r)])), 'all');
        return;
      }
      const missing = table.missing(wanted);
      for (let i = 0; i < missing.length; i += RATE_KEYS) {
        const part = missing.slice(i, i + RATE_KEYS);
        const rows = await this.db.all<Row>(`${sql} AND key IN (${placeholders(part.length)})`, [c.version, kind, ...part]);
        table.fill(new Map(rows.map((r) => [String(r.key), rate(r)])), part);
      }
    };
    await load(c.gpuRates, 'gpu', keys === 'all' ? [] : keys.gpus, (r) => gpuRateFromStore(String(r.key), String(r.name), String(r.price)));
    await load(c.tokenRates, 'token', keys === 'all' ? [] : keys.models, (r) =>
      tokenRateFromStore(
        String(r.key), String(r.name), String(r.input), String(r.output), c.tokenUnit,
        Object.fromEntries(OPTIONAL_TOKEN_PRICES.map((p) => [p, toStringOrNull(r[p])])),
      ),
    );
  }

  async catalogUsedByFinalizedInvoice(version: string): Promise<boolean> {
    if (!(await this.tableExists('invoice_lines'))) return false;
    // Used: a line priced by it, or the plan terms (fee, allowances, discount) taken from it.
    const row = await this.db.get(
      `SELECT 1 FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
       WHERE l.catalog_version = ? AND i.status <> 'draft' LIMIT 1`,
      [version],
    );
    if (row !== undefined) return true;
    const terms = await this.db.get("SELECT 1 FROM invoices WHERE plan_version = ? AND status <> 'draft' LIMIT 1", [version]);
    return terms !== undefined;
  }

  // -- tenants ----------------------------------------------------------------------------------

  private tenantRow(row: Row, plans: PlanEntry[]): Tenant {
    return {
      id: String(row.id),
      name: String(row.name),
      timezone: String(row.timezone),
      taxRate: Decimal.parse(String(row.tax_rate)),
      taxLabel: String(row.tax_label),
      netDays: toNumber(row.net_days),
      currency: toStringOrNull(row.currency),
      email: toStringOrNull(row.email),
      address: toStringOrNull(row.address),
      taxId: toStringOrNull(row.tax_id),
      poNumber: toStringOrNull(row.po_number),
      billingMode: String(row.billing_mode) as BillingMode,
      stripeCustomerId: toStringOrNull(row.stripe_customer_id),
      stripeSince: row.stripe_since === null || row.stripe_since === undefined ? null : toNumber(row.stripe_since),
      autoCreated: toNumber(row.auto_created) === 1,
      createdAt: String(row.created_at),
      updatedAt: String(row.updated_at),
      plans,
    };
  }

  private planRow(row: Row): PlanEntry {
    return {
      plan: String(row.plan),
      from: toStringOrNull(row.from_period),
      seq: toNumber(row.seq),
      setAt: String(row.set_at),
    };
  }

  async getTenant(id: string): Promise<Tenant | undefined> {
    const row = await this.db.get<Row>('SELECT * FROM tenants WHERE id = ?', [id]);
    if (!row) return undefined;
    const plans = await this.db.all<Row>('SELECT * FROM tenant_plans WHERE tenant_id = ? ORDER BY seq', [id]);
    return this.tenantRow(row, plans.map((p) => this.planRow(p)));
  }

  async listTenants(): Promise<Tenant[]> {
    const rows = await this.db.all<Row>('SELECT * FROM tenants ORDER BY id');
    const plans = await this.db.all<Row>('SELECT * FROM tenant_plans ORDER BY tenant_id, seq');
    const byTenant = new Map<string, PlanEntry[]>();
    for (const p of plans) {
      const id = String(p.tenant_id);
      let list = byTenant.get(id);
      if (!list) byTenant.set(id, (list = []));
      list.push(this.planRow(p));
    }
    return rows.map((r) => this.tenantRow(r, byTenant.get(String(r.id)) ?? []));
  }

  async insertTenant(t: NewTenant, at: string): Promise<void> {
    await this.db.transaction(async () => {
      await this.db.run(`INSERT INTO tenants (${TENANT_COLUMNS}) VALUES ${TENANT_VALUES}`, tenantValues(t, at));
      await this.addPlanEntry(t.id, t.plan, t.planFrom, at);
    });
  }

  async insertTenantsIfAbsent(list: readonly NewTenant[], at: string): Promise<Set<string>> {
    const created = new Set<string>();
    await this.db.transaction(async () => {
      for (let i = 0; i < list.length; i += TENANT_ROWS) {
        const part = list.slice(i, i + TENANT_ROWS);
        const rows = await this.db.all<Row>(
          `INSERT INTO tenants (${TENANT_COLUMNS}) VALUES ${part.map(() => TENANT_VALUES).join(', ')}
           ON CONFLICT (id) DO NOTHING RETURNING id`,
          part.flatMap((t) => tenantValues(t, at)),
        );
        for (const r of rows) created.add(String(r.id));
      }
      const fresh = list.filter((t) => created.has(t.id));
      for (let i = 0; i < fresh.length; i += TENANT_ROWS) {
        const part = fresh.slice(i, i + TENANT_ROWS);
        await this.db.run(
          `INSERT INTO tenant_plans (${PLAN_COLUMNS}) VALUES ${part.map(() => PLAN_ENTRY).join(', ')}`,
          part.flatMap((t) => [t.id, t.id, t.plan, t.planFrom, at]),
        );
      }
    });
    return created;
  }

  async updateTenant(id: string, patch: TenantPatch, at: string): Promise<void> {
    const columns: Record<keyof TenantPatch, string> = {
      name: 'name', timezone: 'timezone', taxRate: 'tax_rate', taxLabel: 'tax_label', netDays: 'net_days',
      currency: 'currency', email: 'email', address: 'address', taxId: 'tax_id', poNumber: 'po_number', billingMode: 'billing_mode',
      stripeCustomerId: 'stripe_customer_id', stripeSince: 'stripe_since',
    };
    const sets: string[] = [];
    const values: (string | number | null)[] = [];
    for (const [k, v] of Object.entries(patch) as [keyof TenantPatch, unknown][]) {
      if (v === undefined) continue;
      sets.push(`${columns[k]} = ?`);
      values.push(v instanceof Decimal ? v.toString() : (v as string | number | null));
    }
    sets.push('updated_at = ?', 'auto_created = 0');
    values.push(at);
    await this.db.run(`UPDATE tenants SET ${sets.join(', ')} WHERE id = ?`, [...values, id]);
  }

  async addPlanEntry(id: string, plan: string, from: Period | null, at: string): Promise<void> {
    await this.db.run(`INSERT INTO tenant_plans (${PLAN_COLUMNS}) VALUES ${PLAN_ENTRY}`, [id, id, plan, from, at]);
  }

  // -- audit ------------------------------------------------------------------------------------

  async appendAudit(entry: Omit<AuditEntry, 'id'>): Promise<void> {
    await this.db.run('INSERT INTO audit_log (at, actor, command, details) VALUES (?, ?, ?, ?)', [
      entry.at,
      entry.actor,
      entry.command,
      JSON.stringify(entry.details),
    ]);
  }

  async listAudit(since?: string): Promise<AuditEntry[]> {
    const rows = since
      ? await this.db.all<Row>('SELECT * FROM audit_log WHERE at >= ? ORDER BY id', [since])
      : await this.db.all<Row>('SELECT * FROM audit_log ORDER BY id');
    return rows.map((r) => ({
      id: toNumber(r.id),
      at: String(r.at),
      actor: String(r.actor),
      command: String(r.command),
      details: JSON.parse(String(r.details)) as Record<string, unknown>,
    }));
  }

  // -- receipts (ingest-sql.ts, receipts-sql.ts) --------------------------------------------------

  ingest(): Promise<IngestStore> {
    return openIngestStore(this.db);
  }

  receipts(tenantId: string, from: number, to: number, query?: ReceiptQuery): AsyncIterable<Receipt> {
    return receiptsInRange(this.db, tenantId, from, to, query);
  }

  rollups(tenantId: string, firstDay: number, lastDay: number): Promise<RollupRow[]> {
    return rollupRows(this.db, tenantId, firstDay, lastDay);
  }

  rebuildRollups(tenantId: string, timezone: string): Promise<void> {
    return rebuildRollups(this.db, tenantId, timezone);
  }
}
