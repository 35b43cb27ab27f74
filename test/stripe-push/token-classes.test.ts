/**
 * Stripe meters per token class (issue 13, item 4): `stripe setup` makes a meter for each token
 * class of the field table (cached input, cache write, reasoning) that the store holds receipts
 * of; `stripe push` sends their usage exactly once like the other meters, and holds it back
 * (reported, exit 3) while the class has no meter yet; `stripe status` and `stripe reconcile`
 * list them. The real `stripe` package against the fake Stripe, on SQLite and Postgres.
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import { TOKEN_CLASSES } from '../../src/domain/quantities.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { json } from '../helpers/cli.js';
import {
  EVENT_NAMES, eventPosts, expectNoLeaks, expectServerMatches, H, insertReceipts, METERS, pushWorld, serverTotals, totalsOf,
  type PushWorld, type TestReceipt,
} from './helpers.js';

afterAll(dropSchemas);

const FAST = ['--rate', '1000'];

interface SetupJson {
  created: number;
  found: number;
  not_seen: string[];
  meters: { meter: string; event_name: string; id: string | null; action: string }[];
}

describeEachBackend('stripe meters per token class', (backend) => {
  let w: PushWorld;
  afterEach(async () => {
    expectNoLeaks(w);
    await w.close();
  });

  it('setup makes a meter per class the store has seen; push holds class usage until then, then sends it exactly once', async () => {
    // pushWorld ran `stripe setup` on an empty store: the class meters do not exist yet.
    w = await pushWorld(backend);
    for (const c of TOKEN_CLASSES.filter((x) => x.extended)) expect(w.fake.state.meterByEventName(`billctl_${c.name}`)).toBeUndefined();
    const t0 = Math.floor((w.now - 5 * H) / H) * H;
    const receipts: TestReceipt[] = [
      { tenantId: 'acme', id: 'a1', ts: t0 + 60_000, billable: true, gpuSeconds: 10n, inputTokens: 1000n, outputTokens: 300n, cachedInputTokens: 800n, reasoningTokens: 200n },
      { tenantId: 'acme', id: 'a2', ts: t0 + 120_000, billable: true, gpuSeconds: 0n, inputTokens: 50n, outputTokens: 5n, cachedInputTokens: 7n },
      // Not billable: never pushed, but the store has seen its class.
      { tenantId: 'acme', id: 'a3', ts: t0 + 180_000, billable: false, gpuSeconds: 0n, inputTokens: 1n, outputTokens: 1n, reasoningTokens: 9n },
      { tenantId: 'acme', id: 'a4', ts: t0 + 2 * H, billable: true, gpuSeconds: 0n, inputTokens: 4n, outputTokens: 4n, reasoningTokens: 11n },
      { tenantId: 'beta', id: 'b1', ts: t0 + 60_000, billable: true, gpuSeconds: 3n, inputTokens: 20n, outputTokens: 2n },
    ];
    await insertReceipts(w.db, receipts);

    // 1. No class meter yet: the other meters are sent; the class usage waits, and the run says so (exit 3).
    const first = await w.push(FAST);
    expect(first.r.code, first.r.stderr).toBe(3);
    const acme1 = first.j.tenants.find((t) => t.tenant_id === 'acme')!;
    expect(acme1.result).toBe('failed');
    expect(acme1.waiting).toEqual({
      gpu_seconds: 0, input_tokens: 0, cached_input_tokens: 807, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 211, api_calls: 0,
    });
    expect(acme1.errors).toEqual([
      'cached_input_tokens: no Stripe meter for it yet, so its usage waits — run billctl stripe setup',
      'reasoning_tokens: no Stripe meter for it yet, so its usage waits — run billctl stripe setup',
    ]);
    expect(acme1.sent).toEqual({
      gpu_seconds: 10, input_tokens: 1054, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 309, reasoning_tokens: 0, api_calls: 3,
    });
    expect(first.j.tenants.find((t) => t.tenant_id === 'beta')!.result).toBe('ok');
    expect(serverTotals(w.fake, w.customers.acme!).cached_input_tokens).toBe('0');

    // 2. Setup again: meters for the two classes seen (cached input, reasoning); none for cache write.
    const setup = await w.run(['stripe', 'setup', '--format', 'json']);
    expect(setup.code, setup.stderr).toBe(0);
    const sj = json<SetupJson>(setup);
    expect(sj.created).toBe(2);
    expect(sj.found).toBe(4);
    expect(sj.not_seen).toEqual(['cache_write_tokens']);
    expect(sj.meters.map((m) => [m.meter, m.event_name, m.action])).toEqual([
      ['gpu_seconds', 'billctl_gpu_seconds', 'found'],
      ['input_tokens', 'billctl_input_tokens', 'found'],
      ['cached_input_tokens', 'billctl_cached_input_tokens', 'created'],
      ['output_tokens', 'billctl_output_tokens', 'found'],
      ['reasoning_tokens', 'billctl_reasoning_tokens', 'created'],
      ['api_calls', 'billctl_api_calls', 'found'],
    ]);
    expect(setup.stderr).toContain('No meter for cache_write_tokens: no receipt in the store has them yet.');
    const cachedMeter = w.fake.state.meterByEventName('billctl_cached_input_tokens')!;
    expect(cachedMeter.object).toMatchObject({
      display_name: 'billctl cached input tokens', status: 'active',
      default_aggregation: { formula: 'sum' }, customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
      value_settings: { event_payload_key: 'value' },
    });
    expect(w.fake.state.meterByEventName('billctl_reasoning_tokens')!.object.display_name).toBe('billctl reasoning tokens');
    expect(w.fake.state.meterByEventName('billctl_cache_write_tokens')).toBeUndefined();

    // 3. The next push sends the class usage (and only it): Stripe now holds every meter's exact totals.
    const before = eventPosts(w.fake).length;
    const second = await w.push(FAST);
    expect(second.r.code, second.r.stderr).toBe(0);
    const classPosts = eventPosts(w.fake).slice(before);
    expect(classPosts.map((p) => p.params.event_name).sort()).toEqual([
      'billctl_cached_input_tokens', 'billctl_reasoning_tokens', 'billctl_reasoning_tokens',
    ]);
    for (const p of classPosts) expect(String(p.params.identifier)).toMatch(/^billctl-[0-9a-f]{24}-(cached_input_tokens|reasoning_tokens)-\d+-r1$/);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    expectServerMatches(w.fake, w.customers.beta!, receipts, 'beta');
    expect(serverTotals(w.fake, w.customers.acme!)).toMatchObject({ cached_input_tokens: '807', reasoning_tokens: '211', cache_write_tokens: '0' });
    expect(totalsOf(receipts, 'acme').reasoning_tokens).toBe(211n);

    // 4. Again: nothing to send; setup again creates nothing.
    const third = await w.push(FAST);
    expect(third.r.code, third.r.stderr).toBe(0);
    expect(third.j.events.planned).toBe(0);
    expect(eventPosts(w.fake).length).toBe(before + 3);
    const again = json<SetupJson>(await w.run(['stripe', 'setup', '--format', 'json']));
    expect([again.created, again.found, again.not_seen]).toEqual([0, 6, ['cache_write_tokens']]);

    // 5. A late receipt of a class: only the difference, as a new revision.
    await insertReceipts(w.db, [{ tenantId: 'acme', id: 'a5', ts: t0 + 300_000, billable: true, gpuSeconds: 0n, inputTokens: 0n, outputTokens: 0n, cachedInputTokens: 5n }]);
    const late = await w.push(FAST);
    expect(late.r.code, late.r.stderr).toBe(0);
    expect(eventPosts(w.fake).slice(before + 3).map((p) => [p.params.event_name, (p.params.payload as { value: string }).value, String(p.params.identifier).slice(-3)]).sort()).toEqual([
      ['billctl_api_calls', '1', '-r2'],
      ['billctl_cached_input_tokens', '5', '-r2'],
    ]);
    expect(serverTotals(w.fake, w.customers.acme!).cached_input_tokens).toBe('812');

    // 6. Status lists the class meters set up, with what was sent; reconcile finds Stripe equal.
    const status = await w.run(['stripe', 'status', '--format', 'json']);
    expect(status.code, status.stderr).toBe(0);
    const acmeStatus = json<{ tenants: { tenant_id: string; meters: { meter: string; sent: { revisions: number; value: number } }[] }[] }>(status)
      .tenants.find((t) => t.tenant_id === 'acme')!;
    expect(acmeStatus.meters.map((m) => [m.meter, m.sent.value, m.sent.revisions])).toEqual([
      ['gpu_seconds', 10, 1],
      ['input_tokens', 1054, 2],
      ['cached_input_tokens', 812, 2],
      ['output_tokens', 309, 2],
      ['reasoning_tokens', 211, 2],
      ['api_calls', 4, 3],
    ]);
    const table = await w.run(['stripe', 'status']);
    expect(table.stdout).toMatch(/acme\s+│\s+cus_\w+\s+│\s+cached_input_tokens\s+│\s+│\s+812 \(2\)/);
    const period = new Date(w.now).toISOString().slice(0, 7);
    const rec = await w.run(['stripe', 'reconcile', '--period', period, '--format', 'json']);
    expect(rec.code, rec.stderr).toBe(0);
    const rows = json<{ differences: number; rows: { tenant_id: string; meter: string; stripe: number | null; match: boolean }[] }>(rec).rows;
    expect(rows.filter((r) => r.tenant_id === 'acme').map((r) => [r.meter, r.stripe, r.match])).toEqual([
      ['gpu_seconds', 10, true],
      ['input_tokens', 1054, true],
      ['cached_input_tokens', 812, true],
      ['output_tokens', 309, true],
      ['reasoning_tokens', 211, true],
      ['api_calls', 4, true],
    ]);
    expect(METERS.length).toBe(7);
    expect(EVENT_NAMES.cache_write_tokens).toBe('billctl_cache_write_tokens');
  });
});
