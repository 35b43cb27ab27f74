/** serve token create [--tenant ID] [--name N] | serve token list | serve token revoke <id> */
import { createToken, revokeToken, tokenJson } from '../../app/api-tokens.js';
import { ExitCode } from '../../errors.js';
import type { ApiToken } from '../../store/token-repo.js';
import type { Context } from '../context.js';
import type { Column } from '../render.js';

export async function createCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return ctx.withStore(async (store) => {
    const { token, record } = await store.transaction(async () => {
      const r = await createToken(store, {
        tenantId: opts.tenant === undefined ? undefined : String(opts.tenant),
        name: opts.name === undefined ? undefined : String(opts.name),
      }, ctx.nowIso());
      // The audit names the token by id and hint, never the token.
      await ctx.audit(store, 'serve token create', { id: r.record.id, name: r.record.name, tenant: r.record.tenantId, hint: r.record.hint });
      return r;
    });
    if (ctx.format === 'json') await ctx.record([], { ...tokenJson(record), token });
    else {
      ctx.out(`${token}\n`);
      const scope = record.tenantId === null ? 'an operator token (every tenant)' : `a token of tenant ${record.tenantId}`;
      ctx.notice(`token ${record.id} "${record.name}": ${scope}. It is shown only this once: keep it in a secret store.`);
    }
    return ExitCode.ok;
  });
}

const COLUMNS: Column<ApiToken>[] = [
  { header: 'id', value: (t) => t.id, align: 'right' },
  { header: 'name', value: (t) => t.name },
  { header: 'scope', value: (t) => (t.tenantId === null ? 'operator' : `tenant ${t.tenantId}`) },
  { header: 'token', value: (t) => `${t.hint}…` },
  { header: 'created', value: (t) => t.createdAt },
  { header: 'revoked', value: (t) => t.revokedAt ?? '' },
];

export async function listCommand(ctx: Context): Promise<number> {
  return ctx.withStore(async (store) => {
    const list = await store.tokens.list();
    await ctx.rows(list, COLUMNS, list.map(tokenJson));
    return ExitCode.ok;
  });
}

export async function revokeCommand(ctx: Context, args: unknown[]): Promise<number> {
  return ctx.withStore(async (store) => {
    const r = await store.transaction(async () => {
      const out = await revokeToken(store, String(args[0]), ctx.nowIso());
      if (out.revoked) await ctx.audit(store, 'serve token revoke', { id: out.record.id, name: out.record.name, tenant: out.record.tenantId });
      return out;
    });
    if (ctx.format === 'json') await ctx.record([], { ...tokenJson(r.record), revoked: r.revoked });
    else ctx.notice(r.revoked ? `token ${r.record.id} "${r.record.name}" revoked: a running server refuses it within a second` : `token ${r.record.id} was already revoked`);
    return ExitCode.ok;
  });
}
