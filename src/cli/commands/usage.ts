/** usage --period P [--tenant T] [--by model|gpu|day|user|provider] [--compare-reported] */
import { StoreRating } from '../../app/rating-service.js';
import { requireTenant } from '../../app/tenants.js';
import { GROUP_FIELD, USAGE_GROUPS, usageJson, usageReport, type UsageGroupBy, type UsageRow } from '../../app/usage.js';
import { Decimal, divRoundHalfUp, formatAmount } from '../../domain/money.js';
import { TOKEN_CLASSES } from '../../domain/quantities.js';
import { SECONDS_PER_HOUR } from '../../domain/rating.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { Context } from '../context.js';
import type { Column } from '../render.js';
import { periodFlag } from './invoice.js';

function gpuHours(seconds: bigint): string {
  return Decimal.of(seconds).mulDivRound(1n, SECONDS_PER_HOUR, 2).toString();
}

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const period = periodFlag(opts.period);
  const by = opts.by as UsageGroupBy | undefined;
  if (by !== undefined && !USAGE_GROUPS.includes(by)) throw new UsageError(`--by: "${by}" is not one of ${USAGE_GROUPS.join(', ')}`);
  const compareReported = opts.compareReported === true;
  return ctx.withStore(async (store) => {
    const tenants = opts.tenant === undefined ? await store.listTenants() : [await requireTenant(store, String(opts.tenant))];
    const rating = await StoreRating.load(store, opts.allowUnpriced === true);
    const report = await usageReport(store, rating, { period, tenants, by, compareReported, now: ctx.clock.now() });
    for (const f of report.failures) ctx.io.stderr.write(`${ctx.chalk.red('failed:')} ${f.tenantId}: ${f.error}\n`);

    const json = usageJson(report.rows, by);
    const columns: Column<UsageRow>[] = [
      { header: 'tenant', value: (r) => r.tenantId },
      ...(by === undefined ? [] : [{ header: GROUP_FIELD[by], value: (r: UsageRow) => r.group ?? '(none)' }]),
      { header: 'receipts', value: (r) => r.receipts, align: 'right' },
      { header: 'requests', value: (r) => r.requests, align: 'right' },
      { header: 'gpu_hours', value: (r) => gpuHours(r.gpuSeconds), align: 'right' },
      // Token classes (quantities.ts): input and output always, the others when some row has them.
      ...TOKEN_CLASSES.filter((c) => !c.extended || report.rows.some((r) => r[c.prop] > 0n))
        .map((c): Column<UsageRow> => ({ header: c.name, value: (r) => r[c.prop], align: 'right' })),
      { header: 'rated_amount', value: (r) => formatAmount(r.ratedAmount, r.currency), align: 'right' },
      { header: 'currency', value: (r) => r.currency },
    ];
    if (compareReported) {
      columns.push(
        { header: 'rated_usage', value: (r) => formatAmount(r.ratedUsage!, r.currency), align: 'right' },
        { header: 'reported_cost', value: (r) => formatAmount(r.reportedCost!, r.currency), align: 'right' },
        { header: 'difference', value: (r) => formatAmount(r.ratedUsage!.sub(r.reportedCost!), r.currency), align: 'right' },
      );
    }
    if (report.current && by === undefined) {
      columns.push(
        { header: 'month_to_date', value: (r) => (r.monthToDate ? formatAmount(r.monthToDate, r.currency) : ''), align: 'right' },
        { header: 'projected', value: (r) => (r.projectedMonthEnd ? formatAmount(r.projectedMonthEnd, r.currency) : ''), align: 'right' },
      );
    }
    if (ctx.format === 'csv') {
      // CSV columns are the JSON keys, with exact quantities.
      const keys = [...new Set(json.flatMap((o) => Object.keys(o)))];
      await ctx.rows(json, keys.map((k) => ({ header: k, value: (o: Record<string, unknown>) => (o[k] === null || o[k] === undefined ? '' : String(o[k])) })));
    } else await ctx.rows(report.rows, columns, json);
    if (ctx.format === 'table') {
      if (report.current && by === undefined) {
        ctx.notice('The period is under way: projected = fee + month-to-date usage scaled linearly to the whole month (allowances not re-applied).');
      }
      if (by === 'day' && ctx.io.stdoutIsTTY) ctx.out(barChart(report.rows, ctx.chalk.cyan));
      if (by !== undefined && by !== 'model' && by !== 'gpu') {
        ctx.notice(`Amounts per ${by}: the units each receipt was billed for after allowances (used in time order), at its prices.`);
      }
    }
    return report.failures.length > 0 ? ExitCode.partial : ExitCode.ok;
  });
}

/** A bar per day (and tenant) of the rated amount, scaled to the terminal. */
function barChart(rows: UsageRow[], paint: (s: string) => string): string {
  const width = 50;
  let max = Decimal.ZERO;
  for (const r of rows) if (r.ratedAmount.cmp(max) > 0) max = r.ratedAmount;
  if (max.isZero()) return '';
  const lines = rows.map((r) => {
    // The bar's length is exact bigint arithmetic on the amounts; only the character count is a number.
    const scale = Math.max(r.ratedAmount.scale, max.scale);
    const num = r.ratedAmount.units * 10n ** BigInt(scale - r.ratedAmount.scale) * BigInt(width);
    const den = max.units * 10n ** BigInt(scale - max.scale);
    const len = r.ratedAmount.sign() > 0 ? Number(divRoundHalfUp(num, den)) : 0;
    return `${r.tenantId.padEnd(12).slice(0, 12)} ${String(r.group ?? '').padEnd(10)} ${paint('█'.repeat(len))} ${formatAmount(r.ratedAmount, r.currency)}`;
  });
  return `\n${lines.join('\n')}\n`;
}
