/** tenant add | update | set-plan | import | list | show */
import {
  addTenant, importTenants, requireTenant, setPlan, tenantCsvRows, TENANT_CSV_COLUMNS, updateTenant, type TenantFields,
} from '../../app/tenants.js';
import type { Tenant } from '../../domain/tenant.js';
import type { Context } from '../context.js';
import { TENANT_COLUMNS, tenantJson } from '../views/tenant.js';

function fields(opts: Record<string, unknown>): TenantFields {
  const s = (k: string) => (opts[k] === undefined ? undefined : String(opts[k]));
  return {
    name: s('name'), plan: s('plan'), from: s('from'), timezone: s('timezone'), taxRate: s('taxRate'),
    taxLabel: s('taxLabel'), netDays: s('netDays'), email: s('email'), address: s('address'), taxId: s('taxId'), poNumber: s('poNumber'),
    currency: s('currency'), billingMode: s('billingMode'), stripeCustomer: s('stripeCustomer'), stripeSince: s('stripeSince'),
  };
}

async function showOne(ctx: Context, t: Tenant, verb?: string): Promise<void> {
  if (ctx.format === 'json') {
    await ctx.record([], tenantJson(t));
    return;
  }
  if (verb) ctx.notice(`tenant ${t.id} ${verb}`);
  const j = tenantJson(t);
  await ctx.record(
    [
      ...Object.entries(j).filter(([k]) => k !== 'plans'),
      ['plans', t.plans.map((p) => `${p.plan}${p.from ? ` from ${p.from}` : ' (every period)'}`).join('; ')],
    ],
    j,
  );
}

export async function addCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const id = String(args[0]);
  return ctx.withStore(async (store) => {
    const t = await store.transaction(async () => {
      const added = await addTenant(store, id, fields(opts), ctx.nowIso());
      await ctx.audit(store, 'tenant add', { tenant: id, created: 1 });
      return added;
    });
    await showOne(ctx, t, 'added');
    return 0;
  });
}

export async function updateCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const id = String(args[0]);
  const f = fields(opts);
  return ctx.withStore(async (store) => {
    const t = await store.transaction(async () => {
      const updated = await updateTenant(store, id, f, ctx.nowIso());
      const changed = Object.keys(f).filter((k) => f[k as keyof TenantFields] !== undefined);
      await ctx.audit(store, 'tenant update', { tenant: id, updated: 1, fields: changed });
      return updated;
    });
    await showOne(ctx, t, 'updated');
    return 0;
  });
}

export async function setPlanCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const [id, plan] = [String(args[0]), String(args[1])];
  return ctx.withStore(async (store) => {
    const t = await store.transaction(async () => {
      const before = (await requireTenant(store, id)).plans.length;
      const changed = await setPlan(store, id, plan, String(opts.from), ctx.nowIso());
      await ctx.audit(store, 'tenant set-plan', {
        tenant: id,
        plan: changed.plans[changed.plans.length - 1]?.plan,
        from: opts.from,
        plan_entries_added: changed.plans.length - before,
      });
      return changed;
    });
    await showOne(ctx, t, `now on ${plan} from ${String(opts.from)}`);
    if (t.billingMode === 'stripe' && (await store.stripeBilling.getSubscription(t.id))) {
      ctx.notice(`${t.id} has a Stripe subscription: run billctl stripe subscribe ${t.id} once ${String(opts.from)} has begun (or --all from cron) to move its items; Stripe prorates the fee from then.`);
    }
    return 0;
  });
}

export async function importCommand(ctx: Context, args: unknown[]): Promise<number> {
  const file = String(args[0]);
  return ctx.withStore(async (store) => {
    const result = await store.transaction(async () => {
      const r = await importTenants(store, file, ctx.nowIso());
      await ctx.audit(store, 'tenant import', { file, ...r });
      return r;
    });
    const json = {
      rows: result.rows,
      created: result.created,
      updated: result.updated,
      unchanged: result.unchanged,
      plan_changes: result.planChanges,
    };
    if (ctx.format === 'json') await ctx.record([], json);
    else await ctx.record(Object.entries(json), json);
    return 0;
  });
}

export async function listCommand(ctx: Context): Promise<number> {
  return ctx.withStore(async (store) => {
    const tenants = await store.listTenants();
    // CSV: the columns of `tenant import`, so the file imports back unchanged.
    if (ctx.format === 'csv') await ctx.rows(tenants.flatMap(tenantCsvRows), TENANT_CSV_COLUMNS.map((c) => ({ header: c, value: (r) => r[c] })));
    else await ctx.rows(tenants, TENANT_COLUMNS, tenants.map(tenantJson));
    return 0;
  });
}

export async function showCommand(ctx: Context, args: unknown[]): Promise<number> {
  return ctx.withStore(async (store) => {
    await showOne(ctx, await requireTenant(store, String(args[0])));
    return 0;
  });
}
