/**
 * The push under Stripe's real rules, on SQLite and Postgres: Stripe throttling one customer and
 * meter (429 `rate_limited`), and Stripe taking events and rejecting them afterwards (meter
 * error reports): the push resends what a report names, once the customer is right.
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { eventPosts, expectNoLeaks, expectServerMatches, H, insertReceipts, makeReceipts, pushWorld, serverTotals, withStore, type PushWorld } from './helpers.js';

afterAll(dropSchemas);

describeEachBackend('stripe push under Stripe rules', (backend) => {
  let w: PushWorld;
  afterEach(async () => {
    expectNoLeaks(w);
    await w.close();
  });

  it('a customer and meter throttled (429 rate_limited): every unit lands once, the throttled requests retried', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false, fake: { meterEventsPerSecondPerCustomerMeter: 10 } });
    const receipts = makeReceipts(31, ['acme'], 60, w.now - 30 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    const { r, j } = await w.push(['--rate', '1000', '--concurrency', '8']);
    expect(r.code, r.stderr).toBe(0);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    const throttled = eventPosts(w.fake).filter((p) => p.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    expect(j.retries).toBeGreaterThanOrEqual(throttled.length);
    expect(j.events.sent).toBe(w.fake.state.meterEvents.length);
    // Never more than the limit a second, never two at once for one customer and meter.
    expect(w.fake.state.maxInFlightSameCustomerMeter).toBe(1);
  });

  it('events Stripe took and rejected afterwards (no such customer): reported, sent again once the tenant is relinked', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false, fake: { asyncCustomerErrors: true } });
    // The tenant is linked to a customer that is gone from Stripe: Stripe answers 200 and drops the events.
    const gone = w.customers.acme!;
    w.fake.state.customers.get(gone)!.deleted = true;
    const receipts = makeReceipts(32, ['acme'], 12, w.now - 6 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    const first = await w.push(['--rate', '1000']);
    expect(first.r.code, first.r.stderr).toBe(0);
    const sent = first.j.events.sent;
    expect(sent).toBeGreaterThan(0);
    expect(serverTotals(w.fake, gone)).toEqual({ gpu_seconds: '0', input_tokens: '0', output_tokens: '0', api_calls: '0', cached_input_tokens: '0', cache_write_tokens: '0', reasoning_tokens: '0' });

    // Relinked to a live customer: the next push reads the error reports and sends the rejected events again, there.
    const fresh = w.fake.state.addCustomer({ name: 'acme again', metadata: { tenant_id: 'acme' } });
    expect((await w.run(['stripe', 'link', 'acme', fresh.id, '--replace'])).code).toBe(0);
    const second = await w.push(['--rate', '1000']);
    expect(second.r.code).toBe(3);
    const acme = second.j.tenants[0]!;
    expect(acme.errors.some((e) => /^Stripe rejected \d+ \w+ event\(s\) after taking them \(meter_event_customer_not_found: Customer cus_\w+ not found\.\); they are sent again$/.test(e))).toBe(true);
    expect(acme.events.planned).toBe(sent);
    expectServerMatches(w.fake, fresh.id, receipts, 'acme');
    await withStore(w.db, async (s) => {
      expect(await s.ledger.rows({ status: 'failed' })).toEqual([]);
      expect((await s.ledger.rows({ status: 'sent' })).every((r) => r.customerId === fresh.id)).toBe(true);
    });
    // The reports are taken in once: the next push sends nothing and is clean.
    const third = await w.push(['--rate', '1000']);
    expect(third.r.code, third.r.stderr).toBe(0);
    expect(third.j.events.planned).toBe(0);
  });
});
