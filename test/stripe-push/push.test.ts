/**
 * `stripe push`, `stripe status` and `stripe reconcile` end to end, in-process: the real `stripe`
 * package against the fake Stripe, on SQLite and Postgres. The property behind every test: what
 * Stripe holds per customer and meter equals the receipts' totals exactly — never less, never
 * more — whatever happened on the way. (Child processes: two at once and kill -9 are in
 * process.test.ts.)
 */
import { afterAll, afterEach, beforeEach, expect, it, vi } from 'vitest';
import { STORE_ID_SETTING } from '../../src/app/stripe-push.js';
import { openStripe } from '../../src/stripe/client.js';
import { eventIdentifier } from '../../src/stripe/push-plan.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { json, type CliResult } from '../helpers/cli.js';
import {
  DAY, EVENT_NAMES, eventPosts, expectNoLeaks, expectServerMatches, H, insertReceipts, makeReceipts, METERS, pushWorld, serverTotals, totalsOf,
  withStore, type PushJson, type PushWorld, type TestReceipt,
} from './helpers.js';

// The one module that prompts; the live-key test answers through it.
const prompt = vi.hoisted(() => ({ answer: false, asked: [] as string[] }));
vi.mock('../../src/cli/prompts.js', () => ({
  confirm: async (message: string) => {
    prompt.asked.push(message);
    return prompt.answer;
  },
  input: async () => '',
}));

afterAll(dropSchemas);

const FAST = ['--rate', '1000'];

interface StatusCell {
  revisions: number;
  value: number;
}

interface StatusJson {
  bucket: string | null;
  last_run: { clean: boolean; events: Record<string, number>; failed_tenants: string[] } | null;
  last_clean_run: unknown;
  lock: unknown;
  tenants: {
    tenant_id: string;
    customer: string | null;
    meters: {
      meter: string;
      oldest_unsent_bucket: string | null;
      last_sent_at: string | null;
      pending: StatusCell;
      sent: StatusCell;
      failed: StatusCell;
      expired: StatusCell;
      uncertain: StatusCell;
    }[];
  }[];
}

interface ReconcileJson {
  differences: number;
  rows: { tenant_id: string; customer: string; meter: string; stripe: number | null; ledger_sent: number; uncertain: number; difference: number | null; match: boolean; note: string | null }[];
}

