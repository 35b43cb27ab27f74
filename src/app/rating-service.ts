/**
 * Rating from the store: reads a tenant-period's daily rollups, works out which days need
 * receipt-by-receipt detail (where an allowance runs out, a catalog version starts, or a key has
 * no price), reads only those days' receipts in (timestamp, id) order, and hands both to the pure
 * engine in src/domain/rating.ts. Most of a month is rated from rollups, exactly.
 */
import { createHash } from 'node:crypto';
import {
  catalogDigest, currencyChain, gpuPriceFor, tenantCurrency, tokenClassPrice, tokenPriceFor, versionAt, type CatalogVersion,
} from '../domain/catalog.js';
import { ExactSum, currencyDigits } from '../domain/money.js';
import { PriceRun } from '../domain/price-models/index.js';
import { hasTokens, QUANTITIES, TOKEN_CLASSES, totalTokens } from '../domain/quantities.js';
import { formatDayNumber, localDayNumber, periodDays, periodInterval, startOfLocalDay, type Period } from '../domain/period.js';
import { compareReceipts } from '../domain/receipt.js';
import {
  dailyCharges, dayTotals, detailDays, NoCatalogError, planSegments, poolsOf, priceModelFor, prorate, ratePeriod, REQUESTS_KEY, resolvePlanTerms, sortVersions,
  type UsageKind,
  type DayAggregate, type RatableReceipt, type RatedPeriod, type RatePeriodInput,
} from '../domain/rating.js';
import { planFor, type Tenant } from '../domain/tenant.js';
import type { MetricReceipt } from '../domain/metrics.js';
import type { RollupRow } from '../store/ingest.js';
import type { Store, StoredCatalog } from '../store/store.js';
import type { DailyCost } from '../pdf/invoice-document.js';
import type { RatingService } from './invoices.js';

function aggregateOf(r: RollupRow): DayAggregate {
  // Aggregates reach the engine only for days whose keys all have prices (unpriced days are rated
  // receipt by receipt), so the receipt counts per kind only bound what a day holds.
  const a = {
    day: r.day,
    modelKey: r.modelKey,
    gpuKey: r.gpuKey,
    gpuSeconds: r.gpuSeconds,
    receipts: r.requests,
    gpuReceipts: r.gpuSeconds > 0n ? r.requests : 0n,
    tokenReceipts: totalTokens(r) > 0n ? r.requests : 0n,
  } as DayAggregate;
  for (const c of TOKEN_CLASSES) a[c.prop] = r[c.prop];
  return a;
}

/** One receipt as a day aggregate of its own. */
function receiptAggregate(timezone: string, r: RatableReceipt): DayAggregate {
  const a = {
    day: localDayNumber(timezone, r.ts),
    modelKey: r.modelKey,
    gpuKey: r.gpuKey,
    gpuSeconds: BigInt(r.gpuSeconds),
    receipts: 1n,
    gpuReceipts: r.gpuSeconds > 0 ? 1n : 0n,
    tokenReceipts: hasTokens(r) ? 1n : 0n,
  } as DayAggregate;
  for (const c of TOKEN_CLASSES) a[c.prop] = BigInt(r[c.prop]);
  return a;
}

/** True when a rollup row has usage its version cannot price for the plan (or no version at all): a token class without a price, too. */
function unpricedRow(r: RollupRow, version: CatalogVersion | undefined, planId: string): boolean {
  if (version === undefined) return r.requests > 0n;
  if (r.gpuSeconds > 0n && (r.gpuKey === null || gpuPriceFor(version, r.gpuKey, planId) === undefined)) return true;
  if (totalTokens(r) > 0n) {
    if (r.modelKey === null || tokenPriceFor(version, r.modelKey, 'input', planId) === undefined) return true;
    for (const c of TOKEN_CLASSES) if (r[c.prop] > 0n && tokenClassPrice(version, r.modelKey, c, planId) === undefined) return true;
  }
  return false;
}

export class StoreRating implements RatingService {
  readonly versions: CatalogVersion[];
  private readonly rollupCache = new Map<string, RollupRow[]>();
  /** Each version's digest as stored (computing it would read all of its rates). */
  private readonly digests = new Map<CatalogVersion, string>();

  constructor(
    private readonly store: Store,
    catalogs: readonly StoredCatalog[],
    readonly allowUnpriced: boolean,
  ) {
    this.versions = sortVersions(catalogs.map((c) => c.catalog));
    for (const c of catalogs) this.digests.set(c.catalog, c.digest);
  }

