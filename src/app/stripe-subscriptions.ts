/**
 * `stripe subscribe` and `stripe unsubscribe`: a Stripe subscription per stripe-mode tenant,
 * holding the prices (`stripe catalog sync`) of the plan and catalog version in effect now: one
 * metered item per meter and the licensed monthly fee.
 *
 * One command creates and updates: run again after `tenant set-plan` (or from cron, `--all`), it
 * brings the subscription in line with the plan history. A change of plan or catalog version
 * takes effect at a period's start, which is a Stripe billing period's start too (subscriptions
 * renew at 00:00 UTC on the 1st, and billctl subscribes only tenants whose months are UTC
 * months), so items are swapped with `proration_date` at that start: Stripe credits the old fee
 * and charges the new one for the whole period, and the metered items bill the period's usage at
 * the new prices. (A change inside a period, when plan history takes dates, is the same update
 * with another date; Stripe cannot split an allowance tier, so it will be refused for plans with
 * allowances.)
 *
 * Never twice: a tenant's subscription is found again by the id the store recorded, else among
 * the customer's subscriptions by metadata `billctl_tenant` (Stripe's list is strongly
 * consistent), and a create carries an idempotency key derived from the tenant, customer, start
 * and prices (with a look before any retry), so a crash between Stripe's answer and the store's
 * write is recovered by the next run.
 */
import type { CatalogVersion } from '../domain/catalog.js';
import { addMonths, periodInterval, periodOf, type Period } from '../domain/period.js';
import { planSegments, resolvePlanTerms, sortVersions } from '../domain/rating.js';
import type { Tenant } from '../domain/tenant.js';
import { errorMessage, UsageError } from '../errors.js';
import type { StripeSubscriptionRow } from '../store/stripe-billing-repo.js';
import { PRICE_ITEMS, type PriceItem } from '../stripe/catalog-plan.js';
import type { Store } from '../store/store.js';
import {
  DEFAULT_RETRY, StripeCallError, withRetries, type StripeClient, type StripeSubscription, type SubscriptionItemChange,
} from '../stripe/client.js';
import { tenantCurrency } from './budgets.js';
import { ensureStoreId, STORE_ID_SETTING } from './stripe-push.js';
import { requireTenant } from './tenants.js';

export type SubscribeAction = 'created' | 'found' | 'updated' | 'unchanged' | 'not_yet' | 'failed' | 'would_create' | 'would_update';

export interface SubscribeResult {
  tenantId: string;
  customerId: string | null;
  subscriptionId: string | null;
  action: SubscribeAction;
  plan: string | null;
  version: string | null;
  /** The period the plan and version hold from (as far back as they are the same). */
  termsFrom: Period | null;
  /** What changed in the subscription's items (`+ gpu_seconds price_…`, `~ fee price_… (was price_…)`). */
  changes: string[];
  /** Why it failed, or what `not_yet` waits for. */
  note: string | null;
  warnings: string[];
}

/** Why a tenant cannot be subscribed now (reported per tenant; the others go on). */
class Refusal extends Error {}

/** Whether a tenant's periods are UTC months (the only months a Stripe subscription can renew on). */
function utcMonths(tz: string, from: Period): boolean {
  for (let i = 0; i < 25; i++) {
    const p = addMonths(from, i);
    if (periodInterval(tz, p).start !== periodInterval('UTC', p).start) return false;
  }
  return true;
}

interface Terms {
  plan: string;
  version: CatalogVersion;
  period: Period;
  start: number;
  end: number;
  /** Item (meter key or `fee`) -> price id, as catalog sync recorded them. */
  prices: Map<string, string>;
  /** The catalog versions of the tenant's currency, by effective_from. */
  chain: CatalogVersion[];
}

