/**
 * What billctl made in Stripe Billing, as it last saw it: the prices of each catalog version and
 * plan (`stripe catalog sync`, found again in Stripe by lookup_key) and each tenant's
 * subscription (`stripe subscribe`). Stripe stays the source of truth: a row lost to a crash
 * between Stripe's answer and the write is found again in Stripe by the next run.
 */
import { toNumber, type Row, type SqlDriver } from './sql.js';

export interface StripePriceRow {
  livemode: boolean;
  lookupKey: string;
  version: string;
  plan: string;
  /** A meter key, or `fee`. */
  item: string;
  priceId: string;
  productId: string;
  syncedAt: string;
}

export interface StripeSubscriptionRow {
  tenantId: string;
  subscriptionId: string;
  customerId: string;
  livemode: boolean;
  /** Stripe's status as last seen (active, canceled, …), or `cancels_at_period_end`. */
  status: string;
  /** The plan and catalog version whose prices the items hold, and the period they hold from. */
  plan: string;
  version: string;
  termsFrom: string;
  updatedAt: string;
}

export interface StripeBillingRepo {
  /** Records a price (replacing what was recorded under its lookup key). */
  putPrice(r: StripePriceRow): Promise<void>;
  /** Recorded prices of one mode, optionally of one version (and plan). */
  prices(livemode: boolean, version?: string, plan?: string): Promise<StripePriceRow[]>;
  getSubscription(tenantId: string): Promise<StripeSubscriptionRow | undefined>;
  putSubscription(r: StripeSubscriptionRow): Promise<void>;
  subscriptions(): Promise<StripeSubscriptionRow[]>;
}

export const STRIPE_BILLING_MIGRATION_SQL = `
  CREATE TABLE stripe_prices (
    livemode INTEGER NOT NULL,
    lookup_key {key} NOT NULL,
    version {key} NOT NULL,
    plan {key} NOT NULL,
    item TEXT NOT NULL,
    price_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    synced_at TEXT NOT NULL,
    PRIMARY KEY (livemode, lookup_key)
  );
  CREATE INDEX stripe_prices_version ON stripe_prices (livemode, version, plan);
  CREATE TABLE stripe_subscriptions (
    tenant_id {key} PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    status TEXT NOT NULL,
    plan TEXT NOT NULL,
    version TEXT NOT NULL,
    terms_from TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
`;

function priceRow(r: Row): StripePriceRow {
  return {
    livemode: toNumber(r.livemode) === 1, lookupKey: String(r.lookup_key), version: String(r.version), plan: String(r.plan), item: String(r.item),
    priceId: String(r.price_id), productId: String(r.product_id), syncedAt: String(r.synced_at),
  };
}

function subscriptionRow(r: Row): StripeSubscriptionRow {
  return {
    tenantId: String(r.tenant_id), subscriptionId: String(r.subscription_id), customerId: String(r.customer_id), livemode: toNumber(r.livemode) === 1,
    status: String(r.status), plan: String(r.plan), version: String(r.version), termsFrom: String(r.terms_from), updatedAt: String(r.updated_at),
  };
}

export class SqlStripeBillingRepo implements StripeBillingRepo {
  constructor(private readonly db: SqlDriver) {}

  async putPrice(r: StripePriceRow): Promise<void> {
    await this.db.run(
      `INSERT INTO stripe_prices (livemode, lookup_key, version, plan, item, price_id, product_id, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (livemode, lookup_key) DO UPDATE SET version = excluded.version, plan = excluded.plan, item = excluded.item,
         price_id = excluded.price_id, product_id = excluded.product_id, synced_at = excluded.synced_at`,
      [r.livemode ? 1 : 0, r.lookupKey, r.version, r.plan, r.item, r.priceId, r.productId, r.syncedAt],
    );
  }

  async prices(livemode: boolean, version?: string, plan?: string): Promise<StripePriceRow[]> {
    const where = ['livemode = ?'];
    const params: (string | number)[] = [livemode ? 1 : 0];
    if (version !== undefined) {
      where.push('version = ?');
      params.push(version);
    }
    if (plan !== undefined) {
      where.push('plan = ?');
      params.push(plan);
    }
    const rows = await this.db.all<Row>(`SELECT * FROM stripe_prices WHERE ${where.join(' AND ')} ORDER BY version, plan, lookup_key`, params);
    return rows.map(priceRow);
  }

  async getSubscription(tenantId: string): Promise<StripeSubscriptionRow | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM stripe_subscriptions WHERE tenant_id = ?', [tenantId]);
    return r ? subscriptionRow(r) : undefined;
  }

  async putSubscription(r: StripeSubscriptionRow): Promise<void> {
    await this.db.run(
      `INSERT INTO stripe_subscriptions (tenant_id, subscription_id, customer_id, livemode, status, plan, version, terms_from, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id) DO UPDATE SET subscription_id = excluded.subscription_id, customer_id = excluded.customer_id,
         livemode = excluded.livemode, status = excluded.status, plan = excluded.plan, version = excluded.version,
         terms_from = excluded.terms_from, updated_at = excluded.updated_at`,
      [r.tenantId, r.subscriptionId, r.customerId, r.livemode ? 1 : 0, r.status, r.plan, r.version, r.termsFrom, r.updatedAt],
    );
  }

  async subscriptions(): Promise<StripeSubscriptionRow[]> {
    return (await this.db.all<Row>('SELECT * FROM stripe_subscriptions ORDER BY tenant_id')).map(subscriptionRow);
  }
}
