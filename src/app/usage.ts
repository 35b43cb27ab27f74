/**
 * `billctl usage`: per tenant (or per model, GPU, day, user or provider) the period's receipts,
 * requests, GPU seconds, tokens and rated amount before tax, from the same rating engine as
 * invoices. Amounts per model or GPU are the exact invoice lines of that key; per day, user or
 * provider they are the billed units each receipt was left with after allowances (consumed in
 * time order, as on the invoice) times its prices, summed exactly and rounded once per group.
 */
import { createHash } from 'node:crypto';
import { Decimal, ExactSum, currencyDigits, formatAmount } from '../domain/money.js';
import { formatDayNumber, localDayNumber, periodDays, periodInterval, type Period } from '../domain/period.js';
import { PriceRun } from '../domain/price-models/index.js';
import { addSums, REPORTED_QUANTITIES, TOKEN_CLASSES, zeroSums, type QuantitySums } from '../domain/quantities.js';
import {
  priceModelFor, RatingError, REQUESTS_KEY, UnpricedUsageError, type RatedPeriod, type ReceiptBilled, type UsageKind,
} from '../domain/rating.js';
import type { Receipt } from '../domain/receipt.js';
import type { Tenant } from '../domain/tenant.js';
import { errorMessage } from '../errors.js';
import type { Store } from '../store/store.js';
import type { CachedRating, PeriodTotals } from '../store/usage-cache-repo.js';
import type { StoreRating } from './rating-service.js';

export const USAGE_GROUPS = ['model', 'gpu', 'day', 'user', 'provider'] as const;
export type UsageGroupBy = (typeof USAGE_GROUPS)[number];

/** The JSON key of a `--by` group. */
export const GROUP_FIELD: Record<UsageGroupBy, string> = { model: 'model', gpu: 'gpu', day: 'day', user: 'user_id', provider: 'provider' };

/** `usage --format json` (and the server's usage endpoint): one object per row. */
export function usageJson(rows: readonly UsageRow[], by: UsageGroupBy | undefined): Record<string, unknown>[] {
  return rows.map((r) => {
    const o: Record<string, unknown> = { tenant_id: r.tenantId, period: r.period };
    if (by !== undefined) o[GROUP_FIELD[by]] = r.group ?? null;
    o.receipts = r.receipts;
    o.requests = r.requests;
    for (const q of REPORTED_QUANTITIES) o[q.name] = r[q.prop];
    o.rated_amount = formatAmount(r.ratedAmount, r.currency);
    o.currency = r.currency;
    if (r.reportedCost !== undefined) {
      o.rated_usage = formatAmount(r.ratedUsage!, r.currency);
      o.reported_cost = formatAmount(r.reportedCost, r.currency);
      o.difference = formatAmount(r.ratedUsage!.sub(r.reportedCost), r.currency);
    }
    if (r.monthToDate !== undefined) {
      o.month_to_date = formatAmount(r.monthToDate, r.currency);
      o.projected_month_end = formatAmount(r.projectedMonthEnd!, r.currency);
    }
    return o;
  });
}

/** A row's quantities are the billable receipts' sums of every quantity of the field table (quantities.ts). */
export interface UsageRow extends QuantitySums {
  tenantId: string;
  period: Period;
  /** The group's key (model key, GPU key, local date, user id, provider); null = none given. */
  group?: string | null;
  receipts: bigint;
  requests: bigint;
  ratedAmount: Decimal;
  currency: string;
  /** With compareReported: the usage lines' amount (after allowances; no fee, no discount), what reportedCost is compared with. */
  ratedUsage?: Decimal;
  reportedCost?: Decimal;
  monthToDate?: Decimal;
  projectedMonthEnd?: Decimal;
}

export interface UsageReport {
  rows: UsageRow[];
  failures: { tenantId: string; error: string }[];
  /** The period is under way (month-to-date and projection given). */
  current: boolean;
}

interface Totals extends QuantitySums {
  receipts: bigint;
  requests: bigint;
  reported: ExactSum;
  amount: ExactSum;
}

const emptyTotals = (): Totals => ({
  ...zeroSums(), receipts: 0n, requests: 0n, reported: new ExactSum(), amount: new ExactSum(),
});

/**
 * The billed units of one receipt at its version's prices, exactly: each of its lines' share of
 * the line's price after the units billed before it (price-models `PriceRun`; per unit, units × price).
 * `runs` holds the period's running lines, by (version, kind, key).
 */