async function desiredTerms(store: Store, tenant: Tenant, now: number, livemode: boolean): Promise<Terms> {
  const currency = await tenantCurrency(store, tenant);
  const chain = sortVersions((await store.listCatalogs()).map((c) => c.catalog).filter((v) => v.currency === currency));
  const period = periodOf(tenant.timezone, now);
  let { start, end } = periodInterval(tenant.timezone, period);
  let resolved;
  try {
    resolved = resolvePlanTerms(tenant, period, chain);
  } catch (err) {
    throw new Refusal(errorMessage(err));
  }
  // A plan change on a day inside the period (`set-plan --from YYYY-MM-DD`): the plan of the segment
  // under way holds from that day's local midnight, and Stripe prorates from there.
  const segment = planSegments(tenant, period).find((g) => now >= g.start && now < g.end);
  if (segment !== undefined && segment.start > start) {
    const plan = resolved.version.plans.get(segment.planId);
    if (plan === undefined) throw new Refusal(`plan "${segment.planId}" is not in catalog ${resolved.version.version}`);
    resolved = { planId: segment.planId, plan, version: resolved.version };
    start = segment.start;
  }
  const inside = chain.find((v) => v.effectiveFrom > start && v.effectiveFrom < end);
  if (inside) {
    throw new Refusal(
      `catalog ${inside.version} takes effect at ${new Date(inside.effectiveFrom).toISOString()}, inside ${period}: ` +
        'a Stripe subscription bills a period at one price per meter, so it cannot bill the usage before and after at different prices',
    );
  }
  const rows = await store.stripeBilling.prices(livemode, resolved.version.version, resolved.planId);
  if (rows.length === 0) {
    throw new Refusal(
      `plan ${resolved.planId} of catalog ${resolved.version.version} has no prices in Stripe: run billctl stripe catalog sync ${resolved.version.version} ` +
        '(it says why when Stripe cannot bill the plan)',
    );
  }
  const order = (item: string) => PRICE_ITEMS.indexOf(item as PriceItem);
  rows.sort((a, b) => order(a.item) - order(b.item));
  return { plan: resolved.planId, version: resolved.version, period, start, end, prices: new Map(rows.map((r) => [r.item, r.priceId])), chain };
}

/** The first period of a run of periods with the same plan and version, back to (not before) `floor`. */
function termsFrom(tenant: Tenant, t: Terms, floor: number): Period {
  let p = t.period;
  for (let i = 0; i < 120; i++) {
    const prev = addMonths(p, -1);
    if (periodInterval(tenant.timezone, prev).start < floor) break;
    try {
      const r = resolvePlanTerms(tenant, prev, t.chain);
      if (r.planId !== t.plan || r.version.version !== t.version.version) break;
    } catch {
      break;
    }
    p = prev;
  }
  return p;
}

const isLive = (s: StripeSubscription) => s.status !== 'canceled' && s.status !== 'incomplete_expired';

/**
 * The tenant's live subscription: the one the store recorded, else one Stripe holds for it (the
 * oldest); and, when Stripe was asked, every subscription the customer has for the tenant.
 */
async function findSubscription(
  store: Store, client: StripeClient, tenant: Tenant, customer: string, warnings: string[],
): Promise<{ live: StripeSubscription | undefined; earlier: string[] }> {
  const row = await store.stripeBilling.getSubscription(tenant.id);
  if (row && row.customerId === customer) {
    const s = await client.retrieveSubscription(row.subscriptionId);
    if (s !== 'missing' && isLive(s)) return { live: s, earlier: [] };
  } else if (row && row.status !== 'canceled') {
    warnings.push(
      `${tenant.id} was subscribed as Stripe customer ${row.customerId} (${row.subscriptionId}), and is linked to ${customer} now: ` +
        `cancel the old subscription in the Stripe Dashboard if it still runs`,
    );
  }
  const all = (await client.subscriptionsOf(customer)).filter((s) => s.metadata.billctl_tenant === tenant.id).sort((a, b) => a.created - b.created);
  const mine = all.filter(isLive);
  if (mine.length > 1) {
    warnings.push(
      `${mine.length} live Stripe subscriptions of ${customer} carry billctl_tenant ${tenant.id} (${mine.map((s) => s.id).join(', ')}): ` +
        `billctl uses the oldest, ${mine[0]!.id}; cancel the others in the Stripe Dashboard`,
    );
  }
  return { live: mine[0], earlier: all.map((s) => s.id) };
}

