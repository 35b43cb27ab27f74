/**
 * `stripe events sync`: what the webhook of `billctl serve` would have received, pulled from
 * Stripe's `GET /v1/events` (cron, or after the server was down). Events are read from a stored
 * cursor (the newest event's `created` and id) less an overlap, since Stripe may list an event a
 * little after later ones; they are processed oldest first by the webhook's own module
 * (src/stripe/events.ts), which stores each event once by id, so events the webhook already
 * took, or an earlier sync, are replays that change nothing. Safe beside the webhook and beside
 * another sync.
 */
import type { Store } from '../store/store.js';
import { HANDLED_EVENT_TYPES, receiveStripeEvent, type EventOutcome } from '../stripe/events.js';
import type { StripeClient } from '../stripe/client.js';

export const EVENTS_CURSOR_SETTING = 'stripe.events.cursor';
/** How far before the cursor a sync reads again (Stripe does not promise the order events are listed in). */
export const EVENTS_OVERLAP_S = 600;
/** Stripe keeps events for 30 days: a first sync reads them all. */
export const EVENTS_KEPT_S = 30 * 86_400;

export interface EventsCursor {
  created: number;
  id: string;
}

export interface EventsSyncReport {
  /** `created` of the first event asked for (seconds). */
  from: number;
  fetched: number;
  /** New events stored (and applied). */
  stored: number;
  /** Events stored before (by the webhook or an earlier sync): nothing done. */
  replays: number;
  events: EventOutcome[];
  cursor: EventsCursor | null;
}

const after = (a: EventsCursor, b: EventsCursor | null) => b === null || a.created > b.created || (a.created === b.created && a.id > b.id);

export function parseCursor(text: string | undefined): EventsCursor | null {
  if (text === undefined) return null;
  try {
    const c = JSON.parse(text) as EventsCursor;
    return typeof c.created === 'number' && typeof c.id === 'string' ? c : null;
  } catch {
    return null;
  }
}

export async function syncEvents(
  store: Store,
  client: StripeClient,
  o: { now: number; sinceS?: number; alertTarget?: { target: string; display: string } | undefined },
): Promise<EventsSyncReport> {
  let cursor = parseCursor(await store.getSetting(EVENTS_CURSOR_SETTING));
  const from = o.sinceS ?? (cursor ? cursor.created - EVENTS_OVERLAP_S : Math.floor(o.now / 1000) - EVENTS_KEPT_S);
  const events = (await client.listEvents(from, HANDLED_EVENT_TYPES)).sort((a, b) => a.created - b.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const report: EventsSyncReport = { from, fetched: events.length, stored: 0, replays: 0, events: [], cursor };
  for (const e of events) {
    const outcome = await receiveStripeEvent(store, JSON.stringify(e), { source: 'sync', now: o.now, alertTarget: o.alertTarget });
    report.events.push(outcome);
    if (outcome.stored) report.stored++;
    else report.replays++;
    const at = { created: e.created, id: e.id };
    if (after(at, cursor)) {
      // Only forward: a sync running beside this one may have moved it further.
      await store.transaction(async () => {
        const now = parseCursor(await store.getSetting(EVENTS_CURSOR_SETTING));
        if (after(at, now)) await store.setSetting(EVENTS_CURSOR_SETTING, JSON.stringify(at));
      });
      cursor = at;
    }
  }
  report.cursor = cursor;
  return report;
}
