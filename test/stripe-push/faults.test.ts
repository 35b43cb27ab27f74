/**
 * `stripe push` under Stripe's own retry rules (issue 12): Stripe saves the first answer of a
 * request under its Idempotency-Key — a 500 included — and replays it to every retry with that
 * key for 24 hours. The meter event's `identifier` carries exactly-once; each attempt has its own
 * key; retries inside one run stop after a time budget and leave the rest to the next run.
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_PUSH_RETRY, STORE_ID_SETTING } from '../../src/app/stripe-push.js';
import { attemptKey } from '../../src/stripe/client.js';
import { IDENTIFIER_SAFE_MS } from '../../src/stripe/push-plan.js';
import { describeEachBackend, dropSchemas, sqliteBackend } from '../helpers/backends.js';
import { json } from '../helpers/cli.js';
import {
  eventPosts, expectNoLeaks, expectServerMatches, H, insertReceipts, makeReceipts, METERS, prng, pushWorld, serverTotals, totalsOf,
  withStore, type PushJson, type PushWorld, type TestReceipt,
} from './helpers.js';

afterAll(dropSchemas);

const FAST = ['--rate', '1000'];
const METER_EVENTS = '/v1/billing/meter_events';

/** Fixes the store id, so identifiers, attempt keys and the fake's keyed fault draws repeat run after run. */
async function fixStoreId(w: PushWorld, id = 'c0ffee00c0ffee00'): Promise<void> {
  await withStore(w.db, (s) => s.setSetting(STORE_ID_SETTING, id));
}

/** Per tenant, one receipt in each of the last `hours` hours with usage on all four meters. */
function hourlyReceipts(seed: number, tenants: readonly string[], hours: number, now: number): TestReceipt[] {
  const rand = prng(seed);
  const out: TestReceipt[] = [];
  for (const tenantId of tenants) {
    for (let h = 1; h <= hours; h++) {
      for (let k = 0; k < 2; k++) {
        out.push({
          tenantId, id: `h-${h}-${k}`, ts: Math.floor(now / H) * H - h * H + Math.floor(rand() * H), billable: true,
          gpuSeconds: 1n + BigInt(Math.floor(rand() * 900)), inputTokens: 1n + BigInt(Math.floor(rand() * 5000)), outputTokens: 1n + BigInt(Math.floor(rand() * 2000)),
        });
      }
    }
  }
  return out;
}