/** What the items should be: a change per item that is not as wanted (empty: in line). */
function itemChanges(sub: StripeSubscription, want: Map<string, string>, warnings: string[]): { changes: SubscriptionItemChange[]; text: string[] } {
  const changes: SubscriptionItemChange[] = [];
  const text: string[] = [];
  const left = new Map(want);
  for (const it of sub.items.data) {
    const item = it.price.metadata.billctl_item;
    if (item === undefined) {
      warnings.push(`item ${it.id} (price ${it.price.id}) is not billctl's: left as it is`);
      continue;
    }
    const price = left.get(item);
    left.delete(item);
    if (price === it.price.id) continue;
    if (price === undefined) {
      changes.push({ id: it.id, deleted: true });
      text.push(`- ${item} ${it.price.id}`);
    } else {
      changes.push({ id: it.id, price });
      text.push(`~ ${item} ${price} (was ${it.price.id})`);
    }
  }
  for (const [item, price] of left) {
    changes.push({ price });
    text.push(`+ ${item} ${price}`);
  }
  return { changes, text };
}

const metadataOf = (tenant: Tenant, t: Terms, storeId: string) => ({
  billctl_tenant: tenant.id, billctl_plan: t.plan, billctl_version: t.version.version, billctl_store: storeId,
});

async function storeId(store: Store, dryRun: boolean): Promise<string> {
  return dryRun ? ((await store.getSetting(STORE_ID_SETTING)) ?? 'dry-run') : ensureStoreId(store);
}

const keyText = (...parts: (string | number)[]) => parts.join('\u0000');

