/**
 * Moving a tenant to Stripe billing end to end, on SQLite and Postgres: catalog sync, subscribe,
 * push, the fake Stripe invoicing the month and being paid, `stripe events sync`, and the
 * invoice's status in `stripe status` and the dashboard of `billctl serve`; a plan change swaps
 * the items with Stripe's proration; what Stripe cannot bill is refused per tenant.
 */
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf } from '../helpers/store-setup.js';
import { STRIPE_READY_CATALOG } from '../helpers/stripe-catalog.js';
import { startHarness } from '../server/helpers.js';
import { billingWorld, posts, readyStore, type BillingWorld } from './helpers.js';

afterAll(dropSchemas);

interface SubscribeJson {
  livemode: boolean;
  dry_run: boolean;
  tenants: {
    tenant_id: string; customer: string | null; subscription: string | null; action: string; plan: string | null; version: string | null;
    terms_from: string | null; changes: string[]; note: string | null; warnings: string[];
  }[];
}

interface StatusJson {
  tenants: {
    tenant_id: string;
    subscription: { id: string; status: string; plan: string; version: string; since: string } | null;
    stripe_invoices: { id: string; number: string | null; status: string; amount_due: string | null; amount_paid: string | null; currency: string | null; period_start: string | null }[];
  }[];
}

interface EventsJson {
  fetched: number;
  stored: number;
  replays: number;
  cursor: { created: string; id: string } | null;
  events: { id: string; type: string; stored: boolean; tenant_id: string | null; outcome: string }[];
}

const OCTOBER = [
  ['r1', 'acme', '2026-10-02T10:00:00Z', 'completed', 'qwen-70b', 'a100-80gb', 30000, 600000, 200000],
  ['r2', 'acme', '2026-10-05T10:00:00Z', 'completed', 'qwen-70b', 'a100-80gb', 10000, 400000, 300000],
  ['r3', 'acme', '2026-10-08T10:00:00Z', 'completed', 'qwen-70b', '', 0, 0, 0],
];