describeEachBackend('stripe push under saved 500s', (backend) => {
  let w: PushWorld;
  afterEach(async () => {
    expectNoLeaks(w);
    await w.close();
  });

  it('one 500 that Stripe saves does not block its event: the retry, under a new key, lands it in the same run', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    await fixStoreId(w);
    const receipts = makeReceipts(21, ['acme'], 10, w.now - 6 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    // The first request of the input-token events: a 500 before anything is stored, saved under its key.
    w.fake.faults.add({ kind: 'error500', path: METER_EVENTS, times: 1, when: (r) => String(r.params.event_name).endsWith('input_tokens') });
    const { r, j } = await w.push(FAST);
    expect(r.code, r.stderr).toBe(0);
    expect(j.events).toMatchObject({ failed: 0, retry_later: 0, uncertain: 0 });
    expect(j.left_for_next_run).toBe(0);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    const [hit] = w.fake.faults.fired;
    const identifier = String(w.fake.requests.find((q) => q.seq === hit!.seq)!.params.identifier);
    expect(eventPosts(w.fake).filter((p) => p.params.identifier === identifier).map((p) => [p.headers['idempotency-key'], p.status])).toEqual([
      [attemptKey(identifier, 1), 500],
      [attemptKey(identifier, 2), 200],
    ]);
    expect(j.retries).toBe(1);
  });

  it('a pending event whose first attempt met a saved 500 is sent by the next run, under the next key', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    await fixStoreId(w);
    const receipts = makeReceipts(22, ['acme'], 10, w.now - 6 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    // Every request fails and Stripe saves each 500; the budget of 0 s retries nothing.
    const storm = w.fake.faults.add({ kind: 'error500', path: METER_EVENTS });
    const first = await w.push([...FAST, '--retry-budget', '0', '--concurrency', '1']);
    expect(first.r.code).toBe(3);
    expect(w.fake.state.meterEvents).toEqual([]);
    const tried = eventPosts(w.fake).map((p) => String(p.headers['idempotency-key']));
    expect(tried).toHaveLength(1);
    storm.remove();
    const next = await w.push(FAST);
    expect(next.r.code, next.r.stderr).toBe(0);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    // The event tried before goes out under its second key (its first would get the saved 500 again).
    const identifier = tried[0]!.replace(/-a1$/, '');
    expect(eventPosts(w.fake).filter((p) => p.params.identifier === identifier).map((p) => p.headers['idempotency-key'])).toEqual([
      attemptKey(identifier, 1),
      attemptKey(identifier, 2),
    ]);
  });

  it('retries stop after the budget: the run ends, says how many events it left, exits 3; the next run sends them', async () => {
    w = await pushWorld(backend);
    const receipts = makeReceipts(23, ['acme', 'beta'], 40, w.now - 30 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    // Stripe is down for meter events: every request gets a 500 (some stored first).
    const down = [
      w.fake.faults.add({ kind: 'error500', path: METER_EVENTS, probability: 0.5 }),
      w.fake.faults.add({ kind: 'error500', path: METER_EVENTS, stage: 'after' }),
    ];
    const started = Date.now();
    const { r, j } = await w.push([...FAST, '--retry-budget', '1']);
    const took = Date.now() - started;
    expect(r.code).toBe(3);
    // One second of retries, the backoff of the last one at most, and the requests in flight.
    expect(took).toBeLessThan(10_000);
    expect(j.events.sent + j.events.already_sent).toBe(0);
    expect(j.left_for_next_run).toBe(j.events.planned);
    expect(j.stopped).toBe(`Stripe kept failing after the retry budget (1 s) was spent: this run stopped and left ${j.events.planned} event(s) for the next run`);
    expect(j.events.retry_later).toBe(j.events.planned);
    expect(j.tenants.map((t) => t.result)).toEqual(['failed', 'failed']);
    expect(r.stderr).toMatch(new RegExp(`Stripe kept failing after the retry budget \\(1 s\\) was spent: this run stopped and left ${j.events.planned} event\\(s\\) for the next run`));
    // Far fewer requests than events × attempts (8 each): the run stopped instead of trying each
    // one to the end. How many fit in the second depends on the machine; twice the events is far.
    expect(eventPosts(w.fake).length).toBeLessThan(j.events.planned * 2);
    expect(eventPosts(w.fake).length).toBeLessThan((j.events.planned * DEFAULT_PUSH_RETRY.maxAttempts) / 4);
    await withStore(w.db, async (s) => {
      const rows = await s.ledger.rows({});
      expect(rows.filter((x) => x.status !== 'pending')).toEqual([]);
    });
    const table = await w.run(['stripe', 'push', '--yes', ...FAST, '--retry-budget', '0']);
    expect(table.code).toBe(3);
    expect(table.stderr).toMatch(/Pushed 0 of \d+ event\(s\) \(0 already in Stripe, 0 retries; \d+ left for the next run\)/);

    for (const d of down) d.remove();
    const next = await w.push(FAST);
    expect(next.r.code, next.r.stderr).toBe(0);
    expect(next.j.left_for_next_run).toBe(0);
    expect(next.j.stopped).toBeNull();
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    expectServerMatches(w.fake, w.customers.beta!, receipts, 'beta');
  });

  it('5,000 events under 10 % saved 500s, 5 % 429s and 5 % resets after storing: each run under 2 minutes, exact after at most 3', async () => {
    const tenants = Array.from({ length: 8 }, (_, i) => `t${i + 1}`);
    w = await pushWorld(backend, { tenants, invoiceTenant: false });
    await fixStoreId(w);
    // 8 tenants × 157 hours × 4 meters = 5,024 events, from 2,512 receipts.
    const receipts = hourlyReceipts(24, tenants, 157, w.now);
    await insertReceipts(w.db, receipts);
    w.fake.faults.weather({ error500: 0.1, rateLimit: 0.05, reset: 0.05 });
    const runs: { code: number; ms: number; left: number }[] = [];
    let planned = 0;
    do {
      const started = Date.now();
      const { r, j } = await w.push([...FAST, '--concurrency', '16']);
      runs.push({ code: r.code, ms: Date.now() - started, left: j.left_for_next_run });
      if (runs.length === 1) planned = j.events.planned;
      expect([0, 3], r.stderr).toContain(r.code);
    } while (runs.at(-1)!.code !== 0 && runs.length < 3);
    expect(planned).toBe(5024);
    expect(runs.at(-1)).toMatchObject({ code: 0, left: 0 });
    for (const run of runs) expect(run.ms).toBeLessThan(120_000);
    for (const t of tenants) expectServerMatches(w.fake, w.customers[t]!, receipts, t);
    // Every fault happened, and none put an event in twice.
    const fired = w.fake.faults.counts();
    expect(fired.error500).toBeGreaterThan(300);
    expect(fired.rateLimit).toBeGreaterThan(150);
    expect(fired.reset).toBeGreaterThan(150);
    expect(new Set(w.fake.state.meterEvents.map((e) => e.object.identifier)).size).toBe(5024);
    expect(w.fake.state.meterEvents).toHaveLength(5024);
    expect(w.fake.requests.some((q) => q.outcome === 'replayed')).toBe(true);
  }, 400_000);

  it('--dry-run on a store without meters and without a key shows what would be sent (exit 0), customers or not', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    expect((await w.run(['tenant', 'add', 'delta', '--billing-mode', 'stripe'])).code).toBe(0);
    const receipts = makeReceipts(25, ['acme', 'delta'], 20, w.now - 10 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    // A store set up before `stripe setup` ran: no meter settings at all.
    await withStore(w.db, async (s) => {
      const d = (s as unknown as { db: { run(sql: string): Promise<unknown> } }).db;
      await d.run("DELETE FROM settings WHERE key LIKE 'stripe.%'");
    });
    const r = await w.run(['stripe', 'push', '--dry-run', '--format', 'json'], { STRIPE_API_KEY: undefined, STRIPE_API_BASE: undefined });
    expect(r.code, r.stderr).toBe(0);
    const j = json<PushJson>(r);
    const want = totalsOf(receipts, 'acme');
    expect(j.tenants[0]!.planned).toEqual(Object.fromEntries(METERS.map((m) => [m, Number(want[m])])));
    // A tenant without a Stripe customer yet: what would be sent once it has one.
    const delta = totalsOf(receipts, 'delta');
    expect(j.tenants[1]).toMatchObject({ tenant_id: 'delta', customer: null, result: 'no_customer' });
    expect(j.tenants[1]!.planned).toEqual(Object.fromEntries(METERS.map((m) => [m, Number(delta[m])])));
    expect(j.setup_needed).toMatch(/^the Stripe meters are not set up for this config: no meter stored for gpu_seconds/);
    expect(r.stderr).toMatch(/the Stripe meters are not set up for this config: .*: a real push would refuse\. Run billctl stripe setup first\./);
    expect(r.stderr).toMatch(/Dry run: nothing was sent or recorded/);
    expect(w.fake.requests.filter((q) => q.path === METER_EVENTS)).toEqual([]);
    await withStore(w.db, async (s) => expect(await s.ledger.rows({})).toEqual([]));
    const table = await w.run(['stripe', 'push', '--dry-run'], { STRIPE_API_KEY: undefined, STRIPE_API_BASE: undefined });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/acme\s+│\s+cus_\w+\s+│\s+ok\s+│\s+\d+\s+│/);
    // A real push still refuses, and says what to do.
    const real = await w.run(['stripe', 'push', '--yes']);
    expect(real.code).toBe(2);
    expect(real.stderr).toMatch(/Run: billctl stripe setup/);
    expect(w.fake.requests.filter((q) => q.path === METER_EVENTS)).toEqual([]);
  });
});