async function subscribeOne(store: Store, client: StripeClient, tenant: Tenant, o: { now: number; at: string; dryRun: boolean }): Promise<SubscribeResult> {
  const warnings: string[] = [];
  const customer = tenant.stripeCustomerId;
  const result: SubscribeResult = {
    tenantId: tenant.id, customerId: customer, subscriptionId: null, action: 'failed', plan: null, version: null, termsFrom: null, changes: [], note: null, warnings,
  };
  try {
    if (customer === null) throw new Refusal('no Stripe customer — run billctl stripe customers sync');
    const current = periodOf(tenant.timezone, o.now);
    if (!utcMonths(tenant.timezone, current)) {
      throw new Refusal(
        `${tenant.id}'s periods are months in ${tenant.timezone}, and Stripe renews a subscription at one UTC instant of the month: ` +
          `it cannot bill those periods exactly (set the tenant's timezone to UTC, or bill it by invoice)`,
      );
    }
    if (tenant.stripeSince !== null && tenant.stripeSince > o.now) {
      result.action = 'not_yet';
      result.note = `${tenant.id} moves to Stripe on ${new Date(tenant.stripeSince).toISOString()}: subscribe it then (or run --all from cron)`;
      return result;
    }
    const terms = await desiredTerms(store, tenant, o.now, client.livemode);
    Object.assign(result, { plan: terms.plan, version: terms.version.version, termsFrom: termsFrom(tenant, terms, tenant.stripeSince ?? -Infinity) });
    const sid = await storeId(store, o.dryRun);
    const { live: existing, earlier } = await findSubscription(store, client, tenant, customer, warnings);
    let sub: StripeSubscription;
    if (!existing) {
      const prices = [...terms.prices].map(([item, price]) => ({ price, licensed: item === 'fee' }));
      if (tenant.stripeSince !== null && tenant.stripeSince < terms.start) {
        warnings.push(
          `${tenant.id} moved to Stripe on ${new Date(tenant.stripeSince).toISOString()}, but its subscription starts with ${terms.period}: ` +
            'usage pushed for the months before is in no subscription, and Stripe does not bill it',
        );
      }
      result.changes = [...terms.prices].map(([item, price]) => `+ ${item} ${price}`);
      if (o.dryRun) {
        result.action = 'would_create';
        return result;
      }
      const spec = {
        customer, prices, metadata: metadataOf(tenant, terms, sid), backdateStartDate: Math.floor(terms.start / 1000), billingCycleAnchor: Math.floor(terms.end / 1000),
      };
      const recheck = async () => (await client.subscriptionsOf(customer)).find((s) => isLive(s) && s.metadata.billctl_tenant === tenant.id);
      // The subscriptions it had before are part of the key: a new one after a cancellation is not the old one replayed.
      sub = await client.createSubscription(spec, keyText(sid, tenant.id, customer, terms.start, ...prices.map((p) => p.price), ...earlier), recheck);
      result.action = 'created';
    } else {
      sub = existing;
      const { changes, text } = itemChanges(sub, terms.prices, warnings);
      result.changes = text;
      if (changes.length === 0) result.action = 'unchanged';
      else if (Math.floor(terms.start / 1000) >= Math.max(...sub.items.data.map((i) => i.current_period_end))) {
        // Stripe has not renewed into the period yet: swapped now, the items would bill the period
        // that ends at the new prices.
        result.action = 'not_yet';
        result.note = `Stripe has not begun ${terms.period} for this subscription yet (it renews within the hour): run again after its invoice for the period before`;
      } else if (o.dryRun) result.action = 'would_update';
      else {
        // The terms hold from the period's start; Stripe prorates from there (never before its current period).
        const periodStart = Math.max(...sub.items.data.map((i) => i.current_period_start));
        const prorationDate = Math.max(Math.floor(terms.start / 1000), periodStart);
        if (result.termsFrom !== null && periodInterval(tenant.timezone, result.termsFrom).start < periodStart * 1000) {
          warnings.push(
            `${tenant.id} is on ${terms.plan} (catalog ${terms.version.version}) since ${result.termsFrom}, but its subscription is changed only now: ` +
              'Stripe billed the periods before the current one on the old prices; correct them in Stripe (a credit note) if they differ',
          );
        }
        sub = await updateItems(client, sub.id, terms.prices, { items: changes, prorationDate, metadata: metadataOf(tenant, terms, sid) });
        result.action = 'updated';
      }
    }
    result.subscriptionId = sub.id;
    if (!o.dryRun) {
      await store.stripeBilling.putSubscription({
        tenantId: tenant.id, subscriptionId: sub.id, customerId: customer, livemode: client.livemode, status: statusOf(sub), plan: terms.plan,
        version: terms.version.version, termsFrom: result.termsFrom!, updatedAt: o.at,
      });
    }
    return result;
  } catch (err) {
    if (err instanceof StripeCallError && err.failure.fatal) throw err;
    if (!(err instanceof Refusal) && !(err instanceof StripeCallError)) throw err;
    result.action = 'failed';
    result.note = err.message;
    return result;
  }
}

/**
 * Sends an item change; a failed attempt (a 5xx, a lost answer) is retried only after reading the
 * subscription again, and not at all once it holds the prices wanted.
 */
function updateItems(
  client: StripeClient, id: string, want: Map<string, string>, change: Parameters<StripeClient['updateSubscription']>[1],
): Promise<StripeSubscription> {
  return withRetries(async (attempt) => {
    if (attempt > 0) {
      const now = await client.retrieveSubscription(id);
      if (now !== 'missing' && itemChanges(now, want, []).changes.length === 0) return now;
    }
    return client.updateSubscription(id, change);
  }, DEFAULT_RETRY);
}

