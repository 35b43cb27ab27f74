/**
 * Stripe customers of tenants: `stripe link` (a person names the customer) and `stripe customers
 * sync` (billctl finds or creates one for every stripe-mode tenant without one).
 *
 * Sync does not make a second customer for a tenant: it first looks for a customer whose metadata
 * names the tenant (search, then the strongly consistent list by email, since search lags by about
 * a minute), and only then creates one with an idempotency key derived from the tenant, so a
 * crash between Stripe creating the customer and the store recording it is recovered on the next
 * run instead of duplicated. A create that failed without a clear answer (a 5xx, a lost
 * connection) is retried only after looking again, and under a new key, since Stripe replays a
 * saved 500 to the old one. The one gap: a tenant without an email whose create got a 500 after
 * Stripe made the customer, retried before search has caught up, gets a second one; a later sync
 * notes "2 Stripe customers carry tenant_id …" and uses the oldest.
 */
import { requireTenant } from './tenants.js';
import type { Tenant } from '../domain/tenant.js';
import { errorMessage, UsageError } from '../errors.js';
import type { Store } from '../store/store.js';
import { StripeCallError, type StripeCustomer as Customer, type StripeClient } from '../stripe/client.js';

export const CUSTOMER_ID = /^cus_[A-Za-z0-9]{1,250}$/;
export const TENANT_METADATA_KEY = 'tenant_id';

export function checkCustomerId(id: string): string {
  const s = id.trim();
  if (!CUSTOMER_ID.test(s)) throw new UsageError(`"${id}" is not a Stripe customer id`, 'Customer ids look like cus_NffrFeUfNV2Hib.');
  return s;
}

/** The other tenant already linked to this customer, if any. */
async function linkedElsewhere(store: Store, customerId: string, tenantId: string): Promise<Tenant | undefined> {
  return (await store.listTenants()).find((t) => t.stripeCustomerId === customerId && t.id !== tenantId);
}

export type LinkAction = 'linked' | 'relinked' | 'unchanged';

export interface LinkResult {
  tenant: Tenant;
  customerId: string;
  previous: string | null;
  action: LinkAction;
  /** Whether the customer was checked in Stripe (not with --offline). */
  verified: boolean;
  /** Whether billctl wrote metadata tenant_id on the customer. */
  tagged: boolean;
}

/** Checks in the store what a link would do, before anything is asked of Stripe. */
export async function planLink(store: Store, tenantId: string, customerId: string, replace: boolean): Promise<{ tenant: Tenant; action: LinkAction }> {
  const tenant = await requireTenant(store, tenantId);
  const other = await linkedElsewhere(store, customerId, tenantId);
  if (other) {
    throw new UsageError(
      `${customerId} is already linked to tenant "${other.id}"`,
      'One Stripe customer belongs to one tenant: unlink it there first (billctl tenant update <id> --stripe-customer "").',
    );
  }
  if (tenant.stripeCustomerId === customerId) return { tenant, action: 'unchanged' };
  if (tenant.stripeCustomerId !== null && !replace) {
    throw new UsageError(
      `tenant "${tenantId}" is already linked to ${tenant.stripeCustomerId}`,
      `Usage already pushed stays with that customer. To link ${customerId} from now on: billctl stripe link ${tenantId} ${customerId} --replace`,
    );
  }
  return { tenant, action: tenant.stripeCustomerId === null ? 'linked' : 'relinked' };
}

/**
 * Checks the customer in Stripe: it must exist and not be deleted, and its metadata must not
 * name another tenant. Writes metadata tenant_id when it is missing (so a later sync finds it).
 * Returns whether it wrote.
 */
export async function verifyCustomer(client: StripeClient, tenantId: string, customerId: string): Promise<boolean> {
  const c = await client.retrieveCustomer(customerId);
  const mode = client.livemode ? 'live' : 'test';
  if (c === 'missing') {
    throw new UsageError(`Stripe has no customer ${customerId} (${mode} mode)`, 'Check the id, and that STRIPE_API_KEY is the key of the account (and mode) it belongs to.');
  }
  if (c === 'deleted') throw new UsageError(`Stripe customer ${customerId} was deleted`, 'Link an active customer.');
  const owner = c.metadata[TENANT_METADATA_KEY];
  if (owner !== undefined && owner !== '' && owner !== tenantId) {
    throw new UsageError(
      `Stripe customer ${customerId} belongs to tenant "${owner}" (its metadata tenant_id)`,
      'Link the right customer, or correct the metadata in the Stripe dashboard first.',
    );
  }
  if (owner === tenantId) return false;
  await client.tagCustomer(customerId, tenantId);
  return true;
}

