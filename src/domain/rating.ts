/**
 * Rating one tenant-period (billing-rules.md, "Rating one tenant-period"): billable receipts, or
 * day aggregates of them, + catalog versions + the tenant's plan -> invoice lines and totals.
 *
 * Pure: no I/O, no clock. Quantities are bigint (a month's sums can pass 2^53), money is Decimal,
 * and every line is rounded exactly once, half up, to the currency's minor unit.
 *
 * Speed: a caller with millions of receipts rates most days from day aggregates (rollups) and
 * only the few days where an allowance runs out or a catalog version starts receipt by receipt;
 * `detailDays` says which days those are, and `ratePeriod` checks the split is sound.
 */
import { BillctlError, ExitCode, UsageError } from '../errors.js';
import {
  gpuPriceFor, rateNameFor, requestPriceFor, tokenClassPrice, tokenPriceFor, versionIndexAt, type Allowances, type CatalogVersion,
  type PlanTerms,
} from './catalog.js';
import { Decimal, currencyDigits } from './money.js';
import { type Period, formatDayNumber, localDayNumber, periodDays, periodInterval, startOfLocalDay } from './period.js';
import {
  describePrice, GPU_PRICE_UNIT, isZeroPrice, plainPriceWords, listedPrice, modelOf, type PriceModel, priceLine, REQUEST_PRICE_UNIT, type TieredModelName,
  metricPriceUnit, tokenPriceUnit,
} from './price-models/index.js';
import { metricValues, type MetricReceipt } from './metrics.js';
import { TOKEN_CLASSES, type TokenClass, type TokenField } from './quantities.js';
import { type Receipt, compareIds, compareReceipts } from './receipt.js';
import { type Tenant, planFor, planOn } from './tenant.js';

// ---------------------------------------------------------------------------------------------
// Types

/** Usage line kinds: GPU, a line per token class of the field table (quantities.ts), requests. */
export type UsageKind = 'gpu' | TokenClass | 'requests';
export type RatedLineKind = 'fee' | UsageKind | 'metric' | 'discount' | 'commitment';
/** A line's counting unit: GPU seconds, tokens, requests, or a metric's units. */
export type Unit = 'second' | 'token' | 'request' | 'unit';

/** Invoice order of line kinds: fee first, usage by kind (token classes in table order), discount last. */
export const LINE_KIND_ORDER: readonly RatedLineKind[] = [
  'fee', 'gpu', ...TOKEN_CLASSES.map((c) => c.name), 'requests', 'metric', 'discount', 'commitment',
];

/** The token class row of a line kind, or undefined for GPU, requests, fee and discount. */
export function tokenClassOf(kind: string): TokenField | undefined {
  return TOKEN_CLASSES.find((c) => c.name === kind);
}

/** The receipt properties rating reads: GPU seconds and the token classes. */
export type RatedProp = 'gpuSeconds' | TokenField['prop'];

/** The key of a requests line (one per catalog version); fee and discount lines are keyed by plan id. */
export const REQUESTS_KEY = 'requests';

export const SECONDS_PER_HOUR = 3600n;

/** One invoice line of a rated period. */
export interface RatedLine {
  kind: RatedLineKind;
  /** GPU key, model key, `requests`, or the plan id for fee and discount lines. */
  key: string;
  /** Label of the catalog version the line's prices (or plan terms) come from; null for usage before every version. */
  catalogVersion: string | null;
  description: string;
  /** All units; 0 on fee and discount lines. */
  used: bigint;
  /** Units covered by allowance. */
  included: bigint;
  /** used − included. */
  billed: bigint;
  /** null on fee and discount lines. */
  unit: Unit | null;
  /** Price of `unitSize` units (GPU: per hour, unitSize 3600); null on fee, discount and unpriced lines. */
  unitPrice: Decimal | null;
  unitSize: bigint | null;
  /** Set on a usage line priced by a graduated, volume or package model (its unit price and size are then null). */
  priceModel?: TieredModelName;
  /** Under such a model, how the billed quantity was priced, in words a customer can check ("first 2,000,000 at 0.006 / 1,000; ..."). */
  priceWords?: string;
  /** Rounded to the currency's minor unit; negative only on the discount line. */
  amount: Decimal;
  /** Usage with no rate, billed at 0 under `allowUnpriced`. */
  unpriced: boolean;
  /** In a period split by a plan change: the segment's plan and its first and last local dates (`YYYY-MM-DD`). */
  plan?: string;
  from?: string;
  to?: string;
}

/**
 * How an unpriced key is named: by the namespace of its key; a token class when the model has a
 * rate but not for that class (cached input, cache write: billing-rules.md, "Token classes").
 */
export type UnpricedKind = 'gpu' | 'model' | TokenClass | 'requests';

export interface UnpricedUsage {
  kind: UnpricedKind;
  key: string;
  /** null: the receipts precede every catalog version. */
  catalogVersion: string | null;
  /** Billable receipts with a quantity > 0 of this kind and key. */
  receipts: bigint;
}

export interface PeriodTotals {
  /** The fee line's amount (0 when there is none). */
  fee: Decimal;
  /** U: the sum of the usage lines' amounts. */
  usage: Decimal;
  /** D: the discount, as a positive amount (the line carries −D). */
  discount: Decimal;
  /** C: the minimum commitment true-up (0 when there is none). */
  commitment: Decimal;
  /** S = fee + U − D + C. */
  subtotal: Decimal;
  /** T = S × tax rate, rounded half up. */
  tax: Decimal;
  /** S + T. */
  total: Decimal;
}

export interface AllowanceUse {
  /** What the plan grants for the period. */
  granted: bigint;
  /** What the period's receipts took of it. */
  consumed: bigint;
}

export interface RatedPeriod {
  period: Period;
  currency: string;
  /** Minor-unit digits of the currency; every amount has exactly this scale. */
  digits: number;
  /** The plan and the catalog version its fee, allowances and discount came from. */
  plan: { id: string; name: string; catalogVersion: string };
  taxRate: Decimal;
  /** Every line in invoice order: fee, usage lines, discount (see `compareRatedLines`). */
  lines: RatedLine[];
  fee: RatedLine | null;
  usageLines: RatedLine[];
  discount: RatedLine | null;
  /** The minimum commitment true-up (step 10), when the period falls short of it. */
  commitment: RatedLine | null;
  totals: PeriodTotals;
  /** Empty unless `allowUnpriced` (otherwise rating throws UnpricedUsageError). */
  unpriced: UnpricedUsage[];
  allowances: { gpuSeconds: AllowanceUse; tokens: AllowanceUse; apiCalls: AllowanceUse };
  /** Billable receipts rated (receipts + aggregate receipt counts). */
  receipts: bigint;
  /** Present when a plan change splits the period: its segments in order (billing-rules.md, "A plan change inside a period"). */
  segments?: { plan: string; from: string; to: string; days: number }[];
}

