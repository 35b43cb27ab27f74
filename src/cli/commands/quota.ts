/**
 * quota check --tenant T [--metric api_calls|tokens|gpu_hours|cost] [--amount N]: exit 0 allowed,
 * exit 4 refused. Called before requests of a service, so it loads little and reads rollups only.
 */
import { QUOTA_METRICS, checkQuota, formatQuotaValue, parseQuotaAmount, quotaJson, type QuotaMetric } from '../../app/quota.js';
import { parseUserId } from '../../app/budgets.js';
import { formatAmount } from '../../domain/money.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { Context } from '../context.js';

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const metric = String(opts.metric ?? 'api_calls') as QuotaMetric;
  if (!QUOTA_METRICS.includes(metric)) throw new UsageError(`--metric: "${metric}" is not one of ${QUOTA_METRICS.join(', ')}`);
  const amount = parseQuotaAmount(metric, opts.amount === undefined ? undefined : String(opts.amount));
  const tenantId = String(opts.tenant);
  return ctx.withStore(async (store) => {
    const tenant = await store.getTenant(tenantId);
    if (!tenant) throw new UsageError(`no tenant "${tenantId}"`, 'See the tenants with: billctl tenant list');
    const user = opts.user === undefined ? undefined : parseUserId(String(opts.user));
    const answer = await checkQuota(store, tenant, metric, amount, ctx.clock.now(), user);
    const json = quotaJson(answer);
    const v = (x: Parameters<typeof formatQuotaValue>[1]) => formatQuotaValue(answer, x);
    await ctx.record(
      [
        ['allowed', answer.allowed ? 'yes' : 'no'],
        ...(answer.reason ? [['reason', answer.reason] as [string, unknown]] : []),
        ['tenant', answer.tenantId],
        ['metric', answer.metric],
        ['period', answer.period],
        ['limit', answer.limit === null ? 'none' : `${v(answer.limit)} ${answer.unit}`],
        ['used', `${v(answer.used)} ${answer.unit}`],
        ['remaining', answer.remaining === null ? '' : `${v(answer.remaining)} ${answer.unit}`],
        ['requested', `${v(answer.requested)} ${answer.unit}`],
        ...(answer.note ? [['note', answer.note] as [string, unknown]] : []),
        ...(answer.userId === undefined ? [] : [['user', answer.userId] as [string, unknown]]),
        ...(answer.user ? [['user budget', `${formatAmount(answer.user.used, answer.user.currency)} of ${formatAmount(answer.user.limit, answer.user.currency)} ${answer.user.currency} spent`] as [string, unknown]] : []),
      ],
      json,
    );
    return answer.allowed ? ExitCode.ok : ExitCode.denied;
  });
}
