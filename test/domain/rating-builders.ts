/** Builders for rating and invoice tests: catalogs, tenants, receipts and day aggregates. */
import fc from 'fast-check';
import { type CatalogVersion, type GpuRate, type PlanTerms, type TokenRate, parseCatalog } from '../../src/domain/catalog.js';
import { Decimal } from '../../src/domain/money.js';
import { localDayNumber, periodDays, periodInterval, startOfLocalDay } from '../../src/domain/period.js';
import {
  type DayAggregate, type RatableReceipt, type RatedLine, type RatedPeriod, type RatingTenant, dayTotals, detailDays,
  ratePeriod, resolvePlanTerms, sortVersions,
} from '../../src/domain/rating.js';
import { compareReceipts } from '../../src/domain/receipt.js';
import type { PlanEntry } from '../../src/domain/tenant.js';
import { sampleCatalogDoc } from '../helpers/fixtures.js';

export const ms = (iso: string): number => {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new Error(`bad instant ${iso}`);
  return t;
};

/** A catalog version: the spec's sample, with fields replaced by `patch` (a shallow merge per top-level field). */
export function catalog(patch: Record<string, unknown> = {}): CatalogVersion {
  const doc = { ...sampleCatalogDoc(), ...patch };
  const r = parseCatalog(doc);
  if (!r.catalog) throw new Error(`bad test catalog: ${r.problems.join('; ')}`);
  return r.catalog;
}

export const SAMPLE = (): CatalogVersion => catalog();

export function plans(...entries: [plan: string, from: string | null][]): PlanEntry[] {
  return entries.map(([plan, from], i) => ({ plan, from, seq: i + 1, setAt: '2026-01-01T00:00:00Z' }));
}

export function tenant(t: Partial<Omit<RatingTenant, 'taxRate'>> & { taxRate?: string } = {}): RatingTenant {
  return {
    id: t.id ?? 't',
    timezone: t.timezone ?? 'UTC',
    taxRate: Decimal.parse(t.taxRate ?? '0'),
    currency: t.currency ?? null,
    plans: t.plans ?? plans(['free', null]),
  };
}

let counter = 0;

export interface ReceiptSpec {
  id?: string;
  ts: number | string;
  model?: string | null;
  gpu?: string | null;
  gs?: number;
  input?: number;
  output?: number;
  cached?: number;
  cacheWrite?: number;
  reasoning?: number;
  billable?: boolean;
}

export function receipt(s: ReceiptSpec): RatableReceipt {
  counter += 1;
  return {
    id: s.id ?? `r${String(counter).padStart(6, '0')}`,
    ts: typeof s.ts === 'string' ? ms(s.ts) : s.ts,
    billable: s.billable ?? true,
    modelKey: s.model ?? ((s.input ?? 0) + (s.output ?? 0) + (s.cached ?? 0) + (s.cacheWrite ?? 0) + (s.reasoning ?? 0) > 0 ? 'qwen-70b' : null),
    gpuKey: s.gpu ?? ((s.gs ?? 0) > 0 ? 'a100-80gb' : null),
    gpuSeconds: s.gs ?? 0,
    inputTokens: s.input ?? 0,
    outputTokens: s.output ?? 0,
    cachedInputTokens: s.cached ?? 0,
    cacheWriteTokens: s.cacheWrite ?? 0,
    reasoningTokens: s.reasoning ?? 0,
  };
}

export const sorted = (rs: readonly RatableReceipt[]): RatableReceipt[] => [...rs].sort(compareReceipts);

