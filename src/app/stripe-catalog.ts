/**
 * `stripe catalog sync`: the products and prices of catalog versions in Stripe, one set per
 * version, found again by lookup_key (so a second run creates nothing), and recorded in the store
 * for `stripe subscribe`. Plans Stripe cannot bill exactly are refused with the reasons
 * (src/stripe/catalog-plan.ts) and get no price at all.
 *
 * Prices are immutable in Stripe. A price found under its lookup key that bills otherwise (the
 * version was replaced before any invoice used it) is replaced: a new price takes the lookup key
 * over (`transfer_lookup_key`) and the old one is archived; subscriptions that hold it keep it
 * until `stripe subscribe` moves them.
 */
import type { MeterNames } from '../config.js';
import type { CatalogVersion } from '../domain/catalog.js';
import { UsageError } from '../errors.js';
import type { Store } from '../store/store.js';
import {
  planStripeCatalog, priceDifferences, priceDigest, type DesiredPrice, type DesiredProduct, type PriceItem, type PriceLookup, type StripePriceShape,
} from '../stripe/catalog-plan.js';
import type { MeterKey, PriceSpec, StripeClient, StripePrice } from '../stripe/client.js';
import { storedMeters } from './stripe-setup.js';

export type ProductAction = 'created' | 'found' | 'updated' | 'would_create' | 'would_update';
export type PriceAction = 'created' | 'found' | 'reactivated' | 'replaced' | 'would_create' | 'would_reactivate' | 'would_replace';

export interface ProductResult {
  id: string;
  name: string;
  action: ProductAction;
}

export interface PriceResult {
  lookupKey: string;
  item: PriceItem;
  priceId: string | null;
  action: PriceAction;
  /** The price that held the lookup key before a replacement. */
  previousId: string | null;
}

export interface PlanResult {
  version: string;
  plan: string;
  name: string;
  /** `refused`: Stripe cannot bill the plan exactly (see reasons); nothing of it was made. */
  status: 'synced' | 'refused';
  reasons: string[];
  notes: string[];
  prices: PriceResult[];
}

export interface CatalogSyncReport {
  livemode: boolean;
  dryRun: boolean;
  versions: string[];
  products: ProductResult[];
  plans: PlanResult[];
}

/** The versions to sync: the one named, else each currency's version in effect now and every later one. */
export async function versionsToSync(store: Store, version: string | undefined, now: number): Promise<CatalogVersion[]> {
  const all = (await store.listCatalogs()).map((c) => c.catalog);
  if (all.length === 0) throw new UsageError('the store has no catalog yet', 'Import one: billctl catalog import <file>');
  if (version !== undefined) {
    const v = all.find((c) => c.version === version);
    if (!v) throw new UsageError(`no catalog version "${version}"`, `Versions: ${all.map((c) => c.version).join(', ')} (billctl catalog list)`);
    return [v];
  }
  const out: CatalogVersion[] = [];
  for (const currency of new Set(all.map((c) => c.currency))) {
    const chain = all.filter((c) => c.currency === currency);
    const current = chain.filter((c) => c.effectiveFrom <= now).pop();
    out.push(...chain.filter((c) => c === current || c.effectiveFrom > now));
  }
  return out.sort((a, b) => a.effectiveFrom - b.effectiveFrom);
}

function amountsOf(s: StripePriceShape): PriceSpec['amounts'] {
  switch (s.scheme) {
    case 'per_unit':
      return {
        scheme: 'per_unit',
        unitAmountDecimal: s.unitAmount.normalize().toString(),
        transformQuantity: s.transformQuantity ? { divideBy: s.transformQuantity.divideBy.toString(), round: s.transformQuantity.round } : null,
      };
    case 'tiered':
      return {
        scheme: 'tiered',
        tiersMode: s.tiersMode,
        tiers: s.tiers.map((t) => ({
          upTo: t.upTo === null ? null : t.upTo.toString(), unitAmountDecimal: t.unitAmount.normalize().toString(), flatAmountDecimal: t.flatAmount.normalize().toString(),
        })),
      };
    default:
      s satisfies never;
      throw new Error('unknown price shape');
  }
}

function specOf(d: DesiredPrice, meterId: string | null, digest: string): PriceSpec {
  return {
    product: d.productId,
    currency: d.currency,
    lookupKey: d.lookupKey,
    nickname: d.nickname,
    metadata: { billctl_version: d.version.slice(0, 500), billctl_plan: d.plan.slice(0, 500), billctl_item: d.item, billctl_digest: digest },
    recurring: d.usageType === 'metered' ? { usageType: 'metered', meter: meterId! } : { usageType: 'licensed' },
    amounts: amountsOf(d.shape),
  };
}

