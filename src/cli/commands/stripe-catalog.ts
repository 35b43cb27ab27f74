/** stripe catalog sync [version] [--dry-run]: products and prices of catalog versions in Stripe. */
import { syncCatalog, type PlanResult, type PriceResult } from '../../app/stripe-catalog.js';
import { ExitCode } from '../../errors.js';
import { openStripe } from '../../stripe/client.js';
import type { Context } from '../context.js';
import { stripeRetryNotice } from './stripe-shared.js';

export async function syncCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const dryRun = opts.dryRun === true;
  const version = args[0] === undefined ? undefined : String(args[0]);
  const config = await ctx.config();
  return ctx.withStore(async (store) => {
    const client = await openStripe(ctx.io.env, { onRetry: stripeRetryNotice(ctx) });
    let report;
    try {
      report = await syncCatalog(store, client, { version, dryRun, meters: config.stripe.meters, now: ctx.clock.now() });
    } finally {
      client.close();
    }
    const prices = report.plans.flatMap((p) => p.prices.map((price) => ({ plan: p, price })));
    const count = <T extends { action: string }>(list: T[], action: string) => list.filter((x) => x.action === action).length;
    const priceList = prices.map((x) => x.price);
    const refused = report.plans.filter((p) => p.status === 'refused');
    const created = { products: count(report.products, 'created'), prices: count(priceList, 'created') + count(priceList, 'replaced') };
    if (!dryRun) {
      await ctx.audit(store, 'stripe catalog sync', {
        livemode: report.livemode,
        versions: report.versions,
        created_products: created.products,
        created_prices: created.prices,
        replaced_prices: Object.fromEntries(priceList.filter((p) => p.action === 'replaced').map((p) => [p.lookupKey, { was: p.previousId, now: p.priceId }])),
        refused_plans: refused.map((p) => `${p.version}/${p.plan}`),
      });
    }
    const json = {
      livemode: report.livemode,
      dry_run: dryRun,
      versions: report.versions,
      created,
      products: report.products.map((p) => ({ id: p.id, name: p.name, action: p.action })),
      plans: report.plans.map((p) => ({
        version: p.version, plan: p.plan, name: p.name, status: p.status, reasons: p.reasons, notes: p.notes,
        prices: p.prices.map((x) => ({ item: x.item, lookup_key: x.lookupKey, price: x.priceId, action: x.action, previous_price: x.previousId })),
      })),
    };
    await ctx.rows<{ plan: PlanResult; price: PriceResult | null }>(
      [...prices, ...refused.map((plan) => ({ plan, price: null }))],
      [
        { header: 'version', value: (r) => r.plan.version },
        { header: 'plan', value: (r) => r.plan.plan },
        { header: 'item', value: (r) => r.price?.item ?? '' },
        { header: 'lookup_key', value: (r) => r.price?.lookupKey ?? '' },
        { header: 'price', value: (r) => r.price?.priceId ?? '' },
        { header: 'action', value: (r) => (r.price ? r.price.action.replace('_', ' ') : 'refused') },
      ],
      json,
    );
    for (const p of report.plans) for (const n of p.notes) ctx.notice(`${p.version}/${p.plan}: ${n}`);
    // Reasons every plan of a version shares (a meter's prices, say) are said once for the version.
    for (const version of report.versions) {
      const plans = report.plans.filter((p) => p.version === version);
      const mine = refused.filter((p) => p.version === version);
      const shared = mine.length === plans.length && mine.length > 1 ? mine[0]!.reasons.filter((r) => mine.every((p) => p.reasons.includes(r))) : [];
      const list = (reasons: string[]) => reasons.map((r) => `  - ${r}`).join('\n');
      if (shared.length > 0) ctx.warn(`no plan of catalog ${version} was synced: Stripe cannot bill its prices exactly as billctl would:\n${list(shared)}`);
      for (const p of mine) {
        const own = p.reasons.filter((r) => !shared.includes(r));
        if (own.length === 0) continue;
        ctx.warn(
          shared.length > 0
            ? `plan ${p.plan} of catalog ${version}, besides that:\n${list(own)}`
            : `plan ${p.plan} of catalog ${version} was not synced: Stripe cannot bill it exactly as billctl would:\n${list(own)}`,
        );
      }
    }
    if (ctx.format === 'table') {
      const verb = dryRun ? 'would create' : 'created';
      ctx.notice(`${report.livemode ? 'Live' : 'Test'} mode: ${verb} ${created.products} product(s) and ${created.prices} price(s); ${count(priceList, 'found')} price(s) were there already.`);
    }
    if (refused.length > 0) {
      ctx.warn(`${refused.length} plan(s) refused. Tenants on them cannot be subscribed; change the catalog (a new version) or bill them by invoice.`);
      return ExitCode.partial;
    }
    return ExitCode.ok;
  });
}
