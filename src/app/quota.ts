/**
 * `billctl quota check`: may a tenant use N more units now? Answers from the plan's allowances
 * (the period under way, in the tenant's timezone) and the period's daily rollups, never from a
 * walk over receipts, so it stays fast on a store of millions of receipts. A budget, when the
 * tenant has one, is checked against the month-to-date rated amount (rating reads rollups too).
 *
 * Refused: a hard-cap plan that would go past its allowance ("hard cap reached"), or spending
 * that would go past the budget ("budget exhausted"). A plan without a hard cap may go past its
 * allowance: allowed, and the answer says the extra is billed as overage.
 */
import { Decimal, currencyDigits, formatAmount } from '../domain/money.js';
import { periodDays, type Period } from '../domain/period.js';
import type { Allowances } from '../domain/catalog.js';
import { RatingError, SECONDS_PER_HOUR, resolvePlanTerms, sortVersions } from '../domain/rating.js';
import type { Tenant } from '../domain/tenant.js';
import { UsageError } from '../errors.js';
import type { Budget, UserBudget } from '../store/budget-repo.js';
import type { Store } from '../store/store.js';
import { currentPeriod, gpuHoursText, userSpending } from './budgets.js';
import { StoreRating } from './rating-service.js';
import { usageFromRollups, type PeriodUsage } from './alerts.js';

export const QUOTA_METRICS = ['api_calls', 'tokens', 'gpu_hours', 'cost'] as const;
export type QuotaMetric = (typeof QUOTA_METRICS)[number];

export type QuotaReason = 'hard cap reached' | 'budget exhausted' | 'user budget exhausted';

export interface QuotaAnswer {
  allowed: boolean;
  tenantId: string;
  metric: QuotaMetric;
  period: Period;
  reason: QuotaReason | null;
  /** The unit of limit, used, remaining and requested: hour, token, request, or a currency code. */
  unit: string;
  /** Whole quantities are bigint; GPU hours and money are Decimal. Null: no limit (no budget). */
  limit: bigint | Decimal | null;
  used: bigint | Decimal;
  remaining: bigint | Decimal | null;
  requested: bigint | Decimal;
  hardCap: boolean;
  /** Allowed, but past the plan's allowance: billed as overage. */
  overage: boolean;
  note: string | null;
  /** Money digits (cost answers and budget refusals). */
  currency: string | null;
  /** The user asked about (`--user`, `user=`), and where they stand against their own budget. */
  userId?: string;
  user?: { limit: Decimal; used: Decimal; remaining: Decimal; currency: string };
}

/** `--amount` read exactly: whole units for tokens and API calls, a decimal for GPU hours and cost. */
export function parseQuotaAmount(metric: QuotaMetric, text: string | undefined): bigint | Decimal {
  const t = (text ?? '1').trim();
  if (metric === 'tokens' || metric === 'api_calls') {
    if (!/^\d{1,18}$/.test(t)) throw new UsageError(`--amount: "${t}" is not a whole number of ${metric === 'tokens' ? 'tokens' : 'API calls'}`);
    return BigInt(t);
  }
  if (!/^\d+(\.\d+)?$/.test(t)) {
    throw new UsageError(`--amount: "${t}" is not a number`, metric === 'cost' ? 'Write an amount like 2.50.' : 'Write GPU hours like 1 or 0.25.');
  }
  return Decimal.parse(t);
}

const max0 = (d: Decimal) => (d.sign() < 0 ? Decimal.ZERO : d);

/**
 * What a quota decision reads about a tenant's period under way: computed from the store once,
 * then asked any number of questions (`decideQuota`). `billctl serve` keeps these in memory and
 * computes them again when the store changes; the command computes them for its one question.
 */
export interface QuotaFacts {
  tenant: Tenant;
  period: Period;
  planName: string;
  hardCap: boolean;
  included: Allowances;
  /** Billable usage of the period so far, from rollups. */
  usage: PeriodUsage;
  /** The currency of a cost answer without a budget. */
  currency: string;
  budget: Budget | undefined;
  /** The month-to-date rated amount before tax (only when there is a budget). */
  spent: { spent: Decimal; currency: string } | undefined;
  /** Why `spent` could not be had (thrown when a decision needs it). */
  spentError: UsageError | undefined;
  /** The tenant's per-user budgets, by user id. */
  userBudgets: Map<string, UserBudget>;
  /** Each user's rated amount of the period so far (`usage --by user`), when a user budget exists. */
  userSpent: Map<string, Decimal>;
  userSpentCurrency?: string | undefined;
  userSpentError: UsageError | undefined;
}

