/**
 * Budgets (`billctl budget set|list|remove`) and the exact arithmetic that budgets, alerts and
 * quota checks share: percentages of a limit are compared by cross-multiplication on Decimals
 * and bigints, never with JavaScript numbers.
 */
import { defaultCurrency } from '../domain/catalog.js';
import { Decimal, currencyDigits, formatAmount } from '../domain/money.js';
import { isPeriod, periodInterval, periodOf, type Interval, type Period } from '../domain/period.js';
import { RatingError, type RatedPeriod } from '../domain/rating.js';
import type { Tenant } from '../domain/tenant.js';
import { UsageError, errorMessage } from '../errors.js';
import type { Budget } from '../store/budget-repo.js';
import type { Store } from '../store/store.js';
import { newestCatalog } from './catalogs.js';
import type { StoreRating } from './rating-service.js';
import { requireTenant } from './tenants.js';
import { usageReport } from './usage.js';

export const DEFAULT_BUDGET_THRESHOLDS: readonly number[] = [50, 80, 100];

// ---------------------------------------------------------------------------------------------
// Exact comparisons

/** True when `value` is at least `percent` % of `limit` (limit > 0): value × 100 ≥ limit × percent. */
export function reachedPercent(value: Decimal | bigint, limit: Decimal | bigint, percent: number): boolean {
  const v = typeof value === 'bigint' ? Decimal.of(value) : value;
  const l = typeof limit === 'bigint' ? Decimal.of(limit) : limit;
  return v.mul(100n).cmp(l.mul(BigInt(percent))) >= 0;
}

/** ⌊value × 100 / limit⌋, the whole percentage used (limit > 0). */
export function wholePercent(value: Decimal | bigint, limit: Decimal | bigint): bigint {
  const v = typeof value === 'bigint' ? Decimal.of(value) : value;
  const l = typeof limit === 'bigint' ? Decimal.of(limit) : limit;
  const scale = Math.max(v.scale, l.scale);
  const num = v.units * 10n ** BigInt(scale - v.scale) * 100n;
  const den = l.units * 10n ** BigInt(scale - l.scale);
  if (den <= 0n) return 0n;
  const q = num / den;
  return num < 0n && q * den !== num ? q - 1n : q;
}

/** a / b rounded half up to `digits` decimals (b ≠ 0). */
export function divide(a: Decimal, b: Decimal, digits: number): Decimal {
  const scale = Math.max(a.scale, b.scale);
  const num = a.units * 10n ** BigInt(scale - a.scale);
  const den = b.units * 10n ** BigInt(scale - b.scale);
  return Decimal.of(num).mulDivRound(1n, den, digits);
}

/** GPU seconds as hours, at most 4 decimals (rounded half up), trailing zeros dropped: display only. */
export function gpuHoursText(seconds: bigint | Decimal): string {
  const s = typeof seconds === 'bigint' ? Decimal.of(seconds) : seconds;
  return s.mulDivRound(1n, 3600n, 4).normalize().toString();
}

/**
 * The month-end projection of a period under way: the fee plus the month-to-date usage (after
 * allowances and discount) scaled linearly to the whole period. The same formula as `billctl usage`
 * (src/app/usage.ts), so budgets and the usage report agree to the cent.
 */
export function projectMonthEnd(rated: RatedPeriod, interval: Interval, now: number): Decimal {
  const fee = rated.totals.fee;
  const { start, end } = interval;
  return fee.add(rated.totals.subtotal.sub(fee).mulDivRound(BigInt(end - start), BigInt(Math.max(1, now - start)), rated.digits));
}

