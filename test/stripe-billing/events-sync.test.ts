/**
 * `stripe events sync` beside the webhook, on SQLite and Postgres: an event the webhook took is
 * a replay for the sync (and the other way round), an event Stripe lists late (with an older
 * `created` than events already synced) is still picked up, and a payment failure raises its
 * alert once, whichever way it came.
 */
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { stripeSignatureHeader } from '../../src/stripe/webhook-signature.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { startHarness } from '../server/helpers.js';
import { billingWorld, readyStore, type BillingWorld } from './helpers.js';

afterAll(dropSchemas);

const SECRET = 'whsec_events_sync_test';

interface EventsJson {
  fetched: number;
  stored: number;
  replays: number;
  cursor: { created: string; id: string } | null;
  events: { id: string; type: string; stored: boolean; tenant_id: string | null; outcome: string }[];
}

describeEachBackend('stripe events sync', (backend) => {
  let w: BillingWorld;
  let sub: string;
  beforeEach(async () => {
    w = await billingWorld(backend, '2026-10-10T12:00:00Z');
    await readyStore(w);
    await w.run(['tenant', 'add', 'acme', '--plan', 'pro', '--billing-mode', 'stripe', '--email', 'billing@acme.example']);
    await w.run(['stripe', 'customers', 'sync']);
    sub = (await w.runJson<{ tenants: { subscription: string }[] }>(['stripe', 'subscribe', 'acme'])).tenants[0]!.subscription;
  });
  afterEach(async () => {
    await w.close();
  });

  it('events the webhook took are replays for the sync, and the other way round; an alert is raised once', async () => {
    const first = w.fake.billing.invoices.get(w.fake.billing.subscriptions.get(sub)!.latestInvoice!)!.object;
    w.setNow('2026-10-10T13:00:00Z');
    w.fake.billing.failPayment(first.id);
    const failed = w.fake.billing.events.find((e) => e.object.type === 'invoice.payment_failed')!.object;
    const h = await startHarness(w.db, { now: '2026-10-10T13:00:00Z', secret: SECRET });
    try {
      const raw = JSON.stringify(failed);
      const t = Math.floor(Date.parse('2026-10-10T13:00:00Z') / 1000);
      const delivered = await h.post('/v1/stripe/webhook', raw, { 'content-type': 'application/json', 'stripe-signature': stripeSignatureHeader(raw, SECRET, t) });
      expect(delivered.status).toBe(200);
    } finally {
      await h.close();
    }
    const synced = await w.runJson<EventsJson>(['stripe', 'events', 'sync']);
    expect(synced.events.find((e) => e.id === failed.id)).toMatchObject({ stored: false, tenant_id: 'acme' });
    expect(synced.events.filter((e) => e.stored).map((e) => e.type)).toEqual(['invoice.finalized']);
    const alerts = await w.runJson<{ kind: string; threshold: string }[]>(['alerts', 'list', '--tenant', 'acme']);
    expect(alerts.map((a) => [a.kind, a.threshold])).toEqual([['payment_failed', `${first.id}#1`]]);
    const stored = await w.withStore((s) => s.stripeEvents.get(failed.id));
    expect(stored).toMatchObject({ source: 'webhook' });
    // The payment then goes through: paid, in status.
    w.fake.billing.pay(first.id);
    const again = await w.runJson<EventsJson>(['stripe', 'events', 'sync']);
    expect(again.events.filter((e) => e.stored).map((e) => e.type)).toEqual(['invoice.paid']);
    const status = await w.runJson<{ tenants: { stripe_invoices: { status: string; amount_paid: string }[] }[] }>(['stripe', 'status', '--tenant', 'acme']);
    expect(status.tenants[0]!.stripe_invoices).toMatchObject([{ status: 'paid', amount_paid: '99.00' }]);
  });

  it('an event Stripe lists late, with an older created than events already synced, is picked up by the next sync', async () => {
    await w.runJson<EventsJson>(['stripe', 'events', 'sync']);
    const first = w.fake.billing.invoices.get(w.fake.billing.subscriptions.get(sub)!.latestInvoice!)!.object;
    // invoice.paid is made at 12:05 but shows up only after an event of 12:08 was synced.
    w.fake.billing.holdEvents((e) => e.type === 'invoice.paid');
    w.setNow('2026-10-10T12:05:00Z');
    w.fake.billing.pay(first.id);
    w.setNow('2026-10-10T12:08:00Z');
    await w.run(['stripe', 'unsubscribe', 'acme', '--yes']);
    const before = await w.runJson<EventsJson>(['stripe', 'events', 'sync']);
    expect(before.events.filter((e) => e.stored).map((e) => e.type)).toEqual(['customer.subscription.updated']);
    expect(before.cursor!.created).toBe('2026-10-10T12:08:00.000Z');
    w.fake.billing.releaseEvents();
    w.setNow('2026-10-10T12:10:00Z');
    const after = await w.runJson<EventsJson>(['stripe', 'events', 'sync']);
    expect(after.events.filter((e) => e.stored).map((e) => e.type)).toEqual(['invoice.paid']);
    expect(after.cursor).toEqual(before.cursor);
    const objects = await w.withStore((s) => s.stripeEvents.objects('acme'));
    expect(objects.find((o) => o.objectId === first.id)).toMatchObject({ status: 'paid' });
    expect(objects.find((o) => o.objectId === sub)).toMatchObject({ status: 'active', fields: { cancel_at_period_end: true } });
  });

  it('reads every page (starting_after) and handles 230 events oldest first, then nothing on the next run', async () => {
    await w.runJson<EventsJson>(['stripe', 'events', 'sync']);
    const base = Date.parse('2026-10-10T14:00:00Z');
    for (let i = 0; i < 230; i++) {
      w.setNow(new Date(base + i * 1000).toISOString());
      w.fake.billing.emit('invoice.finalized', { id: `in_page_${i}`, object: 'invoice', customer: w.fake.billing.subscriptions.get(sub)!.customer, number: `P-${i}`, currency: 'usd', amount_due: 100 + i, amount_paid: 0, status: 'open' });
    }
    w.setNow('2026-10-10T15:00:00Z');
    const before = w.fake.requests.length;
    const synced = await w.runJson<EventsJson>(['stripe', 'events', 'sync']);
    const pages = w.fake.requests.slice(before).filter((r) => r.method === 'GET' && r.path === '/v1/events');
    expect(pages.length).toBe(3);
    expect(pages.filter((r) => r.query.includes('starting_after')).length).toBe(2);
    // The cursor is read again with created >= its second: the event it names comes back as a replay.
    expect([synced.fetched, synced.stored, synced.replays]).toEqual([231, 230, 1]);
    const mine = synced.events.filter((e) => e.stored);
    expect(mine.every((e) => e.type === 'invoice.finalized' && e.tenant_id === 'acme')).toBe(true);
    // Handled oldest first, across the pages Stripe lists newest first.
    expect(mine.map((e) => e.outcome)).toEqual(Array.from({ length: 230 }, (_, i) => `recorded: invoice in_page_${i} open`));
    const objects = await w.withStore((s) => s.stripeEvents.objects('acme'));
    expect(objects.filter((o) => o.objectId.startsWith('in_page_'))).toHaveLength(230);
    expect(objects.find((o) => o.objectId === 'in_page_229')).toMatchObject({ status: 'open', fields: { number: 'P-229', amount_due: '3.29' } });
    expect(synced.cursor!.created).toBe('2026-10-10T14:03:49.000Z');
    const again = await w.runJson<EventsJson>(['stripe', 'events', 'sync']);
    expect(again.stored).toBe(0);
  });
});
