/**
 * The fake Stripe, exercised through the real `stripe` package: what the SDK sends, the fake
 * understands; what the fake answers, the SDK parses into the objects and errors it would get
 * from Stripe.
 */
import fs from 'node:fs';
import path from 'node:path';
import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMBEDDED_FIXTURES } from '../helpers/fake-stripe-fixtures.js';
import { parseStripeForm, startFakeStripe, stripeFixture, type FakeStripe, type FakeStripeOptions } from '../helpers/fake-stripe.js';
import { ROOT } from '../helpers/cli.js';

const NOW = Date.parse('2026-11-15T12:00:00Z');
const NOW_S = NOW / 1000;

let fake: FakeStripe;
let stripe: Stripe;

function sdk(f: FakeStripe, extra: Stripe.StripeConfig = {}): Stripe {
  return new Stripe(f.apiKey, { host: '127.0.0.1', port: f.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false, ...extra });
}

async function start(options: FakeStripeOptions = {}): Promise<void> {
  fake = await startFakeStripe({ now: NOW, ...options });
  stripe = sdk(fake);
}

async function meter(eventName = 'billctl_gpu_seconds'): Promise<Stripe.Billing.Meter> {
  return stripe.billing.meters.create({
    display_name: 'GPU seconds',
    event_name: eventName,
    default_aggregation: { formula: 'sum' },
    customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
    value_settings: { event_payload_key: 'value' },
  });
}