/** The tenant's period under way at `now`, in its timezone. */
export function currentPeriod(tenant: Pick<Tenant, 'timezone'>, now: number): Period {
  return periodOf(tenant.timezone, now);
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** A `--period` value: undefined when not given, else YYYY-MM or a usage error. */
export function periodOption(v: unknown, flag = '--period'): Period | undefined {
  if (v === undefined || v === null) return undefined;
  const p = String(v);
  if (!isPeriod(p)) throw new UsageError(`${flag}: "${p}" is not a period`, 'Write it as YYYY-MM, like 2026-10.');
  return p;
}

/** A budget amount: a decimal > 0 with at most the currency's minor digits. */
export function parseBudgetAmount(text: string, currency: string): Decimal {
  return parseAmount(text, currency, '--monthly');
}

/** An amount typed on the command line: a decimal > 0 with at most the currency's minor digits, at the currency's scale. */
export function parseAmount(text: string, currency: string, flag: string): Decimal {
  const d = Decimal.tryParse(text.trim());
  const digits = currencyDigits(currency);
  if (d === undefined || !/^\d+(\.\d+)?$/.test(text.trim())) {
    throw new UsageError(`${flag}: "${text}" is not an amount`, `Write it like 1000 or 250.50 (${currency}).`);
  }
  if (d.sign() <= 0) throw new UsageError(`${flag}: the amount must be more than 0 (got ${text})`);
  if (d.normalize().scale > digits) {
    throw new UsageError(`${flag}: ${text} has more decimals than ${currency} has (${digits})`);
  }
  return d.round(digits);
}

/** Whole percentages 1..1000, comma separated; sorted, repeats dropped. */
export function parseThresholds(text: string, flag = '--thresholds'): number[] {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new UsageError(`${flag}: give at least one percentage, like 50,80,100`);
  const out = new Set<number>();
  for (const p of parts) {
    if (!/^\d{1,4}$/.test(p) || Number(p) < 1 || Number(p) > 1000) {
      throw new UsageError(`${flag}: "${p}" is not a whole percentage from 1 to 1000`, 'Write them like 50,80,100.');
    }
    out.add(Number(p));
  }
  return [...out].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Use cases

/** The currency a tenant is billed in: its own, else the default (billing-rules.md, "Currencies"). */
export async function tenantCurrency(store: Store, tenant: Tenant): Promise<string> {
  if (tenant.currency !== null) return tenant.currency;
  // No catalog at all: newestCatalog throws the error that says what to do.
  return defaultCurrency((await store.listCatalogs()).map((c) => c.catalog)) ?? (await newestCatalog(store)).catalog.currency;
}

export async function setBudget(
  store: Store, tenantId: string, monthly: string, thresholds: string | undefined, at: string, userId?: string,
): Promise<{ budget: Budget; previous: Budget | undefined }> {
  const tenant = await requireTenant(store, tenantId);
  const currency = await tenantCurrency(store, tenant);
  const amount = parseBudgetAmount(monthly, currency);
  if (userId !== undefined) {
    const user = parseUserId(userId);
    const previous = await store.budgets.getUser(tenant.id, user);
    const list = thresholds === undefined ? (previous?.thresholds ?? [...DEFAULT_BUDGET_THRESHOLDS]) : parseThresholds(thresholds);
    await store.budgets.putUser({ tenantId: tenant.id, userId: user, monthly: amount, currency, thresholds: list }, at);
    return { budget: (await store.budgets.getUser(tenant.id, user))!, previous };
  }
  const previous = await store.budgets.get(tenant.id);
  const list = thresholds === undefined ? (previous?.thresholds ?? [...DEFAULT_BUDGET_THRESHOLDS]) : parseThresholds(thresholds);
  await store.budgets.put({ tenantId: tenant.id, monthly: amount, currency, thresholds: list }, at);
  const budget = await store.budgets.get(tenant.id);
  return { budget: budget!, previous };
}

/** A `--user` value: a receipt's user_id as written (not blank). */
export function parseUserId(text: string): string {
  if (text.trim() === '') throw new UsageError('--user: give the user_id the receipts carry, like alice@example.com');
  return text;
}

export async function removeBudget(store: Store, tenantId: string, userId?: string): Promise<boolean> {
  const tenant = await requireTenant(store, tenantId);
  return userId === undefined ? store.budgets.remove(tenant.id) : store.budgets.removeUser(tenant.id, userId);
}

/**
 * What each user of the tenant has spent in the period: `usage --by user`'s rated amounts (the
 * units each receipt was billed for after allowances, at its prices), by user id.
 */
export async function userSpending(
  store: Store, rating: StoreRating, tenant: Tenant, period: Period, now: number,
): Promise<{ spent: Map<string, Decimal>; currency: string | undefined }> {
  const report = await usageReport(store, rating, { period, tenants: [tenant], by: 'user', compareReported: false, now });
  const failed = report.failures[0];
  if (failed) throw new RatingError(failed.error);
  const spent = new Map<string, Decimal>();
  for (const row of report.rows) if (row.group !== null && row.group !== undefined) spent.set(row.group, row.ratedAmount);
  return { spent, currency: report.rows[0]?.currency };
}

/** Where a tenant stands against its budget in a period. */
export interface BudgetStatus {
  budget: Budget;
  /** Set on a user's budget. */
  userId?: string;
  period: Period;
  /** The period is under way at `now` (then `projected` is given). */
  current: boolean;
  /** The rated amount before tax so far (the usage report's rated_amount). */
  spent: Decimal | null;
  projected: Decimal | null;
  /** ⌊spent × 100 / budget⌋. */
  percent: bigint | null;
  error: string | null;
}

/** Rates the tenant's period and compares it with the budget (a rating problem is reported, not thrown). */
export async function budgetStatus(
  rating: StoreRating, tenant: Tenant, budget: Budget, period: Period, now: number,
): Promise<BudgetStatus & { rated: RatedPeriod | null }> {
  const interval = periodInterval(tenant.timezone, period);
  const current = now >= interval.start && now < interval.end;
  const base = { budget, period, current, spent: null, projected: null, percent: null, rated: null };
  let rated: RatedPeriod;
  try {
    rated = await rating.ratePeriod(tenant, period);
  } catch (err) {
    if (!(err instanceof RatingError)) throw err;
    return { ...base, error: errorMessage(err) };
  }
  if (rated.currency !== budget.currency) {
    return { ...base, rated, error: `the budget is in ${budget.currency} but ${period} is billed in ${rated.currency}: set the budget again` };
  }
  const spent = rated.totals.subtotal;
  return {
    ...base,
    rated,
    spent,
    projected: current ? projectMonthEnd(rated, interval, now) : null,
    percent: wholePercent(spent, budget.monthly),
    error: null,
  };
}

/** Every budget (tenant budgets, then user budgets) with where it stands in its tenant's period under way (or `period`). */
export async function listBudgets(store: Store, rating: StoreRating, now: number, period?: Period): Promise<(BudgetStatus & { tenant: Tenant })[]> {
  const budgets = await store.budgets.list();
  const tenants = new Map((await store.listTenants()).map((t) => [t.id, t]));
  const out: (BudgetStatus & { tenant: Tenant })[] = [];
  for (const b of budgets) {
    const tenant = tenants.get(b.tenantId);
    if (!tenant) continue;
    const { rated: _rated, ...status } = await budgetStatus(rating, tenant, b, period ?? currentPeriod(tenant, now), now);
    out.push({ ...status, tenant });
  }
  const users = await store.budgets.listUsers();
  for (const tenantId of [...new Set(users.map((u) => u.tenantId))]) {
    const tenant = tenants.get(tenantId);
    if (!tenant) continue;
    const p = period ?? currentPeriod(tenant, now);
    let spending: Map<string, Decimal> | undefined;
    let currency: string | undefined;
    let error: string | null = null;
    try {
      ({ spent: spending, currency } = await userSpending(store, rating, tenant, p, now));
    } catch (err) {
      if (!(err instanceof RatingError)) throw err;
      error = errorMessage(err);
    }
    const { start, end } = periodInterval(tenant.timezone, p);
    for (const b of users.filter((u) => u.tenantId === tenantId)) {
      const wrong = currency !== undefined && currency !== b.currency
        ? `the budget is in ${b.currency} but ${p} is billed in ${currency}: set the budget again` : null;
      const spent = spending && !wrong ? (spending.get(b.userId) ?? Decimal.ZERO) : null;
      out.push({
        budget: b, userId: b.userId, period: p, current: now >= start && now < end, spent, projected: null,
        percent: spent === null ? null : wholePercent(spent, b.monthly), error: error ?? wrong, tenant,
      });
    }
  }
  return out;
}

export function budgetJson(s: BudgetStatus & { tenant: Pick<Tenant, 'id'> }): Record<string, unknown> {
  const c = s.budget.currency;
  return {
    tenant_id: s.tenant.id,
    ...(s.userId === undefined ? {} : { user_id: s.userId }),
    monthly: formatAmount(s.budget.monthly, c),
    currency: c,
    thresholds: s.budget.thresholds,
    period: s.period,
    spent: s.spent === null ? null : formatAmount(s.spent, c),
    percent: s.percent === null ? null : Number(s.percent),
    projected_month_end: s.projected === null ? null : formatAmount(s.projected, c),
    ...(s.error === null ? {} : { error: s.error }),
  };
}