  static async load(store: Store, allowUnpriced: boolean): Promise<StoreRating> {
    return new StoreRating(store, await store.listCatalogs(), allowUnpriced);
  }

  private readonly chains = new Map<string, CatalogVersion[]>();

  /**
   * The versions this tenant is rated with: the chain of its currency (its own, else the currency
   * of the newest version of all), billing-rules.md "Currencies". Every rating of a tenant reads these.
   */
  versionsFor(tenant: Pick<Tenant, 'currency'>): CatalogVersion[] {
    const currency = tenantCurrency(tenant, this.versions);
    if (currency === undefined) return [];
    let chain = this.chains.get(currency);
    if (chain === undefined) this.chains.set(currency, (chain = currencyChain(this.versions, currency)));
    return chain;
  }

  /**
   * Reads the rates of these keys in every version (those not read yet): rating looks up the
   * prices of the keys it meets, and a stored catalog's rates are read as they are needed.
   */
  async loadRates(keys: Iterable<{ modelKey: string | null; gpuKey: string | null }>): Promise<void> {
    const models = new Set<string>();
    const gpus = new Set<string>();
    for (const k of keys) {
      if (k.modelKey !== null) models.add(k.modelKey);
      if (k.gpuKey !== null) gpus.add(k.gpuKey);
    }
    for (const v of this.versions) await this.store.loadRates(v, { models, gpus });
  }

  /** The period's rollup rows of the tenant (read once per service), the rates of their keys read too. */
  async rollups(tenant: Tenant, period: Period): Promise<RollupRow[]> {
    const key = `${tenant.id}\u0000${tenant.timezone}\u0000${period}`;
    let rows = this.rollupCache.get(key);
    if (!rows) {
      const { first, last } = periodDays(period);
      rows = await this.store.rollups(tenant.id, first, last);
      await this.loadRates(rows);
      // A tenant-period is rated, fingerprinted and charted together, then not again: a small cache keeps memory flat.
      if (this.rollupCache.size >= 64) this.rollupCache.clear();
      this.rollupCache.set(key, rows);
    }
    return rows;
  }

  /** A version's digest: as stored, or computed for a version that is not. */
  digest(v: CatalogVersion): string {
    let d = this.digests.get(v);
    if (d === undefined) this.digests.set(v, (d = catalogDigest(v)));
    return d;
  }

  /** Forgets cached rollups (after new receipts were written). */
  forget(): void {
    this.rollupCache.clear();
  }

  async ratePeriod(tenant: Tenant, period: Period, extra: readonly RatableReceipt[] = []): Promise<RatedPeriod> {
    return ratePeriod(await this.ratingInput(tenant, period, extra));
  }

  /**
   * What the invoice charged per local day (after allowances, before the discount): its usage
   * lines' amounts split over the days their billed units fell on, adding up to them exactly.
   */
  async dailyCharges(tenant: Tenant, period: Period): Promise<DailyCost[]> {
    // No usage, nothing to split (and a period billed only for adjustments may have no plan to rate with).
    if (!(await this.hasBillableReceipts(tenant, period))) return [];
    const { rated, days } = dailyCharges(await this.ratingInput(tenant, period));
    return days.map((d) => ({ date: formatDayNumber(d.day), amount: d.amount.toFixed(rated.digits) }));
  }

