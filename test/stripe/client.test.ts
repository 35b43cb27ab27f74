/** The Stripe port against the fake: configuration, calls, error classification, retries, secrecy. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, UsageError } from '../../src/errors.js';
import {
  attemptKey,
  backoffMs,
  classifyStripeError,
  customerIdempotencyKey,
  openStripe,
  parseStripeApiBase,
  redactSecrets,
  StripeCallError,
  stripeEnv,
  withRetries,
  type RetryPolicy,
  type StripeClient,
  type StripeFailure,
} from '../../src/stripe/client.js';
import { startFakeStripe, type FakeStripe } from '../helpers/fake-stripe.js';

const NOW = Date.parse('2026-11-15T12:00:00Z');
const NOW_S = NOW / 1000;
/** Retries without waiting. */
const FAST: RetryPolicy = { retries: 3, baseMs: 1, maxMs: 2, sleep: async () => {} };

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error('expected a usage error');
}

describe('configuration from the environment', () => {
  it('needs STRIPE_API_KEY and says how to set it (exit 2)', () => {
    const e = usageError(() => stripeEnv({}));
    expect(e.exitCode).toBe(ExitCode.usage);
    expect(e.message).toBe('STRIPE_API_KEY is not set');
    expect(e.hint).toMatch(/export STRIPE_API_KEY=sk_test_/);
    expect(e.hint).toMatch(/never from billctl\.yaml/);
  });

  it('refuses publishable and malformed keys without repeating them', () => {
    expect(usageError(() => stripeEnv({ STRIPE_API_KEY: 'pk_test_abc' })).message).toMatch(/publishable/);
    const bad = usageError(() => stripeEnv({ STRIPE_API_KEY: '"sk_test_Secret123"' }));
    expect(`${bad.message} ${bad.hint}`).not.toContain('Secret123');
  });

  it('tells test keys from live keys', () => {
    expect(stripeEnv({ STRIPE_API_KEY: 'sk_test_abc' }).livemode).toBe(false);
    expect(stripeEnv({ STRIPE_API_KEY: 'rk_live_abc' }).livemode).toBe(true);
    expect(stripeEnv({ STRIPE_API_KEY: 'sk_test_abc' }).endpoint).toBeUndefined();
  });

  it('parses STRIPE_API_BASE into host, port and protocol', () => {
    expect(parseStripeApiBase('http://127.0.0.1:12111')).toEqual({ protocol: 'http', host: '127.0.0.1', port: 12111 });
    expect(parseStripeApiBase('https://stripe-mock.internal')).toEqual({ protocol: 'https', host: 'stripe-mock.internal', port: 443 });
    expect(parseStripeApiBase('http://[::1]:8080/')).toEqual({ protocol: 'http', host: '::1', port: 8080 });
    for (const bad of ['127.0.0.1:12111', 'ftp://x', 'http://u:p@host', 'http://host/v1', 'not a url']) {
      expect(usageError(() => parseStripeApiBase(bad)).exitCode, bad).toBe(ExitCode.usage);
    }
  });

  it('redacts the key and anything shaped like a secret key', () => {
    expect(redactSecrets('key sk_test_abc123 and rk_live_zz9', 'sk_test_abc123')).toBe('key *** and rk_live_***');
  });
});

describe('backoff', () => {
  it('grows exponentially with jitter in [half, full], capped, never under Retry-After', () => {
    const p: RetryPolicy = { retries: 5, baseMs: 100, maxMs: 1000 };
    expect(backoffMs(1, { ...p, random: () => 0 })).toBe(50);
    expect(backoffMs(1, { ...p, random: () => 0.999999 })).toBe(100);
    expect(backoffMs(3, { ...p, random: () => 0.5 })).toBe(300);
    expect(backoffMs(10, { ...p, random: () => 0.999999 })).toBe(1000);
    expect(backoffMs(1, { ...p, random: () => 0 }, 2000)).toBe(2000);
  });

  it('retries retryable failures only, up to the limit, and reports each retry', async () => {
    const retryable = new StripeCallError({ kind: 'retryable', fatal: false, message: 'busy', status: 429 });
    const permanent = new StripeCallError({ kind: 'permanent', fatal: false, message: 'no', status: 400 });
    const seen: number[] = [];
    let calls = 0;
    await expect(
      withRetries(
        async () => {
          calls++;
          if (calls < 3) throw retryable;
          return 'ok';
        },
        FAST,
        (_f, attempt) => seen.push(attempt),
      ),
    ).resolves.toBe('ok');
    expect(seen).toEqual([1, 2]);
    calls = 0;
    await expect(withRetries(async () => { calls++; throw permanent; }, FAST)).rejects.toBe(permanent);
    expect(calls).toBe(1);
    calls = 0;
    await expect(withRetries(async () => { calls++; throw retryable; }, FAST)).rejects.toBe(retryable);
    expect(calls).toBe(4);
  });
});