/** Records the link in the store (re-checked inside the transaction). */
export async function recordLink(store: Store, tenantId: string, customerId: string, replace: boolean, at: string): Promise<{ tenant: Tenant; previous: string | null }> {
  return store.transaction(async () => {
    const { tenant } = await planLink(store, tenantId, customerId, replace);
    const previous = tenant.stripeCustomerId;
    if (previous !== customerId) await store.updateTenant(tenantId, { stripeCustomerId: customerId }, at);
    return { tenant: (await store.getTenant(tenantId))!, previous };
  });
}

// ---------------------------------------------------------------------------------------------
// customers sync

export type SyncAction = 'created' | 'found' | 'failed' | 'would_create' | 'would_link';

export interface CustomerSyncRow {
  tenantId: string;
  customerId: string | null;
  action: SyncAction;
  /** Why it failed, or something worth knowing (several customers carry the tenant). */
  note: string | null;
}

export interface CustomerSyncReport {
  rows: CustomerSyncRow[];
  /** Stripe-mode tenants that already had a customer. */
  alreadyLinked: number;
}

/** The oldest live customer whose metadata names the tenant, and how many there are. */
function owned(customers: Customer[], tenantId: string): { first?: Customer; count: number } {
  const mine = customers
    .filter((c) => c.metadata[TENANT_METADATA_KEY] === tenantId)
    .sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  return { first: mine[0], count: new Set(mine.map((c) => c.id)).size };
}

/** Finds the tenant's customer in Stripe: search by metadata, then the list by email. */
async function findCustomer(client: StripeClient, t: Tenant): Promise<{ first?: Customer; count: number }> {
  const searched = owned(await client.findCustomersByTenant(t.id), t.id);
  if (searched.first || !t.email) return searched;
  return owned(await client.listCustomersByEmail(t.email), t.id);
}

/** Runs tasks with at most `limit` at once, in order of the input. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface SyncOptions {
  /** Only this tenant (it must be a stripe-mode tenant). */
  tenantId?: string;
  dryRun: boolean;
  at: string;
  concurrency?: number;
}

export async function syncCustomers(store: Store, client: StripeClient, options: SyncOptions): Promise<CustomerSyncReport> {
  let tenants = (await store.listTenants()).filter((t) => t.billingMode === 'stripe');
  if (options.tenantId !== undefined) {
    const t = await requireTenant(store, options.tenantId);
    if (t.billingMode !== 'stripe') {
      throw new UsageError(
        `tenant "${t.id}" is billed by invoice, not through Stripe`,
        `To bill it through Stripe: billctl tenant update ${t.id} --billing-mode stripe`,
      );
    }
    tenants = [t];
  }
  const todo = tenants.filter((t) => t.stripeCustomerId === null);
  // Store writes go one at a time; Stripe calls run side by side.
  let writes: Promise<unknown> = Promise.resolve();
  const serial = <R>(fn: () => Promise<R>): Promise<R> => {
    const p = writes.then(fn);
    writes = p.catch(() => undefined);
    return p;
  };

  const rows = await pool(todo, options.concurrency ?? 4, async (t): Promise<CustomerSyncRow> => {
    const row: CustomerSyncRow = { tenantId: t.id, customerId: null, action: 'failed', note: null };
    try {
      const { first, count } = await findCustomer(client, t);
      if (count > 1) row.note = `${count} Stripe customers carry tenant_id ${t.id}; using the oldest`;
      let customerId: string;
      if (first) {
        row.action = options.dryRun ? 'would_link' : 'found';
        customerId = first.id;
      } else if (options.dryRun) {
        row.action = 'would_create';
        return row;
      } else {
        const recheck = async () => (await findCustomer(client, t)).first;
        customerId = (await client.createCustomer({ tenantId: t.id, name: t.name, email: t.email }, recheck)).id;
        row.action = 'created';
      }
      row.customerId = customerId;
      if (options.dryRun) return row;
      await serial(() =>
        store.transaction(async () => {
          const now = await store.getTenant(t.id);
          if (now?.stripeCustomerId && now.stripeCustomerId !== customerId) {
            throw new Error(`linked meanwhile to ${now.stripeCustomerId}`);
          }
          const other = await linkedElsewhere(store, customerId, t.id);
          if (other) throw new Error(`${customerId} is linked to tenant "${other.id}" in the store`);
          if (!now?.stripeCustomerId) await store.updateTenant(t.id, { stripeCustomerId: customerId }, options.at);
        }),
      );
      return row;
    } catch (err) {
      // A refused key fails every tenant alike: stop and say so once.
      if (err instanceof StripeCallError && err.failure.fatal) throw err;
      row.action = 'failed';
      row.note = errorMessage(err);
      if (err instanceof StripeCallError && err.failure.type === 'idempotency_error') {
        row.note += ' (a customer was created for this tenant with other details in the last 24 hours; run sync again in a minute, when Stripe\'s search finds it)';
      }
      return row;
    }
  });
  return { rows, alreadyLinked: tenants.length - todo.length };
}