/** The error a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await p;
  } catch (err) {
    return err as Stripe.errors.StripeError;
  }
  throw new Error('expected the call to fail');
}

const keysOf = (o: object) => Object.keys(o).sort();

afterEach(async () => {
  await fake?.close();
});

describe('fake Stripe: wire format', () => {
  it('parses bracket notation the way the SDK encodes it', () => {
    expect(
      parseStripeForm('event_name=x&payload[stripe_customer_id]=cus_1&payload[value]=25&expand[0]=a&expand[1]=b&metadata[tenant_id]=t%20%C3%A9&customer_mapping[type]=by_id'),
    ).toEqual({
      event_name: 'x',
      payload: { stripe_customer_id: 'cus_1', value: '25' },
      expand: ['a', 'b'],
      metadata: { tenant_id: 't é' },
      customer_mapping: { type: 'by_id' },
    });
    expect(parseStripeForm('')).toEqual({});
  });

  it('answers with the shapes of fixtures3.json, and the embedded copy matches the shared file', () => {
    const shared = path.resolve(ROOT, '../shared/stripe/fixtures3.json');
    if (fs.existsSync(shared)) {
      const resources = (JSON.parse(fs.readFileSync(shared, 'utf8')) as { resources: Record<string, unknown> }).resources;
      for (const k of Object.keys(EMBEDDED_FIXTURES)) expect(EMBEDDED_FIXTURES[k]).toEqual(resources[k]);
    }
    expect(stripeFixture('billing.meter').object).toBe('billing.meter');
  });
});

describe('fake Stripe: customers', () => {
  beforeEach(() => start());

  it('creates, retrieves, lists (newest first, by email) and updates customers', async () => {
    const a = await stripe.customers.create({ name: 'Acme', email: 'billing@acme.example', metadata: { tenant_id: 'acme' } });
    expect(a.id).toMatch(/^cus_[A-Za-z0-9]{14}$/);
    expect(keysOf(a)).toEqual(keysOf(stripeFixture('customer')));
    expect(a).toMatchObject({ object: 'customer', name: 'Acme', email: 'billing@acme.example', metadata: { tenant_id: 'acme' }, livemode: false, created: NOW_S });
    const b = await stripe.customers.create({ name: 'Beta' });
    expect((await stripe.customers.retrieve(a.id)).id).toBe(a.id);
    const list = await stripe.customers.list({ limit: 1 });
    expect(list.object).toBe('list');
    expect(list.data.map((c) => c.id)).toEqual([b.id]);
    expect(list.has_more).toBe(true);
    expect(list.url).toBe('/v1/customers');
    expect((await stripe.customers.list().autoPagingToArray({ limit: 10 })).map((c) => c.id)).toEqual([b.id, a.id]);
    expect((await stripe.customers.list({ email: 'billing@acme.example' })).data.map((c) => c.id)).toEqual([a.id]);
    const updated = await stripe.customers.update(b.id, { metadata: { tenant_id: 'beta', other: 'x' } });
    expect(updated.metadata).toEqual({ tenant_id: 'beta', other: 'x' });
    expect((await stripe.customers.update(b.id, { metadata: { other: '' } })).metadata).toEqual({ tenant_id: 'beta' });
    await stripe.customers.del(b.id);
    expect(await stripe.customers.retrieve(b.id)).toMatchObject({ id: b.id, deleted: true });
  });

  it('searches by metadata, quotes escaped, and answers a search_result', async () => {
    const odd = "o'neil \\ co";
    const c = await stripe.customers.create({ name: 'O', metadata: { tenant_id: odd } });
    await stripe.customers.create({ name: 'P', metadata: { tenant_id: 'other' } });
    const q = `metadata['tenant_id']:'${odd.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const r = await stripe.customers.search({ query: q });
    expect(r.object).toBe('search_result');
    expect(r.data.map((x) => x.id)).toEqual([c.id]);
    expect(r).toMatchObject({ has_more: false, next_page: null, url: '/v1/customers/search' });
    const e = await failure(stripe.customers.search({ query: 'nonsense' }));
    expect(e).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
  });

  it('lags the search index when asked to, as Stripe does', async () => {
    await fake.close();
    await start({ searchIndexDelayMs: 200 });
    await stripe.customers.create({ metadata: { tenant_id: 'late' } });
    expect((await stripe.customers.search({ query: "metadata['tenant_id']:'late'" })).data).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 250));
    expect((await stripe.customers.search({ query: "metadata['tenant_id']:'late'" })).data).toHaveLength(1);
  });

  it('answers 404 resource_missing for an unknown customer and 400 for an unknown parameter', async () => {
    const e = await failure(stripe.customers.retrieve('cus_nope'));
    expect(e).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(e).toMatchObject({ statusCode: 404, code: 'resource_missing', message: "No such customer: 'cus_nope'" });
    expect(e.requestId).toMatch(/^req_/);
    const bad = await failure(stripe.customers.create({ name: 'x', nickname: 'y' } as Stripe.CustomerCreateParams));
    expect(bad).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'nickname' });
  });

  it('replays an idempotent request and refuses the key with other parameters', async () => {
    const first = await stripe.customers.create({ name: 'Acme', metadata: { tenant_id: 'acme' } }, { idempotencyKey: 'k-acme' });
    const again = await stripe.customers.create({ name: 'Acme', metadata: { tenant_id: 'acme' } }, { idempotencyKey: 'k-acme' });
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(fake.state.customers.size).toBe(1);
    const e = await failure(stripe.customers.create({ name: 'Acme GmbH', metadata: { tenant_id: 'acme' } }, { idempotencyKey: 'k-acme' }));
    expect(e).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(e).toMatchObject({ statusCode: 400, rawType: 'idempotency_error' });
    // Keys expire after 24 hours (fake clock).
    fake.clock.advance(25 * 3_600_000);
    const later = await stripe.customers.create({ name: 'Acme', metadata: { tenant_id: 'acme' } }, { idempotencyKey: 'k-acme' });
    expect(later.id).not.toBe(first.id);
  });

  it('refuses a wrong key with 401, never echoing it whole', async () => {
    const wrong = sdk(fake);
    const other = new Stripe('sk_test_SomeoneElsesKey1234567890', { host: '127.0.0.1', port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    const e = await failure(other.customers.list());
    expect(e).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(e.statusCode).toBe(401);
    expect(e.message).not.toContain('sk_test_SomeoneElsesKey1234567890');
    await expect(wrong.customers.list()).resolves.toBeTruthy();
  });
});

describe('fake Stripe: meters, meter events and summaries', () => {
  beforeEach(() => start());

  it('creates, lists, retrieves, deactivates and reactivates meters; event names are unique', async () => {
    const m = await meter();
    expect(m.id).toMatch(/^mtr_test_/);
    expect(keysOf(m)).toEqual(keysOf(stripeFixture('billing.meter')));
    expect(m).toMatchObject({
      object: 'billing.meter',
      event_name: 'billctl_gpu_seconds',
      status: 'active',
      default_aggregation: { formula: 'sum' },
      customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
      value_settings: { event_payload_key: 'value' },
    });
    const dup = await failure(meter());
    expect(dup).toMatchObject({ statusCode: 400, param: 'event_name' });
    const m2 = await meter('billctl_api_calls');
    expect((await stripe.billing.meters.list()).data.map((x) => x.id)).toEqual([m2.id, m.id]);
    expect((await stripe.billing.meters.retrieve(m.id)).event_name).toBe('billctl_gpu_seconds');
    expect((await stripe.billing.meters.deactivate(m.id)).status).toBe('inactive');
    expect((await stripe.billing.meters.list({ status: 'active' })).data.map((x) => x.id)).toEqual([m2.id]);
    expect((await stripe.billing.meters.reactivate(m.id)).status).toBe('active');
    expect(await failure(stripe.billing.meters.retrieve('mtr_nope'))).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });

  it('stores meter events, dedups identifiers, and sums them exactly', async () => {
    await meter();
    const c = await stripe.customers.create({ name: 'A' });
    const ev = await stripe.billing.meterEvents.create({
      event_name: 'billctl_gpu_seconds',
      identifier: 'id-1',
      timestamp: NOW_S - 3600,
      payload: { stripe_customer_id: c.id, value: '9007199254740993' },
    });
    expect(keysOf(ev)).toEqual(keysOf(stripeFixture('billing.meter_event')));
    expect(ev).toMatchObject({ object: 'billing.meter_event', identifier: 'id-1', timestamp: NOW_S - 3600, payload: { value: '9007199254740993' } });
    // The same identifier under another key: Stripe's refusal, marked as not worth retrying.
    const dup = await failure(
      stripe.billing.meterEvents.create({ event_name: 'billctl_gpu_seconds', identifier: 'id-1', payload: { stripe_customer_id: c.id, value: '1' } }),
    );
    expect(dup).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(dup.statusCode).toBe(400);
    expect(dup.message).toBe('An event already exists with identifier id-1.');
    expect(dup.headers?.['stripe-should-retry']).toBe('false');
    await stripe.billing.meterEvents.create({ event_name: 'billctl_gpu_seconds', identifier: 'id-2', payload: { stripe_customer_id: c.id, value: '7' } });
    expect(fake.state.total(c.id, 'billctl_gpu_seconds')).toBe('9007199254741000');
    expect(fake.state.totals()).toEqual([{ customer: c.id, event_name: 'billctl_gpu_seconds', total: '9007199254741000', events: 2 }]);
  });

  it('refuses timestamps older than 35 days or more than 5 minutes ahead of its own clock', async () => {
    await meter();
    const c = await stripe.customers.create({ name: 'A' });
    const send = (identifier: string, timestamp: number) =>
      stripe.billing.meterEvents.create({ event_name: 'billctl_gpu_seconds', identifier, timestamp, payload: { stripe_customer_id: c.id, value: '1' } });
    await expect(send('a', NOW_S - 35 * 86_400 + 60)).resolves.toBeTruthy();
    await expect(send('b', NOW_S + 4 * 60)).resolves.toBeTruthy();
    expect(await failure(send('c', NOW_S - 35 * 86_400 - 60))).toMatchObject({ statusCode: 400, code: 'timestamp_too_far_in_past', param: 'timestamp' });
    expect(await failure(send('d', NOW_S + 6 * 60))).toMatchObject({ statusCode: 400, code: 'timestamp_in_future', param: 'timestamp' });
    // Tests control "now".
    fake.clock.set(NOW + 3_600_000);
    await expect(send('d', NOW_S + 6 * 60)).resolves.toBeTruthy();
    expect(fake.state.meterEvents).toHaveLength(3);
  });

  it('refuses events for an unknown event name, an unknown customer or a bad value', async () => {
    await meter();
    const c = await stripe.customers.create({ name: 'A' });
    expect(await failure(stripe.billing.meterEvents.create({ event_name: 'nope', payload: { stripe_customer_id: c.id, value: '1' } }))).toMatchObject({
      code: 'no_meter',
    });
    expect(
      await failure(stripe.billing.meterEvents.create({ event_name: 'billctl_gpu_seconds', payload: { stripe_customer_id: 'cus_nobody', value: '1' } })),
    ).toMatchObject({ code: 'meter_event_customer_not_found' });
    expect(await failure(stripe.billing.meterEvents.create({ event_name: 'billctl_gpu_seconds', payload: { stripe_customer_id: c.id, value: 'x' } }))).toMatchObject({
      code: 'meter_event_invalid_value',
    });
    expect(fake.state.meterEvents).toHaveLength(0);
  });

  it('answers event summaries: one for the range, or one per hour/day window with events', async () => {
    const m = await meter();
    const c = await stripe.customers.create({ name: 'A' });
    const day = Date.parse('2026-11-14T00:00:00Z') / 1000;
    const events: [number, string][] = [
      [day + 10, '5'],
      [day + 3599, '6'],
      [day + 3600, '7'],
      [day + 86_400 + 5, '100'],
    ];
    let i = 0;
    for (const [timestamp, value] of events) {
      await stripe.billing.meterEvents.create({ event_name: m.event_name, identifier: `e${i++}`, timestamp, payload: { stripe_customer_id: c.id, value } });
    }
    const all = await stripe.billing.meters.listEventSummaries(m.id, { customer: c.id, start_time: day, end_time: day + 2 * 86_400 });
    expect(all.data).toHaveLength(1);
    expect(keysOf(all.data[0]!)).toEqual(keysOf(stripeFixture('billing.meter_event_summary')));
    expect(all.data[0]).toMatchObject({ object: 'billing.meter_event_summary', aggregated_value: 118, meter: m.id, start_time: day, end_time: day + 2 * 86_400 });
    const hourly = await stripe.billing.meters
      .listEventSummaries(m.id, { customer: c.id, start_time: day, end_time: day + 86_400, value_grouping_window: 'hour' })
      .autoPagingToArray({ limit: 100 });
    expect(hourly.map((s) => [s.start_time - day, s.aggregated_value])).toEqual([
      [3600, 7],
      [0, 11],
    ]);
    const daily = await stripe.billing.meters.listEventSummaries(m.id, { customer: c.id, start_time: day, end_time: day + 2 * 86_400, value_grouping_window: 'day' });
    expect(daily.data.map((s) => s.aggregated_value)).toEqual([100, 18]);
    expect(await failure(stripe.billing.meters.listEventSummaries(m.id, { customer: c.id, start_time: day + 1, end_time: day + 60 }))).toMatchObject({
      statusCode: 400,
      param: 'start_time',
    });
    expect(
      await failure(stripe.billing.meters.listEventSummaries(m.id, { customer: c.id, start_time: day + 60, end_time: day + 3600, value_grouping_window: 'hour' })),
    ).toMatchObject({ statusCode: 400 });
  });

  it('counts meter events in flight per customer and event name', async () => {
    await meter();
    const c = await stripe.customers.create({ name: 'A' });
    fake.setLatency(50);
    await Promise.all(
      [1, 2, 3].map((n) =>
        stripe.billing.meterEvents.create({ event_name: 'billctl_gpu_seconds', identifier: `p${n}`, payload: { stripe_customer_id: c.id, value: '1' } }),
      ),
    );
    expect(fake.state.maxInFlightSameCustomerMeter).toBe(3);
    expect(fake.state.maxInFlight).toBeGreaterThanOrEqual(3);
  });
});

describe('fake Stripe: tiered prices', () => {
  beforeEach(() => start());

  const base = async () => {
    const m = await meter();
    await stripe.products.create({ id: 'billctl_gpu_seconds', name: 'GPU time' });
    return {
      currency: 'usd', product: 'billctl_gpu_seconds',
      recurring: { interval: 'month' as const, usage_type: 'metered' as const, meter: m.id },
    };
  };
  /** The SDK's answer as JSON (its decimals are Decimal objects). */
  const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));
  const dec = (t: string) => Stripe.Decimal.from(t);
  const tiers: Stripe.PriceCreateParams.Tier[] = [
    { up_to: 36000, unit_amount_decimal: dec('0'), flat_amount_decimal: dec('0') },
    { up_to: 72000, unit_amount_decimal: dec('0.025') },
    { up_to: 'inf', unit_amount_decimal: dec('0.02'), flat_amount: 500 },
  ];

  it('requires tiers_mode and tiers, the last up_to=inf, bounds increasing, an amount in each tier; no unit_amount or transform_quantity beside them', async () => {
    const b = await base();
    const bad = async (extra: Record<string, unknown>) => failure(stripe.prices.create({ ...b, billing_scheme: 'tiered', ...extra } as Stripe.PriceCreateParams));
    expect(await bad({ tiers })).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'tiers_mode' });
    expect(await bad({ tiers_mode: 'graduated' })).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'tiers' });
    expect(await bad({ tiers_mode: 'stepped', tiers })).toMatchObject({ statusCode: 400, param: 'tiers_mode' });
    expect(await bad({ tiers_mode: 'volume', tiers: tiers.slice(0, 2) })).toMatchObject({ statusCode: 400, param: 'tiers[1][up_to]' });
    expect(await bad({ tiers_mode: 'volume', tiers: [tiers[1], tiers[0], tiers[2]] })).toMatchObject({ statusCode: 400, param: 'tiers[1][up_to]' });
    expect(await bad({ tiers_mode: 'volume', tiers: [{ up_to: 10 }, tiers[2]] })).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'tiers[0][unit_amount]' });
    expect(await bad({ tiers_mode: 'volume', tiers: [{ up_to: 'inf', unit_amount_decimal: dec('0.1234567890123') }] })).toMatchObject({ statusCode: 400, param: 'tiers[0][unit_amount_decimal]' });
    expect(await bad({ tiers_mode: 'volume', tiers, unit_amount: 5 })).toMatchObject({ statusCode: 400, param: 'unit_amount' });
    expect(await bad({ tiers_mode: 'volume', tiers, transform_quantity: { divide_by: 10, round: 'up' } })).toMatchObject({ statusCode: 400, param: 'transform_quantity' });
    expect(await failure(stripe.prices.create({ ...b, unit_amount: 5, tiers_mode: 'graduated' } as Stripe.PriceCreateParams))).toMatchObject({ statusCode: 400, param: 'tiers' });
    expect(fake.billing.prices.size).toBe(0);
  });

  it('holds a graduated price, shows its tiers only when expanded, and never changes them', async () => {
    const b = await base();
    const p = await stripe.prices.create({ ...b, billing_scheme: 'tiered', tiers_mode: 'graduated', tiers, lookup_key: 'k1', expand: ['tiers'] });
    expect(keysOf(p)).toEqual([...keysOf(stripeFixture('price')), 'tiers'].sort());
    expect(p).toMatchObject({ billing_scheme: 'tiered', tiers_mode: 'graduated', unit_amount: null, unit_amount_decimal: null, transform_quantity: null });
    const shown = [
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: 0, unit_amount_decimal: '0', up_to: 36000 },
      { flat_amount: 0, flat_amount_decimal: '0', unit_amount: null, unit_amount_decimal: '0.025', up_to: 72000 },
      { flat_amount: 500, flat_amount_decimal: '500', unit_amount: null, unit_amount_decimal: '0.02', up_to: null },
    ];
    expect(plain(p.tiers)).toEqual(shown);
    expect('tiers' in (await stripe.prices.retrieve(p.id))).toBe(false);
    expect(plain((await stripe.prices.retrieve(p.id, { expand: ['tiers'] })).tiers)).toEqual(shown);
    expect(plain((await stripe.prices.list({ lookup_keys: ['k1'], expand: ['data.tiers'] })).data.map((x) => x.tiers))).toEqual([shown]);
    expect('tiers' in (await stripe.prices.list({ lookup_keys: ['k1'] })).data[0]!).toBe(false);
    expect(await failure(stripe.prices.update(p.id, { tiers } as Stripe.PriceUpdateParams))).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'tiers' });
    expect(await failure(stripe.prices.update(p.id, { tiers_mode: 'volume' } as Stripe.PriceUpdateParams))).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'tiers_mode' });
    // 100,000 s: 36,000 free, 36,000 at 0.025, 28,000 at 0.02 and the flat 500 (cents); a quantity of 0 is in the first tier.
    const stored = fake.billing.prices.get(p.id)!;
    expect(fake.billing.amountFor(stored, 100_000n * 10n ** 12n)).toBe(900n + 560n + 500n);
    expect(fake.billing.amountFor(stored, 0n)).toBe(0n);
    const volume = await stripe.prices.create({
      ...b, billing_scheme: 'tiered', tiers_mode: 'volume', tiers: [{ up_to: 10, flat_amount: 100 }, { up_to: 'inf', unit_amount: 3 }],
    });
    expect(fake.billing.amountFor(fake.billing.prices.get(volume.id)!, 0n)).toBe(100n);
    expect(fake.billing.amountFor(fake.billing.prices.get(volume.id)!, 11n * 10n ** 12n)).toBe(33n);
  });
});

