/** estimate --tenant T (--model M [--input-tokens N] [--cached-input-tokens N] [--cache-write-tokens N] [--output-tokens N] [--reasoning-tokens N] | --gpu G --gpu-seconds N) */
import { estimate, estimateJson, estimateRequest } from '../../app/estimate.js';
import { requireTenant } from '../../app/tenants.js';
import { formatAmount } from '../../domain/money.js';
import { TOKEN_CLASSES } from '../../domain/quantities.js';
import { ExitCode } from '../../errors.js';
import type { Context } from '../context.js';

const str = (v: unknown) => (v === undefined ? undefined : String(v));

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  // commander names an option by its camel-cased flag: --cached-input-tokens is cachedInputTokens, the class's prop.
  const fields: Record<string, string | undefined> = { model: str(opts.model), gpu: str(opts.gpu), gpu_seconds: str(opts.gpuSeconds) };
  for (const c of TOKEN_CLASSES) fields[c.name] = str(opts[c.prop]);
  const req = estimateRequest(fields, 'flag');
  return ctx.withStore(async (store) => {
    const tenant = await requireTenant(store, String(opts.tenant));
    const e = await estimate(store, tenant, req, ctx.clock.now());
    const c = e.currency;
    const money = (d: typeof e.amount) => `${formatAmount(d, c)} ${c}`;
    if (ctx.format === 'table') {
      ctx.out(`one more request would add ${money(e.amount)} to ${e.tenantId}'s ${e.period} (before tax)\n`);
      for (const l of e.lines) {
        const units = l.used === 0n ? '' : ` (${l.used} used, ${l.included} covered by the plan, ${l.billed} billed)`;
        ctx.out(`  ${l.kind} ${l.key}: ${formatAmount(l.amount, c)}${units}\n`);
      }
      ctx.out(`period to date ${money(e.subtotalBefore)} -> ${money(e.subtotalAfter)}; projected for the whole period ${money(e.projectedTotal)}\n`);
    } else {
      await ctx.record([
        ['tenant', e.tenantId], ['period', e.period], ['amount', money(e.amount)],
        ['subtotal before', money(e.subtotalBefore)], ['subtotal after', money(e.subtotalAfter)], ['projected total', money(e.projectedTotal)],
      ], estimateJson(e));
    }
    return ExitCode.ok;
  });
}