/** What rating reads of a receipt. */
export type RatableReceipt = Pick<Receipt, 'id' | 'ts' | 'billable' | 'modelKey' | 'gpuKey' | RatedProp> & {
  /** The event type key: a type the receipt's version lists in `non_request_event_types` makes no API call. */
  eventType?: string | null;
};

/**
 * The sums of one tenant-local day's billable receipts with one (model key, gpu key), from rollups.
 * Every receipt of an aggregated day must be in that day's aggregates, and none of them passed as a receipt.
 */
export interface DayAggregate extends Record<RatedProp, bigint> {
  /** Tenant-local day: whole days since 1970-01-01 local (period.ts `localDayNumber`). */
  day: number;
  modelKey: string | null;
  gpuKey: string | null;
  /** Billable receipts (API calls). */
  receipts: bigint;
  /** Of which with gpu_seconds > 0 (counts unpriced GPU usage exactly). */
  gpuReceipts: bigint;
  /** Of which with any token class > 0 (counts unpriced model usage exactly). */
  tokenReceipts: bigint;
}

export type RatingTenant = Pick<Tenant, 'id' | 'timezone' | 'taxRate' | 'currency' | 'plans'>;

export interface RatePeriodInput {
  tenant: RatingTenant;
  period: Period;
  /** Catalog versions, any order (sorted here by effectiveFrom). */
  versions: readonly CatalogVersion[];
  /** Bill usage with no rate at 0.00 marked UNPRICED instead of refusing. */
  allowUnpriced: boolean;
  /**
   * Receipts of the period (all of it, or the detail days), sorted by `compareReceipts`
   * (timestamp, then id in code point order). Non-billable ones are skipped. May be a stream.
   */
  receipts?: Iterable<RatableReceipt>;
  /** Aggregates of the days not given receipt by receipt, any order. */
  dayAggregates?: Iterable<DayAggregate>;
  /**
   * Told, for each receipt rated one by one, the units it was billed for after allowances, so a
   * report can attribute billed usage to days, users or providers in the same time order.
   */
  onReceipt?: (receipt: RatableReceipt, billed: ReceiptBilled) => void;
  /**
   * Told, for each day given as aggregates, which pools the day was billed from (a pool's
   * allowance covered all of the day or none of it): the day's billed units per aggregate.
   */
  onDay?: (day: number, aggregates: readonly DayAggregate[], billed: DayBilled) => void;
  /**
   * The period's billable receipts as metrics read them (event type, user, project, model,
   * quantities, timestamp), for the charges of the plan's terms (step 8): given when the plan
   * charges for a metric; each segment's metrics are computed over its own receipts.
   */
  metricReceipts?: readonly (MetricReceipt & { ts: number })[];
}

/** Whether an aggregated day's units of each pool were billed (true) or covered by allowance. */
export interface DayBilled {
  version: CatalogVersion | undefined;
  /** The plan whose prices (plan rates, else list prices) price the day. */
  planId: string;
  gpu: boolean;
  tokens: boolean;
  calls: boolean;
}

