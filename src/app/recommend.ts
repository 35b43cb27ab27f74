/**
 * `billctl recommend`: for each tenant, what a period would have cost on each plan of the
 * catalog (rated by the same engine as invoices, with the tenant's plan swapped), the cheapest
 * plan when it saves at least 10 %, and the models that make up most of the tenant's cost.
 *
 * Amounts are subtotals before tax (tax is the same rate on every plan, so it never changes the
 * order). A hard-cap plan whose allowances the period's usage exceeds is shown but never advised:
 * the tenant would have been stopped at the cap. Ties go to the current plan, then to the plan id
 * in code point order, so the advice is deterministic.
 */
import type { Allowances, CatalogVersion } from '../domain/catalog.js';
import { Decimal, ExactSum, formatAmount } from '../domain/money.js';
import { addMonths, type Period } from '../domain/period.js';
import { addPriceShare } from '../domain/price-models/index.js';
import { priceModelFor, RatingError, SECONDS_PER_HOUR, resolvePlanTerms, type RatedPeriod } from '../domain/rating.js';
import { compareIds } from '../domain/receipt.js';
import { planFor, type Tenant } from '../domain/tenant.js';
import { errorMessage } from '../errors.js';
import type { Store } from '../store/store.js';
import { usageFromRollups, type PeriodUsage } from './alerts.js';
import { currentPeriod, divide } from './budgets.js';
import type { StoreRating } from './rating-service.js';

/** The least saving, in percent of the current plan's amount, worth advising a change for. */
export const MIN_SAVING_PERCENT = 10n;
/** Top models: largest first until they cover this share of all models' cost (at most TOP_MODELS_MAX). */
export const TOP_MODELS_COVER_PERCENT = 80n;
export const TOP_MODELS_MAX = 5;

export interface PlanCost {
  planId: string;
  name: string;
  /** Subtotal before tax of the period on this plan. */
  amount: Decimal;
  /** False for a hard-cap plan whose allowances the usage exceeds. */
  fits: boolean;
  current: boolean;
}

export interface ModelCost {
  key: string;
  name: string;
  /** Tokens at list price (before allowances), exact, rounded once. */
  amount: Decimal;
  /** Share of the tenant's whole usage at list prices, in percent, one decimal. */
  share: Decimal;
}

export interface Recommendation {
  tenantId: string;
  period: Period;
  currency: string;
  currentPlan: string;
  currentAmount: Decimal;
  plans: PlanCost[];
  recommended: string | null;
  saving: Decimal | null;
  savingPercent: Decimal | null;
  topModels: ModelCost[];
}

export interface RecommendReport {
  rows: Recommendation[];
  /** Tenants left out: no usage (billable receipts) in their period. */
  withoutUsage: string[];
  failures: { tenantId: string; error: string }[];
}

/** The tenant with one plan for every period: how `ratePeriod` prices "what if it were on plan X". */
export function onPlan(tenant: Tenant, planId: string): Tenant {
  return { ...tenant, plans: [{ plan: planId, from: null, seq: 1, setAt: '' }] };
}

/**
 * The models by list-price cost, largest first, until they cover 80 % of all models' cost (at most 5).
 * A line's cost is its used units (before allowances) priced by its price model, exactly.
 */
export function topModels(rated: RatedPeriod, versions: readonly CatalogVersion[]): ModelCost[] {
  const byLabel = new Map(versions.map((v) => [v.version, v]));
  const byModel = new Map<string, { sum: ExactSum; name: string }>();
  const total = new ExactSum();
  for (const l of rated.usageLines) {
    if (l.unpriced || l.catalogVersion === null || l.used === 0n || l.kind === 'fee' || l.kind === 'discount' || l.kind === 'commitment') continue;
    const model = priceModelFor(byLabel.get(l.catalogVersion), l.kind, l.key, rated.plan.id);
    if (model === undefined) continue;
    addPriceShare(total, model, l.used);
    if (l.kind !== 'input_tokens' && l.kind !== 'output_tokens') continue;
    let m = byModel.get(l.key);
    if (!m) byModel.set(l.key, (m = { sum: new ExactSum(), name: l.description.replace(/ (input|output) tokens$/, '') }));
    addPriceShare(m.sum, model, l.used);
  }
  const digits = rated.digits;
  const totalAmount = total.round(digits + 6);
  const models = [...byModel].map(([key, m]) => ({ key, name: m.name, exact: m.sum.round(digits + 6) }))
    .filter((m) => m.exact.sign() > 0)
    .sort((a, b) => b.exact.cmp(a.exact) || compareIds(a.key, b.key));
  const modelsTotal = Decimal.sum(models.map((m) => m.exact));
  const out: ModelCost[] = [];
  let covered = Decimal.ZERO;
  for (const m of models) {
    if (out.length >= TOP_MODELS_MAX) break;
    if (covered.mul(100n).cmp(modelsTotal.mul(TOP_MODELS_COVER_PERCENT)) >= 0) break;
    covered = covered.add(m.exact);
    out.push({ key: m.key, name: m.name, amount: m.exact.round(digits), share: divide(m.exact.mul(100n), totalAmount, 1) });
  }
  return out;
}