describe('the client against the fake Stripe', () => {
  let fake: FakeStripe;
  let client: StripeClient;
  let customer: string;

  const send = (identifier: string, value: bigint | number = 5n, timestamp = NOW_S - 3600, idempotencyKey = attemptKey(identifier, 1)) =>
    client.sendMeterEvent({ eventName: 'billctl_gpu_seconds', customerId: customer, value, timestamp, identifier, idempotencyKey });
  const noCustomerYet = async () => undefined;
  /** What a send fails with. */
  const failureOf = async (p: Promise<unknown>): Promise<StripeFailure> => {
    try {
      await p;
    } catch (err) {
      if (err instanceof StripeCallError) return err.failure;
      throw err;
    }
    throw new Error('expected a failure');
  };

  beforeEach(async () => {
    fake = await startFakeStripe({ now: NOW });
    client = await openStripe(fake.env, { retry: FAST });
    await client.createMeter({ eventName: 'billctl_gpu_seconds', displayName: 'GPU seconds' });
    customer = (await client.createCustomer({ tenantId: 'acme', name: 'Acme', email: 'billing@acme.example' }, noCustomerYet)).id;
  });
  afterEach(async () => {
    client.close();
    await fake.close();
  });

  it("sends a meter event under the attempt's own Idempotency-Key; the same key is replayed, a new one meets the identifier dedup", async () => {
    expect(await send('billctl-1', 12n)).toMatchObject({ outcome: 'sent', replayed: false, requestId: expect.stringMatching(/^req_/) });
    const req = fake.requests.find((r) => r.path === '/v1/billing/meter_events')!;
    expect(req.headers['idempotency-key']).toBe('billctl-1-a1');
    expect(req.params).toEqual({
      event_name: 'billctl_gpu_seconds',
      identifier: 'billctl-1',
      timestamp: String(NOW_S - 3600),
      payload: { stripe_customer_id: customer, value: '12' },
    });
    expect(await send('billctl-1', 12n)).toMatchObject({ outcome: 'sent', replayed: true });
    expect(await send('billctl-1', 12n, NOW_S - 3600, attemptKey('billctl-1', 2))).toMatchObject({ outcome: 'already_sent' });
    expect(fake.state.total(customer, 'billctl_gpu_seconds')).toBe('12');
    // Without a key of its own, each send gets a new random one, never the bare identifier.
    await client.sendMeterEvent({ eventName: 'billctl_gpu_seconds', customerId: customer, value: 1n, timestamp: NOW_S, identifier: 'billctl-9' });
    await client.sendMeterEvent({ eventName: 'billctl_gpu_seconds', customerId: customer, value: 1n, timestamp: NOW_S, identifier: 'billctl-9' });
    const keys = fake.requests.filter((r) => r.params.identifier === 'billctl-9').map((r) => String(r.headers['idempotency-key']));
    expect(keys).toHaveLength(2);
    expect(new Set(keys).size).toBe(2);
    for (const k of keys) expect(k).toMatch(/^billctl-9-[0-9a-f]{16}$/);
  });

  it('a 500 Stripe saved is replayed to its key for 24 hours; the next attempt, under its own key, goes through', async () => {
    fake.faults.once({ kind: 'error500', path: '/v1/billing/meter_events' });
    expect(await failureOf(send('e1'))).toMatchObject({ kind: 'retryable', status: 500 });
    // The old way (one key for every attempt) gets the same 500 again and again.
    expect(await failureOf(send('e1'))).toMatchObject({ kind: 'retryable', status: 500 });
    fake.clock.advance(23 * 3_600_000);
    expect(await failureOf(send('e1'))).toMatchObject({ kind: 'retryable', status: 500 });
    expect(fake.state.meterEvents).toHaveLength(0);
    expect(await send('e1', 5n, NOW_S - 3600, attemptKey('e1', 2))).toMatchObject({ outcome: 'sent', replayed: false });
    expect(fake.state.meterEvents.map((e) => e.object.identifier)).toEqual(['e1']);
  });

  it('counts "an event already exists with identifier" as already sent', async () => {
    fake.state.identifiers.set('billctl-2', fake.clock.now());
    expect(await send('billctl-2')).toMatchObject({ outcome: 'already_sent' });
    expect(fake.state.meterEvents).toHaveLength(0);
  });

  it('refuses identifiers over 100 characters and values that are not whole numbers, before calling Stripe', async () => {
    await expect(send('x'.repeat(101))).rejects.toThrow(/1\.\.100/);
    await expect(send('ok', -1)).rejects.toThrow(/whole number/);
    expect(fake.requests.filter((r) => r.path === '/v1/billing/meter_events')).toHaveLength(0);
  });

  it('classifies what Stripe answers', async () => {
    const path = '/v1/billing/meter_events';
    fake.faults.once({ kind: 'error500', path });
    expect(await failureOf(send('c1'))).toMatchObject({ kind: 'retryable', status: 500, fatal: false });
    // Stripe-Should-Retry: false on a 500 says the same key would get the saved 500 again; the
    // outcome is still unknown, and a new key may go through.
    fake.faults.once({ kind: 'error500', path, shouldRetry: false });
    expect(await failureOf(send('c2'))).toMatchObject({ kind: 'retryable', status: 500, shouldRetry: false });
    fake.faults.once({ kind: 'rateLimit', path });
    expect(await failureOf(send('c3'))).toMatchObject({ kind: 'retryable', status: 429, code: 'rate_limit' });
    fake.faults.once({ kind: 'rateLimit', path, shouldRetry: true });
    expect(await failureOf(send('c4'))).toMatchObject({ kind: 'retryable', status: 429, shouldRetry: true });
    fake.faults.once({ kind: 'rateLimit', path, shouldRetry: false });
    expect(await failureOf(send('c5'))).toMatchObject({ kind: 'permanent', status: 429, shouldRetry: false });
    // The SDK retries a reset connection once by itself; two resets reach the port.
    fake.faults.once({ kind: 'reset', path }, 2);
    const reset = await failureOf(send('c6'));
    expect(reset).toMatchObject({ kind: 'retryable', fatal: false });
    expect(reset.status).toBeUndefined();
    expect(await failureOf(send('c7', 1n, NOW_S - 40 * 86_400))).toMatchObject({ kind: 'permanent', status: 400, code: 'timestamp_too_far_in_past' });
    expect(await failureOf(send('c8', 1n, NOW_S + 3600))).toMatchObject({ kind: 'permanent', status: 400, code: 'timestamp_in_future' });
    // c6 was stored before the connection dropped: sending it again under the key is a replay.
    expect(await send('c6')).toMatchObject({ outcome: 'sent', replayed: true });
    expect(await send('c6', 5n, NOW_S - 3600, attemptKey('c6', 2))).toMatchObject({ outcome: 'already_sent' });
    expect(fake.state.meterEvents.map((e) => e.object.identifier)).toEqual(['c6']);
  });

  it('a timeout is retryable, and a request still in flight at Stripe (409) too', async () => {
    fake.faults.once({ kind: 'slow', delayMs: 300, path: '/v1/billing/meter_events' });
    expect(await failureOf(client.sendMeterEvent({ eventName: 'billctl_gpu_seconds', customerId: customer, value: 1n, timestamp: NOW_S, identifier: 't1', idempotencyKey: attemptKey('t1', 1) }, { timeoutMs: 50 }))).toMatchObject({
      kind: 'retryable',
    });
    expect(await failureOf(send('t1', 1n, NOW_S))).toMatchObject({ kind: 'retryable', status: 409, code: 'idempotency_key_in_use' });
  });

  it('a refused key is fatal (exit 2) and its message holds no part of the key', async () => {
    const other = await openStripe({ ...fake.env, STRIPE_API_KEY: 'sk_test_WrongKeyWrongKey98765' }, { retry: FAST });
    try {
      let caught: unknown;
      await other.listMeters().catch((e: unknown) => (caught = e));
      expect(caught).toBeInstanceOf(StripeCallError);
      const e = caught as StripeCallError;
      expect(e.failure).toMatchObject({ kind: 'permanent', fatal: true, status: 401 });
      expect(e.exitCode).toBe(ExitCode.usage);
      expect(e.message).toMatch(/check STRIPE_API_KEY/);
      expect(`${e.message}${e.hint}`).not.toMatch(/WrongKey|98765/);
    } finally {
      other.close();
    }
  });

  it('retries meters, customers and summaries on its own', async () => {
    fake.faults.once({ kind: 'rateLimit', path: '/v1/billing/meters' }, 2);
    expect((await client.listMeters()).map((m) => m.event_name)).toEqual(['billctl_gpu_seconds']);
    fake.faults.once({ kind: 'error500', path: /^\/v1\/customers/ }, 3);
    expect(await client.findCustomersByTenant('acme')).toHaveLength(1);
  });

  it('finds customers by tenant (quotes and all), by email, and tells missing from deleted', async () => {
    const odd = (await client.createCustomer({ tenantId: "it's \\ odd", name: 'Odd', email: null }, noCustomerYet)).id;
    expect((await client.findCustomersByTenant("it's \\ odd")).map((c) => c.id)).toEqual([odd]);
    expect((await client.listCustomersByEmail('billing@acme.example')).map((c) => c.id)).toEqual([customer]);
    expect(await client.retrieveCustomer('cus_missing')).toBe('missing');
    fake.state.customers.get(odd)!.deleted = true;
    expect(await client.retrieveCustomer(odd)).toBe('deleted');
    expect(((await client.retrieveCustomer(customer)) as { id: string }).id).toBe(customer);
  });

  it('creates a customer once per tenant: the idempotency key comes from the tenant', async () => {
    const again = await client.createCustomer({ tenantId: 'acme', name: 'Acme', email: 'billing@acme.example' }, noCustomerYet);
    expect(again.id).toBe(customer);
    expect(fake.state.customers.size).toBe(1);
    const creates = fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/customers');
    expect(creates.map((r) => r.headers['idempotency-key'])).toEqual([customerIdempotencyKey('acme'), customerIdempotencyKey('acme')]);
    expect(creates[0]!.params).toEqual({ name: 'Acme', email: 'billing@acme.example', metadata: { tenant_id: 'acme' } });
  });

  it('a create that met a saved 500 looks again before it sends under a new key: one customer either way', async () => {
    const lookup = (tenantId: string) => async () => (await client.findCustomersByTenant(tenantId))[0];
    const creates = () => fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/customers');
    // A 500 before Stripe made it: the same key would replay the 500, so the retry uses a new one.
    fake.faults.once({ kind: 'error500', path: '/v1/customers', shouldRetry: false });
    const beta = await client.createCustomer({ tenantId: 'beta', name: 'Beta', email: null }, lookup('beta'));
    expect(creates().slice(1).map((r) => r.headers['idempotency-key'])).toEqual([
      customerIdempotencyKey('beta'),
      expect.stringMatching(new RegExp(`^${customerIdempotencyKey('beta')}-retry-[0-9a-f]{16}$`)),
    ]);
    expect(creates().slice(1).map((r) => r.status)).toEqual([500, 200]);
    // A 500 after Stripe made it: the look finds it, and nothing is sent again.
    fake.faults.once({ kind: 'error500', stage: 'after', path: '/v1/customers' });
    const gamma = await client.createCustomer({ tenantId: 'gamma', name: 'Gamma', email: null }, lookup('gamma'));
    expect(creates()).toHaveLength(4);
    expect([...fake.state.customers.values()].map((c) => c.object.metadata.tenant_id).sort()).toEqual(['acme', 'beta', 'gamma']);
    expect(gamma.metadata.tenant_id).toBe('gamma');
    expect(beta.metadata.tenant_id).toBe('beta');
  });

  it('lists event summaries, oldest first', async () => {
    const hour = Math.floor(NOW_S / 3600) * 3600;
    await send('s1', 3n, hour - 7200 + 5);
    await send('s2', 4n, hour - 3600 + 5);
    const meters = await client.listMeters();
    expect(await client.listEventSummaries(meters[0]!.id, customer, hour - 7200, hour, 'hour')).toEqual([
      { start: hour - 7200, end: hour - 3600, value: 3 },
      { start: hour - 3600, end: hour, value: 4 },
    ]);
    expect(await client.listEventSummaries(meters[0]!.id, customer, hour - 7200, hour)).toEqual([{ start: hour - 7200, end: hour, value: 7 }]);
  });

  it('classifies errors from below the SDK, and leaves bugs alone', () => {
    expect(classifyStripeError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toMatchObject({ kind: 'retryable', code: 'ECONNREFUSED' });
    expect(classifyStripeError(new TypeError('boom'))).toMatchObject({ kind: 'permanent' });
  });

  it('never sends the key anywhere but the Authorization header', () => {
    expect(fake.requests.length).toBeGreaterThan(0);
    expect(fake.leaksOf(fake.apiKey)).toEqual([]);
  });
});
