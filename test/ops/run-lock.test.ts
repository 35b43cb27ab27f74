/**
 * The lock with a heartbeat that `stripe push` and `alerts check` run under (src/app/run-lock.ts):
 * a live lock refused (exit 5, the usual message), a dead run's lock taken over, the heartbeat
 * renewed by the injected clock and a lock taken over noticed. Real stores, both backends.
 */
import { afterAll, expect, it } from 'vitest';
import { acquireRunLock, withRunLock, type RunLockOptions } from '../../src/app/run-lock.js';
import { ALERTS_LOCK } from '../../src/app/alerts.js';
import { ExitCode, LockHeldError } from '../../src/errors.js';
import { openStore } from '../../src/store/open.js';
import type { LockHolder } from '../../src/store/lock-repo.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { makeStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

const T0 = Date.parse('2026-10-20T12:00:00Z');
const held = (h: LockHolder, now: number) => new LockHeldError(`held by ${h.id} on ${h.host}, heartbeat ${now - h.heartbeatAt} ms ago`);

describeEachBackend('run lock with heartbeat', (backend) => {
  it('refuses a live lock, takes over a dead run\'s, beats by the injected clock and notices a takeover', async () => {
    const db = await backend.fresh();
    await makeStore(db, { catalog: false });
    let clock = T0;
    const options = (id: string, host: string): RunLockOptions => ({
      name: 'job', owner: { id, host, pid: 4242 }, now: () => clock, heartbeatMs: 5_000, staleMs: 60_000, held,
    });
    const a = await openStore(db);
    const lockA = await acquireRunLock(a, options('run-a', 'host-a'));
    expect(await a.locks.holder('job')).toEqual({ id: 'run-a', host: 'host-a', pid: 4242, acquiredAt: '2026-10-20T12:00:00.000Z', heartbeatAt: T0 });
    // A beat before heartbeatMs has passed writes nothing; after it, the clock's instant.
    clock = T0 + 4_000;
    await lockA.beat();
    expect((await a.locks.holder('job'))!.heartbeatAt).toBe(T0);
    clock = T0 + 5_000;
    await lockA.beat();
    expect((await a.locks.holder('job'))!.heartbeatAt).toBe(T0 + 5_000);
    expect(lockA.lost).toBe(false);

    // Another run while A lives: refused with the caller's error (exit 5); the lock stays A's.
    const b = await openStore(db);
    try {
      clock = T0 + 30_000;
      const refused = await acquireRunLock(b, options('run-b', 'host-b')).then(() => undefined, (e: unknown) => e);
      expect(refused).toBeInstanceOf(LockHeldError);
      expect((refused as LockHeldError).exitCode).toBe(ExitCode.locked);
      expect((refused as LockHeldError).message).toBe('held by run-a on host-a, heartbeat 25000 ms ago');
      expect((await b.locks.holder('job'))!.id).toBe('run-a');

      // A dies without releasing (its connection drops; its row stays) and its heartbeat goes stale: B takes over.
      await a.close();
      clock = T0 + 5_000 + 60_001;
      const lockB = await acquireRunLock(b, options('run-b', 'host-b'));
      expect(await b.locks.holder('job')).toEqual({ id: 'run-b', host: 'host-b', pid: 4242, acquiredAt: '2026-10-20T12:01:05.001Z', heartbeatAt: clock });

      // A run whose lock was taken over sees it at its next beat.
      const c = await openStore(db);
      try {
        const lockC = await acquireRunLock(c, { ...options('run-c', 'host-c'), name: 'other-job' });
        await c.locks.release('other-job', 'run-c');
        await c.locks.tryAcquire('other-job', { id: 'run-d', host: 'host-d', pid: 1 }, clock, 60_000);
        clock += 5_000;
        await lockC.beat();
        expect(lockC.lost).toBe(true);
        await lockC.release();
        expect((await c.locks.holder('other-job'))!.id).toBe('run-d');
      } finally {
        await c.close();
      }

      // withRunLock releases however the work ends.
      await lockB.release();
      await expect(withRunLock(b, options('run-e', 'host-e'), async () => {
        expect((await b.locks.holder('job'))!.id).toBe('run-e');
        throw new Error('the work failed');
      })).rejects.toThrow('the work failed');
      expect(await b.locks.holder('job')).toBeUndefined();
      expect(await withRunLock(b, options('run-f', 'host-f'), async () => 'done')).toBe('done');
      expect(await b.locks.holder('job')).toBeUndefined();
    } finally {
      await b.close();
    }
  });

  it('alerts check takes its time from the injected clock: a lock fresh at BILLCTL_NOW is refused (exit 5), a stale one taken over', async () => {
    const s = await makeStore(await backend.fresh());
    const now = '2026-10-20T12:00:00Z';
    // Fresh at BILLCTL_NOW (weeks before the real clock, which would call it stale): refused.
    const holder = await openStore(s.db);
    try {
      expect((await holder.locks.tryAcquire(ALERTS_LOCK, { id: 'other-run', host: 'elsewhere', pid: 4242 }, T0 - 30_000, 60_000)).acquired).toBe(true);
      const r = await s.run(['alerts', 'check'], 5, { BILLCTL_NOW: now });
      expect(r.stderr).toContain('another alerts check holds the lock: host elsewhere, pid 4242, since 2026-10-20T11:59:30.000Z; nothing was done');
      expect((await holder.locks.holder(ALERTS_LOCK))!.id).toBe('other-run');
    } finally {
      await holder.close();
    }
    // The holder is gone (connection closed, row left) and 61 s past its heartbeat at BILLCTL_NOW: taken over and released.
    const later = await s.run(['alerts', 'check', '--format', 'json'], 0, { BILLCTL_NOW: '2026-10-20T12:00:31Z' });
    expect(JSON.parse(later.stdout)).toEqual({ checked: 0, new_alerts: [], webhook: null, failures: [] });
    const after = await openStore(s.db);
    try {
      expect(await after.locks.holder(ALERTS_LOCK)).toBeUndefined();
    } finally {
      await after.close();
    }
  });
});
