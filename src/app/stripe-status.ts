/**
 * `stripe status`: what the push ledger holds per tenant and meter (pending, sent, failed,
 * expired, uncertain: revisions and values), the oldest bucket still to send, the last push, and
 * whether a push holds the lock now. Reads only.
 */
import type { BillingMode } from '../domain/tenant.js';
import { LEDGER_STATUSES, type LedgerRow, type LedgerStatus } from '../store/ledger-repo.js';
import type { LockHolder } from '../store/lock-repo.js';
import type { Store } from '../store/store.js';
import { isSeenOnlyMeter } from '../config.js';
import { METER_KEYS, type MeterKey } from '../stripe/client.js';
import { meterIdSetting } from './stripe-setup.js';
import type { BucketSize } from '../stripe/push-plan.js';
import {
  BUCKET_SETTING, LAST_CLEAN_RUN_SETTING, LAST_RUN_SETTING, parseRunRecord, PUSH_LOCK, type PushRunRecord,
} from './stripe-push.js';

export interface StatusCell {
  revisions: number;
  value: bigint;
}

export interface MeterStatus {
  meter: MeterKey;
  byStatus: Record<LedgerStatus, StatusCell>;
  /** Oldest bucket with a pending or failed revision (ms), null when none. */
  oldestUnsent: number | null;
  lastSentAt: string | null;
}

export interface TenantStatus {
  tenantId: string;
  customerId: string | null;
  billingMode: BillingMode | null;
  meters: MeterStatus[];
  lastSentAt: string | null;
  /** The subscription `stripe subscribe` made, as last seen (by it, or by Stripe's subscription events). */
  subscription: { id: string; status: string; plan: string; version: string; since: string } | null;
  /** Stripe's invoices of the tenant, as their events (webhook or `stripe events sync`) told, newest first. */
  invoices: StripeInvoiceStatus[];
}

export interface StripeInvoiceStatus {
  id: string;
  number: string | null;
  status: string;
  amountDue: string | null;
  amountPaid: string | null;
  currency: string | null;
  periodStart: number | null;
  periodEnd: number | null;
  hostedUrl: string | null;
  /** Stripe's time of the event that set this state (seconds). */
  eventCreated: number;
}

export interface StatusReport {
  bucket: BucketSize | null;
  lastRun: PushRunRecord | null;
  lastCleanRun: PushRunRecord | null;
  /** The push lock's row: a running push, or one killed that the next run takes over. */
  lock: LockHolder | null;
  tenants: TenantStatus[];
}

const emptyCells = (): Record<LedgerStatus, StatusCell> =>
  Object.fromEntries(LEDGER_STATUSES.map((s) => [s, { revisions: 0, value: 0n }])) as Record<LedgerStatus, StatusCell>;

const later = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a > b ? a : b);

export async function pushStatus(store: Store, options: { tenantId?: string } = {}): Promise<StatusReport> {
  const tenants = await store.listTenants();
  const summary = await store.ledger.summary();
  // Token class meters are listed once `stripe setup` made them (or the ledger holds revisions of them).
  const listed: MeterKey[] = [];
  for (const m of METER_KEYS) {
    if (!isSeenOnlyMeter(m) || (await store.getSetting(meterIdSetting(m))) !== undefined || summary.some((r) => r.meter === m)) listed.push(m);
  }
  const byTenant = new Map<string, TenantStatus>();
  const tenantStatus = (id: string): TenantStatus => {
    let t = byTenant.get(id);
    if (!t) {
      const known = tenants.find((x) => x.id === id);
      t = {
        tenantId: id,
        customerId: known?.stripeCustomerId ?? null,
        billingMode: known?.billingMode ?? null,
        meters: listed.map((meter) => ({ meter, byStatus: emptyCells(), oldestUnsent: null, lastSentAt: null })),
        lastSentAt: null,
        subscription: null,
        invoices: [],
      };
      byTenant.set(id, t);
    }
    return t;
  };
  for (const t of tenants) if (t.billingMode === 'stripe') tenantStatus(t.id);
  for (const row of summary) {
    const t = tenantStatus(row.tenantId);
    const m = t.meters.find((x) => x.meter === row.meter);
    if (!m) continue;
    m.byStatus[row.status] = { revisions: row.revisions, value: row.value };
    if (row.status === 'pending' || row.status === 'failed') {
      m.oldestUnsent = m.oldestUnsent === null ? row.oldestBucket : Math.min(m.oldestUnsent, row.oldestBucket);
    }
    if (row.status === 'sent') {
      m.lastSentAt = later(m.lastSentAt, row.lastSentAt);
      t.lastSentAt = later(t.lastSentAt, row.lastSentAt);
    }
  }
  let list = [...byTenant.values()].sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0));
  if (options.tenantId !== undefined) list = list.filter((t) => t.tenantId === options.tenantId);
  for (const t of list) await addStripeBilling(store, t);
  return {
    bucket: ((await store.getSetting(BUCKET_SETTING)) as BucketSize | undefined) ?? null,
    lastRun: parseRunRecord(await store.getSetting(LAST_RUN_SETTING)),
    lastCleanRun: parseRunRecord(await store.getSetting(LAST_CLEAN_RUN_SETTING)),
    lock: (await store.locks.holder(PUSH_LOCK)) ?? null,
    tenants: list,
  };
}

/** The ledger's rows of one status (expired ones for finance, uncertain ones for reconciling). */
export function ledgerRows(store: Store, status: LedgerStatus, tenantId?: string): Promise<LedgerRow[]> {
  return store.ledger.rows(tenantId === undefined ? { status } : { status, tenantId });
}

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** The tenant's subscription and Stripe invoices, from the store (no Stripe call). */
async function addStripeBilling(store: Store, t: TenantStatus): Promise<void> {
  const row = await store.stripeBilling.getSubscription(t.tenantId);
  const objects = await store.stripeEvents.objects(t.tenantId);
  if (row) {
    // A subscription event newer than the row (a cancellation, say) says more about its status.
    const seen = objects.find((o) => o.objectType === 'subscription' && o.objectId === row.subscriptionId);
    const status = seen && seen.updatedAt > row.updatedAt ? seen.status : row.status;
    t.subscription = { id: row.subscriptionId, status, plan: row.plan, version: row.version, since: row.termsFrom };
  }
  t.invoices = objects
    .filter((o) => o.objectType === 'invoice')
    .map((o) => ({
      id: o.objectId, number: text(o.fields.number), status: o.status, amountDue: text(o.fields.amount_due), amountPaid: text(o.fields.amount_paid),
      currency: text(o.fields.currency), periodStart: num(o.fields.period_start), periodEnd: num(o.fields.period_end), hostedUrl: text(o.fields.hosted_invoice_url),
      eventCreated: o.eventCreated,
    }))
    .sort((a, b) => b.eventCreated - a.eventCreated || (b.number ?? '').localeCompare(a.number ?? '') || (a.id < b.id ? 1 : -1));
}