/** What one receipt was billed for after allowances (GPU seconds, each token class), and the catalog version that prices it. */
export interface ReceiptBilled extends Record<RatedProp, bigint> {
  version: CatalogVersion | undefined;
  /** The plan whose prices (plan rates, else list prices) price the receipt. */
  planId: string;
  /** 1 when its API call was not covered by the allowance. */
  calls: bigint;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Rating cannot go on because of the catalog or the tenant's terms (exit 2: fix the data). */
export class RatingError extends UsageError {}

/** Usage with no rate (billing-rules.md step 6); names every (kind, key, version, receipt count). */
export class UnpricedUsageError extends RatingError {
  constructor(
    readonly tenantId: string,
    readonly period: Period,
    readonly unpriced: readonly UnpricedUsage[],
  ) {
    super(
      `${tenantId} ${period}: usage without a price, rating refused:\n` +
        unpriced.map((u) => `  - ${describeUnpriced(u)}`).join('\n'),
      'import a catalog version with rates for these keys, or rate with --allow-unpriced (billed at 0.00, marked UNPRICED)',
    );
  }
}

/** The catalog versions a period uses do not share one currency (or the tenant's differs). */
export class CurrencyMismatchError extends RatingError {
  constructor(
    readonly tenantId: string,
    readonly period: Period,
    readonly currencies: readonly { catalogVersion: string | null; currency: string }[],
  ) {
    super(
      `${tenantId} ${period}: the period mixes currencies: ` +
        currencies.map((c) => `${c.catalogVersion === null ? 'tenant' : `catalog ${c.catalogVersion}`} ${c.currency}`).join(', '),
      'every catalog version used in one period must have the same currency, and it must be the tenant\'s',
    );
  }
}

/** No catalog version is in effect at any instant of the period. */
export class NoCatalogError extends RatingError {}

/** The tenant has no plan for the period, or the catalog version lacks that plan. */
export class PlanTermsError extends RatingError {}

/** The caller broke the input contract (order, period, aggregates): a bug, exit 1. */
export class RatingInputError extends BillctlError {
  constructor(message: string) {
    super(`rating input: ${message}`, ExitCode.failed, 'this is a bug in billctl; please report it');
  }
}

export function describeUnpriced(u: UnpricedUsage): string {
  const cls = tokenClassOf(u.kind);
  const what = u.kind === 'requests'
    ? 'API requests'
    : cls ? `${cls.line.words} of model "${u.key}"` : `${u.kind === 'gpu' ? 'GPU' : 'model'} "${u.key}"`;
  const where = u.catalogVersion === null
    ? 'before the first catalog version'
    : u.kind === 'requests'
      ? `in catalog ${u.catalogVersion}`
      : cls ? `have no ${cls.price.name} price in catalog ${u.catalogVersion}` : `has no rate in catalog ${u.catalogVersion}`;
  return `${what} ${where}: ${u.receipts} receipt${u.receipts === 1n ? '' : 's'}`;
}

// ---------------------------------------------------------------------------------------------
// Plan terms

export interface ResolvedPlanTerms {
  planId: string;
  plan: PlanTerms;
  /** The version the terms come from. */
  version: CatalogVersion;
}

/** Versions sorted by effectiveFrom (stable), as `versionAt` needs. */
export function sortVersions(versions: readonly CatalogVersion[]): CatalogVersion[] {
  return [...versions].sort((a, b) => a.effectiveFrom - b.effectiveFrom);
}

/**
 * The tenant's plan for the period and its terms from the catalog version in effect at the
 * period's start; when none is in effect then, the first version that takes effect during the
 * period (the period's first priced instant). `versions` must be sorted by effectiveFrom.
 */
export function resolvePlanTerms(tenant: RatingTenant, period: Period, versions: readonly CatalogVersion[]): ResolvedPlanTerms {
  const { start, end } = periodInterval(tenant.timezone, period);
  const atStart = versionIndexAt(versions, start);
  const version = atStart >= 0 ? versions[atStart] : versions.find((v) => v.effectiveFrom >= start && v.effectiveFrom < end);
  if (version === undefined) {
    throw new NoCatalogError(
      `${tenant.id} ${period}: no catalog version is in effect during the period`,
      'import a catalog version whose effective_from is on or before the end of the period',
    );
  }
  const planId = planFor(tenant.plans, period);
  if (planId === undefined) {
    throw new PlanTermsError(`${tenant.id} ${period}: the tenant has no plan for the period`, `set one with: billctl tenant set-plan ${tenant.id} <plan> --from ${period}`);
  }
  const plan = version.plans.get(planId);
  if (plan === undefined) {
    throw new PlanTermsError(
      `${tenant.id} ${period}: plan "${planId}" is not in catalog ${version.version}, whose terms apply to the period`,
      `plans of ${version.version}: ${[...version.plans.keys()].join(', ')}`,
    );
  }
  return { planId, plan, version };
}

// ---------------------------------------------------------------------------------------------
// Which days need receipt-by-receipt detail

/** One tenant-local day's totals of billable receipts (all keys together). */
export interface DayTotals {
  day: number;
  gpuSeconds: bigint;
  /** Tokens of every class. */
  tokens: bigint;
  /** Billable receipts (API calls). */
  receipts: bigint;
}

export interface DetailDaysInput {
  timezone: string;
  period: Period;
  /** Totals of the period's days with usage, any order; a day may appear more than once (summed). */
  days: Iterable<DayTotals>;
  /** The plan's allowances for the period (`resolvePlanTerms(...).plan.included`). */
  included: Allowances;
  /** Overrides `included` with pools in whole units (GPU in seconds): a segment's prorated allowances. */
  pools?: Pools;
  /** Instants at which catalog versions take effect (all of them; those outside the period are ignored). */
  versionStarts: Iterable<number>;
}

/** Sums aggregates into per-day totals, for `detailDays`. */
export function dayTotals(aggregates: Iterable<DayAggregate>): DayTotals[] {
  const byDay = new Map<number, DayTotals>();
  for (const a of aggregates) {
    const t = byDay.get(a.day);
    if (t === undefined) {
      byDay.set(a.day, { day: a.day, gpuSeconds: a.gpuSeconds, tokens: classTokens(a), receipts: a.receipts });
    } else {
      t.gpuSeconds += a.gpuSeconds;
      t.tokens += classTokens(a);
      t.receipts += a.receipts;
    }
  }
  return [...byDay.values()].sort((a, b) => a.day - b.day);
}

/**
 * The days (among those with usage) that must be rated receipt by receipt. A day can be applied
 * as an aggregate exactly when, for each pool (GPU seconds, tokens, API calls), the allowance left
 * before the day is 0 or covers the whole day, and no catalog version starts inside the day.
 * What is left before a day follows from the earlier days' totals, since every billable receipt
 * consumes allowance. A version that starts exactly at the local midnight that begins a day splits
 * nothing (the day is wholly in the new version); one that starts at any other instant (a UTC
 * midnight is not a local one outside UTC) makes its local day a detail day.
 */
export function detailDays(input: DetailDaysInput): Set<number> {
  const { timezone, period } = input;
  const { first, last } = periodDays(period);
  const { start, end } = periodInterval(timezone, period);
  const byDay = new Map<number, DayTotals>();
  for (const d of input.days) {
    if (d.day < first || d.day > last) throw new RatingInputError(`day ${d.day} is outside period ${period}`);
    const t = byDay.get(d.day);
    if (t === undefined) byDay.set(d.day, { ...d });
    else {
      t.gpuSeconds += d.gpuSeconds;
      t.tokens += d.tokens;
      t.receipts += d.receipts;
    }
  }
  const splitDays = new Set<number>();
  for (const t of input.versionStarts) {
    if (t <= start || t >= end) continue;
    const day = localDayNumber(timezone, t);
    if (startOfLocalDay(timezone, day) !== t) splitDays.add(day);
  }
  const out = new Set<number>();
  const pools = input.pools ?? poolsOf(input.included);
  let gpuLeft = pools.gpuSeconds;
  let tokensLeft = pools.tokens;
  let callsLeft = pools.apiCalls;
  const partly = (left: bigint, used: bigint) => left > 0n && left < used;
  const after = (left: bigint, used: bigint) => (left > used ? left - used : 0n);
  for (const d of [...byDay.values()].sort((a, b) => a.day - b.day)) {
    if (splitDays.has(d.day) || partly(gpuLeft, d.gpuSeconds) || partly(tokensLeft, d.tokens) || partly(callsLeft, d.receipts)) {
      out.add(d.day);
    }
    gpuLeft = after(gpuLeft, d.gpuSeconds);
    tokensLeft = after(tokensLeft, d.tokens);
    callsLeft = after(callsLeft, d.receipts);
  }
  return out;
}

/** Allowance pools in whole units: GPU seconds, tokens, API calls. */
export interface Pools {
  gpuSeconds: bigint;
  tokens: bigint;
  apiCalls: bigint;
}

export function poolsOf(a: Allowances): Pools {
  return { gpuSeconds: a.gpuHours * SECONDS_PER_HOUR, tokens: a.tokens, apiCalls: a.apiCalls };
}

/** `x × d / n` rounded half up (x ≥ 0): a prorated allowance in whole units. */
export function prorate(x: bigint, d: number, n: number): bigint {
  const num = x * BigInt(d) * 2n + BigInt(n);
  return num / (2n * BigInt(n));
}

/** Tokens of every class of an aggregate. */
function classTokens(a: Readonly<Record<RatedProp, bigint>>): bigint {
  let t = 0n;
  for (const c of TOKEN_CLASSES) t += a[c.prop];
  return t;
}

// ---------------------------------------------------------------------------------------------
// Rating

interface LineAcc {
  used: bigint;
  included: bigint;
}

/** Lines of one catalog version (slot 0: usage before every version). */
interface Slot {
  readonly index: number;
  readonly version: CatalogVersion | undefined;
  readonly gpu: Map<string, LineAcc>;
  /** Per token class (TOKEN_CLASSES order): lines by model key. */
  readonly tokens: Map<string, LineAcc>[];
  /**
   * Present when the version has a request rate > 0 (billing-rules.md step 3). Receipts older than
   * every version have no version, so no request line: they are still named as unpriced API requests.
   */
  requests: LineAcc | undefined;
}

interface AggregateDay {
  day: number;
  start: number;
  end: number;
  slot: number;
  aggregates: DayAggregate[];
  gpuSeconds: bigint;
  tokens: bigint;
  receipts: bigint;
}

function addTo(map: Map<string, LineAcc>, key: string, used: bigint, included: bigint): void {
  const acc = map.get(key);
  if (acc === undefined) map.set(key, { used, included });
  else {
    acc.used += used;
    acc.included += included;
  }
}

class PeriodRater {
  private readonly slots: (Slot | undefined)[];
  private readonly unpriced = new Map<string, UnpricedUsage>();
  gpuLeft: bigint;
  tokensLeft: bigint;
  callsLeft: bigint;
  receipts = 0n;
  // The version range the last receipt fell in, so sorted receipts rarely search.
  private cachedSlot = -1;
  private cachedFrom = 0;
  private cachedTo = 0;

