/** recommend [--period P] [--tenant T]: each plan's cost of a period, the advice, the costliest models. */
import { periodOption } from '../../app/budgets.js';
import { StoreRating } from '../../app/rating-service.js';
import { recommendPlans, recommendationJson, type Recommendation } from '../../app/recommend.js';
import { requireTenant } from '../../app/tenants.js';
import { formatAmount } from '../../domain/money.js';
import { ExitCode } from '../../errors.js';
import type { Context } from '../context.js';
import type { Column } from '../render.js';

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const period = periodOption(opts.period);
  return ctx.withStore(async (store) => {
    const tenants = opts.tenant === undefined ? undefined : [await requireTenant(store, String(opts.tenant))];
    const rating = await StoreRating.load(store, false);
    const report = await recommendPlans(store, rating, { tenants, period, now: ctx.clock.now() });
    const columns: Column<Recommendation>[] = [
      { header: 'tenant', value: (r) => r.tenantId },
      { header: 'period', value: (r) => r.period },
      { header: 'plan', value: (r) => r.currentPlan },
      { header: 'amount', value: (r) => `${formatAmount(r.currentAmount, r.currency)} ${r.currency}`, align: 'right' },
      { header: 'on each plan', value: (r) => r.plans.map((p) => `${p.planId} ${formatAmount(p.amount, r.currency)}${p.fits ? '' : ' (over hard cap)'}`).join(', ') },
      { header: 'advice', value: (r) => (r.recommended === null ? 'stay' : `${r.recommended} (saves ${formatAmount(r.saving!, r.currency)}, ${r.savingPercent!.toString()} %)`) },
      { header: 'top models', value: (r) => r.topModels.map((m) => `${m.key} ${m.share.toString()} %`).join(', ') },
    ];
    await ctx.rows(report.rows, columns, report.rows.map(recommendationJson));
    for (const f of report.failures) ctx.io.stderr.write(`${ctx.chalk.red('failed:')} ${f.tenantId}: ${f.error}\n`);
    const idle = report.withoutUsage;
    if (idle.length > 0) ctx.notice(`left out, no usage in the period: ${idle.length === 1 ? idle[0] : `${idle.length} tenants`}`);
    if (ctx.format === 'table' && report.rows.length > 0) {
      ctx.notice('Amounts are subtotals before tax; advice when the cheapest plan that fits saves 10 % or more; model shares are of all usage at list prices.');
    }
    return report.failures.length > 0 ? ExitCode.partial : ExitCode.ok;
  });
}
