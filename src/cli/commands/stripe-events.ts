/** stripe events sync [--since DATE]: Stripe's events since the last run, handled as the webhook handles them. */
import { webhookTarget } from '../../app/alerts.js';
import { syncEvents } from '../../app/stripe-events-sync.js';
import { parseDate, parseRfc3339 } from '../../domain/time.js';
import { ExitCode, UsageError } from '../../errors.js';
import { openStripe } from '../../stripe/client.js';
import type { Context } from '../context.js';
import { stripeRetryNotice } from './stripe-shared.js';

function sinceOf(text: unknown): number | undefined {
  if (text === undefined) return undefined;
  const s = String(text);
  const date = parseDate(s);
  if (date !== undefined) return Math.floor(date / 1000);
  const t = parseRfc3339(s);
  if (!t.ok) throw new UsageError(`--since "${s}" is not a date or an instant`, 'Write it like 2026-11-01 or 2026-11-01T12:00:00Z.');
  return Math.floor(t.ms / 1000);
}

export async function syncCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const sinceS = sinceOf(opts.since);
  const config = await ctx.config();
  return ctx.withStore(async (store) => {
    const client = await openStripe(ctx.io.env, { onRetry: stripeRetryNotice(ctx) });
    let report;
    try {
      report = await syncEvents(store, client, {
        now: ctx.clock.now(), ...(sinceS === undefined ? {} : { sinceS }), alertTarget: config.alerts.webhook ? webhookTarget(config.alerts.webhook) : undefined,
      });
    } finally {
      client.close();
    }
    const iso = (s: number) => new Date(s * 1000).toISOString();
    const fresh = report.events.filter((e) => e.stored);
    const json = {
      livemode: client.livemode,
      from: iso(report.from),
      fetched: report.fetched,
      stored: report.stored,
      replays: report.replays,
      cursor: report.cursor ? { created: iso(report.cursor.created), id: report.cursor.id } : null,
      events: report.events.map((e) => ({ id: e.id, type: e.type, stored: e.stored, tenant_id: e.tenantId, outcome: e.outcome })),
    };
    await ctx.rows(
      fresh,
      [
        { header: 'event', value: (e) => e.id },
        { header: 'type', value: (e) => e.type },
        { header: 'tenant', value: (e) => e.tenantId },
        { header: 'outcome', value: (e) => e.outcome },
      ],
      json,
    );
    if (ctx.format === 'table') {
      ctx.notice(`${report.fetched} event(s) since ${iso(report.from)}: ${report.stored} new, ${report.replays} received before (by the webhook or an earlier sync).`);
    }
    return ExitCode.ok;
  });
}