describe('stripe push: an identifier is never sent with two values, nor resent 23 hours after its first request', () => {
  afterAll(dropSchemas);

  it('holds over runs with random faults, budgets, late receipts and clock jumps', async () => {
    const step = fc.record({
      advanceH: fc.constantFrom(0, 1, 6, 22, 23, 24, 30),
      error500: fc.constantFrom(0, 0.2, 0.5),
      reset: fc.constantFrom(0, 0.2, 0.3),
      rateLimit: fc.constantFrom(0, 0.1),
      budget: fc.constantFrom('0', '1', '2'),
      late: fc.nat(6),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 2, maxLength: 5 }), fc.integer({ min: 1, max: 1000 }), async (steps, seed) => {
        const w = await pushWorld(sqliteBackend, { tenants: ['acme', 'beta'], invoiceTenant: false, fake: { seed } });
        try {
          let now = w.now;
          const receipts = makeReceipts(seed, ['acme', 'beta'], 12, now - 20 * H, now - 1000);
          await insertReceipts(w.db, receipts);
          for (const [i, s] of steps.entries()) {
            now += s.advanceH * H;
            w.fake.clock.set(now);
            if (s.late > 0) {
              const late = makeReceipts(seed + i + 1, ['acme'], s.late, now - 30 * H, now - 1000, `late${i}`);
              receipts.push(...late);
              await insertReceipts(w.db, late);
            }
            w.fake.faults.clear();
            if (s.error500 + s.reset + s.rateLimit > 0) w.fake.faults.weather({ error500: s.error500, reset: s.reset, rateLimit: s.rateLimit });
            const { r } = await w.push([...FAST, '--retry-budget', s.budget], { BILLCTL_NOW: new Date(now).toISOString() });
            expect([0, 3], r.stderr).toContain(r.code);
          }
          const byIdentifier = new Map<string, { what: Set<string>; first: number; last: number }>();
          for (const p of eventPosts(w.fake)) {
            const id = String(p.params.identifier);
            const what = JSON.stringify([p.params.event_name, p.params.timestamp, p.params.payload]);
            const e = byIdentifier.get(id) ?? { what: new Set<string>(), first: p.at, last: p.at };
            e.what.add(what);
            e.last = Math.max(e.last, p.at);
            byIdentifier.set(id, e);
          }
          for (const [id, e] of byIdentifier) {
            expect(e.what.size, id).toBe(1);
            // The fake's clock and billctl's run side by side; a minute covers their drift.
            expect(e.last - e.first, id).toBeLessThan(IDENTIFIER_SAFE_MS + 60_000);
          }
          // Never more in Stripe than the receipts (nothing twice), whatever was left uncertain.
          for (const t of ['acme', 'beta']) {
            const want = totalsOf(receipts, t, now);
            const got = serverTotals(w.fake, w.customers[t]!);
            for (const m of METERS) expect(BigInt(got[m]), `${t} ${m}`).toBeLessThanOrEqual(want[m]);
          }
        } finally {
          await w.close();
        }
      }),
      { numRuns: 10, seed: 1212 },
    );
  }, 300_000);
});
