/** credit grant | list | show | revoke */
import { dateOf, drawJson, grantCredit, grantJson, requireGrant, revokeCredit, type GrantOutcome } from '../../app/credits.js';
import { requireTenant } from '../../app/tenants.js';
import { formatAmount } from '../../domain/money.js';
import type { GrantRecord } from '../../store/credit-repo.js';
import type { Context } from '../context.js';
import { jsonColumns } from '../render.js';

const opt = (opts: Record<string, unknown>, k: string) => (opts[k] === undefined ? undefined : String(opts[k]));

/** The columns of `credit list`: named as the JSON keys, amounts as plain decimals. */
const GRANT_KEYS = ['id', 'tenant_id', 'kind', 'name', 'currency', 'amount', 'drawn', 'balance', 'start', 'expires', 'status'];


async function showGrant(ctx: Context, g: GrantRecord, extra: Record<string, unknown> = {}): Promise<void> {
  const json = { ...grantJson(g, dateOf(ctx.nowIso())), ...extra };
  await ctx.record(Object.entries(json).filter(([, v]) => !Array.isArray(v)), json);
}

function changedDrafts(ctx: Context, o: GrantOutcome): void {
  if (o.draftsChanged > 0) ctx.notice(`${o.draftsChanged} draft(s) of ${o.grant.tenantId} now draw differently (see billctl invoice list --tenant ${o.grant.tenantId} --status draft)`);
}

export async function grantCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return ctx.withStore(async (store) => {
    const o = await grantCredit(
      store,
      { tenantId: String(args[0]), amount: String(opts.amount), kind: opt(opts, 'kind'), name: opt(opts, 'name'), start: opt(opts, 'start'), expires: opt(opts, 'expires') },
      ctx.nowIso(),
      ctx.auditor(store),
    );
    if (ctx.format === 'table') ctx.notice(`granted ${formatAmount(o.grant.amount, o.grant.currency)} ${o.grant.currency} (${o.grant.kind}) to ${o.grant.tenantId} as grant ${o.grant.id}`);
    await showGrant(ctx, o.grant);
    changedDrafts(ctx, o);
    return 0;
  });
}

export async function listCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return ctx.withStore(async (store) => {
    const tenantId = opt(opts, 'tenant');
    if (tenantId !== undefined) await requireTenant(store, tenantId);
    const today = dateOf(ctx.nowIso());
    const json = (await store.credits.listGrants({ tenantId })).map((g) => grantJson(g, today));
    await ctx.rows(json, jsonColumns(GRANT_KEYS, ['amount', 'drawn', 'balance']), json);
    return 0;
  });
}

export async function showCommand(ctx: Context, args: unknown[]): Promise<number> {
  return ctx.withStore(async (store) => {
    const g = await requireGrant(store, String(args[0]));
    const draws = (await store.credits.drawsOfGrant(g.id)).map((d) => drawJson(d, g.currency));
    if (ctx.format === 'json') {
      await ctx.record([], { ...grantJson(g, dateOf(ctx.nowIso())), draws });
      return 0;
    }
    await showGrant(ctx, g);
    if (ctx.format === 'table') ctx.out(draws.length === 0 ? 'No draws yet.\n' : 'Draws:\n');
    if (draws.length > 0 || ctx.format === 'csv') await ctx.rows(draws, jsonColumns(['invoice_id', 'number', 'period', 'status', 'issue_date', 'amount', 'returned_at'], ['amount']));
    return 0;
  });
}

export async function revokeCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const reason = String(opts.reason ?? '').trim();
  return ctx.withStore(async (store) => {
    const g = await requireGrant(store, String(args[0]));
    await ctx.confirmOnTerminal(`Revoke credit grant ${g.id} of ${g.tenantId} (${formatAmount(g.balance, g.currency)} ${g.currency} left)? It is drawn no more.`);
    const o = await revokeCredit(store, g.id, reason, ctx.nowIso(), ctx.auditor(store));
    if (ctx.format === 'table') ctx.notice(`credit grant ${g.id} revoked: ${formatAmount(o.grant.balance, g.currency)} ${g.currency} left undrawn`);
    await showGrant(ctx, o.grant);
    changedDrafts(ctx, o);
    return 0;
  });
}
