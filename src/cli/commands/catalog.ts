/** catalog import | list | show */
import { importCatalog } from '../../app/catalogs.js';
import { catalogToDocument, type CatalogVersion } from '../../domain/catalog.js';
import { catalogPriceText, GPU_PRICE_UNIT, REQUEST_PRICE_UNIT, tokenPriceUnit } from '../../domain/price-models/index.js';
import { UsageError } from '../../errors.js';
import type { Context } from '../context.js';
import type { Column } from '../render.js';

export async function importCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const file = String(args[0]);
  return ctx.withStore(async (store) => {
    const result = await importCatalog(store, file, {
      replace: opts.replace === true,
      at: ctx.nowIso(),
      isUsedByFinalizedInvoice: (v) => store.catalogUsedByFinalizedInvoice(v),
    });
    for (const w of result.warnings) ctx.warn(w);
    if (result.outcome !== 'unchanged') {
      await ctx.audit(store, 'catalog import', { version: result.catalog.version, outcome: result.outcome, file });
    }
    const c = result.catalog;
    const summary = {
      version: c.version,
      effective_from: new Date(c.effectiveFrom).toISOString(),
      currency: c.currency,
      outcome: result.outcome,
      plans: c.plans.size,
      gpu_rates: c.gpuRates.size,
      token_rates: c.tokenRates.size,
    };
    if (ctx.format === 'json') await ctx.record([], summary);
    else {
      const verb = { created: 'imported', unchanged: 'already in the store, unchanged:', replaced: 'replaced' }[result.outcome];
      ctx.out(
        `catalog ${c.version} ${verb} (effective ${summary.effective_from}, ${c.currency}, ` +
          `${c.plans.size} plans, ${c.gpuRates.size} GPU rates, ${c.tokenRates.size} token rates)\n`,
      );
    }
    return 0;
  });
}

const LIST_COLUMNS: Column<{ c: CatalogVersion; importedAt: string }>[] = [
  { header: 'version', value: (r) => r.c.version },
  { header: 'effective_from', value: (r) => new Date(r.c.effectiveFrom).toISOString() },
  { header: 'currency', value: (r) => r.c.currency },
  { header: 'default_plan', value: (r) => r.c.defaultPlan },
  { header: 'plans', value: (r) => [...r.c.plans.keys()].join(' '), align: 'left' },
  { header: 'imported_at', value: (r) => r.importedAt },
];

export async function listCommand(ctx: Context): Promise<number> {
  return ctx.withStore(async (store) => {
    const rows = (await store.listCatalogs()).map((s) => ({ c: s.catalog, importedAt: s.importedAt }));
    await ctx.rows(
      rows,
      LIST_COLUMNS,
      rows.map((r) => ({
        version: r.c.version,
        effective_from: new Date(r.c.effectiveFrom).toISOString(),
        currency: r.c.currency,
        default_plan: r.c.defaultPlan,
        plans: [...r.c.plans.keys()],
        imported_at: r.importedAt,
      })),
    );
    return 0;
  });
}

export async function showCommand(ctx: Context, args: unknown[]): Promise<number> {
  const wanted = args[0] as string | undefined;
  return ctx.withStore(async (store) => {
    const all = await store.listCatalogs();
    const found = wanted === undefined ? all[all.length - 1] : all.find((s) => s.catalog.version === wanted);
    if (!found) {
      if (wanted === undefined) {
        throw new UsageError('the store has no catalog yet', 'Import one: billctl catalog import templates/catalog.example.yaml');
      }
      throw new UsageError(
        `no catalog version "${wanted}"`,
        `Versions in the store: ${all.map((s) => s.catalog.version).join(', ') || 'none'}.`,
      );
    }
    await store.loadRates(found.catalog, 'all');
    const doc = catalogToDocument(found.catalog);
    if (ctx.format === 'json') {
      await ctx.record([], doc);
      return 0;
    }
    const c = found.catalog;
    type Row = { kind: string; key: string; name: string; price: string };
    const rows: Row[] = [
      ...[...c.plans.values()].map((p) => ({
        kind: 'plan',
        key: p.id,
        name: p.name,
        price:
          `fee ${p.monthlyFee} ${c.currency}/month; includes ${p.included.gpuHours} GPU h, ${p.included.tokens} tokens, ` +
          `${p.included.apiCalls} calls${p.hardCap ? '; hard cap' : ''}` +
          (p.usageDiscountPercent.isZero() ? '' : `; ${p.usageDiscountPercent} % usage discount`) +
          (p.minimumCommitment === undefined ? '' : `; minimum commitment ${p.minimumCommitment} ${c.currency}`) +
          (p.rates === undefined ? '' : '; own rates (see --format json)'),
      })),
      ...[...c.gpuRates.values()].map((g) => ({ kind: 'gpu', key: g.key, name: g.name, price: `${catalogPriceText(g.price, GPU_PRICE_UNIT)} per GPU hour` })),
      ...[...c.tokenRates.values()].map((t) => ({
        kind: 'model',
        key: t.key,
        name: t.name,
        price: `${catalogPriceText(t.input, tokenPriceUnit(c.tokenUnit))} in / ${catalogPriceText(t.output, tokenPriceUnit(c.tokenUnit))} out per ${c.tokenUnit} tokens`,
      })),
      { kind: 'requests', key: '', name: 'API requests', price: `${catalogPriceText(c.requestRate, REQUEST_PRICE_UNIT)} per request` },
    ];
    if (ctx.format === 'table') {
      ctx.out(
        `catalog ${c.version}, effective ${new Date(c.effectiveFrom).toISOString()}, ${c.currency}, default plan ${c.defaultPlan}\n`,
      );
    }
    await ctx.rows(rows, [
      { header: 'kind', value: (r) => r.kind },
      { header: 'key', value: (r) => r.key },
      { header: 'name', value: (r) => r.name },
      { header: 'price', value: (r) => r.price },
    ]);
    return 0;
  });
}