/** Day aggregates of billable receipts, as rollups would hold them. */
export function aggregatesOf(tz: string, receipts: readonly RatableReceipt[]): DayAggregate[] {
  const groups = new Map<string, DayAggregate>();
  for (const r of receipts) {
    if (!r.billable) continue;
    const day = localDayNumber(tz, r.ts);
    const k = JSON.stringify([day, r.modelKey, r.gpuKey]);
    let g = groups.get(k);
    if (!g) {
      g = {
        day, modelKey: r.modelKey, gpuKey: r.gpuKey, gpuSeconds: 0n, inputTokens: 0n, outputTokens: 0n,
        cachedInputTokens: 0n, cacheWriteTokens: 0n, reasoningTokens: 0n, receipts: 0n, gpuReceipts: 0n, tokenReceipts: 0n,
      };
      groups.set(k, g);
    }
    g.gpuSeconds += BigInt(r.gpuSeconds);
    g.inputTokens += BigInt(r.inputTokens);
    g.outputTokens += BigInt(r.outputTokens);
    g.cachedInputTokens += BigInt(r.cachedInputTokens);
    g.cacheWriteTokens += BigInt(r.cacheWriteTokens);
    g.reasoningTokens += BigInt(r.reasoningTokens);
    g.receipts += 1n;
    if (r.gpuSeconds > 0) g.gpuReceipts += 1n;
    if (r.inputTokens + r.outputTokens + r.cachedInputTokens + r.cacheWriteTokens + r.reasoningTokens > 0) g.tokenReceipts += 1n;
  }
  return [...groups.values()];
}

export interface RateArgs {
  tenant: RatingTenant;
  period: string;
  versions: readonly CatalogVersion[];
  receipts: readonly RatableReceipt[];
  allowUnpriced?: boolean;
}

/** Receipt by receipt: the reference way. Receipts outside the period are left out, as the store would. */
export function rateAll(a: RateArgs): RatedPeriod {
  const { start, end } = periodInterval(a.tenant.timezone, a.period);
  return ratePeriod({
    tenant: a.tenant, period: a.period, versions: a.versions, allowUnpriced: a.allowUnpriced ?? false,
    receipts: sorted(a.receipts.filter((r) => r.ts >= start && r.ts < end)),
  });
}

/** The fast way a caller takes: day totals -> detailDays -> receipts for detail days, aggregates for the rest. */
export function rateFast(a: RateArgs): { rated: RatedPeriod; detail: Set<number> } {
  const tz = a.tenant.timezone;
  const { start, end } = periodInterval(tz, a.period);
  const inPeriod = a.receipts.filter((r) => r.ts >= start && r.ts < end);
  const aggregates = aggregatesOf(tz, inPeriod);
  const versions = sortVersions(a.versions);
  const terms = resolvePlanTerms(a.tenant, a.period, versions);
  const detail = detailDays({
    timezone: tz, period: a.period, days: dayTotals(aggregates), included: terms.plan.included,
    versionStarts: versions.map((v) => v.effectiveFrom),
  });
  const rated = ratePeriod({
    tenant: a.tenant, period: a.period, versions: a.versions, allowUnpriced: a.allowUnpriced ?? false,
    receipts: sorted(inPeriod.filter((r) => detail.has(localDayNumber(tz, r.ts)))),
    dayAggregates: aggregates.filter((g) => !detail.has(g.day)),
  });
  return { rated, detail };
}

/** A line as one readable row: `kind key@version used/included/billed amount`. */
export function row(l: RatedLine): string {
  return `${l.kind} ${l.key}@${l.catalogVersion ?? '-'} ${l.used}/${l.included}/${l.billed} ${l.amount.toString()}${l.unpriced ? ' UNPRICED' : ''}`;
}