async function syncProduct(client: StripeClient, p: DesiredProduct, dryRun: boolean): Promise<ProductResult> {
  const have = await client.retrieveProduct(p.id);
  if (have === 'missing') {
    if (dryRun) return { id: p.id, name: p.name, action: 'would_create' };
    const made = await client.createProduct(p);
    return { id: p.id, name: p.name, action: made.created ? 'created' : 'found' };
  }
  const stale = have.name !== p.name || (have.unit_label ?? null) !== p.unitLabel || !have.active;
  if (!stale) return { id: p.id, name: p.name, action: 'found' };
  if (dryRun) return { id: p.id, name: p.name, action: 'would_update' };
  await client.updateProduct(p.id, { name: p.name, unitLabel: p.unitLabel, active: true });
  return { id: p.id, name: p.name, action: 'updated' };
}

export async function syncCatalog(
  store: Store,
  client: StripeClient,
  req: { version?: string; dryRun: boolean; meters: MeterNames; now: number; priceOf?: PriceLookup },
): Promise<CatalogSyncReport> {
  const versions = await versionsToSync(store, req.version, req.now);
  // Every rate of a version decides its meters' prices.
  for (const v of versions) await store.loadRates(v, 'all');
  const meters = await storedMeters(store, req.meters, client.livemode);
  const meterId = (item: PriceItem): string | null => (item === 'fee' ? null : meters[item as MeterKey]!.id);
  const setUp = new Set((Object.keys(meters) as MeterKey[]).filter((k) => meters[k] !== undefined));
  const plans = versions.map((v) => planStripeCatalog(v, req.priceOf, setUp));

  const products = new Map<string, DesiredProduct>();
  for (const p of plans) for (const d of p.products) products.set(d.id, d);
  const productResults: ProductResult[] = [];
  for (const p of products.values()) productResults.push(await syncProduct(client, p, req.dryRun));

  const desired = plans.flatMap((v) => v.plans.flatMap((p) => p.prices));
  const found = new Map<string, StripePrice>();
  for (const p of await client.pricesByLookupKeys(desired.map((d) => d.lookupKey))) if (p.lookup_key) found.set(p.lookup_key, p);

  const at = new Date(req.now).toISOString();
  const syncPrice = async (d: DesiredPrice): Promise<PriceResult> => {
    const mid = meterId(d.item);
    const digest = priceDigest(d, mid);
    const base = { lookupKey: d.lookupKey, item: d.item };
    let have = found.get(d.lookupKey);
    let action: PriceAction = 'found';
    if (have === undefined) {
      if (req.dryRun) return { ...base, priceId: null, action: 'would_create', previousId: null };
      const made = await client.createPrice(specOf(d, mid, digest), { transfer: false, digest });
      have = made.price;
      if (made.created) action = 'created';
    }
    let priceId = have.id;
    let previousId: string | null = null;
    if (priceDifferences(have, d, mid).length > 0) {
      if (req.dryRun) return { ...base, priceId: null, action: 'would_replace', previousId: have.id };
      priceId = (await client.createPrice(specOf(d, mid, digest), { transfer: true, digest })).price.id;
      if (have.active) await client.setPriceActive(have.id, false);
      previousId = have.id;
      action = 'replaced';
    } else if (!have.active) {
      if (req.dryRun) return { ...base, priceId, action: 'would_reactivate', previousId: null };
      await client.setPriceActive(have.id, true);
      action = 'reactivated';
    }
    if (!req.dryRun) {
      await store.stripeBilling.putPrice({
        livemode: client.livemode, lookupKey: d.lookupKey, version: d.version, plan: d.plan, item: d.item, priceId, productId: d.productId, syncedAt: at,
      });
    }
    return { ...base, priceId, action, previousId };
  };

  const planResults: PlanResult[] = [];
  for (const v of plans) {
    for (const p of v.plans) {
      const prices: PriceResult[] = [];
      for (const d of p.prices) prices.push(await syncPrice(d));
      planResults.push({
        version: v.version, plan: p.plan, name: p.name, status: p.reasons.length > 0 ? 'refused' : 'synced', reasons: p.reasons, notes: p.notes, prices,
      });
    }
  }
  return { livemode: client.livemode, dryRun: req.dryRun, versions: versions.map((v) => v.version), products: productResults, plans: planResults };
}