describeEachBackend('stripe push', (backend) => {
  let w: PushWorld;
  let extra: CliResult[];
  beforeEach(() => {
    extra = [];
    prompt.answer = false;
    prompt.asked = [];
  });
  afterEach(async () => {
    expectNoLeaks(w, extra);
    await w.close();
  });

  const push = async (args: string[] = [], env: Record<string, string | undefined> = {}) => w.push([...FAST, ...args], env);

  it("sends every bucket once: Stripe holds exactly the receipts' totals, invoice tenants nothing; a second push sends nothing", async () => {
    w = await pushWorld(backend);
    const receipts: TestReceipt[] = makeReceipts(1, ['acme', 'beta', 'gamma'], 60, w.now - 30 * H, w.now - 1000);
    // Sums past 2^53: exact only without floating point anywhere.
    for (let i = 0; i < 6; i++) {
      receipts.push({ tenantId: 'acme', id: `big-${i}`, ts: w.now - (i + 2) * H, billable: true, gpuSeconds: 1n, inputTokens: 2n ** 51n + BigInt(i), outputTokens: 2n ** 50n });
    }
    await insertReceipts(w.db, receipts);
    const { r, j } = await push();
    expect(r.code, r.stderr).toBe(0);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    expectServerMatches(w.fake, w.customers.beta!, receipts, 'beta');
    expect(w.fake.state.events({ customer: w.customers.gamma! })).toEqual([]);
    expect(BigInt(serverTotals(w.fake, w.customers.acme!).input_tokens)).toBeGreaterThan(2n ** 53n);

    const posts = eventPosts(w.fake);
    expect(j.events).toEqual({ planned: posts.length, sent: posts.length, already_sent: 0, failed: 0, retry_later: 0, expired: 0, uncertain: 0 });
    expect(j.tenants.map((t) => [t.tenant_id, t.result])).toEqual([['acme', 'ok'], ['beta', 'ok']]);
    const acme = totalsOf(receipts, 'acme');
    expect(j.tenants[0]!.sent).toEqual(Object.fromEntries(METERS.map((m) => [m, Number(acme[m])])));
    expect(r.stdout).toContain(`"input_tokens": ${acme.input_tokens}`);
    for (const p of posts) {
      const identifier = String(p.params.identifier);
      // Each attempt its own Idempotency-Key; here every event went through at its first.
      expect(p.headers['idempotency-key']).toBe(`${identifier}-a1`);
      expect(identifier.length).toBeLessThanOrEqual(100);
      expect(identifier).toMatch(/^billctl-[0-9a-f]{24}-(gpu_seconds|input_tokens|output_tokens|api_calls)-\d+-r1$/);
      expect(Number(p.params.timestamp) % 3600).toBe(0);
      expect(p.params.payload).toMatchObject({ stripe_customer_id: expect.stringMatching(/^cus_/), value: expect.stringMatching(/^\d+$/) });
    }
    // One event per (customer, meter, hour) with usage.
    expect(new Set(posts.map((p) => p.params.identifier)).size).toBe(posts.length);
    expect(w.fake.state.maxInFlightSameCustomerMeter).toBe(1);
    expect(w.fake.state.maxInFlight).toBeLessThanOrEqual(8);

    const again = await push();
    expect(again.r.code, again.r.stderr).toBe(0);
    expect(again.j.events.planned).toBe(0);
    expect(eventPosts(w.fake)).toHaveLength(posts.length);

    const table = await w.run(['stripe', 'push', '--yes', ...FAST]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/acme\s+│\s+cus_\w+\s+│\s+ok\s+│\s+0\s+│/);
    expect(table.stderr).toMatch(/Pushed 0 of 0 event\(s\)/);
    const audit = json<{ command: string; details: Record<string, unknown> }[]>(await w.run(['audit', '--format', 'json']));
    expect(audit.filter((a) => a.command === 'stripe push').map((a) => a.details.sent)).toEqual([posts.length]);
  });

  it('receipts brought in by billctl import are pushed: non-billable statuses never, each billable receipt one API call', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const csv = [
      'id,tenant_id,timestamp,status,model,gpu_type,gpu_seconds,input_tokens,output_tokens',
      'r-1,acme,2026-11-21T09:07:11Z,completed,qwen-70b,a100-80gb,412,1800,350',
      'r-2,acme,2026-11-21T09:59:59.999Z,,qwen-70b,,,200,50',
      'r-3,acme,2026-11-21T10:00:00Z,failed,qwen-70b,a100-80gb,999,9999,999',
      'r-4,acme,2026-11-21T10:30:00Z,CANCELLED,qwen-70b,,,5000,5000',
      'r-5,acme,2026-11-21T10:45:00Z,completed,gemma-2b,,,0,0',
    ].join('\n');
    writeFileSync(join(w.dir, 'r.csv'), `${csv}\n`);
    const imported = await w.run(['import', 'r.csv', '--format', 'json']);
    expect(imported.code, imported.stderr).toBe(0);
    const { r, j } = await push();
    expect(r.code, r.stderr).toBe(0);
    expect(j.tenants[0]!.sent).toEqual({ gpu_seconds: 412, input_tokens: 2000, output_tokens: 400, api_calls: 3, cached_input_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 });
    expect(w.fake.state.total(w.customers.acme!, EVENT_NAMES.api_calls)).toBe('3');
    expect(w.fake.state.total(w.customers.acme!, EVENT_NAMES.input_tokens)).toBe('2000');
    const nine = Date.parse('2026-11-21T09:00:00Z') / 1000;
    expect(w.fake.state.events({ eventName: EVENT_NAMES.api_calls }).map((e) => [e.object.timestamp, e.object.payload.value])).toEqual([
      [nine, '2'],
      [nine + 3600, '1'],
    ]);
  });

  it('late receipts: the next push sends only the difference, as new revisions', async () => {
    w = await pushWorld(backend);
    const first = makeReceipts(2, ['acme', 'beta'], 40, w.now - 10 * H, w.now - 4 * H);
    await insertReceipts(w.db, first);
    expect((await push()).r.code).toBe(0);
    const before = eventPosts(w.fake).length;
    // Late ones: into buckets already pushed, and into new ones.
    const late = makeReceipts(3, ['acme'], 15, w.now - 10 * H, w.now - 1000, 'late');
    await insertReceipts(w.db, late);
    const { r, j } = await push();
    expect(r.code, r.stderr).toBe(0);
    const all = [...first, ...late];
    expectServerMatches(w.fake, w.customers.acme!, all, 'acme');
    expectServerMatches(w.fake, w.customers.beta!, all, 'beta');
    const posts = eventPosts(w.fake).slice(before);
    expect(posts.length).toBe(j.events.sent);
    expect(j.tenants.find((t) => t.tenant_id === 'beta')!.events.planned).toBe(0);
    expect(posts.some((p) => String(p.params.identifier).endsWith('-r2'))).toBe(true);
    // Each late event carries only what the bucket gained.
    const lateTotals = totalsOf(late, 'acme');
    expect(j.tenants.find((t) => t.tenant_id === 'acme')!.sent).toEqual(Object.fromEntries(METERS.map((m) => [m, Number(lateTotals[m])])));
  });

  it('rides out 10 % 500s, 5 % 429s and connection resets after storing: every unit lands once', async () => {
    w = await pushWorld(backend);
    const receipts = makeReceipts(4, ['acme', 'beta'], 80, w.now - 40 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    w.fake.faults.weather({ error500: 0.1, rateLimit: 0.05, reset: 0.05 });
    let runs = 0;
    let last: { r: CliResult; j: PushJson };
    do {
      last = await push(['--concurrency', '8']);
      expect([0, 3]).toContain(last.r.code);
      runs++;
    } while (last.r.code !== 0 && runs < 3);
    expect(last.r.code, last.r.stderr).toBe(0);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    expectServerMatches(w.fake, w.customers.beta!, receipts, 'beta');
    const fired = w.fake.faults.counts();
    expect(fired.error500).toBeGreaterThan(0);
    expect(fired.rateLimit).toBeGreaterThan(0);
    expect(fired.reset).toBeGreaterThan(0);
    expect(w.fake.state.maxInFlightSameCustomerMeter).toBe(1);
    const status = json<StatusJson>(await w.run(['stripe', 'status', '--format', 'json']));
    for (const t of status.tenants) for (const m of t.meters) expect([m.meter, m.pending.revisions, m.failed.revisions]).toEqual([m.meter, 0, 0]);
  });

  it('old buckets expire and are reported once with their amounts (exit 3); future ones wait', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    const at = (ts: number, id: string, input: bigint): TestReceipt => ({ tenantId: 'acme', id, ts, billable: true, gpuSeconds: 0n, inputTokens: input, outputTokens: 1n });
    const expired = [at(w.now - 40 * DAY, 'x40', 100n), at(w.now - 34 * DAY - 12 * H, 'x34', 7n)];
    const sendable = [at(w.now - 33 * DAY, 's33', 5n), at(w.now - 2 * H, 's2h', 11n)];
    const future = [at(w.now + 3 * H, 'f3h', 13n)];
    await insertReceipts(w.db, [...expired, ...sendable, ...future]);

    const { r, j } = await push();
    expect(r.code).toBe(3);
    const t = j.tenants[0]!;
    expect(t.result).toBe('ok');
    expect(t.expired).toEqual({ gpu_seconds: 0, input_tokens: 107, output_tokens: 2, api_calls: 2, cached_input_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 });
    expect(t.expired_buckets).toEqual({
      first: new Date(Math.floor((w.now - 40 * DAY) / H) * H).toISOString(),
      last: new Date(Math.floor((w.now - 34 * DAY - 12 * H) / H) * H).toISOString(),
      count: 2,
    });
    expect(t.waiting).toEqual({ gpu_seconds: 0, input_tokens: 13, output_tokens: 1, api_calls: 1, cached_input_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 });
    expect(j.events.expired).toBe(6);
    expect(r.stderr).toMatch(/tenant acme: usage too old for Stripe \(buckets .* to .*\) was NOT sent: input_tokens 107, output_tokens 2, api_calls 2\. Bill it another way/);
    expectServerMatches(w.fake, w.customers.acme!, sendable, 'acme');
    const expiredRows = json<{ value: number; status: string }[]>(await w.run(['stripe', 'status', '--list', 'expired', '--format', 'json']));
    expect(expiredRows).toHaveLength(6);

    // Reported once: the next run is quiet.
    const again = await push();
    expect(again.r.code, again.r.stderr).toBe(0);
    expect(again.j.events).toMatchObject({ planned: 0, expired: 0 });
    // A late receipt in an expired bucket: only the difference is reported.
    await insertReceipts(w.db, [at(w.now - 40 * DAY + 1, 'x40b', 50n)]);
    const late = await push();
    expect(late.r.code).toBe(3);
    expect(late.j.tenants[0]!.expired).toEqual({ gpu_seconds: 0, input_tokens: 50, output_tokens: 1, api_calls: 1, cached_input_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 });

    // --until ahead of the clock: the receipt is due, but its bucket starts later than Stripe takes.
    const ahead = await push(['--until', new Date(w.now + 10 * H).toISOString()]);
    expect(ahead.r.code, ahead.r.stderr).toBe(0);
    expect(ahead.j.tenants[0]!.waiting).toEqual({ gpu_seconds: 0, input_tokens: 13, output_tokens: 1, api_calls: 1, cached_input_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 });
    expect(ahead.j.events.planned).toBe(0);

    // Four hours on, the future receipt's bucket has come: it is sent.
    const later = w.now + 4 * H;
    w.fake.clock.set(later);
    const next = await push([], { BILLCTL_NOW: new Date(later).toISOString() });
    expect(next.r.code, next.r.stderr).toBe(0);
    expect(next.j.events.sent).toBe(3);
    expectServerMatches(w.fake, w.customers.acme!, [...sendable, ...future], 'acme');
  });

  it('a second run while one holds the lock exits 5 and says who; a lock left by a dead run is taken over', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    const receipts = makeReceipts(5, ['acme'], 20, w.now - 5 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    const { openStore } = await import('../../src/store/open.js');
    const holder = await openStore(w.db);
    const got = await holder.locks.tryAcquire('stripe-push', { id: 'other-run', host: 'cron-host-2', pid: 4242 }, w.now, 60_000);
    expect(got.acquired).toBe(true);

    const refused = await w.run(['stripe', 'push', '--yes', '--format', 'json']);
    expect(refused.code).toBe(5);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(
      /another stripe push holds the lock: host cron-host-2, pid 4242, since 2026-11-21T12:30:00\.000Z \(heartbeat \d+s ago\); nothing was done/,
    );
    expect(eventPosts(w.fake)).toEqual([]);
    await withStore(w.db, async (s) => expect(await s.ledger.rows({})).toEqual([]));

    // The holder dies without releasing: on SQLite its heartbeat goes stale; on Postgres its
    // session ends, which frees the advisory lock (its row stays behind).
    if (backend.name === 'sqlite') await holder.locks.heartbeat('stripe-push', 'other-run', w.now - 5 * 60_000);
    await holder.close();
    const { r } = await push();
    expect(r.code, r.stderr).toBe(0);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    const status = json<StatusJson>(await w.run(['stripe', 'status', '--format', 'json']));
    expect(status.lock).toBeNull();
  });

  it('a pending event first sent over 23 h ago is not resent but reported uncertain; a recent one is resent under its identifier', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    const b1 = Math.floor((w.now - 30 * H) / H) * H;
    const b2 = Math.floor((w.now - 3 * H) / H) * H;
    const receipts: TestReceipt[] = [
      { tenantId: 'acme', id: 'old', ts: b1 + 60_000, billable: true, gpuSeconds: 0n, inputTokens: 700n, outputTokens: 0n },
      { tenantId: 'acme', id: 'new', ts: b2 + 60_000, billable: true, gpuSeconds: 0n, inputTokens: 300n, outputTokens: 0n },
    ];
    await insertReceipts(w.db, receipts);
    // A crashed run: it wrote both input-token revisions as pending and sent them; Stripe stored
    // the recent one; no answer was recorded.
    const storeId = 'feedfacecafebeef';
    const id1 = eventIdentifier(storeId, 'acme', 'input_tokens', b1, 1);
    const id2 = eventIdentifier(storeId, 'acme', 'input_tokens', b2, 1);
    await withStore(w.db, async (s) => {
      await s.setSetting(STORE_ID_SETTING, storeId);
      const row = (bucketStart: number, value: bigint, identifier: string) => ({
        tenantId: 'acme', meter: 'input_tokens' as const, bucketStart, revision: 1, value, customerId: w.customers.acme!,
        eventName: EVENT_NAMES.input_tokens, identifier, status: 'pending' as const,
      });
      await s.ledger.record([row(b1, 700n, id1), row(b2, 300n, id2)], new Date(w.now - 25 * H).toISOString());
      await s.ledger.markAttempt(id1, w.now - 25 * H);
      await s.ledger.markAttempt(id2, w.now - H);
    });
    const client = await openStripe(w.fake.env);
    await client.sendMeterEvent({ eventName: EVENT_NAMES.input_tokens, customerId: w.customers.acme!, value: 300n, timestamp: b2 / 1000, identifier: id2 });
    client.close();
    const postsBefore = eventPosts(w.fake).length;

    const { r, j } = await push();
    expect(r.code).toBe(3);
    const t = j.tenants[0]!;
    expect(t.uncertain).toEqual({ gpu_seconds: 0, input_tokens: 700, output_tokens: 0, api_calls: 0, cached_input_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 });
    expect(t.events).toMatchObject({ uncertain: 1, already_sent: 1 });
    expect(r.stderr).toMatch(/1 event\(s\) sent over 23 hours ago without a confirmed answer were not resent/);
    const posts = eventPosts(w.fake).slice(postsBefore);
    expect(posts.map((p) => p.params.identifier)).not.toContain(id1);
    expect(posts.filter((p) => p.params.identifier === id2)).toHaveLength(1);
    // Stripe holds the recent one once, and not the uncertain one.
    expect(w.fake.state.total(w.customers.acme!, EVENT_NAMES.input_tokens)).toBe('300');
    expect(w.fake.state.total(w.customers.acme!, EVENT_NAMES.output_tokens)).toBe('0');
    expect(w.fake.state.total(w.customers.acme!, EVENT_NAMES.api_calls)).toBe('2');

    // Reconcile says the uncertain one did not reach Stripe.
    const rec = await w.run(['stripe', 'reconcile', '--period', '2026-11', '--format', 'json']);
    expect(rec.code, rec.stderr).toBe(0);
    const row = json<ReconcileJson>(rec).rows.find((x) => x.meter === 'input_tokens')!;
    expect(row).toMatchObject({ stripe: 300, ledger_sent: 300, uncertain: 700, difference: 0, match: true });
    expect(row.note).toMatch(/did not reach Stripe/);
    const again = await push();
    expect(again.r.code, again.r.stderr).toBe(0);
    expect(again.j.events.uncertain).toBe(0);
  });

  it('status shows the ledger and the last push; reconcile agrees, then lists a difference (exit 3)', async () => {
    w = await pushWorld(backend);
    const receipts = makeReceipts(6, ['acme', 'beta'], 30, w.now - 20 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    const none = json<StatusJson>(await w.run(['stripe', 'status', '--format', 'json']));
    expect(none.last_run).toBeNull();
    expect(none.tenants.map((t) => t.tenant_id)).toEqual(['acme', 'beta']);
    expect((await push()).r.code).toBe(0);
    const s = json<StatusJson>(await w.run(['stripe', 'status', '--format', 'json']));
    expect(s.bucket).toBe('hour');
    expect(s.last_run).toMatchObject({ clean: true, failed_tenants: [] });
    const acme = totalsOf(receipts, 'acme');
    const st = s.tenants.find((t) => t.tenant_id === 'acme')!;
    for (const m of st.meters) {
      expect(m.sent.value).toBe(Number(acme[m.meter as keyof typeof acme]));
      expect(m.pending.revisions).toBe(0);
      expect(m.oldest_unsent_bucket).toBeNull();
    }
    const table = await w.run(['stripe', 'status']);
    expect(table.stdout).toMatch(/acme\s+│\s+cus_\w+\s+│\s+api_calls\s+│\s+│\s+\d+ \(\d+\)/);
    expect(table.stderr).toMatch(/Last push: .* \(clean\)/);

    const ok = await w.run(['stripe', 'reconcile', '--period', '2026-11', '--format', 'json']);
    expect(ok.code, ok.stderr).toBe(0);
    const okJson = json<ReconcileJson>(ok);
    expect(okJson.differences).toBe(0);
    expect(okJson.rows).toHaveLength(8);
    expect(okJson.rows.find((x) => x.tenant_id === 'acme' && x.meter === 'output_tokens')).toMatchObject({ stripe: Number(acme.output_tokens), match: true });

    // Someone else sends usage for acme: reconcile lists it.
    const client = await openStripe(w.fake.env);
    await client.sendMeterEvent({ eventName: EVENT_NAMES.gpu_seconds, customerId: w.customers.acme!, value: 42n, timestamp: Math.floor((w.now - 5 * H) / 1000), identifier: 'manual-1' });
    client.close();
    const diff = await w.run(['stripe', 'reconcile', '--period', '2026-11', '--format', 'json']);
    expect(diff.code).toBe(3);
    const d = json<ReconcileJson>(diff);
    expect(d.differences).toBe(1);
    expect(d.rows.filter((x) => !x.match)).toEqual([
      expect.objectContaining({ tenant_id: 'acme', meter: 'gpu_seconds', difference: 42, note: expect.stringMatching(/Stripe holds more/) }),
    ]);
    const other = await w.run(['stripe', 'reconcile', '--period', '2026-10', '--format', 'json']);
    expect(other.code).toBe(0);
    expect(json<ReconcileJson>(other).rows.every((x) => x.stripe === 0 && x.ledger_sent === 0)).toBe(true);
  });

  it('a tenant without a customer is reported (exit 3) while the others are pushed', async () => {
    w = await pushWorld(backend);
    expect((await w.run(['tenant', 'add', 'delta', '--billing-mode', 'stripe'])).code).toBe(0);
    const receipts = makeReceipts(7, ['acme', 'delta'], 20, w.now - 5 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    const { r, j } = await push();
    expect(r.code).toBe(3);
    expect(j.tenants.find((t) => t.tenant_id === 'delta')).toMatchObject({ result: 'no_customer', errors: ['no Stripe customer — run billctl stripe customers sync'] });
    expect(r.stderr).toMatch(/tenant delta: no Stripe customer — run billctl stripe customers sync/);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
  });

  it("a refused event is failed and retried on later runs, at the tenant's customer of then", async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    expect((await w.run(['tenant', 'add', 'eps', '--billing-mode', 'stripe', '--stripe-customer', 'cus_Missing0001'])).code).toBe(0);
    const receipts = makeReceipts(8, ['acme', 'eps'], 20, w.now - 5 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    const { r, j } = await push();
    expect(r.code).toBe(3);
    const eps = j.tenants.find((t) => t.tenant_id === 'eps')!;
    expect(eps.result).toBe('failed');
    expect(eps.events.failed).toBe(eps.events.planned);
    expect(eps.errors[0]).toMatch(/No such customer/);
    expect(r.stderr).toMatch(/tenant eps: \d+ event\(s\) refused, 0 without an answer; the next run retries them/);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    const failed = json<unknown[]>(await w.run(['stripe', 'status', '--list', 'failed', '--format', 'json']));
    expect(failed).toHaveLength(eps.events.failed);

    const c = w.fake.state.addCustomer({ name: 'eps' });
    expect((await w.run(['tenant', 'update', 'eps', '--stripe-customer', c.id])).code).toBe(0);
    const again = await push();
    expect(again.r.code, again.r.stderr).toBe(0);
    expect(again.j.tenants.find((t) => t.tenant_id === 'eps')!.events.sent).toBe(eps.events.planned);
    expectServerMatches(w.fake, c.id, receipts, 'eps');
  });

  it('a refusal does not prove that an event an earlier request may have stored is absent: it stays pending, then turns uncertain', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    expect((await w.run(['tenant', 'add', 'eps', '--billing-mode', 'stripe', '--stripe-customer', 'cus_Missing0001'])).code).toBe(0);
    const bucket = Math.floor((w.now - 20 * H) / H) * H;
    await withStore(w.db, async (s) => {
      await s.ledger.record(
        [{ tenantId: 'eps', meter: 'gpu_seconds', bucketStart: bucket, revision: 1, value: 5n, customerId: 'cus_Missing0001', eventName: EVENT_NAMES.gpu_seconds, identifier: 'maybe-1', status: 'pending' }],
        new Date(w.now - 2 * H).toISOString(),
      );
      await s.ledger.markAttempt('maybe-1', w.now - H);
    });
    const { r, j } = await push();
    expect(r.code).toBe(3);
    expect(j.tenants.find((t) => t.tenant_id === 'eps')).toMatchObject({ result: 'failed', events: { planned: 1, failed: 0, retry_later: 1 } });
    const [row] = await withStore(w.db, (s) => s.ledger.rows({ tenantId: 'eps' }));
    expect(row).toMatchObject({ status: 'pending', attempts: 2, firstAttemptAt: w.now - H, lastError: expect.stringMatching(/No such customer/) });

    const later = w.now + 24 * H;
    w.fake.clock.set(later);
    const posts = eventPosts(w.fake).length;
    const next = await push([], { BILLCTL_NOW: new Date(later).toISOString() });
    expect(next.r.code).toBe(3);
    expect(next.j.tenants.find((t) => t.tenant_id === 'eps')).toMatchObject({ events: { planned: 0, uncertain: 1 }, uncertain: { gpu_seconds: 5 } });
    expect(eventPosts(w.fake).length).toBe(posts);
    expect((await withStore(w.db, (s) => s.ledger.rows({ tenantId: 'eps' })))[0]!.status).toBe('uncertain');
  });

  it('--dry-run sends and records nothing; the bucket size is fixed by the first push', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    const receipts = makeReceipts(9, ['acme'], 30, w.now - 50 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    const dry = await w.run(['stripe', 'push', '--dry-run', '--bucket', 'day', '--format', 'json'], { STRIPE_API_KEY: undefined });
    expect(dry.code, dry.stderr).toBe(0);
    const dj = json<PushJson>(dry);
    expect(dj.dry_run).toBe(true);
    const acme = totalsOf(receipts, 'acme');
    expect(dj.tenants[0]!.planned).toEqual(Object.fromEntries(METERS.map((m) => [m, Number(acme[m])])));
    expect(dj.tenants[0]!.events.planned).toBe(12);
    expect(dry.stderr).toMatch(/Dry run: nothing was sent or recorded/);
    expect(w.fake.requests.filter((q) => q.path === '/v1/billing/meter_events')).toEqual([]);
    await withStore(w.db, async (s) => expect(await s.ledger.rows({})).toEqual([]));

    const { r, j } = await push(['--bucket', 'day']);
    expect(r.code, r.stderr).toBe(0);
    expect(j.bucket).toBe('day');
    expect(j.events.sent).toBe(12);
    for (const p of eventPosts(w.fake)) expect(Number(p.params.timestamp) % 86_400).toBe(0);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    const hour = await w.run(['stripe', 'push', '--yes', '--bucket', 'hour']);
    expect(hour.code).toBe(2);
    expect(hour.stderr).toMatch(/this store pushes day buckets; --bucket hour would not line up with the ledger/);
    const plain = await push();
    expect(plain.r.code).toBe(0);
    expect(plain.j.bucket).toBe('day');
  });

  it('a live key asks for confirmation on a terminal and refuses without one unless --yes', async () => {
    const liveKey = 'sk_live_51FakeBillctlLiveKey00000000000000';
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false, fake: { apiKey: liveKey } });
    await insertReceipts(w.db, makeReceipts(10, ['acme'], 5, w.now - 3 * H, w.now - 1000));
    const noTty = await w.run(['stripe', 'push', ...FAST]);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toMatch(/Push usage to Stripe with a LIVE key\?.*needs confirmation, and there is no terminal to ask[\s\S]*--yes/);
    prompt.answer = false;
    const declined = await w.run(['stripe', 'push', ...FAST], {}, { tty: true });
    expect(declined.code).toBe(2);
    expect(prompt.asked).toHaveLength(1);
    expect(eventPosts(w.fake)).toEqual([]);
    prompt.answer = true;
    const accepted = await w.run(['stripe', 'push', ...FAST, '--quiet'], {}, { tty: true });
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(eventPosts(w.fake).length).toBeGreaterThan(0);
    const yes = await w.run(['stripe', 'push', '--yes', ...FAST, '--format', 'json']);
    expect(yes.code).toBe(0);
    expect(json<PushJson>(yes).livemode).toBe(true);
  });

  it('a key Stripe refuses stops the push (exit 2); nothing is lost, the next push with the right key sends it all', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    const receipts = makeReceipts(13, ['acme'], 20, w.now - 8 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    const wrongKey = 'sk_test_NotTheRightKey000111222';
    const r = await w.run(['stripe', 'push', '--yes', ...FAST], { STRIPE_API_KEY: wrongKey });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Stripe refused the API key \(401\).*check STRIPE_API_KEY/);
    expect(r.stdout + r.stderr).not.toMatch(/NotTheRightKey|000111222/);
    expect(w.fake.leaksOf(wrongKey)).toEqual([]);
    expect(w.fake.state.meterEvents).toEqual([]);
    await withStore(w.db, async (s) => {
      // The refused requests stored nothing: failed, not pending (a pending one could turn uncertain).
      const rows = await s.ledger.rows({});
      expect(rows.filter((x) => x.status === 'pending' && x.attempts > 0)).toEqual([]);
      expect(rows.some((x) => x.status === 'failed')).toBe(true);
      for (const x of rows) expect(x.lastError ?? '').not.toMatch(/NotTheRightKey/);
      expect(await s.locks.holder('stripe-push')).toBeUndefined();
    });
    const { r: ok } = await push();
    expect(ok.code, ok.stderr).toBe(0);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
  });

  it('flags are checked: --until, --concurrency, --rate; push needs the meters set up', async () => {
    w = await pushWorld(backend, { tenants: ['acme'], invoiceTenant: false });
    for (const [args, message] of [
      [['--until', 'yesterday'], /--until: timestamp "yesterday" is not RFC 3339/],
      [['--concurrency', '0'], /--concurrency must be a whole number from 1 to 64/],
      [['--rate', '2.5'], /--rate must be a whole number from 1 to 10000/],
    ] as [string[], RegExp][]) {
      const r = await w.run(['stripe', 'push', '--yes', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const renamed = await w.run(['stripe', 'push', '--yes'], {}, {});
    expect(renamed.code).toBe(0);
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    writeFileSync(join(w.dir, 'billctl.yaml'), 'stripe:\n  meters:\n    gpu_seconds: other_gpu_seconds\n');
    const r = await w.run(['stripe', 'push', '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Run: billctl stripe setup/);
  });
});