function fitsHardCap(usage: PeriodUsage, hardCap: boolean, inc: Allowances): boolean {
  if (!hardCap) return true;
  return usage.gpuSeconds <= inc.gpuHours * SECONDS_PER_HOUR && usage.tokens <= inc.tokens && usage.apiCalls <= inc.apiCalls;
}

export async function recommendPlans(
  store: Store, rating: StoreRating, o: { tenants?: Tenant[]; period?: Period; now: number },
): Promise<RecommendReport> {
  const report: RecommendReport = { rows: [], withoutUsage: [], failures: [] };
  for (const tenant of o.tenants ?? (await store.listTenants())) {
    // Default: the tenant's last complete period.
    const period = o.period ?? addMonths(currentPeriod(tenant, o.now), -1);
    const currentPlan = planFor(tenant.plans, period);
    const rows = await rating.rollups(tenant, period);
    // Without usage (no billable receipt) there is nothing to compare plans on: left out.
    if (!rows.some((r) => r.requests > 0n)) {
      report.withoutUsage.push(tenant.id);
      continue;
    }
    if (currentPlan === undefined) {
      report.failures.push({ tenantId: tenant.id, error: `no plan for ${period}` });
      continue;
    }
    try {
      const terms = resolvePlanTerms(tenant, period, rating.versionsFor(tenant));
      const usage = usageFromRollups(rows.filter((r) => r.requests > 0n));
      const plans: PlanCost[] = [];
      let currentRated: RatedPeriod | undefined;
      for (const [planId, plan] of [...terms.version.plans].sort(([a], [b]) => compareIds(a, b))) {
        const rated = await rating.ratePeriod(onPlan(tenant, planId), period);
        if (planId === currentPlan) currentRated = rated;
        plans.push({
          planId, name: plan.name, amount: rated.totals.subtotal, current: planId === currentPlan,
          fits: fitsHardCap(usage, plan.hardCap, plan.included),
        });
      }
      currentRated ??= await rating.ratePeriod(tenant, period);
      const currentAmount = currentRated.totals.subtotal;
      plans.sort((a, b) => a.amount.cmp(b.amount) || Number(b.current) - Number(a.current) || compareIds(a.planId, b.planId));
      const cheapest = plans.find((p) => p.fits);
      let recommended: string | null = null;
      let saving: Decimal | null = null;
      let savingPercent: Decimal | null = null;
      // Saves at least 10 %: (current − cheapest) × 100 ≥ current × 10.
      if (cheapest && !cheapest.current && currentAmount.sign() > 0 &&
        currentAmount.sub(cheapest.amount).mul(100n).cmp(currentAmount.mul(MIN_SAVING_PERCENT)) >= 0) {
        recommended = cheapest.planId;
        saving = currentAmount.sub(cheapest.amount);
        savingPercent = divide(saving.mul(100n), currentAmount, 1);
      }
      report.rows.push({
        tenantId: tenant.id, period, currency: currentRated.currency, currentPlan, currentAmount, plans,
        recommended, saving, savingPercent, topModels: topModels(currentRated, rating.versionsFor(tenant)),
      });
    } catch (err) {
      if (!(err instanceof RatingError)) throw err;
      report.failures.push({ tenantId: tenant.id, error: errorMessage(err) });
    }
  }
  return report;
}

export function recommendationJson(r: Recommendation): Record<string, unknown> {
  const c = r.currency;
  return {
    tenant_id: r.tenantId,
    period: r.period,
    currency: c,
    current_plan: r.currentPlan,
    current_amount: formatAmount(r.currentAmount, c),
    recommended_plan: r.recommended,
    saving: r.saving === null ? null : formatAmount(r.saving, c),
    saving_percent: r.savingPercent === null ? null : r.savingPercent.toString(),
    plans: r.plans.map((p) => ({ plan: p.planId, name: p.name, amount: formatAmount(p.amount, c), fits: p.fits, current: p.current })),
    top_models: r.topModels.map((m) => ({ model: m.key, name: m.name, amount: formatAmount(m.amount, c), share_percent: m.share.toString() })),
  };
}