  /**
   * The engine's input for a tenant-period: most days as rollups, the few that need it receipt by
   * receipt. `extra`: receipts that are not in the store (an estimate's hypothetical request,
   * sorted, billable, in the period, with ids no stored receipt has): rated as if they were,
   * receipt by receipt when their day needs detail.
   */
  private async ratingInput(tenant: Tenant, period: Period, extra: readonly RatableReceipt[] = []): Promise<RatePeriodInput> {
    const rows = (await this.rollups(tenant, period)).filter((r) => r.requests > 0n);
    await this.loadRates(extra);
    const versions = this.versionsFor(tenant);
    if (versions.length === 0 && this.versions.length > 0) {
      throw new NoCatalogError(
        `${tenant.id} ${period}: the tenant is billed in ${tenant.currency} and no catalog version is in ${tenant.currency}`,
        `import a catalog version with currency: ${tenant.currency}, or change the tenant's currency with: billctl tenant update ${tenant.id} --currency <code>`,
      );
    }
    const terms = resolvePlanTerms(tenant, period, versions);
    const aggregates = rows.map(aggregateOf);
    const extraAggregates = extra.map((r) => receiptAggregate(tenant.timezone, r));
    const totals = dayTotals([...aggregates, ...extraAggregates]);
    const versionStarts = versions.map((v) => v.effectiveFrom);
    const segments = planSegments(tenant, period);
    let detail: Set<number>;
    if (segments.length <= 1) {
      detail = detailDays({ timezone: tenant.timezone, period, days: totals, included: terms.plan.included, versionStarts });
    } else {
      // A plan change inside the period: each segment's own (prorated) allowances run out on their own days.
      detail = new Set();
      for (const g of segments) {
        const segTerms = versionAt(versions, g.start)?.plans.get(g.planId) ?? terms.plan;
        const full = poolsOf(segTerms.included);
        const pools = {
          gpuSeconds: prorate(full.gpuSeconds, g.days, g.periodDays), tokens: prorate(full.tokens, g.days, g.periodDays),
          apiCalls: prorate(full.apiCalls, g.days, g.periodDays),
        };
        const days = totals.filter((d) => d.day >= g.firstDay && d.day <= g.lastDay);
        for (const d of detailDays({ timezone: tenant.timezone, period, days, included: segTerms.included, pools, versionStarts })) detail.add(d);
      }
    }
    // Day rollups do not tell event types apart: when a version names non-request event types, the
    // days it is in effect are rated receipt by receipt, so each receipt's event type decides.
    for (const r of rows) {
      const v = versionAt(versions, startOfLocalDay(tenant.timezone, r.day));
      const w = versionAt(versions, startOfLocalDay(tenant.timezone, r.day + 1) - 1);
      if ((v?.nonRequestEventTypes?.size ?? 0) > 0 || (w?.nonRequestEventTypes?.size ?? 0) > 0) detail.add(r.day);
    }
    const planOfDay = (day: number) => segments.find((g) => day <= g.lastDay)?.planId ?? terms.planId;
    for (const r of rows) {
      if (!detail.has(r.day) && unpricedRow(r, versionAt(versions, startOfLocalDay(tenant.timezone, r.day)), planOfDay(r.day))) detail.add(r.day);
    }
    let receipts: RatableReceipt[] = [];
    for (const [from, to] of dayRanges(tenant.timezone, [...detail].sort((a, b) => a - b))) {
      for await (const r of this.store.receipts(tenant.id, from, to, { billableOnly: true })) receipts.push(r);
    }
    const extraDetail = extra.filter((_, i) => detail.has(extraAggregates[i]!.day));
    if (extraDetail.length > 0) receipts = [...receipts, ...extraDetail].sort(compareReceipts);
    return {
      tenant,
      period,
      versions,
      allowUnpriced: this.allowUnpriced,
      receipts,
      dayAggregates: [...aggregates, ...extraAggregates].filter((a) => !detail.has(a.day)),
      ...(await this.metricInput(tenant, period, versions, extra)),
    };
  }

  /**
   * The period's values of the metrics its plan charges for (none: nothing read). They are
   * computed over the period's billable receipts, read once (rollups do not keep users or event types).
   */
  private async metricInput(
    tenant: Tenant, period: Period, versions: readonly CatalogVersion[], extra: readonly RatableReceipt[] = [],
  ): Promise<{ metricReceipts?: (MetricReceipt & { ts: number })[] }> {
    // Only when a version the period may use charges for a metric (each segment's plan decides in rating).
    const { end: periodEnd } = periodInterval(tenant.timezone, period);
    const charging = versions.some((v) => v.effectiveFrom < periodEnd && [...v.plans.values()].some((p) => (p.charges?.size ?? 0) > 0));
    if (!charging) return {};
    const { start, end } = periodInterval(tenant.timezone, period);
    const all: (MetricReceipt & { ts: number })[] = [];
    for await (const r of this.store.receipts(tenant.id, start, end, { billableOnly: true })) all.push(r);
    for (const r of extra) all.push({ userId: null, projectId: null, eventType: null, quantity: 0, ...r } as MetricReceipt & { ts: number });
    return { metricReceipts: all };
  }

  /** Rates the period from these receipts alone (all of its billable receipts, in order), telling `onReceipt` of each. */
  async rateReceipts(
    tenant: Tenant, period: Period, receipts: readonly RatableReceipt[], onReceipt: NonNullable<RatePeriodInput['onReceipt']>,
  ): Promise<RatedPeriod> {
    await this.loadRates(receipts);
    const versions = this.versionsFor(tenant);
    const metrics = await this.metricInput(tenant, period, versions);
    return ratePeriod({ tenant, period, versions, allowUnpriced: this.allowUnpriced, receipts, onReceipt, ...metrics });
  }