function billedValue(r: Receipt, b: ReceiptBilled, into: ExactSum, runs: Map<string, PriceRun | null>): void {
  const v = b.version;
  if (v === undefined) return;
  const charge = (kind: UsageKind, key: string | null, units: bigint) => {
    if (key === null || units <= 0n) return;
    const id = JSON.stringify([v.version, kind, key]);
    let run = runs.get(id);
    if (run === undefined) {
      const model = priceModelFor(v, kind, key, b.planId);
      runs.set(id, (run = model === undefined ? null : new PriceRun(model)));
    }
    run?.add(units, into);
  };
  charge('gpu', r.gpuKey, b.gpuSeconds);
  for (const c of TOKEN_CLASSES) charge(c.name, r.modelKey, b[c.prop]);
  charge('requests', REQUESTS_KEY, b.calls);
}

/** The quantity sums of a row of totals (rollups carry GPU seconds and the token classes, not `quantity`). */
function quantitiesOf(t: QuantitySums): QuantitySums {
  const q = zeroSums();
  addSums(q, t);
  return q;
}

/** The part of the usage cache's token that the period's sums make. */
function quantityToken(sums: PeriodTotals): string[] {
  return [sums.rows, sums.receipts, sums.requests, ...REPORTED_QUANTITIES.map((q) => sums[q.prop])].map(String);
}

function groupOfReceipt(by: 'day' | 'user' | 'provider', tz: string, r: Receipt): string | null {
  switch (by) {
    case 'day':
      return formatDayNumber(localDayNumber(tz, r.ts));
    case 'user':
      return r.userId;
    case 'provider':
      return r.provider;
    default:
      by satisfies never;
      return null;
  }
}

async function groupedByReceipts(
  store: Store, rating: StoreRating, tenant: Tenant, period: Period, by: 'day' | 'user' | 'provider',
): Promise<Map<string | null, Totals>> {
  const { start, end } = periodInterval(tenant.timezone, period);
  const groups = new Map<string | null, Totals>();
  const totalsOf = (k: string | null) => {
    let t = groups.get(k);
    if (!t) groups.set(k, (t = emptyTotals()));
    return t;
  };
  const billable: Receipt[] = [];
  for await (const r of store.receipts(tenant.id, start, end)) {
    const t = totalsOf(groupOfReceipt(by, tenant.timezone, r));
    t.receipts += 1n;
    if (!r.billable) continue;
    billable.push(r);
    t.requests += 1n;
    addSums(t, r);
    if (r.reportedCost !== null) t.reported.add(Decimal.parse(r.reportedCost));
  }
  // Rated receipt by receipt, in time order, so each group gets the units it was billed for.
  const byId = new Map(billable.map((r) => [r.id, r]));
  const runs = new Map<string, PriceRun | null>();
  await rating.rateReceipts(tenant, period, billable, (rr, b) => {
    const r = byId.get(rr.id)!;
    billedValue(r, b, totalsOf(groupOfReceipt(by, tenant.timezone, r)).amount, runs);
  });
  return groups;
}

/**
 * A tenant that could not be rated is a failure of the report, except a tenant without a plan or
 * catalog for a period it did not use at all (no billable receipt): there is simply nothing to report for it.
 */
function noteFailure(report: UsageReport, tenantId: string, err: unknown, hadBillable: boolean): void {
  if (!(err instanceof RatingError)) throw err;
  if (!hadBillable && !(err instanceof UnpricedUsageError)) return;
  report.failures.push({ tenantId, error: errorMessage(err) });
}

type Rated = { fee: Decimal; subtotal: Decimal; currency: string; usage?: Decimal };

/**
 * Fee and subtotal per tenant for the period, from the usage cache where its token still holds,
 * else rated now (and cached). The token digests every input of the rating, so a hit is exact.
 * `withUsage` (compare-reported) rates every tenant, for the usage lines' amount the cache lacks.
 */
async function ratedSubtotals(
  store: Store, rating: StoreRating, tenants: Tenant[], period: Period, totals: Map<string, PeriodTotals>, withUsage: boolean,
): Promise<Map<string, { rated?: Rated; error?: unknown }>> {
  const cached = await store.usageCache.read(period);
  const catalogs = rating.versions.map((v) => `${v.version}@${v.effectiveFrom}:${rating.digest(v)}`).join(',');
  const out = new Map<string, { rated?: Rated; error?: unknown }>();
  const writes: [string, CachedRating][] = [];
  for (const t of tenants) {
    const sums = totals.get(t.id);
    const token = createHash('sha256').update(JSON.stringify([
      sums ? quantityToken(sums) : null,
      t.updatedAt, t.timezone, t.plans.map((p) => [p.seq, p.plan, p.from]), catalogs, rating.allowUnpriced,
    ])).digest('hex');
    const hit = cached.get(t.id);
    if (hit && hit.token === token && !withUsage) {
      out.set(t.id, { rated: hit });
      continue;
    }
    try {
      const r = await rating.ratePeriod(t, period);
      const entry = { token, currency: r.currency, fee: r.totals.fee, subtotal: r.totals.subtotal };
      out.set(t.id, { rated: { ...entry, usage: r.totals.usage } });
      writes.push([t.id, entry]);
    } catch (err) {
      out.set(t.id, { error: err });
    }
  }
  if (writes.length > 0) {
    await store.transaction(async () => {
      for (const [id, e] of writes) await store.usageCache.write(id, period, e);
    });
  }
  return out;
}

