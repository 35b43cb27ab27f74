/** stripe subscribe (<tenant> | --all) [--dry-run] and stripe unsubscribe <tenant> [--now]. */
import { subscribe, unsubscribe, type SubscribeResult } from '../../app/stripe-subscriptions.js';
import { ExitCode, UsageError } from '../../errors.js';
import { openStripe } from '../../stripe/client.js';
import type { Context } from '../context.js';
import { stripeRetryNotice } from './stripe-shared.js';

export async function subscribeCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const tenantId = args[0] === undefined ? undefined : String(args[0]);
  const all = opts.all === true;
  const dryRun = opts.dryRun === true;
  if ((tenantId === undefined) === !all) {
    throw new UsageError('name one tenant, or pass --all (not both)', 'billctl stripe subscribe acme   or   billctl stripe subscribe --all');
  }
  return ctx.withStore(async (store) => {
    const client = await openStripe(ctx.io.env, { onRetry: stripeRetryNotice(ctx) });
    let results: SubscribeResult[];
    try {
      results = await subscribe(store, client, { ...(tenantId === undefined ? {} : { tenantId }), now: ctx.clock.now(), at: ctx.nowIso(), dryRun });
    } finally {
      client.close();
    }
    const changed = results.filter((r) => r.action === 'created' || r.action === 'updated');
    if (!dryRun && changed.length > 0) {
      await ctx.audit(store, 'stripe subscribe', {
        livemode: client.livemode,
        tenants: Object.fromEntries(changed.map((r) => [r.tenantId, { action: r.action, subscription: r.subscriptionId, plan: r.plan, version: r.version, changes: r.changes }])),
      });
    }
    const json = {
      livemode: client.livemode,
      dry_run: dryRun,
      tenants: results.map((r) => ({
        tenant_id: r.tenantId, customer: r.customerId, subscription: r.subscriptionId, action: r.action, plan: r.plan, version: r.version,
        terms_from: r.termsFrom, changes: r.changes, note: r.note, warnings: r.warnings,
      })),
    };
    await ctx.rows(
      results,
      [
        { header: 'tenant', value: (r) => r.tenantId },
        { header: 'subscription', value: (r) => r.subscriptionId },
        { header: 'action', value: (r) => r.action.replace('_', ' ') },
        { header: 'plan', value: (r) => r.plan },
        { header: 'catalog', value: (r) => r.version },
        { header: 'since', value: (r) => r.termsFrom },
        // The price ids are in the JSON; the table says what moved.
        { header: 'changes', value: (r) => r.changes.map((c) => c.split(' ').slice(0, 2).join('')).join(' ') },
        { header: 'note', value: (r) => r.note },
      ],
      json,
    );
    for (const r of results) for (const w of r.warnings) ctx.warn(`${r.tenantId}: ${w}`);
    if (results.length === 0 && ctx.format === 'table') ctx.notice('No tenant is billed through Stripe (billing mode stripe).');
    const failed = results.filter((r) => r.action === 'failed');
    if (failed.length > 0) {
      ctx.warn(`${failed.length} tenant(s) not subscribed: ${failed.map((r) => `${r.tenantId} (${r.note})`).join('; ')}`);
      return ExitCode.partial;
    }
    return ExitCode.ok;
  });
}

export async function unsubscribeCommand(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const tenantId = String(args[0]);
  const now = opts.now === true;
  const dryRun = opts.dryRun === true;
  return ctx.withStore(async (store) => {
    if (!dryRun) {
      await ctx.confirm(
        now
          ? `Cancel ${tenantId}'s Stripe subscription now? Stripe invoices the usage so far at once; this cannot be undone.`
          : `Cancel ${tenantId}'s Stripe subscription at the end of its current period?`,
      );
    }
    const client = await openStripe(ctx.io.env, { onRetry: stripeRetryNotice(ctx) });
    let r;
    try {
      r = await unsubscribe(store, client, { tenantId, now, dryRun, at: ctx.nowIso() });
    } finally {
      client.close();
    }
    if (!dryRun && (r.action === 'canceled' || r.action === 'cancels_at_period_end')) {
      await ctx.audit(store, 'stripe unsubscribe', { tenant: tenantId, subscription: r.subscriptionId, action: r.action, ends_at: r.endsAt, livemode: client.livemode });
    }
    await ctx.record(
      [['tenant', r.tenantId], ['subscription', r.subscriptionId], ['action', r.action.replace(/_/g, ' ')], ['ends at', r.endsAt]],
      { tenant_id: r.tenantId, subscription: r.subscriptionId, action: r.action, ends_at: r.endsAt, dry_run: dryRun, warnings: r.warnings },
    );
    for (const w of r.warnings) ctx.warn(w);
    if (r.action === 'none' && ctx.format === 'table') ctx.notice(`${tenantId} has no live Stripe subscription.`);
    return ExitCode.ok;
  });
}