  async fingerprint(tenant: Tenant, period: Period): Promise<string> {
    const { end } = periodInterval(tenant.timezone, period);
    const h = createHash('sha256');
    h.update(JSON.stringify([tenant.timezone, planFor(tenant.plans, period) ?? null, this.allowUnpriced]));
    // A plan change inside the period: its segments too (unsplit periods keep the fingerprints they had).
    const segments = planSegments(tenant, period);
    if (segments.length > 1) h.update(JSON.stringify(segments.map((g) => [g.planId, g.firstDay, g.lastDay])));
    for (const v of this.versionsFor(tenant)) if (v.effectiveFrom < end) h.update(`\u0000v${v.version}@${v.effectiveFrom}:${this.digest(v)}`);
    for (const r of await this.rollups(tenant, period)) {
      h.update(`\u0000${r.day}|${r.modelKey ?? ''}|${r.gpuKey ?? ''}|${r.receipts}|${r.requests}|${r.gpuSeconds}|${r.inputTokens}|${r.outputTokens}`);
      // The other quantities only when there are any: fingerprints of periods without them stay as they were.
      const more = QUANTITIES.filter((q) => q.extended);
      if (more.some((q) => r[q.prop] !== 0n)) h.update(more.map((q) => `|${r[q.prop]}`).join(''));
    }
    return h.digest('hex');
  }

  /**
   * Each day's usage at list prices (before allowances and discount), for spike alerts: exact,
   * rounded once per day to the currency's minor unit. (The invoice charts `dailyCharges`.) Each
   * (kind, key, version) is priced by price-models as one running line over the period's days:
   * a day costs its units' share after the earlier days' (see `PriceRun`); per unit, units × price.
   */
  async dailyCosts(tenant: Tenant, period: Period): Promise<DailyCost[]> {
    const byDay = new Map<number, ExactSum>();
    const runs = new Map<string, PriceRun>();
    let currency: string | undefined;
    // At the prices of the tenant's plan for the period (its rates, else list prices).
    const planId = planFor(tenant.plans, period);
    const rows = [...(await this.rollups(tenant, period))].sort((a, b) => a.day - b.day);
    for (const r of rows) {
      if (r.requests === 0n) continue;
      const v = versionAt(this.versionsFor(tenant), startOfLocalDay(tenant.timezone, r.day));
      if (v === undefined) continue;
      currency ??= v.currency;
      let cost = byDay.get(r.day);
      if (cost === undefined) byDay.set(r.day, (cost = new ExactSum()));
      const charge = (kind: UsageKind, key: string | null, units: bigint) => {
        if (key === null || units <= 0n) return;
        const id = JSON.stringify([v.version, kind, key]);
        let run = runs.get(id);
        if (run === undefined) {
          const model = priceModelFor(v, kind, key, planId);
          if (model === undefined) return;
          runs.set(id, (run = new PriceRun(model)));
        }
        run.add(units, cost);
      };
      charge('gpu', r.gpuKey, r.gpuSeconds);
      for (const c of TOKEN_CLASSES) charge(c.name, r.modelKey, r[c.prop]);
      charge('requests', REQUESTS_KEY, r.requests);
    }
    const digits = currencyDigits(currency ?? 'USD');
    return [...byDay.entries()].sort(([a], [b]) => a - b).map(([day, v]) => ({ date: formatDayNumber(day), amount: v.round(digits).toFixed(digits) }));
  }

  async periodsWithUsage(tenant: Tenant, before: Period): Promise<Period[]> {
    const { first } = periodDays(before);
    const rows = await this.store.rollups(tenant.id, -1_000_000, first - 1);
    return [...new Set(rows.filter((r) => r.requests > 0n).map((r) => formatDayNumber(r.day).slice(0, 7)))].sort();
  }

  async hasBillableReceipts(tenant: Tenant, period: Period): Promise<boolean> {
    return (await this.rollups(tenant, period)).some((r) => r.requests > 0n);
  }
}

/** Instant ranges [from, to) covering runs of consecutive local days. */
function dayRanges(tz: string, days: number[]): [number, number][] {
  const out: [number, number][] = [];
  let i = 0;
  while (i < days.length) {
    let j = i;
    while (j + 1 < days.length && days[j + 1] === days[j]! + 1) j++;
    out.push([startOfLocalDay(tz, days[i]!), startOfLocalDay(tz, days[j]! + 1)]);
    i = j + 1;
  }
  return out;
}