describeEachBackend('stripe subscribe, push and events sync', (backend) => {
  let w: BillingWorld;
  beforeEach(async () => {
    w = await billingWorld(backend, '2026-10-10T12:00:00Z');
    await readyStore(w);
    await w.run(['tenant', 'add', 'acme', '--name', 'Acme', '--plan', 'pro', '--from', '2026-10', '--billing-mode', 'stripe', '--email', 'billing@acme.example']);
    await w.run(['stripe', 'customers', 'sync']);
  });
  afterEach(async () => {
    await w.close();
  });

  const subscribeJson = (args: string[], expected = 0) => w.runJson<SubscribeJson>(['stripe', 'subscribe', ...args], expected);

  it('moves a tenant to Stripe billing: subscribe, push, Stripe invoices and is paid, events sync, status and dashboard', async () => {
    const customer = (await w.withStore((s) => s.getTenant('acme')))!.stripeCustomerId!;
    const dry = await subscribeJson(['acme', '--dry-run']);
    expect(dry.tenants[0]).toMatchObject({ action: 'would_create', plan: 'pro', version: '2026-10', subscription: null });
    expect(w.fake.billing.subscriptions.size).toBe(0);

    const made = (await subscribeJson(['acme'])).tenants[0]!;
    expect(made).toMatchObject({ tenant_id: 'acme', customer, action: 'created', plan: 'pro', version: '2026-10', terms_from: '2026-10', note: null, warnings: [] });
    expect(made.changes.map((c) => c.split(' ').slice(0, 2).join(' '))).toEqual(['+ gpu_seconds', '+ input_tokens', '+ output_tokens', '+ api_calls', '+ fee']);
    const sub = w.fake.billing.subscriptions.get(made.subscription!)!;
    const prices = await w.withStore((s) => s.stripeBilling.prices(false, '2026-10', 'pro'));
    expect(sub.items.map((i) => i.priceId).sort()).toEqual(prices.map((p) => p.priceId).sort());
    expect(sub).toMatchObject({ customer, status: 'active', metadata: { billctl_tenant: 'acme', billctl_plan: 'pro', billctl_version: '2026-10' } });
    // The month from its first instant (backdated), renewing at 00:00 UTC on the 1st.
    expect([sub.startDate, sub.periodStart, sub.periodEnd]).toEqual([Date.parse('2026-10-01T00:00:00Z') / 1000, Date.parse('2026-10-01T00:00:00Z') / 1000, Date.parse('2026-11-01T00:00:00Z') / 1000]);
    const first = w.fake.billing.invoices.get(sub.latestInvoice!)!.object;
    expect(first).toMatchObject({ amount_due: 9900, status: 'open', billing_reason: 'subscription_create' });

    // Again: found, nothing sent.
    const creates = posts(w.fake, '/v1/subscriptions').length;
    expect((await subscribeJson(['acme'])).tenants[0]).toMatchObject({ action: 'unchanged', subscription: made.subscription, changes: [] });
    expect(posts(w.fake, '/v1/subscriptions').length).toBe(creates);

    await w.run(['import', w.file('october.csv', csvOf(OCTOBER))]);
    await w.run(['stripe', 'push', '--yes']);
    const preview = await w.runJson<{ subtotal: string; lines: { kind: string; amount: string }[] }>(['invoice', 'preview', '--tenant', 'acme', '--period', '2026-10']);
    expect(preview.subtotal).toBe('109.00');

    // Stripe's month ends: it invoices October's usage at Pro's prices and November's fee; both are paid.
    w.setNow('2026-11-01T00:30:00Z');
    const renewal = w.fake.billing.renew(sub.id);
    const lines = (renewal.lines as { data: { amount: number; quantity: number; description: string }[] }).data;
    expect(lines.map((l) => [l.quantity, l.amount])).toEqual([[40000, 400], [1000000, 300], [500000, 300], [3, 0], [1, 9900]]);
    expect(renewal.amount_due).toBe(10900);
    // What Stripe billed for October (the fee in advance, the usage after) is billctl's own subtotal.
    expect((9900 + 400 + 300 + 300 + 0) / 100).toBe(Number(preview.subtotal));
    w.fake.billing.pay(first.id as string);
    w.fake.billing.pay(renewal.id as string);

    const synced = await w.runJson<EventsJson>(['stripe', 'events', 'sync']);
    expect(synced.stored).toBe(synced.fetched);
    expect(synced.events.filter((e) => e.type === 'invoice.paid').map((e) => [e.tenant_id, e.outcome.replace(/in_\w+/, 'in_…')])).toEqual([
      ['acme', 'recorded: invoice in_… paid'], ['acme', 'recorded: invoice in_… paid'],
    ]);
    // Again: the events since the cursor, less an overlap, are read again and change nothing.
    const again = await w.runJson<EventsJson>(['stripe', 'events', 'sync']);
    expect(again.stored).toBe(0);
    expect(again.replays).toBeGreaterThan(0);
    expect(again.cursor).toEqual(synced.cursor);

    const status = await w.runJson<StatusJson>(['stripe', 'status']);
    const acme = status.tenants.find((t) => t.tenant_id === 'acme')!;
    expect(acme.subscription).toEqual({ id: sub.id, status: 'active', plan: 'pro', version: '2026-10', since: '2026-10' });
    expect(acme.stripe_invoices.map((i) => [i.id, i.status, i.amount_due, i.amount_paid, i.currency]).sort()).toEqual(
      [[first.id, 'paid', '99.00', '99.00', 'USD'], [renewal.id, 'paid', '109.00', '109.00', 'USD']].sort(),
    );
    const table = await w.run(['stripe', 'status']);
    expect(table.stderr).toContain(`acme: subscription ${sub.id} (active; pro, catalog 2026-10); Stripe invoices: ${String(renewal.number)} paid 109.00 USD`);

    // Reconciling October: Stripe's meters and its invoice hold what the ledger sent.
    type ReconcileJson = { differences: number; rows: { meter: string; stripe: number; ledger_sent: number; invoiced: number | null; invoices: string[]; note: string | null }[] };
    const rec = await w.runJson<ReconcileJson>(['stripe', 'reconcile', '--period', '2026-10']);
    expect(rec.differences).toBe(0);
    expect(rec.rows.map((r) => [r.meter, r.stripe, r.ledger_sent, r.invoiced, r.invoices])).toEqual([
      ['gpu_seconds', 40000, 40000, 40000, [renewal.number]], ['input_tokens', 1000000, 1000000, 1000000, [renewal.number]],
      ['output_tokens', 500000, 500000, 500000, [renewal.number]], ['api_calls', 3, 3, 3, [renewal.number]],
    ]);
    // A receipt of October that arrives after Stripe invoiced October reaches Stripe, but no invoice.
    await w.run(['import', w.file('late.csv', csvOf([['r4', 'acme', '2026-10-09T10:00:00Z', 'completed', 'qwen-70b', '', 0, 1000, 0]]))]);
    await w.run(['stripe', 'push', '--yes']);
    const late = await w.run(['stripe', 'reconcile', '--period', '2026-10', '--format', 'json'], 3);
    const input = (JSON.parse(late.stdout) as ReconcileJson).rows.find((r) => r.meter === 'input_tokens')!;
    expect(input).toMatchObject({ stripe: 1001000, ledger_sent: 1001000, invoiced: 1000000 });
    expect(input.note).toBe(
      `Stripe's invoice ${String(renewal.number)} bills 1000000 for the month, the ledger sent 1001000 (usage pushed after Stripe invoiced the month is on no invoice: bill it another way)`,
    );

    // The dashboard of billctl serve shows the paid Stripe invoice.
    const token = JSON.parse((await w.run(['serve', 'token', 'create', '--format', 'json'])).stdout) as { token: string };
    const h = await startHarness(w.db, { now: '2026-11-01T00:30:00Z' });
    try {
      const page = await h.get('/tenants/acme?period=2026-10', token.token);
      expect(page.status).toBe(200);
      expect(page.text).toMatch(new RegExp(`<td>${String(renewal.number)}</td><td>2026-10</td><td><span class="status">paid</span></td><td class="num">109\\.00 USD</td>`));
    } finally {
      await h.close();
    }
  });

  it('a plan change: the items move to the new plan as of the period it starts, with Stripe crediting the old fee', async () => {
    const sub = (await subscribeJson(['acme'])).tenants[0]!.subscription!;
    const setPlan = await w.run(['tenant', 'set-plan', 'acme', 'starter', '--from', '2026-11']);
    expect(setPlan.stderr).toContain('acme has a Stripe subscription: run billctl stripe subscribe acme once 2026-11 has begun (or --all from cron) to move its items');
    // Not before November: the items hold October's terms.
    expect((await subscribeJson(['acme'])).tenants[0]).toMatchObject({ action: 'unchanged', plan: 'pro' });
    // November has begun, but Stripe has not renewed the subscription into it yet: swapping now would bill October at Starter's prices.
    w.setNow('2026-11-01T00:10:00Z');
    expect((await subscribeJson(['acme'])).tenants[0]).toMatchObject({ action: 'not_yet', plan: 'starter', changes: expect.arrayContaining([expect.stringMatching(/^- fee /)]) });
    w.setNow('2026-11-01T00:30:00Z');
    w.fake.billing.renew(sub);
    const dry = (await subscribeJson(['acme', '--dry-run'])).tenants[0]!;
    expect(dry).toMatchObject({ action: 'would_update', plan: 'starter' });
    const changed = (await subscribeJson(['acme'])).tenants[0]!;
    expect(changed).toMatchObject({ action: 'updated', plan: 'starter', version: '2026-10', terms_from: '2026-11', warnings: [] });
    expect(changed.changes.map((c) => c.split(' ').slice(0, 2).join(' '))).toEqual(['~ gpu_seconds', '~ input_tokens', '~ output_tokens', '~ api_calls', '- fee']);
    const starter = await w.withStore((s) => s.stripeBilling.prices(false, '2026-10', 'starter'));
    const live = w.fake.billing.subscriptions.get(sub)!.items.filter((i) => i.deletedAt === null);
    expect(live.map((i) => i.priceId).sort()).toEqual(starter.map((p) => p.priceId).sort());
    const update = posts(w.fake, `/v1/subscriptions/${sub}`).at(-1)!;
    expect(update.params.proration_date).toBe(String(Date.parse('2026-11-01T00:00:00Z') / 1000));
    expect((await subscribeJson(['acme'])).tenants[0]).toMatchObject({ action: 'unchanged', plan: 'starter' });

    // November: 5,000 GPU seconds, 3,600 of them free on Starter; Stripe takes back November's Pro fee.
    await w.run(['import', w.file('november.csv', csvOf([['n1', 'acme', '2026-11-01T10:00:00Z', 'completed', 'qwen-70b', 'a100-80gb', 5000, 0, 0]]))]);
    w.setNow('2026-11-02T00:00:00Z');
    await w.run(['stripe', 'push', '--yes']);
    w.setNow('2026-12-01T00:30:00Z');
    const dec = w.fake.billing.renew(sub);
    const lines = (dec.lines as { data: { amount: number; description: string; parent: { subscription_item_details: { proration: boolean } } }[] }).data;
    expect(lines.filter((l) => !l.parent.subscription_item_details.proration).map((l) => l.amount)).toEqual([140, 0, 0, 0]);
    expect(lines.filter((l) => l.parent.subscription_item_details.proration).map((l) => [l.amount, l.description])).toEqual([[-9900, 'Unused time on Pro plan']]);
    const preview = await w.runJson<{ subtotal: string }>(['invoice', 'preview', '--tenant', 'acme', '--period', '2026-11']);
    // November in Stripe: the Pro fee charged on Nov 1, taken back, and the usage.
    expect((9900 - 9900 + 140) / 100).toBe(Number(preview.subtotal));
    const audit = await w.runJson<{ command: string; details: { tenants: Record<string, { action: string }> } }[]>(['audit']);
    expect(audit.filter((a) => a.command === 'stripe subscribe').map((a) => a.details.tenants.acme!.action)).toEqual(['created', 'updated']);
  });

  it('refuses per tenant what a subscription cannot bill, and subscribes the others', async () => {
    await w.run(['tenant', 'add', 'berlin', '--plan', 'pro', '--billing-mode', 'stripe', '--timezone', 'Europe/Berlin', '--email', 'b@example.com']);
    await w.run(['tenant', 'add', 'inv', '--plan', 'pro']);
    await w.run(['stripe', 'customers', 'sync']);
    await w.run(['stripe', 'subscribe', 'inv'], 2);
    await w.run(['stripe', 'subscribe'], 2);
    await w.run(['stripe', 'subscribe', 'nobody'], 2);
    const r = await w.run(['stripe', 'subscribe', '--all', '--format', 'json'], 3);
    const j = JSON.parse(r.stdout) as SubscribeJson;
    expect(j.tenants.map((t) => [t.tenant_id, t.action])).toEqual([['acme', 'created'], ['berlin', 'failed']]);
    expect(j.tenants[1]!.note).toBe(
      "berlin's periods are months in Europe/Berlin, and Stripe renews a subscription at one UTC instant of the month: " +
        "it cannot bill those periods exactly (set the tenant's timezone to UTC, or bill it by invoice)",
    );
    expect(r.stderr).toContain('warning: 1 tenant(s) not subscribed: berlin (');

    // A catalog version that starts inside the month: its prices cannot take over mid-period.
    await w.run(['catalog', 'import', w.file('mid.yaml', STRIPE_READY_CATALOG.replace('"2026-10"', '"2026-10b"').replace('2026-10-01T00:00:00Z', '2026-10-20T00:00:00Z'))]);
    const mid = (await subscribeJson(['acme'], 3)).tenants[0]!;
    expect(mid).toMatchObject({ action: 'failed', note: expect.stringMatching(/^catalog 2026-10b takes effect at 2026-10-20T00:00:00.000Z, inside 2026-10: /) });
  });

  it('a plan change on a day inside the period (set-plan --from YYYY-MM-DD) moves the items from that local midnight', async () => {
    const sub = (await subscribeJson(['acme'])).tenants[0]!.subscription!;
    await w.run(['tenant', 'set-plan', 'acme', 'starter', '--from', '2026-10-15']);
    expect((await subscribeJson(['acme'])).tenants[0]).toMatchObject({ action: 'unchanged', plan: 'pro' });
    w.setNow('2026-10-15T00:30:00Z');
    expect((await subscribeJson(['acme'])).tenants[0]).toMatchObject({ action: 'updated', plan: 'starter' });
    const update = posts(w.fake, `/v1/subscriptions/${sub}`).at(-1)!;
    expect(update.params.proration_date).toBe(String(Date.parse('2026-10-15T00:00:00Z') / 1000));
  });

  it('a plan catalog sync did not make is refused with what to run; unsubscribe at the period end, then now', async () => {
    await w.run(['tenant', 'set-plan', 'acme', 'pro', '--from', '2026-10']);
    await w.withStore((s) => s.stripeBilling.prices(false)).then(async (rows) => {
      expect(rows.length).toBe(9);
    });
    await w.run(['catalog', 'import', '--replace', w.file('v2.yaml', STRIPE_READY_CATALOG.replace('  starter:', '  team:    { name: "Team", monthly_fee: "10", included: {} }\n  starter:'))]);
    await w.run(['tenant', 'set-plan', 'acme', 'team', '--from', '2026-10']);
    const refused = (await subscribeJson(['acme'], 3)).tenants[0]!;
    expect(refused.note).toBe('plan team of catalog 2026-10 has no prices in Stripe: run billctl stripe catalog sync 2026-10 (it says why when Stripe cannot bill the plan)');
    await w.run(['stripe', 'catalog', 'sync']);
    const sub = (await subscribeJson(['acme'])).tenants[0]!.subscription!;

    await w.run(['stripe', 'unsubscribe', 'acme'], 2);
    const end = await w.runJson<{ action: string; ends_at: string }>(['stripe', 'unsubscribe', 'acme', '--yes']);
    expect(end).toMatchObject({ action: 'cancels_at_period_end', ends_at: '2026-11-01T00:00:00.000Z' });
    expect(w.fake.billing.subscriptions.get(sub)!.cancelAtPeriodEnd).toBe(true);
    expect((await w.runJson<{ action: string }>(['stripe', 'unsubscribe', 'acme', '--yes'])).action).toBe('unchanged');
    const now = await w.runJson<{ action: string; ends_at: string }>(['stripe', 'unsubscribe', 'acme', '--now', '--yes']);
    expect(now).toMatchObject({ action: 'canceled', ends_at: '2026-10-10T12:00:00.000Z' });
    expect(w.fake.billing.subscriptions.get(sub)!.status).toBe('canceled');
    expect((await w.runJson<{ action: string }>(['stripe', 'unsubscribe', 'acme', '--yes'])).action).toBe('none');
    // A new subscription after a cancellation is a new one.
    expect((await subscribeJson(['acme'])).tenants[0]).toMatchObject({ action: 'created' });
    expect(w.fake.billing.subscriptionsOf(w.fake.billing.subscriptions.get(sub)!.customer)).toHaveLength(2);
  });
});
