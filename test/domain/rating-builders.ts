/** Builders for rating and invoice tests: catalogs, tenants, receipts and day aggregates. */
import { type CatalogVersion, parseCatalog } from '../../src/domain/catalog.js';
import { Decimal } from '../../src/domain/money.js';
import { localDayNumber, periodInterval } from '../../src/domain/period.js';
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
  billable?: boolean;
}

export function receipt(s: ReceiptSpec): RatableReceipt {
  counter += 1;
  return {
    id: s.id ?? `r${String(counter).padStart(6, '0')}`,
    ts: typeof s.ts === 'string' ? ms(s.ts) : s.ts,
    billable: s.billable ?? true,
    modelKey: s.model ?? ((s.input ?? 0) + (s.output ?? 0) > 0 ? 'qwen-70b' : null),
    gpuKey: s.gpu ?? ((s.gs ?? 0) > 0 ? 'a100-80gb' : null),
    gpuSeconds: s.gs ?? 0,
    inputTokens: s.input ?? 0,
    outputTokens: s.output ?? 0,
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
        receipts: 0n, gpuReceipts: 0n, tokenReceipts: 0n,
      };
      groups.set(k, g);
    }
    g.gpuSeconds += BigInt(r.gpuSeconds);
    g.inputTokens += BigInt(r.inputTokens);
    g.outputTokens += BigInt(r.outputTokens);
    g.receipts += 1n;
    if (r.gpuSeconds > 0) g.gpuReceipts += 1n;
    if (r.inputTokens + r.outputTokens > 0) g.tokenReceipts += 1n;
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