export async function usageReport(
  store: Store,
  rating: StoreRating,
  options: { period: Period; tenants: Tenant[]; by?: UsageGroupBy; compareReported: boolean; now: number },
): Promise<UsageReport> {
  const report: UsageReport = { rows: [], failures: [], current: false };
  if (options.by === undefined) return tenantTotals(store, rating, options, report);
  for (const tenant of options.tenants) {
    const { period } = options;
    const rollups = await rating.rollups(tenant, period);
    let rated: RatedPeriod;
    try {
      rated = await rating.ratePeriod(tenant, period);
    } catch (err) {
      noteFailure(report, tenant.id, err, rollups.some((r) => r.requests > 0n));
      continue;
    }
    const digits = rated.digits;
    const currency = rated.currency;
    const row = (group: string | null, t: Totals, amount: Decimal): UsageRow => ({
      tenantId: tenant.id, period, group, ...quantitiesOf(t),
      receipts: t.receipts, requests: t.requests,
      ratedAmount: amount, currency,
      ...(options.compareReported ? { ratedUsage: amount, reportedCost: t.reported.round(digits) } : {}),
    });

    if (options.by === 'model' || options.by === 'gpu') {
      const by = options.by;
      const groups = new Map<string | null, Totals>();
      for (const r of rollups) {
        const k = by === 'model' ? r.modelKey : r.gpuKey;
        let t = groups.get(k);
        if (!t) groups.set(k, (t = emptyTotals()));
        t.receipts += r.receipts;
        t.requests += r.requests;
        for (const q of REPORTED_QUANTITIES) t[q.prop] += r[q.prop];
        t.reported.add(r.reportedCost);
      }
      const kinds: string[] = by === 'model' ? TOKEN_CLASSES.map((c) => c.name) : ['gpu'];
      for (const [k, t] of [...groups.entries()].sort(([a], [b]) => ((a ?? '') < (b ?? '') ? -1 : 1))) {
        const amount = rated.usageLines
          .filter((l) => kinds.includes(l.kind) && l.key === k)
          .reduce((s, l) => s.add(l.amount), new ExactSum())
          .round(digits);
        report.rows.push(row(k, t, amount));
      }
      continue;
    }
    const groups = await groupedByReceipts(store, rating, tenant, period, options.by);
    const keys = [...groups.keys()].sort((a, b) => ((a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0));
    for (const k of keys) {
      const t = groups.get(k)!;
      report.rows.push(row(k, t, t.amount.round(digits)));
    }
  }
  return report;
}

/** One row per tenant: the rollups' sums in one query, the amounts from the cache or the engine. */
async function tenantTotals(
  store: Store,
  rating: StoreRating,
  options: { period: Period; tenants: Tenant[]; compareReported: boolean; now: number },
  report: UsageReport,
): Promise<UsageReport> {
  const { period } = options;
  const { first, last } = periodDays(period);
  // A few tenants: their rows alone (by the primary key); many: one pass over the period's rollups.
  const few = options.tenants.length <= 50 ? options.tenants.map((t) => t.id) : undefined;
  const totals = await store.usageCache.periodTotals(first, last, options.compareReported, few);
  const rated = await ratedSubtotals(store, rating, options.tenants, period, totals, options.compareReported);
  for (const tenant of options.tenants) {
    const sums = totals.get(tenant.id);
    const result = rated.get(tenant.id)!;
    if (result.error !== undefined) {
      noteFailure(report, tenant.id, result.error, sums !== undefined && sums.requests > 0n);
      continue;
    }
    const { fee, subtotal, currency, usage } = result.rated!;
    const row: UsageRow = {
      tenantId: tenant.id, period, ...(sums ? quantitiesOf(sums) : zeroSums()),
      receipts: sums?.receipts ?? 0n, requests: sums?.requests ?? 0n,
      ratedAmount: subtotal, currency,
      ...(options.compareReported
        ? { ratedUsage: usage!, reportedCost: (sums?.reportedCost ?? Decimal.ZERO).round(currencyDigits(currency)) }
        : {}),
    };
    const { start, end } = periodInterval(tenant.timezone, period);
    if (options.now >= start && options.now < end) {
      report.current = true;
      row.monthToDate = subtotal;
      row.projectedMonthEnd = fee.add(subtotal.sub(fee).mulDivRound(BigInt(end - start), BigInt(Math.max(1, options.now - start)), currencyDigits(currency)));
    }
    report.rows.push(row);
  }
  return report;
}