/** Everything a rated period says, as plain comparable data. */
export function summary(r: RatedPeriod): unknown {
  const text = (d: Decimal | null) => (d === null ? null : d.toString());
  return {
    currency: r.currency,
    plan: r.plan,
    lines: r.lines.map((l) => ({
      ...l, used: l.used.toString(), included: l.included.toString(), billed: l.billed.toString(),
      unitPrice: text(l.unitPrice), unitSize: l.unitSize?.toString() ?? null, amount: l.amount.toString(),
    })),
    totals: Object.fromEntries(Object.entries(r.totals).map(([k, v]) => [k, v.toString()])),
    unpriced: r.unpriced.map((u) => ({ ...u, receipts: u.receipts.toString() })),
    allowances: JSON.parse(JSON.stringify(r.allowances, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as unknown,
    receipts: r.receipts.toString(),
  };
}

// ---------------------------------------------------------------------------------------------
// Random scenarios for property tests

export const ZONES = ['UTC', 'Europe/Berlin', 'Asia/Kolkata', 'America/St_Johns', 'Pacific/Chatham', 'America/Havana'] as const;
export const PERIODS = ['2026-03', '2026-04', '2026-09', '2026-10', '2026-11'] as const;
const GPU_KEYS = ['a100-80gb', 'rtx-4090', 'h100'] as const;
const MODEL_KEYS = ['qwen-70b', 'gemma-2b', 'mystery'] as const;
const ID_CHARS = ['B', 'a', 'é', 'z', 'Z', '\u{1F600}', '\uFFFF'] as const;

let baseVersion: CatalogVersion | undefined;

/** A catalog version built directly (parsing YAML per run would be slow), plan `p` with the given terms. */
export function makeVersion(v: {
  label: string; effectiveFrom: number; currency?: string; gpu: Record<string, string>; tokens: Record<string, [string, string]>;
  tokenUnit?: bigint; requestRate?: string; plan: Omit<PlanTerms, 'id' | 'name' | 'hardCap'>;
}): CatalogVersion {
  baseVersion ??= SAMPLE();
  return {
    ...baseVersion,
    version: v.label,
    effectiveFrom: v.effectiveFrom,
    currency: v.currency ?? 'USD',
    defaultPlan: 'p',
    gpuRates: new Map(Object.entries(v.gpu).map(([key, price]): [string, GpuRate] => [key, { key, name: key.toUpperCase(), price: Decimal.parse(price) }])),
    tokenUnit: v.tokenUnit ?? 1000n,
    tokenRates: new Map(Object.entries(v.tokens).map(([key, [i, o]]): [string, TokenRate] => [
      key, { key, name: key.toUpperCase(), input: Decimal.parse(i), output: Decimal.parse(o) },
    ])),
    requestRate: Decimal.parse(v.requestRate ?? '0'),
    plans: new Map([['p', { id: 'p', name: 'P', hardCap: false, ...v.plan }]]),
  };
}

const priceArb = fc.tuple(fc.integer({ min: 0, max: 99_999 }), fc.integer({ min: 0, max: 5 }))
  .map(([u, s]) => Decimal.of(BigInt(u), s).toString());

export interface Scenario {
  tz: string;
  period: string;
  taxRate: string;
  versions: CatalogVersion[];
  receipts: RatableReceipt[];
}

/**
 * A tenant-period with 0-4 catalog versions (some starting inside the period, at local midnights
 * or not; sometimes none before the period starts), prices missing for some keys, allowances about
 * the size of the usage, and receipts bunched on a few days with timestamp ties.
 */
export function scenarioArb(opts: { maxReceipts?: number } = {}): fc.Arbitrary<Scenario> {
  return fc.record({
    tz: fc.constantFrom(...ZONES),
    period: fc.constantFrom(...PERIODS),
    taxRate: fc.constantFrom('0', '0.19', '0.075', '0.5', '0.0825'),
    plan: fc.record({
      fee: fc.constantFrom('0', '99', '0.015', '12.345'),
      gpuHours: fc.bigInt({ min: 0n, max: 12n }),
      tokens: fc.bigInt({ min: 0n, max: 40_000n }),
      calls: fc.bigInt({ min: 0n, max: 30n }),
      discount: fc.constantFrom('0', '10', '2.5', '33.333'),
    }),
    // Usually a version is in effect before the period starts; sometimes none is.
    base: fc.integer({ min: 0, max: 4 }).map((n) => n > 0),
    inner: fc.array(fc.record({ day: fc.integer({ min: 0, max: 30 }), atMidnight: fc.boolean(), offset: fc.integer({ min: 1, max: 86_399_999 }) }), { maxLength: 3 }),
    prices: fc.array(fc.record({
      // Each key priced five times in six: unpriced usage is common but not the rule.
      gpu: fc.tuple(...GPU_KEYS.map(() => fc.option(priceArb, { freq: 5, nil: undefined })))
        .map((ps) => Object.fromEntries(GPU_KEYS.flatMap((k, i) => (ps[i] === undefined ? [] : [[k, ps[i]]])))),
      tokens: fc.tuple(...MODEL_KEYS.map(() => fc.option(fc.tuple(priceArb, priceArb), { freq: 5, nil: undefined })))
        .map((ps) => Object.fromEntries(MODEL_KEYS.flatMap((k, i) => (ps[i] === undefined ? [] : [[k, ps[i]]])))),
      tokenUnit: fc.constantFrom(1n, 1000n, 1_000_000n),
      requestRate: fc.constantFrom('0', '0', '0.001', '0.05'),
    }), { minLength: 4, maxLength: 4 }),
    busyDays: fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 6 }),
    receipts: fc.array(fc.record({
      dayPick: fc.nat(),
      offset: fc.oneof(fc.integer({ min: 0, max: 86_399_999 }), fc.constantFrom(0, 1, 43_200_000)),
      idChars: fc.array(fc.constantFrom(...ID_CHARS), { minLength: 1, maxLength: 2 }).map((a) => a.join('')),
      gpu: fc.option(fc.constantFrom(...GPU_KEYS), { nil: null }),
      gs: fc.integer({ min: 0, max: 5000 }),
      model: fc.option(fc.constantFrom(...MODEL_KEYS), { nil: null }),
      input: fc.integer({ min: 0, max: 3000 }),
      output: fc.integer({ min: 0, max: 3000 }),
      // One in ten is not billable: rating must skip it.
      nonBillable: fc.integer({ min: 0, max: 9 }),
    }), { maxLength: opts.maxReceipts ?? 60, size: 'max' }),
  }).map((g): Scenario => {
    const { first, last } = periodDays(g.period);
    const dayAt = (i: number) => Math.min(first + i, last);
    const plan = {
      monthlyFee: Decimal.parse(g.plan.fee),
      included: { gpuHours: g.plan.gpuHours, tokens: g.plan.tokens, apiCalls: g.plan.calls },
      usageDiscountPercent: Decimal.parse(g.plan.discount),
    };
    const starts: number[] = [];
    const { start: periodStart } = periodInterval(g.tz, g.period);
    if (g.base) starts.push(periodStart - 40 * 86_400_000);
    for (const v of g.inner) {
      const dayStart = startOfLocalDay(g.tz, dayAt(v.day));
      starts.push(v.atMidnight ? dayStart : dayStart + v.offset);
    }
    if (starts.length === 0) starts.push(periodStart); // some version must hold the plan terms
    const versions = [...new Set(starts)].sort((a, b) => a - b).map((effectiveFrom, i) => {
      const p = g.prices[i % g.prices.length]!;
      return makeVersion({
        label: `v${i}`, effectiveFrom, gpu: p.gpu, tokens: p.tokens, tokenUnit: p.tokenUnit, requestRate: p.requestRate, plan,
      });
    });
    const seen = new Set<string>();
    const receipts = g.receipts.map((r, i): RatableReceipt => {
      const day = dayAt(g.busyDays[r.dayPick % g.busyDays.length]!);
      const dayStart = startOfLocalDay(g.tz, day);
      const dayLength = startOfLocalDay(g.tz, day + 1) - dayStart;
      let id = r.idChars;
      if (seen.has(id)) id = `${id}${i}`;
      seen.add(id);
      const gs = r.gpu === null ? 0 : r.gs;
      return {
        id,
        // Few distinct instants per day, so same-timestamp ties happen often.
        ts: dayStart + (r.offset % dayLength) - ((r.offset % dayLength) % 3_600_000),
        billable: r.nonBillable !== 0,
        modelKey: r.model,
        gpuKey: r.gpu,
        gpuSeconds: gs,
        cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0,
        inputTokens: r.model === null ? 0 : r.input,
        outputTokens: r.model === null ? 0 : r.output,
      };
    });
    return { tz: g.tz, period: g.period, taxRate: g.taxRate, versions, receipts };
  });
}

export const scenarioTenant = (s: Scenario): RatingTenant => tenant({ timezone: s.tz, taxRate: s.taxRate, plans: plans(['p', null]) });