/**
 * `withUsers`: also what each user with a budget has spent. That reads the period's receipts (a
 * user's spending is per receipt, not in the rollups), so a check that names no user skips it.
 */
export async function quotaFacts(store: Store, tenant: Tenant, now: number, withUsers = true): Promise<QuotaFacts> {
  const period = currentPeriod(tenant, now);
  const catalogs = await store.listCatalogs();
  const versions = sortVersions(catalogs.map((c) => c.catalog));
  const terms = resolvePlanTerms(tenant, period, versions);
  const budget = await store.budgets.get(tenant.id);
  const userBudgets = new Map((await store.budgets.listUsers(tenant.id)).map((b) => [b.userId, b]));
  const { first, last } = periodDays(period);
  const usage = usageFromRollups((await store.rollups(tenant.id, first, last)).filter((r) => r.requests > 0n));
  const facts: QuotaFacts = {
    tenant, period, planName: terms.plan.name, hardCap: terms.plan.hardCap, included: terms.plan.included, usage,
    currency: tenant.currency ?? terms.version.currency, budget, spent: undefined, spentError: undefined,
    userBudgets, userSpent: new Map(), userSpentError: undefined,
  };
  if (!budget && userBudgets.size === 0) return facts;
  // Usage without a price counts 0.00 here: a gap in the catalog must not stop the service.
  const rating = new StoreRating(store, catalogs, true);
  if (budget) {
    // The budget: the month-to-date rated amount before tax, from the same engine as invoices.
    try {
      const rated = await rating.ratePeriod(tenant, period);
      if (rated.currency !== budget.currency) {
        facts.spentError = new UsageError(
          `${tenant.id}: the budget is in ${budget.currency} but ${period} is billed in ${rated.currency}`,
          `Set it again: billctl budget set ${tenant.id} --monthly AMOUNT`,
        );
      } else facts.spent = { spent: rated.totals.subtotal, currency: rated.currency };
    } catch (err) {
      if (!(err instanceof RatingError)) throw err;
      facts.spentError = err;
    }
  }
  if (withUsers && userBudgets.size > 0) {
    try {
      const u = await userSpending(store, rating, tenant, period, now);
      facts.userSpent = u.spent;
      facts.userSpentCurrency = u.currency;
    } catch (err) {
      if (!(err instanceof RatingError)) throw err;
      facts.userSpentError = err;
    }
    const mismatch = [...userBudgets.values()].find((b) => facts.userSpentCurrency !== undefined && b.currency !== facts.userSpentCurrency);
    if (mismatch) {
      facts.userSpentError = new UsageError(
        `${tenant.id}: the budget of user ${mismatch.userId} is in ${mismatch.currency} but ${period} is billed in ${facts.userSpentCurrency}`,
        `Set it again: billctl budget set ${tenant.id} --user ${mismatch.userId} --monthly AMOUNT`,
      );
    }
  }
  return facts;
}

export async function checkQuota(
  store: Store, tenant: Tenant, metric: QuotaMetric, requested: bigint | Decimal, now: number, user?: string,
): Promise<QuotaAnswer> {
  return decideQuota(await quotaFacts(store, tenant, now, user !== undefined), metric, requested, user);
}

/** The decision (pure): the tenant's hard cap and budget first, then the user's budget when `user` is given. */
export function decideQuota(f: QuotaFacts, metric: QuotaMetric, requested: bigint | Decimal, user?: string): QuotaAnswer {
  const answer = tenantDecision(f, metric, requested);
  if (user === undefined) return answer;
  const withUser: QuotaAnswer = { ...answer, userId: user };
  const ub = f.userBudgets.get(user);
  if (!answer.allowed || !ub) return withUser;
  if (f.userSpentError) throw f.userSpentError;
  const spent = f.userSpent.get(user) ?? Decimal.ZERO;
  // Cost: may this much more be spent? Other metrics: refused once the user's budget is spent.
  const allowed = metric === 'cost' ? spent.add(requested as Decimal).cmp(ub.monthly) <= 0 : spent.cmp(ub.monthly) < 0;
  return {
    ...withUser,
    allowed,
    reason: allowed ? null : 'user budget exhausted',
    user: { limit: ub.monthly, used: spent, remaining: max0(ub.monthly.sub(spent)), currency: ub.currency },
  };
}