  constructor(
    readonly versions: readonly CatalogVersion[],
    readonly included: Pools,
    /** The plan whose rates price the period (else list prices). */
    readonly planId: string,
  ) {
    this.slots = new Array<Slot | undefined>(versions.length + 1);
    this.gpuLeft = included.gpuSeconds;
    this.tokensLeft = included.tokens;
    this.callsLeft = included.apiCalls;
  }

  slotIndexAt(t: number): number {
    if (this.cachedSlot >= 0 && t >= this.cachedFrom && t < this.cachedTo) return this.cachedSlot;
    const i = versionIndexAt(this.versions, t);
    this.cachedSlot = i + 1;
    this.cachedFrom = i < 0 ? Number.NEGATIVE_INFINITY : this.versions[i]!.effectiveFrom;
    this.cachedTo = i + 1 < this.versions.length ? this.versions[i + 1]!.effectiveFrom : Number.POSITIVE_INFINITY;
    return this.cachedSlot;
  }

  slot(index: number): Slot {
    let s = this.slots[index];
    if (s === undefined) {
      const version = index === 0 ? undefined : this.versions[index - 1];
      s = {
        index, version, gpu: new Map(), tokens: TOKEN_CLASSES.map(() => new Map<string, LineAcc>()),
        requests: version !== undefined && !isZeroPrice(requestPriceFor(version, this.planId)) ? { used: 0n, included: 0n } : undefined,
      };
      this.slots[index] = s;
    }
    return s;
  }

  usedSlots(): Slot[] {
    return this.slots.filter((s): s is Slot => s !== undefined);
  }

  private noteUnpriced(kind: UnpricedKind, key: string, slot: Slot, receipts: bigint): void {
    if (receipts === 0n) return;
    const id = `${kind}\u0000${key}\u0000${slot.index}`;
    const u = this.unpriced.get(id);
    if (u === undefined) {
      this.unpriced.set(id, { kind, key, catalogVersion: slot.version?.version ?? null, receipts });
    } else u.receipts += receipts;
  }

  unpricedList(): UnpricedUsage[] {
    const order = (k: UnpricedKind) => (k === 'gpu' ? 0 : k === 'model' ? 1 : k === 'requests' ? 3 + TOKEN_CLASSES.length : 2 + TOKEN_CLASSES.findIndex((c) => c.name === k));
    const versionRank = (label: string | null) =>
      label === null ? -1 : this.versions.findIndex((v) => v.version === label);
    return [...this.unpriced.values()].sort(
      (a, b) => order(a.kind) - order(b.kind) || compareIds(a.key, b.key) || versionRank(a.catalogVersion) - versionRank(b.catalogVersion),
    );
  }

  applyReceipt(r: RatableReceipt, onReceipt?: RatePeriodInput['onReceipt']): void {
    const slot = this.slot(this.slotIndexAt(r.ts));
    const version = slot.version;
    this.receipts += 1n;
    const billed = { version, planId: this.planId, calls: 0n } as ReceiptBilled;
    billed.gpuSeconds = 0n;
    for (const c of TOKEN_CLASSES) billed[c.prop] = 0n;
    if (r.gpuSeconds > 0) {
      const key = r.gpuKey;
      if (key === null) throw new RatingInputError(`receipt ${r.id} has GPU seconds but no GPU type`);
      const used = BigInt(r.gpuSeconds);
      const covered = used < this.gpuLeft ? used : this.gpuLeft;
      this.gpuLeft -= covered;
      billed.gpuSeconds = used - covered;
      addTo(slot.gpu, key, used, covered);
      if (version === undefined || gpuPriceFor(version, key, this.planId) === undefined) this.noteUnpriced('gpu', key, slot, 1n);
    }
    let tokens = false;
    for (const c of TOKEN_CLASSES) if (r[c.prop] > 0) tokens = true;
    if (tokens) {
      const key = r.modelKey;
      if (key === null) throw new RatingInputError(`receipt ${r.id} has tokens but no model`);
      // One pool for all models and classes: the receipt's classes in table order (input, cached, cache write, output, reasoning).
      for (let i = 0; i < TOKEN_CLASSES.length; i++) {
        const c = TOKEN_CLASSES[i]!;
        if (r[c.prop] <= 0) continue;
        const used = BigInt(r[c.prop]);
        const covered = used < this.tokensLeft ? used : this.tokensLeft;
        this.tokensLeft -= covered;
        billed[c.prop] = used - covered;
        addTo(slot.tokens[i]!, key, used, covered);
      }
      this.noteUnpricedTokens(key, slot, r, 1n);
    }
    // Every billable receipt is one API call, whether or not its version prices requests, except one
    // whose event type its version lists in non_request_event_types (a storage reading is no call).
    if (!isNonRequest(r, version)) {
      const call = this.callsLeft > 0n ? 1n : 0n;
      this.callsLeft -= call;
      billed.calls = 1n - call;
      if (slot.requests !== undefined) {
        slot.requests.used += 1n;
        slot.requests.included += call;
      }
      if (version === undefined) this.noteUnpriced('requests', REQUESTS_KEY, slot, 1n);
    }
    onReceipt?.(r, billed);
  }

  /**
   * Names unpriced token usage of a model: no rate at all (kind `model`), or no price for a class
   * that has no default (kind: the class), counting `receipts` for each.
   */
  private noteUnpricedTokens(key: string, slot: Slot, q: Readonly<Record<RatedProp, number | bigint>>, receipts: bigint): void {
    const version = slot.version;
    if (version === undefined || tokenPriceFor(version, key, 'input', this.planId) === undefined) {
      this.noteUnpriced('model', key, slot, receipts);
      return;
    }
    for (const c of TOKEN_CLASSES) {
      if (q[c.prop] > 0 && tokenClassPrice(version, key, c, this.planId) === undefined) this.noteUnpriced(c.name, key, slot, receipts);
    }
  }