function statusOf(s: StripeSubscription): string {
  return s.cancel_at_period_end && s.status !== 'canceled' ? 'cancels_at_period_end' : s.status;
}

/** Subscribes one tenant (which must be in stripe mode), or every stripe-mode tenant. */
export async function subscribe(
  store: Store, client: StripeClient, req: { tenantId?: string; now: number; at: string; dryRun: boolean },
): Promise<SubscribeResult[]> {
  let tenants: Tenant[];
  if (req.tenantId !== undefined) {
    const t = await requireTenant(store, req.tenantId);
    if (t.billingMode !== 'stripe') {
      throw new UsageError(`${t.id} is billed by invoice, not through Stripe`, `Move it first: billctl tenant update ${t.id} --billing-mode stripe`);
    }
    tenants = [t];
  } else tenants = (await store.listTenants()).filter((t) => t.billingMode === 'stripe');
  const out: SubscribeResult[] = [];
  for (const t of tenants) out.push(await subscribeOne(store, client, t, req));
  return out;
}

export type UnsubscribeAction = 'canceled' | 'cancels_at_period_end' | 'unchanged' | 'none' | 'would_cancel';

export interface UnsubscribeResult {
  tenantId: string;
  subscriptionId: string | null;
  action: UnsubscribeAction;
  /** When the subscription ends (ISO). */
  endsAt: string | null;
  warnings: string[];
}

/**
 * Cancels a tenant's subscription at the end of its current period (Stripe invoices that
 * period's usage then), or `now`: at once, invoicing the usage so far (the fee already paid for
 * the period is not refunded).
 */
export async function unsubscribe(
  store: Store, client: StripeClient, req: { tenantId: string; now: boolean; dryRun: boolean; at: string },
): Promise<UnsubscribeResult> {
  const tenant = await requireTenant(store, req.tenantId);
  const warnings: string[] = [];
  const row = await store.stripeBilling.getSubscription(tenant.id);
  const customer = tenant.stripeCustomerId ?? row?.customerId ?? null;
  const sub = customer === null ? undefined : (await findSubscription(store, client, tenant, customer, warnings)).live;
  const base = { tenantId: tenant.id, warnings };
  if (!sub) return { ...base, subscriptionId: null, action: 'none', endsAt: null };
  const periodEnd = Math.max(...sub.items.data.map((i) => i.current_period_end));
  const record = async (s: StripeSubscription) => {
    if (req.dryRun || !row) return;
    const next: StripeSubscriptionRow = { ...row, subscriptionId: s.id, status: statusOf(s), updatedAt: req.at };
    await store.stripeBilling.putSubscription(next);
  };
  if (req.dryRun) return { ...base, subscriptionId: sub.id, action: 'would_cancel', endsAt: new Date((req.now ? Date.parse(req.at) / 1000 : periodEnd) * 1000).toISOString() };
  if (req.now) {
    let ended: StripeSubscription;
    try {
      ended = await client.cancelSubscription(sub.id, true);
    } catch (err) {
      // A lost answer: the cancel may have happened; read it back before saying it failed.
      const again = await client.retrieveSubscription(sub.id);
      if (again === 'missing' || again.status !== 'canceled') throw err;
      ended = again;
    }
    await record(ended);
    return { ...base, subscriptionId: sub.id, action: 'canceled', endsAt: new Date((ended.ended_at ?? Math.floor(Date.parse(req.at) / 1000)) * 1000).toISOString() };
  }
  const endsAt = new Date(periodEnd * 1000).toISOString();
  if (sub.cancel_at_period_end) {
    await record(sub);
    return { ...base, subscriptionId: sub.id, action: 'unchanged', endsAt };
  }
  const updated = await withRetries(() => client.updateSubscription(sub.id, { cancelAtPeriodEnd: true }), DEFAULT_RETRY);
  await record(updated);
  return { ...base, subscriptionId: sub.id, action: 'cancels_at_period_end', endsAt };
}