function tenantDecision(f: QuotaFacts, metric: QuotaMetric, requested: bigint | Decimal): QuotaAnswer {
  const { tenant, period, budget } = f;
  const hardCap = f.hardCap;
  const base = { tenantId: tenant.id, metric, period, hardCap, note: null, overage: false };
  const spentSoFar = (): { spent: Decimal; currency: string } | undefined => {
    if (f.spentError) throw f.spentError;
    return f.spent;
  };
  const budgetAnswer = (spent: Decimal, currency: string, req: Decimal, allowed: boolean): QuotaAnswer => ({
    ...base, allowed, reason: allowed ? null : 'budget exhausted', unit: currency, currency,
    limit: budget!.monthly, used: spent, remaining: max0(budget!.monthly.sub(spent)), requested: req,
  });

  if (metric === 'cost') {
    const req = requested as Decimal;
    const s = spentSoFar();
    if (!s) {
      return {
        ...base, allowed: true, reason: null, unit: f.currency, currency: f.currency, limit: null, used: Decimal.ZERO, remaining: null,
        requested: req, note: 'no budget is set for this tenant',
      };
    }
    return budgetAnswer(s.spent, s.currency, req, s.spent.add(req).cmp(budget!.monthly) <= 0);
  }

  const { usage } = f;
  const inc = f.included;
  // Compared exactly in the unit rating uses: GPU seconds (hours × 3600 may have a fraction).
  const [granted, used, req]: [Decimal, Decimal, Decimal] =
    metric === 'gpu_hours' ? [Decimal.of(inc.gpuHours * SECONDS_PER_HOUR), Decimal.of(usage.gpuSeconds), (requested as Decimal).mul(SECONDS_PER_HOUR)]
    : metric === 'tokens' ? [Decimal.of(inc.tokens), Decimal.of(usage.tokens), Decimal.of(requested as bigint)]
    : [Decimal.of(inc.apiCalls), Decimal.of(usage.apiCalls), Decimal.of(requested as bigint)];
  const past = used.add(req).cmp(granted) > 0;
  const show = (d: Decimal): bigint | Decimal => (metric === 'gpu_hours' ? Decimal.parse(gpuHoursText(d)) : d.units);
  const unit = metric === 'gpu_hours' ? 'hour' : metric === 'tokens' ? 'token' : 'request';
  const answer: QuotaAnswer = {
    ...base, allowed: true, reason: null, unit, currency: null,
    limit: show(granted), used: show(used), remaining: show(max0(granted.sub(used))), requested: requested,
  };
  if (past && hardCap) return { ...answer, allowed: false, reason: 'hard cap reached' };
  const s = spentSoFar();
  if (s && s.spent.cmp(budget!.monthly) >= 0) {
    return { ...budgetAnswer(s.spent, s.currency, Decimal.ZERO, false), note: `the ${metric} would add to a budget already spent` };
  }
  if (past) {
    return { ...answer, overage: true, note: `past the ${f.planName} plan's allowance: the extra usage is billed as overage` };
  }
  return answer;
}

/** The JSON answer: whole quantities as numbers, GPU hours and money as decimal text. */
export function quotaJson(a: QuotaAnswer): Record<string, unknown> {
  const v = (x: bigint | Decimal | null): unknown => {
    if (x === null) return null;
    if (typeof x === 'bigint') return x; // written as an exact JSON number
    return a.currency !== null && a.unit === a.currency ? x.toFixed(currencyDigits(a.currency)) : x.normalize().toString();
  };
  const out: Record<string, unknown> = {
    allowed: a.allowed,
    tenant_id: a.tenantId,
    metric: a.metric,
    period: a.period,
  };
  if (a.reason !== null) out.reason = a.reason;
  Object.assign(out, {
    unit: a.unit,
    limit: v(a.limit),
    used: v(a.used),
    remaining: v(a.remaining),
    requested: v(a.requested),
    hard_cap: a.hardCap,
  });
  if (a.overage) out.overage = true;
  if (a.note !== null) out.note = a.note;
  if (a.userId !== undefined) {
    out.user_id = a.userId;
    if (a.user) {
      const c = a.user.currency;
      Object.assign(out, {
        user_limit: formatAmount(a.user.limit, c), user_used: formatAmount(a.user.used, c), user_remaining: formatAmount(a.user.remaining, c),
      });
    }
  }
  return out;
}

export function formatQuotaValue(a: QuotaAnswer, x: bigint | Decimal | null): string {
  if (x === null) return '';
  if (typeof x === 'bigint') return x.toString();
  return a.currency !== null && a.unit === a.currency ? formatAmount(x, a.currency) : x.normalize().toString();
}