  /**
   * Applies a whole day at once. Sound only when each pool's remaining allowance is 0 or covers
   * the whole day (then every receipt of the day is wholly covered, or wholly billed, in any order).
   */
  applyDay(d: AggregateDay, onDay?: RatePeriodInput['onDay']): void {
    const whole = (pool: string, left: bigint, used: bigint): boolean => {
      if (left > 0n && left < used) {
        throw new RatingInputError(
          `day ${d.day} was given as an aggregate, but the ${pool} allowance runs out during it (${left} left, ${used} used): rate it receipt by receipt (see detailDays)`,
        );
      }
      return left > 0n;
    };
    const gpuCovered = whole('GPU', this.gpuLeft, d.gpuSeconds);
    const tokensCovered = whole('token', this.tokensLeft, d.tokens);
    const callsCovered = whole('API call', this.callsLeft, d.receipts);
    if (gpuCovered) this.gpuLeft -= d.gpuSeconds;
    if (tokensCovered) this.tokensLeft -= d.tokens;
    if (callsCovered) this.callsLeft -= d.receipts;
    const slot = this.slot(d.slot);
    const version = slot.version;
    for (const a of d.aggregates) {
      this.receipts += a.receipts;
      if (a.gpuSeconds > 0n) {
        if (a.gpuKey === null) throw new RatingInputError(`day ${d.day}: an aggregate has GPU seconds but no GPU key`);
        addTo(slot.gpu, a.gpuKey, a.gpuSeconds, gpuCovered ? a.gpuSeconds : 0n);
        if (version === undefined || gpuPriceFor(version, a.gpuKey, this.planId) === undefined) this.noteUnpriced('gpu', a.gpuKey, slot, a.gpuReceipts);
      }
      if (classTokens(a) > 0n) {
        if (a.modelKey === null) throw new RatingInputError(`day ${d.day}: an aggregate has tokens but no model key`);
        for (let i = 0; i < TOKEN_CLASSES.length; i++) {
          const used = a[TOKEN_CLASSES[i]!.prop];
          if (used > 0n) addTo(slot.tokens[i]!, a.modelKey, used, tokensCovered ? used : 0n);
        }
        this.noteUnpricedTokens(a.modelKey, slot, a, a.tokenReceipts);
      }
      if (slot.requests !== undefined) {
        slot.requests.used += a.receipts;
        slot.requests.included += callsCovered ? a.receipts : 0n;
      }
      if (version === undefined) this.noteUnpriced('requests', REQUESTS_KEY, slot, a.receipts);
    }
    onDay?.(d.day, d.aggregates, { version, planId: this.planId, gpu: !gpuCovered, tokens: !tokensCovered, calls: !callsCovered });
  }
}

/**
 * The price model of a usage line in a version for the plan's tenants (the plan's rates, else list
 * prices: billing-rules.md, "Plan rates"), or undefined when neither prices it. Without a plan: list
 * prices. A token class without its own price takes its default (reasoning: the output price);
 * cached input and cache write have none.
 */
/** Whether a receipt is no API call: its event type is one its version lists in `non_request_event_types`. */
export function isNonRequest(r: { eventType?: string | null }, version: CatalogVersion | undefined): boolean {
  return r.eventType != null && version?.nonRequestEventTypes?.has(r.eventType) === true;
}

export function priceModelFor(version: CatalogVersion | undefined, kind: UsageKind, key: string, planId?: string): PriceModel | undefined {
  if (version === undefined) return undefined;
  switch (kind) {
    case 'gpu': {
      const price = gpuPriceFor(version, key, planId);
      return price && modelOf(price, GPU_PRICE_UNIT);
    }
    case 'requests':
      return modelOf(requestPriceFor(version, planId), REQUEST_PRICE_UNIT);
    default: {
      const cls = tokenClassOf(kind);
      if (cls === undefined) throw new Error(`unknown usage kind ${String(kind)}`);
      const price = tokenClassPrice(version, key, cls, planId);
      return price && modelOf(price, tokenPriceUnit(version.tokenUnit));
    }
  }
}

export function unitOf(kind: UsageKind): Unit {
  switch (kind) {
    case 'gpu':
      return 'second';
    case 'requests':
      return 'request';
    default:
      if (tokenClassOf(kind) === undefined) throw new Error(`unknown usage kind ${String(kind)}`);
      return 'token';
  }
}

function usageDescription(kind: UsageKind, key: string, version: CatalogVersion | undefined, planId: string): string {
  const name = (k: 'gpu' | 'model') => (version && rateNameFor(version, k, key, planId)) ?? key;
  switch (kind) {
    case 'gpu':
      return `${name('gpu')} GPU hours`;
    case 'requests':
      return 'API requests';
    default: {
      const cls = tokenClassOf(kind);
      if (cls === undefined) throw new Error(`unknown usage kind ${String(kind)}`);
      return `${name('model')} ${cls.line.words}`;
    }
  }
}

export const UNPRICED_MARK = 'UNPRICED';

/** The counting units a line's prices are for: a GPU hour of seconds, `token_unit` tokens, one request. */
function lineUnitSize(kind: UsageKind, version: CatalogVersion | undefined): bigint {
  return kind === 'gpu' ? SECONDS_PER_HOUR : kind === 'requests' ? 1n : version?.tokenUnit ?? 1000n;
}

function usageLine(kind: UsageKind, key: string, acc: LineAcc, slot: Slot, digits: number, planId: string): RatedLine {
  const model = priceModelFor(slot.version, kind, key, planId);
  const billed = acc.used - acc.included;
  const base = {
    kind, key, catalogVersion: slot.version?.version ?? null,
    used: acc.used, included: acc.included, billed, unit: unitOf(kind),
  };
  if (model === undefined) {
    return {
      ...base,
      description: `${usageDescription(kind, key, slot.version, planId)} (${UNPRICED_MARK})`,
      unitPrice: null,
      unitSize: kind === 'gpu' ? SECONDS_PER_HOUR : kind === 'requests' ? 1n : slot.version?.tokenUnit ?? null,
      amount: Decimal.of(0n, digits),
      unpriced: true,
    };
  }
  const { unitPrice, unitSize, priceModel } = listedPrice(model);
  return {
    ...base,
    description: usageDescription(kind, key, slot.version, planId),
    unitPrice, unitSize,
    ...(priceModel !== null ? { priceModel, priceWords: describePrice(model, billed, plainPriceWords(unitOf(kind), lineUnitSize(kind, slot.version), digits)) } : {}),
    amount: priceLine(model, billed, digits),
    unpriced: false,
  };
}

/**
 * Step 8: a line of kind `metric` per charge of the plan whose metric has a value: used = the
 * value, included = what the charge covers, billed = the rest, priced by the charge's price (any
 * model, for the metric's unit size). Terms (metrics, charges) from the version of the period's start.
 */
function metricLines(
  terms: ResolvedPlanTerms, receipts: readonly (MetricReceipt & { ts: number })[] | undefined, span: { start: number; end: number },
  segment: PlanSegment | undefined, digits: number,
): RatedLine[] {
  const out: RatedLine[] = [];
  const charges = terms.plan.charges;
  if (charges === undefined) return out;
  const defs = [...charges.keys()].map((k) => terms.version.metrics?.get(k)).filter((d) => d !== undefined);
  // In a segment: its own receipts, and each charge's included units prorated (d / N, half up).
  const values = metricValues(defs, (receipts ?? []).filter((r) => r.ts >= span.start && r.ts < span.end));
  for (const [key, charge] of [...charges].sort(([a], [b]) => compareIds(a, b))) {
    const def = terms.version.metrics?.get(key);
    const used = values.get(key) ?? 0n;
    if (def === undefined || used === 0n) continue;
    const covers = segment ? prorate(charge.included, segment.days, segment.periodDays) : charge.included;
    const included = used < covers ? used : covers;
    const billed = used - included;
    const model = modelOf(charge.price, metricPriceUnit(def.unitSize));
    const { unitPrice, unitSize, priceModel } = listedPrice(model);
    out.push({
      kind: 'metric', key, catalogVersion: terms.version.version, description: def.name,
      used, included, billed, unit: 'unit', unitPrice, unitSize,
      ...(priceModel !== null ? { priceModel, priceWords: describePrice(model, billed, plainPriceWords('unit', def.unitSize, digits)) } : {}),
      amount: priceLine(model, billed, digits),
      unpriced: false,
    });
  }
  return out;
}

/**
 * Invoice order: fee, then usage lines by kind (gpu, input_tokens, output_tokens, requests), key
 * (code point order) and catalog version (chronological; usage before every version first), then
 * the discount. `versionRank` gives a version label's chronological rank.
 */
export function compareRatedLines(
  a: Pick<RatedLine, 'kind' | 'key' | 'catalogVersion'>,
  b: Pick<RatedLine, 'kind' | 'key' | 'catalogVersion'>,
  versionRank: (label: string | null) => number,
): number {
  return LINE_KIND_ORDER.indexOf(a.kind) - LINE_KIND_ORDER.indexOf(b.kind) ||
    compareIds(a.key, b.key) ||
    versionRank(a.catalogVersion) - versionRank(b.catalogVersion);
}

/** Groups aggregates by day and checks each day lies in the period with one catalog version throughout. */
function aggregateDays(
  aggregates: Iterable<DayAggregate>, tz: string, period: Period, versions: readonly CatalogVersion[], days = periodDays(period),
): AggregateDay[] {
  const { first, last } = days;
  const byDay = new Map<number, AggregateDay>();
  for (const a of aggregates) {
    if (a.day < first || a.day > last) throw new RatingInputError(`an aggregate of day ${a.day} is outside period ${period}`);
    if (a.gpuSeconds < 0n || a.receipts < 0n || TOKEN_CLASSES.some((c) => a[c.prop] < 0n)) {
      throw new RatingInputError(`an aggregate of day ${a.day} has a negative quantity`);
    }
    let d = byDay.get(a.day);
    if (d === undefined) {
      const start = startOfLocalDay(tz, a.day);
      const end = startOfLocalDay(tz, a.day + 1);
      const split = versions.find((v) => v.effectiveFrom > start && v.effectiveFrom < end);
      if (split !== undefined) {
        throw new RatingInputError(
          `day ${a.day} was given as an aggregate, but catalog ${split.version} starts during it: rate it receipt by receipt (see detailDays)`,
        );
      }
      d = { day: a.day, start, end, slot: versionIndexAt(versions, start) + 1, aggregates: [], gpuSeconds: 0n, tokens: 0n, receipts: 0n };
      byDay.set(a.day, d);
    }
    d.aggregates.push(a);
    d.gpuSeconds += a.gpuSeconds;
    d.tokens += classTokens(a);
    d.receipts += a.receipts;
  }
  return [...byDay.values()].sort((a, b) => a.day - b.day);
}

/**
 * Rates one tenant-period (billing-rules.md steps 1-9). Throws UnpricedUsageError when there is
 * usage without a rate and `allowUnpriced` is false; RatingError subclasses for catalog or plan
 * problems; RatingInputError when the input breaks its contract (unsorted receipts, a receipt
 * outside the period, an aggregate for a day that needs detail).
 */
export function ratePeriod(input: RatePeriodInput): RatedPeriod {
  const { tenant, period } = input;
  const versions = sortVersions(input.versions);
  const segments = planSegments(tenant, period);
  if (segments.length <= 1) return rateSpan(input, versions, undefined);
  // A plan change inside the period: each segment is rated as a small period of its own.
  const receipts = segments.map((): RatableReceipt[] => []);
  const aggregates = segments.map((): DayAggregate[] => []);
  let i = 0;
  for (const r of input.receipts ?? []) {
    while (i > 0 && r.ts < segments[i]!.start) i--;
    while (i + 1 < segments.length && r.ts >= segments[i + 1]!.start) i++;
    receipts[i]!.push(r);
  }
  for (const a of input.dayAggregates ?? []) {
    const k = segments.findIndex((g) => a.day <= g.lastDay);
    aggregates[k < 0 ? segments.length - 1 : k]!.push(a);
  }
  const parts = segments.map((g, k) => rateSpan({ ...input, receipts: receipts[k], dayAggregates: aggregates[k] }, versions, g));
  const first = parts[0]!;
  const sum = (f: (p: RatedPeriod) => Decimal) => parts.reduce((acc, p) => acc.add(f(p)), Decimal.of(0n, first.digits));
  const currencies = new Set(parts.map((p) => p.currency));
  if (currencies.size > 1) {
    throw new CurrencyMismatchError(tenant.id, period, parts.map((p) => ({ catalogVersion: p.plan.catalogVersion, currency: p.currency })));
  }
  const subtotal = sum((p) => p.totals.subtotal);
  const tax = subtotal.mulDivRound(tenant.taxRate, 1n, first.digits);
  const pool = (f: (p: RatedPeriod) => AllowanceUse): AllowanceUse =>
    parts.reduce((acc, p) => ({ granted: acc.granted + f(p).granted, consumed: acc.consumed + f(p).consumed }), { granted: 0n, consumed: 0n });
  const fees = parts.flatMap((p) => (p.fee ? [p.fee] : []));
  const discounts = parts.flatMap((p) => (p.discount ? [p.discount] : []));
  const commitments = parts.flatMap((p) => (p.commitment ? [p.commitment] : []));
  return {
    period,
    currency: first.currency,
    digits: first.digits,
    plan: first.plan,
    taxRate: tenant.taxRate,
    lines: parts.flatMap((p) => p.lines),
    fee: fees[0] ?? null,
    usageLines: parts.flatMap((p) => p.usageLines),
    discount: discounts[0] ?? null,
    commitment: commitments[0] ?? null,
    totals: {
      fee: sum((p) => p.totals.fee), usage: sum((p) => p.totals.usage), discount: sum((p) => p.totals.discount),
      commitment: sum((p) => p.totals.commitment), subtotal, tax, total: subtotal.add(tax),
    },
    unpriced: parts.flatMap((p) => p.unpriced),
    allowances: { gpuSeconds: pool((p) => p.allowances.gpuSeconds), tokens: pool((p) => p.allowances.tokens), apiCalls: pool((p) => p.allowances.apiCalls) },
    receipts: parts.reduce((n, p) => n + p.receipts, 0n),
    segments: segments.map((g) => ({ plan: g.planId, from: formatDayNumber(g.firstDay), to: formatDayNumber(g.lastDay), days: g.days })),
  };
}

/** A run of local days of a period under one plan (billing-rules.md, "A plan change inside a period"). */
export interface PlanSegment {
  planId: string;
  firstDay: number;
  lastDay: number;
  /** Instants [start, end): local midnights. */
  start: number;
  end: number;
  /** d: the segment's local days; n: the period's. */
  days: number;
  periodDays: number;
}

/**
 * The period's segments: runs of local days with the same plan (`planOn`). One segment when no
 * plan-history date falls inside the period. Days without a plan make no segment of their own:
 * they belong to the next segment (rating then names the missing plan, as before).
 */
export function planSegments(tenant: Pick<RatingTenant, 'timezone' | 'plans'>, period: Period): PlanSegment[] {
  const { first, last } = periodDays(period);
  const n = last - first + 1;
  // Quick answer: no dated entry inside this month.
  if (!tenant.plans.some((e) => e.from !== null && e.from.length === 10 && e.from.slice(0, 7) === period && e.from.slice(8) !== '01')) {
    return [];
  }
  const out: PlanSegment[] = [];
  for (let day = first; day <= last; day++) {
    const plan = planOn(tenant.plans, formatDayNumber(day));
    const cur = out[out.length - 1];
    if (cur !== undefined && (cur.planId === plan || plan === undefined)) cur.lastDay = day;
    else if (plan !== undefined) out.push({ planId: plan, firstDay: day, lastDay: day, start: 0, end: 0, days: 0, periodDays: n });
  }
  if (out.length > 0) out[0]!.firstDay = first;
  for (const g of out) {
    g.start = startOfLocalDay(tenant.timezone, g.firstDay);
    g.end = startOfLocalDay(tenant.timezone, g.lastDay + 1);
    g.days = g.lastDay - g.firstDay + 1;
  }
  return out;
}

/** Plan terms of a segment: the catalog version in effect at its start (else the first during it). */
function resolveSegmentTerms(tenant: RatingTenant, period: Period, versions: readonly CatalogVersion[], g: PlanSegment): ResolvedPlanTerms {
  const atStart = versionIndexAt(versions, g.start);
  const version = atStart >= 0 ? versions[atStart] : versions.find((v) => v.effectiveFrom >= g.start && v.effectiveFrom < g.end);
  if (version === undefined) {
    throw new NoCatalogError(
      `${tenant.id} ${period}: no catalog version is in effect during ${formatDayNumber(g.firstDay)} – ${formatDayNumber(g.lastDay)}`,
      'import a catalog version whose effective_from is on or before the end of the period',
    );
  }
  const plan = version.plans.get(g.planId);
  if (plan === undefined) {
    throw new PlanTermsError(
      `${tenant.id} ${period}: plan "${g.planId}" is not in catalog ${version.version}, whose terms apply from ${formatDayNumber(g.firstDay)}`,
      `plans of ${version.version}: ${[...version.plans.keys()].join(', ')}`,
    );
  }
  return { planId: g.planId, plan, version };
}

/** Rates the whole period (no segment), or one segment of it, prorated. */
function rateSpan(input: RatePeriodInput, versions: CatalogVersion[], segment: PlanSegment | undefined): RatedPeriod {
  const { tenant, period } = input;
  const tz = tenant.timezone;
  const { start, end } = segment ?? periodInterval(tz, period);
  const terms = segment ? resolveSegmentTerms(tenant, period, versions, segment) : resolvePlanTerms(tenant, period, versions);
  const full = poolsOf(terms.plan.included);
  const pools = segment === undefined ? full : {
    gpuSeconds: prorate(full.gpuSeconds, segment.days, segment.periodDays),
    tokens: prorate(full.tokens, segment.days, segment.periodDays),
    apiCalls: prorate(full.apiCalls, segment.days, segment.periodDays),
  };
  const rater = new PeriodRater(versions, pools, terms.planId);

  const days = aggregateDays(input.dayAggregates ?? [], tz, period, versions, segment ? { first: segment.firstDay, last: segment.lastDay } : undefined);
  let next = 0;
  let prev: RatableReceipt | undefined;
  for (const r of input.receipts ?? []) {
    if (!r.billable) continue; // never billed (receipts.md, "Billable or not")
    if (r.ts < start || r.ts >= end) {
      throw new RatingInputError(`receipt ${r.id} at ${new Date(r.ts).toISOString()} is outside period ${period} in ${tz}`);
    }
    if (prev !== undefined && compareReceipts(prev, r) >= 0) {
      throw new RatingInputError(`receipts are not sorted by timestamp then id (${prev.id} before ${r.id})`);
    }
    prev = r;
    while (next < days.length && days[next]!.end <= r.ts) rater.applyDay(days[next++]!, input.onDay);
    if (next < days.length && days[next]!.start <= r.ts) {
      throw new RatingInputError(`receipt ${r.id} falls on day ${days[next]!.day}, which was also given as an aggregate`);
    }
    rater.applyReceipt(r, input.onReceipt);
  }
  while (next < days.length) rater.applyDay(days[next++]!, input.onDay);

  // One currency for the whole period: the plan terms' version, every version with usage, the tenant's.
  const currency = terms.version.currency;
  const slots = rater.usedSlots();
  const currencies = new Map<string | null, string>([[terms.version.version, currency]]);
  for (const s of slots) if (s.version !== undefined) currencies.set(s.version.version, s.version.currency);
  if (tenant.currency !== null) currencies.set(null, tenant.currency);
  if (new Set(currencies.values()).size > 1) {
    throw new CurrencyMismatchError(tenant.id, period, [...currencies].map(([catalogVersion, c]) => ({ catalogVersion, currency: c })));
  }

  const unpriced = rater.unpricedList();
  if (unpriced.length > 0 && !input.allowUnpriced) throw new UnpricedUsageError(tenant.id, period, unpriced);

  const digits = currencyDigits(currency);
  const zero = Decimal.of(0n, digits);
  const usageLines: RatedLine[] = [];
  for (const s of slots) {
    const p = terms.planId;
    for (const [key, acc] of s.gpu) usageLines.push(usageLine('gpu', key, acc, s, digits, p));
    TOKEN_CLASSES.forEach((c, i) => {
      for (const [key, acc] of s.tokens[i]!) usageLines.push(usageLine(c.name, key, acc, s, digits, p));
    });
    if (s.requests !== undefined && s.requests.used > 0n) usageLines.push(usageLine('requests', REQUESTS_KEY, s.requests, s, digits, p));
  }
  usageLines.push(...metricLines(terms, input.metricReceipts, { start, end }, segment, digits));
  const rank = new Map<string | null, number>([[null, -1], ...versions.map((v, i): [string, number] => [v.version, i])]);
  const versionRank = (label: string | null) => rank.get(label) ?? versions.length;
  usageLines.sort((a, b) => compareRatedLines(a, b, versionRank));

  const { plan, planId, version: termsVersion } = terms;
  const dates = segment ? `, ${formatDayNumber(segment.firstDay)} \u2013 ${formatDayNumber(segment.lastDay)}` : '';
  const share = (x: Decimal) => (segment ? x.mulDivRound(BigInt(segment.days), BigInt(segment.periodDays), digits) : x.round(digits));
  const feeAmount = share(plan.monthlyFee);
  const fee: RatedLine | null = feeAmount.isZero() ? null : {
    ...fixedLine('fee', planId, termsVersion.version, `${plan.name} plan fee${dates}`),
    amount: feeAmount,
  };
  const usage = usageLines.reduce((sum, l) => sum.add(l.amount), zero);
  const discountAmount = usage.mulDivRound(plan.usageDiscountPercent, 100n, digits);
  const discount: RatedLine | null = discountAmount.isZero() ? null : {
    ...fixedLine('discount', planId, termsVersion.version, `Usage discount ${plan.usageDiscountPercent.normalize().toString()}%${dates}`),
    amount: discountAmount.neg(),
  };
  const feeTotal = fee?.amount ?? zero;
  // Step 10: C = max(0, minimum_commitment − (fee + U − D)); adjustments of earlier periods never count toward it.
  const before = feeTotal.add(usage).sub(discountAmount);
  const shortfall = share(plan.minimumCommitment ?? zero).sub(before);
  const commitment: RatedLine | null = shortfall.sign() > 0 ? {
    ...fixedLine('commitment', planId, termsVersion.version, `Minimum commitment true-up${dates}`),
    amount: shortfall,
  } : null;
  const commitmentAmount = commitment?.amount ?? zero;
  const subtotal = before.add(commitmentAmount);
  const tax = subtotal.mulDivRound(tenant.taxRate, 1n, digits);
  const lines = [...(fee ? [fee] : []), ...usageLines, ...(discount ? [discount] : []), ...(commitment ? [commitment] : [])];
  if (segment) {
    const tag = { plan: planId, from: formatDayNumber(segment.firstDay), to: formatDayNumber(segment.lastDay) };
    for (const l of lines) Object.assign(l, tag);
  }
  const granted = { gpu: pools.gpuSeconds, tokens: pools.tokens, calls: pools.apiCalls };
  return {
    period,
    currency,
    digits,
    plan: { id: planId, name: plan.name, catalogVersion: termsVersion.version },
    taxRate: tenant.taxRate,
    lines,
    fee,
    usageLines,
    discount,
    commitment,
    totals: { fee: feeTotal, usage, discount: discountAmount, commitment: commitmentAmount, subtotal, tax, total: subtotal.add(tax) },
    unpriced,
    allowances: {
      gpuSeconds: { granted: granted.gpu, consumed: granted.gpu - rater.gpuLeft },
      tokens: { granted: granted.tokens, consumed: granted.tokens - rater.tokensLeft },
      apiCalls: { granted: granted.calls, consumed: granted.calls - rater.callsLeft },
    },
    receipts: rater.receipts,
  };
}

function fixedLine(kind: 'fee' | 'discount' | 'commitment', key: string, catalogVersion: string, description: string): Omit<RatedLine, 'amount'> {
  return {
    kind, key, catalogVersion, description, used: 0n, included: 0n, billed: 0n,
    unit: null, unitPrice: null, unitSize: null, unpriced: false,
  };
}

/** One local day's share of a period's usage charges. */
export interface DailyCharge {
  /** Tenant-local day (period.ts `localDayNumber`). */
  day: number;
  amount: Decimal;
}

/**
 * Rates the period and splits each usage line's amount over the local days its billed units fell
 * on (after allowances, in rating order): what the invoice charged per day, for its chart. A day
 * gets the line's price of the units billed up to its end less that of the units billed before it
 * (each priced whole by the line's own price model, rounded once), so the days add up to every
 * line's amount exactly, and under a tiered price each day pays its own tier. Unpriced lines
 * (billed at 0) charge no day; days without billed units are left out.
 */
export function dailyCharges(input: RatePeriodInput): { rated: RatedPeriod; days: DailyCharge[] } {
  const tz = input.tenant.timezone;
  const billed = new Map<string, Map<number, bigint>>();
  const lineId = (kind: UsageKind, key: string, version: string | null) => JSON.stringify([kind, key, version]);
  const add = (kind: UsageKind, key: string | null, version: CatalogVersion | undefined, day: number, units: bigint) => {
    if (units <= 0n || key === null) return;
    const id = lineId(kind, key, version?.version ?? null);
    let days = billed.get(id);
    if (days === undefined) billed.set(id, (days = new Map()));
    days.set(day, (days.get(day) ?? 0n) + units);
  };
  const rated = ratePeriod({
    ...input,
    onReceipt: (r, b) => {
      input.onReceipt?.(r, b);
      const day = localDayNumber(tz, r.ts);
      add('gpu', r.gpuKey, b.version, day, b.gpuSeconds);
      for (const c of TOKEN_CLASSES) add(c.name, r.modelKey, b.version, day, b[c.prop]);
      add('requests', REQUESTS_KEY, b.version, day, b.calls);
    },
    onDay: (day, aggregates, b) => {
      input.onDay?.(day, aggregates, b);
      for (const a of aggregates) {
        if (b.gpu) add('gpu', a.gpuKey, b.version, day, a.gpuSeconds);
        if (b.tokens) for (const c of TOKEN_CLASSES) add(c.name, a.modelKey, b.version, day, a[c.prop]);
        if (b.calls) add('requests', REQUESTS_KEY, b.version, day, a.receipts);
      }
    },
  });
  const versions = new Map(input.versions.map((v) => [v.version, v]));
  const byDay = new Map<number, Decimal>();
  for (const line of rated.usageLines) {
    if (line.kind === 'metric') {
      // A metric is a measure of the whole period (seats, the peak of storage): its charge falls on
      // the period's last day, so the days still add up to the usage lines.
      if (!line.amount.isZero()) {
        const last = periodDays(input.period).last;
        byDay.set(last, (byDay.get(last) ?? Decimal.of(0n, rated.digits)).add(line.amount));
      }
      continue;
    }
    const days = billed.get(lineId(line.kind as UsageKind, line.key, line.catalogVersion));
    const model = line.unpriced || line.catalogVersion === null
      ? undefined
      : priceModelFor(versions.get(line.catalogVersion), line.kind as UsageKind, line.key, rated.plan.id);
    if (days === undefined || model === undefined) continue;
    let units = 0n;
    let before = Decimal.of(0n, rated.digits);
    for (const [day, n] of [...days].sort(([a], [b]) => a - b)) {
      units += n;
      const upTo = priceLine(model, units, rated.digits);
      byDay.set(day, (byDay.get(day) ?? Decimal.of(0n, rated.digits)).add(upTo.sub(before)));
      before = upTo;
    }
  }
  return { rated, days: [...byDay].sort(([a], [b]) => a - b).map(([day, amount]) => ({ day, amount })) };
}
