/**
 * stripe setup [--dry-run]: find or create the billing meters (GPU seconds, input and output tokens,
 * API calls, and one per further token class the store has seen) and store their ids.
 */
import { setupMeters, type MeterSetupResult } from '../../app/stripe-setup.js';
import { ExitCode } from '../../errors.js';
import { openStripe } from '../../stripe/client.js';
import type { Context } from '../context.js';
import { stripeRetryNotice } from './stripe-shared.js';

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const dryRun = opts.dryRun === true;
  const config = await ctx.config();
  return ctx.withStore(async (store) => {
    const client = await openStripe(ctx.io.env, { onRetry: stripeRetryNotice(ctx) });
    try {
      const report = await setupMeters(store, client, config.stripe.meters, { dryRun });
      const count = (a: MeterSetupResult['action']) => report.meters.filter((m) => m.action === a).length;
      if (!dryRun) {
        await ctx.audit(store, 'stripe setup', {
          livemode: report.livemode,
          created: count('created'),
          found: count('found'),
          reactivated: count('reactivated'),
          conflicts: count('conflict'),
          meters: Object.fromEntries(report.meters.map((m) => [m.key, m.id])),
        });
      }
      const json = {
        livemode: report.livemode,
        dry_run: dryRun,
        created: count('created'),
        found: count('found'),
        reactivated: count('reactivated'),
        conflicts: count('conflict'),
        not_seen: report.notSeen,
        meters: report.meters.map((m) => ({
          meter: m.key,
          event_name: m.eventName,
          id: m.id,
          action: m.action,
          previous_id: m.previousId,
          problem: m.problem,
        })),
      };
      for (const m of report.meters) {
        if (m.previousId) ctx.notice(`${m.key}: now ${m.id} for ${m.eventName} (was ${m.previousId})`);
      }
      await ctx.rows(
        report.meters,
        [
          { header: 'meter', value: (m) => m.key },
          { header: 'event_name', value: (m) => m.eventName },
          { header: 'id', value: (m) => m.id },
          { header: 'action', value: (m) => m.action.replace('_', ' ') },
          { header: 'problem', value: (m) => m.problem },
        ],
        json,
      );
      if (report.notSeen.length > 0) {
        ctx.notice(
          `No meter for ${report.notSeen.join(', ')}: no receipt in the store has them yet. ` +
            'Run billctl stripe setup again once receipts with them arrive (billctl stripe push says when).',
        );
      }
      const conflicts = report.meters.filter((m) => m.action === 'conflict');
      if (conflicts.length > 0) {
        ctx.warn(
          `${conflicts.length} meter(s) exist in Stripe with another shape and were not used. ` +
            'Give billctl its own event names in billctl.yaml (stripe.meters.<meter>: <event name>) and run setup again.',
        );
        return ExitCode.partial;
      }
      if (!dryRun) ctx.notice(`Stripe meters ready (${report.livemode ? 'live' : 'test'} mode).`);
      return ExitCode.ok;
    } finally {
      client.close();
    }
  });
}
