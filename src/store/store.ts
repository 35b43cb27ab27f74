/**
 * The Store: everything billctl keeps, behind one interface. The rest of the program cannot tell
 * SQLite from Postgres; the contract suite in test/store runs against both.
 */
import type { CatalogVersion } from '../domain/catalog.js';
import type { Period } from '../domain/period.js';
import type { BillingMode, Tenant } from '../domain/tenant.js';
import type { Decimal } from '../domain/money.js';
import type { Dialect } from './sql.js';
import type { Receipt } from '../domain/receipt.js';
import type { IngestStore, ReceiptQuery, RollupRow } from './ingest.js';
import type { InvoiceRepo } from './invoice-repo.js';
import type { LedgerRepo } from './ledger-repo.js';
import type { LockRepo } from './lock-repo.js';
import type { UsageCacheRepo } from './usage-cache-repo.js';
import type { BudgetRepo } from './budget-repo.js';
import type { AlertRepo } from './alert-repo.js';
import type { TokenRepo } from './token-repo.js';
import type { StripeEventRepo } from './stripe-event-repo.js';
import type { CreditRepo } from './credit-repo.js';
import type { CreditNoteRepo } from './credit-note-repo.js';
import type { StripeBillingRepo } from './stripe-billing-repo.js';

export interface MigrationOutcome {
  from: number;
  to: number;
  applied: { version: number; name: string }[];
}

export interface StoredCatalog {
  catalog: CatalogVersion;
  digest: string;
  source: string | null;
  importedAt: string;
}

export interface NewTenant {
  id: string;
  name: string;
  timezone: string;
  taxRate: Decimal;
  taxLabel: string;
  netDays: number;
  currency: string | null;
  email: string | null;
  address: string | null;
  /** Absent: none (an import's new tenants have none). */
  taxId?: string | null;
  poNumber?: string | null;
  billingMode: BillingMode;
  stripeCustomerId: string | null;
  autoCreated: boolean;
  plan: string;
  planFrom: Period | null;
}

export type TenantPatch = Partial<
  Pick<
    Tenant,
    'name' | 'timezone' | 'taxRate' | 'taxLabel' | 'netDays' | 'currency' | 'email' | 'address' | 'taxId' | 'poNumber' |
    'billingMode' | 'stripeCustomerId' | 'stripeSince'
  >
>;

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  command: string;
  details: Record<string, unknown>;
}

/** What `changeMarker` reads: each part changes when its tables do. */
export interface ChangeMarker {
  /** Receipts (import batches and their progress). */
  receipts: string;
  /** Tenants, plans, budgets, catalogs. */
  terms: string;
  /** API tokens (created, revoked). */
  tokens: string;
}

export interface Store {
  readonly dialect: Dialect;
  /** Where the store is, safe to print. */
  readonly location: string;
  /** Invoices, their lines and number sequences. */
  readonly invoices: InvoiceRepo;
  /** The Stripe push ledger. */
  readonly ledger: LedgerRepo;
  /** Run locks (one push at a time). */
  readonly locks: LockRepo;
  /** Rated amounts per tenant-period, for fast usage reports. */
  readonly usageCache: UsageCacheRepo;
  /** Tenant budgets (budget set/list/remove). */
  readonly budgets: BudgetRepo;
  /** Fired alerts and their webhook outbox; counts for metrics. */
  readonly alerts: AlertRepo;
  /** API tokens of `billctl serve` (hashes only). */
  readonly tokens: TokenRepo;
  /** Stripe events received, and the Stripe invoice and subscription states they set. */
  readonly stripeEvents: StripeEventRepo;
  /** Credit grants and their draws. */
  readonly credits: CreditRepo;
  /** Credit notes and their number sequences. */
  readonly creditNotes: CreditNoteRepo;
  /** The prices `stripe catalog sync` made and the tenants' subscriptions. */
  readonly stripeBilling: StripeBillingRepo;

  /**
   * Creates or upgrades the schema; running it again is a no-op. `to` stops at an older version
   * (tests use it to build an old store and upgrade it).
   */
  migrate(options?: { to?: number }): Promise<MigrationOutcome>;
  /** The newest migration applied, 0 for an empty database. */
  schemaVersion(): Promise<number>;
  /** Runs `fn` in one transaction: all of it happens, or none. */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * A cheap text that changes whenever receipts, tenants, plans, budgets, catalogs or API tokens
   * change (another process's commits included): `billctl serve` polls it to keep its memory current.
   */
  changeMarker(): Promise<ChangeMarker>;

  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;

  /** Every catalog version, oldest effective_from first (its rates not read yet: see loadRates). */
  listCatalogs(): Promise<StoredCatalog[]>;
  getCatalog(version: string): Promise<StoredCatalog | undefined>;
  putCatalog(catalog: CatalogVersion, digest: string, source: string | null, at: string): Promise<void>;
  /**
   * Reads the rates of these model and GPU keys (or all of them) into a stored version's rate
   * tables, those not read yet. A stored version comes with none: its rates are read as needed.
   */
  loadRates(catalog: CatalogVersion, keys: { models: Iterable<string>; gpus: Iterable<string> } | 'all'): Promise<void>;
  deleteCatalog(version: string): Promise<void>;
  /** True when an issued (finalized, paid or void) invoice has a line priced by this version. */
  catalogUsedByFinalizedInvoice(version: string): Promise<boolean>;

  getTenant(id: string): Promise<Tenant | undefined>;
  listTenants(): Promise<Tenant[]>;
  insertTenant(t: NewTenant, at: string): Promise<void>;
  /**
   * Inserts, with their first plan entries, those of `list` that do not exist yet (a few statements
   * for many tenants); returns the ids it inserted. A tenant another process inserted first is left
   * as it is.
   */
  insertTenantsIfAbsent(list: readonly NewTenant[], at: string): Promise<Set<string>>;
  updateTenant(id: string, patch: TenantPatch, at: string): Promise<void>;
  addPlanEntry(id: string, plan: string, from: Period | null, at: string): Promise<void>;

  appendAudit(entry: Omit<AuditEntry, 'id'>): Promise<void>;
  listAudit(since?: string): Promise<AuditEntry[]>;

  /** Receipt imports: batches, receipt writes, rejects (see ingest.ts). */
  ingest(): Promise<IngestStore>;
  /** A tenant's receipts with from <= ts < to (ms), by timestamp then id in byte order, a page at a time. */
  receipts(tenantId: string, from: number, to: number, query?: ReceiptQuery): AsyncIterable<Receipt>;
  /** A tenant's rollups for local days firstDay..lastDay (day numbers as in period.ts), by day, model key, GPU key. */
  rollups(tenantId: string, firstDay: number, lastDay: number): Promise<RollupRow[]>;
  /** Recomputes a tenant's rollups from its receipts, with local days in `timezone` (after a timezone change). */
  rebuildRollups(tenantId: string, timezone: string): Promise<void>;
}
