/** budget set <tenant> --monthly AMOUNT [--thresholds 50,80,100] | budget list | budget remove <tenant> */
import { budgetJson, listBudgets, parseUserId, periodOption, removeBudget, setBudget, type BudgetStatus } from '../../app/budgets.js';
import { StoreRating } from '../../app/rating-service.js';
import { formatAmount } from '../../domain/money.js';
import type { Tenant } from '../../domain/tenant.js';
import { ExitCode } from '../../errors.js';
import type { Context } from '../context.js';
import type { Column } from '../render.js';

export async function setCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const tenantId = String(args[0]);
  const user = opts.user === undefined ? undefined : parseUserId(String(opts.user));
  return ctx.withStore(async (store) => {
    const { budget, previous } = await store.transaction(async () => {
      const r = await setBudget(store, tenantId, String(opts.monthly), opts.thresholds === undefined ? undefined : String(opts.thresholds), ctx.nowIso(), user);
      await ctx.audit(store, 'budget set', {
        tenant: tenantId, ...(user === undefined ? {} : { user }), monthly: r.budget.monthly.toString(), currency: r.budget.currency, thresholds: r.budget.thresholds,
        previous: r.previous ? { monthly: r.previous.monthly.toString(), thresholds: r.previous.thresholds } : null,
      });
      return r;
    });
    const json = {
      tenant_id: budget.tenantId, ...(user === undefined ? {} : { user_id: user }), monthly: formatAmount(budget.monthly, budget.currency), currency: budget.currency,
      thresholds: budget.thresholds, replaced: previous !== undefined,
    };
    const whose = user === undefined ? budget.tenantId : `user ${user} of ${budget.tenantId}`;
    if (ctx.format === 'table') ctx.notice(`budget of ${whose} ${previous ? 'replaced' : 'set'}`);
    await ctx.record([['tenant', json.tenant_id], ...(user === undefined ? [] : [['user', user] as [string, unknown]]), ['monthly', `${json.monthly} ${json.currency}`], ['thresholds', budget.thresholds.map((t) => `${t} %`).join(', ')]], json);
    return ExitCode.ok;
  });
}

export async function listCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const period = periodOption(opts.period);
  return ctx.withStore(async (store) => {
    const rating = await StoreRating.load(store, false);
    const list = await listBudgets(store, rating, ctx.clock.now(), period);
    type Row = BudgetStatus & { tenant: Tenant };
    const money = (r: Row, v: BudgetStatus['spent']) => (v === null ? '' : formatAmount(v, r.budget.currency));
    const columns: Column<Row>[] = [
      { header: 'tenant', value: (r) => r.tenant.id },
      ...(list.some((r) => r.userId !== undefined) ? [{ header: 'user', value: (r: Row) => r.userId ?? '' }] : []),
      { header: 'monthly', value: (r) => formatAmount(r.budget.monthly, r.budget.currency), align: 'right' },
      { header: 'currency', value: (r) => r.budget.currency },
      { header: 'thresholds', value: (r) => r.budget.thresholds.join(',') },
      { header: 'period', value: (r) => r.period },
      { header: 'spent', value: (r) => money(r, r.spent), align: 'right' },
      { header: 'percent', value: (r) => (r.percent === null ? '' : `${r.percent} %`), align: 'right' },
      { header: 'projected', value: (r) => money(r, r.projected), align: 'right' },
    ];
    await ctx.rows(list, columns, list.map(budgetJson));
    const failed = list.filter((r) => r.error !== null);
    for (const f of failed) ctx.io.stderr.write(`${ctx.chalk.red('failed:')} ${f.tenant.id}: ${f.error}\n`);
    return failed.length > 0 ? ExitCode.partial : ExitCode.ok;
  });
}

export async function removeCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const tenantId = String(args[0]);
  const user = opts.user === undefined ? undefined : parseUserId(String(opts.user));
  const whose = user === undefined ? tenantId : `user ${user} of ${tenantId}`;
  return ctx.withStore(async (store) => {
    const removed = await store.transaction(async () => {
      const had = await removeBudget(store, tenantId, user);
      if (had) await ctx.audit(store, 'budget remove', { tenant: tenantId, ...(user === undefined ? {} : { user }), removed: 1 });
      return had;
    });
    if (ctx.format === 'json') await ctx.record([], { tenant_id: tenantId, ...(user === undefined ? {} : { user_id: user }), removed });
    else ctx.notice(removed ? `budget of ${whose} removed` : `${whose} had no budget: nothing to remove`);
    return ExitCode.ok;
  });
}
