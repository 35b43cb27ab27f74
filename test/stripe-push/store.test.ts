/**
 * The push's part of the store, on SQLite and Postgres: the bucket totals query, the ledger's
 * status transitions, and the run lock (heartbeat and takeover on SQLite, advisory lock on
 * Postgres).
 */
import os from 'node:os';
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { LedgerInsert } from '../../src/store/ledger-repo.js';
import type { Store } from '../../src/store/store.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { cli } from '../helpers/cli.js';
import { DAY, H, insertReceipts, type TestReceipt } from './helpers.js';

afterAll(dropSchemas);

const T0 = Date.parse('2026-11-21T00:00:00Z');

describeEachBackend('push ledger and run lock', (backend) => {
  let db: string;
  let store: Store;
  beforeEach(async () => {
    db = await backend.fresh();
    const r = await cli(['init', '--yes', '--db', db]);
    expect(r.code, r.stderr).toBe(0);
    store = await openStore(db);
  });
  afterEach(async () => {
    await store.close();
  });

  const receipt = (id: string, ts: number, billable: boolean, g: bigint, i: bigint, o: bigint, tenantId = 'acme'): TestReceipt => ({
    tenantId, id, ts, billable, gpuSeconds: g, inputTokens: i, outputTokens: o,
  });

  it('sums billable receipts per UTC bucket, split at until', async () => {
    await insertReceipts(db, [
      receipt('a', T0 + 10, true, 5n, 100n, 10n),
      receipt('b', T0 + H - 1, true, 7n, 2n ** 62n, 1n),
      receipt('c', T0 + H, true, 1n, 1n, 1n),
      receipt('d', T0 + H + 5, false, 1000n, 1000n, 1000n),
      receipt('e', T0 + 2 * H + 30, true, 0n, 0n, 0n),
      receipt('f', T0 + 2 * H + 40, true, 3n, 3n, 3n),
      receipt('x', T0, true, 9n, 9n, 9n, 'other'),
    ]);
    const hours = await store.ledger.usage('acme', H, T0 + 2 * H + 35);
    expect(hours).toEqual([
      { bucketStart: T0, due: { gpu_seconds: 12n, input_tokens: 2n ** 62n + 100n, output_tokens: 11n, api_calls: 2n, cached_input_tokens: 0n, cache_write_tokens: 0n, reasoning_tokens: 0n }, later: { gpu_seconds: 0n, input_tokens: 0n, output_tokens: 0n, api_calls: 0n, cached_input_tokens: 0n, cache_write_tokens: 0n, reasoning_tokens: 0n } },
      { bucketStart: T0 + H, due: { gpu_seconds: 1n, input_tokens: 1n, output_tokens: 1n, api_calls: 1n, cached_input_tokens: 0n, cache_write_tokens: 0n, reasoning_tokens: 0n }, later: { gpu_seconds: 0n, input_tokens: 0n, output_tokens: 0n, api_calls: 0n, cached_input_tokens: 0n, cache_write_tokens: 0n, reasoning_tokens: 0n } },
      { bucketStart: T0 + 2 * H, due: { gpu_seconds: 0n, input_tokens: 0n, output_tokens: 0n, api_calls: 1n, cached_input_tokens: 0n, cache_write_tokens: 0n, reasoning_tokens: 0n }, later: { gpu_seconds: 3n, input_tokens: 3n, output_tokens: 3n, api_calls: 1n, cached_input_tokens: 0n, cache_write_tokens: 0n, reasoning_tokens: 0n } },
    ]);
    const days = await store.ledger.usage('acme', DAY, T0 + DAY);
    expect(days).toHaveLength(1);
    expect(days[0]!.due.api_calls).toBe(5n);
    expect(await store.ledger.usage('nobody', H, T0 + DAY)).toEqual([]);
  });

  it('moves revisions through pending, sent, failed, expired and uncertain', async () => {
    const rev = (bucketStart: number, revision: number, value: bigint, status: 'pending' | 'expired', identifier: string): LedgerInsert => ({
      tenantId: 'acme', meter: 'input_tokens', bucketStart, revision, value, status, identifier, customerId: 'cus_A', eventName: 'billctl_input_tokens',
    });
    // More rows than one INSERT statement holds.
    const many = Array.from({ length: 150 }, (_, i) => rev(T0 - (i + 10) * H, 1, BigInt(i + 1), 'pending', `m-${i}`));
    await store.ledger.record([rev(T0, 1, 500n, 'pending', 'id-1'), rev(T0, 2, 40n, 'pending', 'id-2'), rev(T0 - 40 * DAY, 1, 7n, 'expired', 'id-x'), ...many], 'now');
    await expect(store.ledger.record([rev(T0, 2, 1n, 'pending', 'id-dup')], 'now')).rejects.toThrow();
    expect((await store.ledger.unsent()).length).toBe(152);

    expect(await store.ledger.markAttempt('id-1', 1000)).toBe(true);
    expect(await store.ledger.markAttempt('id-1', 2000)).toBe(true);
    await store.ledger.markSent('id-1', '2026-11-21T00:00:01Z');
    expect(await store.ledger.markAttempt('id-1', 3000)).toBe(false);
    await store.ledger.markAttempt('id-2', 1000);
    await store.ledger.markFailed('id-2', 'No such customer');
    await store.ledger.retarget('id-2', 'cus_B');
    let [r2] = await store.ledger.rows({ status: 'failed' });
    expect(r2).toMatchObject({ identifier: 'id-2', customerId: 'cus_B', firstAttemptAt: 1000, lastError: 'No such customer' });
    // Sending a failed row again: pending, and its clock starts again (it never reached Stripe).
    expect(await store.ledger.markAttempt('id-2', 5000)).toBe(true);
    [r2] = await store.ledger.rows({ tenantId: 'acme', status: 'pending' }).then((rs) => rs.filter((r) => r.identifier === 'id-2'));
    expect(r2).toMatchObject({ status: 'pending', attempts: 2, firstAttemptAt: 5000 });
    await store.ledger.noteError('id-2', 'Stripe answered 500');
    await store.ledger.retarget('id-2', 'cus_C');
    await store.ledger.markStatus(['id-2', 'id-1'], 'uncertain', 'too late to resend');
    const sent = (await store.ledger.rows({ status: 'sent' })).map((r) => r.identifier);
    expect(sent).toEqual(['id-1']);
    expect(await store.ledger.rows({ status: 'uncertain' })).toEqual([
      expect.objectContaining({ identifier: 'id-2', customerId: 'cus_B', lastError: 'too late to resend', value: 40n }),
    ]);
    await store.ledger.markStatus(many.map((r) => r.identifier), 'expired', 'too old');
    expect(await store.ledger.unsent()).toEqual([]);

    expect(await store.ledger.buckets('acme')).toContainEqual({ tenantId: 'acme', meter: 'input_tokens', bucketStart: T0, accounted: 540n, expired: 0n, maxRevision: 2 });
    expect(await store.ledger.buckets('acme')).toContainEqual({ tenantId: 'acme', meter: 'input_tokens', bucketStart: T0 - 40 * DAY, accounted: 0n, expired: 7n, maxRevision: 1 });
    const summary = await store.ledger.summary();
    expect(summary.find((s) => s.status === 'sent')).toMatchObject({ revisions: 1, value: 500n, lastSentAt: '2026-11-21T00:00:01Z' });
    expect(summary.find((s) => s.status === 'expired')).toMatchObject({ revisions: 151, value: 7n + (150n * 151n) / 2n });
    expect(await store.ledger.totalsBetween(T0, T0 + DAY)).toEqual([
      { tenantId: 'acme', customerId: 'cus_A', meter: 'input_tokens', status: 'sent', value: 500n, revisions: 1 },
      { tenantId: 'acme', customerId: 'cus_B', meter: 'input_tokens', status: 'uncertain', value: 40n, revisions: 1 },
    ]);
  });

  it('lets one run hold the lock; a second is refused with the holder; release frees it', async () => {
    const a = { id: 'run-a', host: 'cron-1', pid: 111 };
    const b = { id: 'run-b', host: 'cron-2', pid: 222 };
    expect(await store.locks.tryAcquire('stripe-push', a, T0, 60_000)).toEqual({ acquired: true });
    expect(await store.locks.heartbeat('stripe-push', 'run-a', T0 + 5000)).toBe(true);
    const other = await openStore(db);
    try {
      const refused = await other.locks.tryAcquire('stripe-push', b, T0 + 10_000, 60_000);
      expect(refused).toEqual({ acquired: false, holder: { id: 'run-a', host: 'cron-1', pid: 111, acquiredAt: new Date(T0).toISOString(), heartbeatAt: T0 + 5000 } });
      expect(await other.locks.heartbeat('stripe-push', 'run-b', T0 + 10_000)).toBe(false);
      // Another lock name is independent.
      expect(await other.locks.tryAcquire('other-job', b, T0, 60_000)).toEqual({ acquired: true });
      await other.locks.release('other-job', 'run-b');
      await store.locks.release('stripe-push', 'run-a');
      expect(await store.locks.holder('stripe-push')).toBeUndefined();
      expect(await other.locks.tryAcquire('stripe-push', b, T0 + 20_000, 60_000)).toEqual({ acquired: true });
      expect((await store.locks.holder('stripe-push'))?.id).toBe('run-b');
      await other.locks.release('stripe-push', 'run-b');
    } finally {
      await other.close();
    }
  });

  it('takes over a lock left by a dead run', async () => {
    const other = await openStore(db);
    await other.locks.tryAcquire('stripe-push', { id: 'dead', host: 'cron-1', pid: 111 }, T0, 60_000);
    const me = { id: 'me', host: 'cron-2', pid: 222 };
    if (backend.name === 'sqlite') {
      // The row stays; the heartbeat says whether its run is alive.
      await other.close();
      expect((await store.locks.tryAcquire('stripe-push', me, T0 + 30_000, 60_000)).acquired).toBe(false);
      expect(await store.locks.tryAcquire('stripe-push', me, T0 + 61_000, 60_000)).toEqual({ acquired: true });
      await store.locks.release('stripe-push', 'me');
      // On this host, a holder whose process is gone is dead at once.
      const gone = await openStore(db);
      await gone.locks.tryAcquire('stripe-push', { id: 'gone', host: os.hostname(), pid: 2 ** 22 + 12345 }, T0, 60_000);
      await gone.close();
      expect(await store.locks.tryAcquire('stripe-push', { ...me, host: os.hostname() }, T0 + 1000, 60_000)).toEqual({ acquired: true });
    } else {
      // The advisory lock lives as long as the holder's session, whatever the heartbeat says.
      expect((await store.locks.tryAcquire('stripe-push', me, T0 + 10 * 60_000, 60_000)).acquired).toBe(false);
      await other.close();
      expect(await store.locks.tryAcquire('stripe-push', me, T0 + 1000, 60_000)).toEqual({ acquired: true });
      expect((await store.locks.holder('stripe-push'))?.id).toBe('me');
    }
  });
});