describe('fake Stripe: faults, as the SDK sees them', () => {
  let customer: string;
  const send = (s: Stripe, identifier: string, value = '1', idempotencyKey = identifier) =>
    s.billing.meterEvents.create(
      { event_name: 'billctl_gpu_seconds', identifier, payload: { stripe_customer_id: customer, value } },
      { idempotencyKey },
    );

  beforeEach(async () => {
    await start();
    await meter();
    customer = (await stripe.customers.create({ name: 'A' })).id;
  });

  it('500 before storing: StripeAPIError, nothing stored; the 500 is saved and replayed to its key for 24 h; a new key goes through', async () => {
    fake.faults.once({ kind: 'error500', path: '/v1/billing/meter_events' });
    const e = await failure(send(stripe, 'x1'));
    expect(e).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(e.statusCode).toBe(500);
    expect(fake.state.meterEvents).toHaveLength(0);
    const replayed = await failure(send(stripe, 'x1'));
    expect(replayed).toMatchObject({ statusCode: 500, message: 'An unknown error occurred' });
    expect(replayed.headers?.['idempotent-replayed']).toBe('true');
    fake.clock.advance(23 * 3_600_000);
    expect((await failure(send(stripe, 'x1'))).statusCode).toBe(500);
    expect(fake.state.meterEvents).toHaveLength(0);
    await send(stripe, 'x1', '1', 'x1-second-attempt');
    expect(fake.state.meterEvents).toHaveLength(1);
    // After 24 hours Stripe forgets the key: it runs again (and meets the identifier dedup, which
    // also lasts at least 24 hours).
    fake.clock.advance(2 * 3_600_000);
    expect((await failure(send(stripe, 'x1'))).message).toMatch(/already exists with identifier x1/);
    expect(fake.requests.filter((r) => r.path === '/v1/billing/meter_events').map((r) => `${r.status} ${r.outcome}`)).toEqual([
      '500 answered', '500 replayed', '500 replayed', '200 answered', '400 answered',
    ]);
  });

  it('500 after storing: stored once; the 500 is replayed to its key, and a new key meets the identifier dedup', async () => {
    fake.faults.once({ kind: 'error500', stage: 'after', path: '/v1/billing/meter_events' });
    expect((await failure(send(stripe, 'x2'))).statusCode).toBe(500);
    expect(fake.state.meterEvents).toHaveLength(1);
    expect((await failure(send(stripe, 'x2'))).statusCode).toBe(500);
    const dup = await failure(send(stripe, 'x2', '1', 'x2-second-attempt'));
    expect(dup.message).toMatch(/already exists with identifier x2/);
    expect(fake.state.meterEvents).toHaveLength(1);
  });

  it('a 500 from in front of the API (saved: false), a 429 and a validation error save nothing: the same key runs again', async () => {
    fake.faults.once({ kind: 'error500', saved: false, path: '/v1/billing/meter_events' });
    expect((await failure(send(stripe, 'y1'))).statusCode).toBe(500);
    fake.faults.once({ kind: 'rateLimit', path: '/v1/billing/meter_events' });
    expect((await failure(send(stripe, 'y1'))).statusCode).toBe(429);
    await send(stripe, 'y1');
    expect(fake.state.meterEvents).toHaveLength(1);
    const bad = (value: string) =>
      stripe.billing.meterEvents.create({ event_name: 'billctl_gpu_seconds', identifier: 'y2', payload: { stripe_customer_id: customer, value } }, { idempotencyKey: 'k-y2' });
    expect(await failure(bad('-3'))).toMatchObject({ statusCode: 400, code: 'meter_event_invalid_value' });
    // Nothing was saved under k-y2: the same key with other parameters simply runs.
    await bad('3');
    expect(fake.state.total(customer, 'billctl_gpu_seconds')).toBe('4');
  });

  it('a refusal by an endpoint that began executing (no such customer) is saved and replayed like any answer', async () => {
    const create = () =>
      stripe.billing.meterEvents.create(
        { event_name: 'billctl_gpu_seconds', identifier: 'y3', payload: { stripe_customer_id: 'cus_Later', value: '1' } },
        { idempotencyKey: 'k-y3' },
      );
    expect(await failure(create())).toMatchObject({ statusCode: 400, code: 'meter_event_customer_not_found' });
    fake.state.addCustomer({ id: 'cus_Later', name: 'Later' });
    const again = await failure(create());
    expect(again).toMatchObject({ statusCode: 400, code: 'meter_event_customer_not_found' });
    expect(again.headers?.['idempotent-replayed']).toBe('true');
    expect(fake.state.meterEvents).toHaveLength(0);
  });

  it('429 with Stripe-Should-Retry true, false, or without the header', async () => {
    for (const shouldRetry of [true, false, undefined]) {
      fake.faults.once({ kind: 'rateLimit', path: '/v1/billing/meter_events', shouldRetry });
      const e = await failure(send(stripe, `r-${String(shouldRetry)}`));
      expect(e).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
      expect(e).toMatchObject({ statusCode: 429, code: 'rate_limit' });
      expect(e.headers?.['stripe-should-retry']).toBe(shouldRetry === undefined ? undefined : String(shouldRetry));
    }
    expect(fake.state.meterEvents).toHaveLength(0);
    // With its own retries on, the SDK follows Stripe-Should-Retry: true.
    fake.faults.once({ kind: 'rateLimit', path: '/v1/billing/meter_events', shouldRetry: true });
    await send(sdk(fake, { maxNetworkRetries: 1 }), 'r-sdk');
    expect(fake.state.meterEvents).toHaveLength(1);
  });

  it('a connection reset after storing: the answer is lost, the event is stored once, a retry replays it', async () => {
    // The SDK retries a closed connection once on its own (same Idempotency-Key): reset twice.
    fake.faults.once({ kind: 'reset', path: '/v1/billing/meter_events' }, 2);
    const e = await failure(send(stripe, 'z1', '5'));
    expect(e).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(fake.state.meterEvents).toHaveLength(1);
    const again = await send(stripe, 'z1', '5');
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(fake.state.total(customer, 'billctl_gpu_seconds')).toBe('5');
    expect(fake.requests.filter((r) => r.path === '/v1/billing/meter_events').map((r) => r.outcome)).toEqual(['reset', 'reset', 'replayed']);
  });

  it('a connection reset before storing: nothing stored', async () => {
    fake.faults.once({ kind: 'reset', stage: 'before', path: '/v1/billing/meter_events' }, 2);
    expect(await failure(send(stripe, 'z2'))).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(fake.state.meterEvents).toHaveLength(0);
  });

  it('a slow answer: the client times out, the event is still stored, the retry replays', async () => {
    fake.faults.once({ kind: 'slow', delayMs: 400, path: '/v1/billing/meter_events' });
    const e = await failure(send(sdk(fake, { timeout: 100 }), 's1'));
    expect(e).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(e.message).toMatch(/timeout/);
    // While the first is still running, the same key is "in use" (409).
    const busy = await failure(send(stripe, 's1'));
    expect(busy).toMatchObject({ statusCode: 409, code: 'idempotency_key_in_use' });
    await new Promise((r) => setTimeout(r, 400));
    expect((await send(stripe, 's1')).lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(fake.state.meterEvents).toHaveLength(1);
  });

  it('adds a fixed latency to every answer', async () => {
    fake.setLatency(60);
    const t0 = Date.now();
    await send(stripe, 'l1');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
  });

  it('draws faults from a seed, per request: the same seed fails the same requests', async () => {
    const pattern = async (seed: number): Promise<string[]> => {
      const f = await startFakeStripe({ now: NOW, seed });
      const s = sdk(f);
      try {
        await s.billing.meters.create({ display_name: 'g', event_name: 'g', default_aggregation: { formula: 'sum' } });
        const cus = (await s.customers.create({ name: 'A' })).id;
        f.faults.add({ kind: 'error500', path: '/v1/billing/meter_events', probability: 0.3 });
        f.faults.add({ kind: 'rateLimit', path: '/v1/billing/meter_events', probability: 0.2 });
        const ids = Array.from({ length: 40 }, (_, i) => `ev-${i}`);
        // Concurrent, so arrival order varies; the draw depends on the request, not the order.
        const outcomes = await Promise.all(
          ids.map((id) =>
            s.billing.meterEvents
              .create({ event_name: 'g', identifier: id, payload: { stripe_customer_id: cus, value: '1' } }, { idempotencyKey: id })
              .then(
                () => `${id}:ok`,
                (e: Stripe.errors.StripeError) => `${id}:${e.statusCode}`,
              ),
          ),
        );
        return outcomes;
      } finally {
        await f.close();
      }
    };
    const a = await pattern(42);
    expect(await pattern(42)).toEqual(a);
    expect(a.filter((x) => x.endsWith(':500')).length).toBeGreaterThan(3);
    expect(a.filter((x) => x.endsWith(':429')).length).toBeGreaterThan(1);
    expect(await pattern(7)).not.toEqual(a);
  });

  it('weather: 10 % 500s, 5 % 429s (with and without Stripe-Should-Retry), 5 % resets after storing', async () => {
    fake.faults.weather();
    let next = 0;
    const outcomes: string[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 1500) {
          const id = `w${next++}`;
          outcomes.push(await send(stripe, id).then(() => 'ok', (e: Stripe.errors.StripeError) => String(e.statusCode ?? 'reset')));
        }
      }),
    );
    const reqs = fake.requests.filter((r) => r.path === '/v1/billing/meter_events');
    const rate = (n: number) => n / reqs.length;
    const c = fake.faults.counts();
    expect(rate(c.error500)).toBeGreaterThan(0.07);
    expect(rate(c.error500)).toBeLessThan(0.13);
    expect(rate(c.rateLimit)).toBeGreaterThan(0.03);
    expect(rate(c.rateLimit)).toBeLessThan(0.07);
    expect(rate(c.reset)).toBeGreaterThan(0.03);
    expect(rate(c.reset)).toBeLessThan(0.07);
    const with429 = fake.faults.fired.filter((f) => f.kind === 'rateLimit');
    expect(new Set(with429.map((f) => f.ruleId)).size).toBe(2);
    // Every reset happened after storing: stored events = answered 200s + resets' events, no more.
    const stored = new Set(fake.state.meterEvents.map((e) => e.object.identifier));
    expect(stored.size).toBe(fake.state.meterEvents.length);
    expect(outcomes.filter((o) => o === 'ok').length).toBeLessThanOrEqual(stored.size);
  });

  it('fault rules: skip, times, remove, counts', async () => {
    const h = fake.faults.add({ kind: 'error500', path: '/v1/billing/meter_events', skip: 1, times: 1 });
    await send(stripe, 'f1');
    expect((await failure(send(stripe, 'f2'))).statusCode).toBe(500);
    await send(stripe, 'f3');
    expect(h.fired).toBe(1);
    h.remove();
    expect(fake.faults.counts()).toMatchObject({ error500: 1, rateLimit: 0 });
  });
});

describe('fake Stripe: the request log', () => {
  beforeEach(() => start());

  it('records every request; the key is only ever in the Authorization header', async () => {
    await meter();
    const c = await stripe.customers.create({ name: 'A', metadata: { tenant_id: 't' } });
    await stripe.billing.meterEvents.create({ event_name: 'billctl_gpu_seconds', payload: { stripe_customer_id: c.id, value: '1' } });
    expect(fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST /v1/billing/meters 200',
      'POST /v1/customers 200',
      'POST /v1/billing/meter_events 200',
    ]);
    const r = fake.requests[1]!;
    expect(r.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(r.params).toEqual({ name: 'A', metadata: { tenant_id: 't' } });
    expect(r.headers.authorization).toBe(`Bearer ${fake.apiKey}`);
    expect(fake.leaksOf(fake.apiKey)).toEqual([]);
    // And it would notice a leak.
    await stripe.customers.create({ name: fake.apiKey });
    expect(fake.leaksOf(fake.apiKey)).toEqual(['#4 POST /v1/customers: body']);
  });
});
