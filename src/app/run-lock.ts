/**
 * One run at a time, for the jobs cron starts (`stripe push`, `alerts check`): a named lock in the
 * store with a heartbeat. The lock row names its owner (host, pid, since); a run that finds it held
 * by a live owner stops with LockHeldError (exit 5) and does nothing; a lock whose heartbeat is
 * older than `staleMs`, or whose process on this host is gone, is taken over (src/store/lock-repo.ts).
 *
 * The heartbeat beats on a timer every `heartbeatMs` while the run waits on I/O, and `beat()` lets
 * a run beat between steps of work that never yields to a timer (one query after another on
 * SQLite). Every instant comes from the injected clock, never from Date.now(), so tests and
 * BILLCTL_NOW see one time.
 */
import type { LockHeldError } from '../errors.js';
import type { LockHolder, LockOwner } from '../store/lock-repo.js';
import type { Store } from '../store/store.js';

export const DEFAULT_HEARTBEAT_MS = 5_000;
/** A lock whose heartbeat is older than this belongs to a dead run (on another host) and is taken over. */
export const DEFAULT_LOCK_STALE_MS = 60_000;

export interface RunLockOptions {
  name: string;
  owner: LockOwner;
  /** Milliseconds since the epoch: the run's clock. */
  now: () => number;
  staleMs?: number;
  heartbeatMs?: number;
  /** The error a run gets when a live owner holds the lock. */
  held: (holder: LockHolder, now: number) => LockHeldError;
  /**
   * Runs each of the lock's database calls (default: at once). A run whose work shares one
   * connection with the heartbeat passes its queue, so the calls never overlap (pg wants its
   * queries one after another).
   */
  db?: <T>(fn: () => Promise<T>) => Promise<T>;
}

export interface RunLock {
  /** Renews the heartbeat if the last one is `heartbeatMs` old; a busy database is tried again next beat. */
  beat(): Promise<void>;
  /** True once the lock is no longer ours (another run took it over): stop starting new work. */
  readonly lost: boolean;
  /** Stops the heartbeat and releases the lock (a release that fails goes stale on its own). */
  release(): Promise<void>;
}

/** Takes the lock or throws `held(...)`; the caller releases it (or uses withRunLock). */
export async function acquireRunLock(store: Store, o: RunLockOptions): Promise<RunLock> {
  const db = o.db ?? (<T>(fn: () => Promise<T>) => fn());
  const heartbeatMs = o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const got = await db(() => store.locks.tryAcquire(o.name, o.owner, o.now(), o.staleMs ?? DEFAULT_LOCK_STALE_MS));
  if (!got.acquired) throw o.held(got.holder, o.now());
  let lastBeat = o.now();
  let lost = false;
  let released = false;
  const beat = async (): Promise<void> => {
    if (released || o.now() - lastBeat < heartbeatMs) return;
    lastBeat = o.now();
    try {
      if (!(await db(() => store.locks.heartbeat(o.name, o.owner.id, o.now())))) lost = true;
    } catch {
      // A busy database: the next beat tries again; the lock goes stale only after staleMs.
    }
  };
  const timer = setInterval(() => void beat(), heartbeatMs);
  timer.unref();
  return {
    beat,
    get lost() {
      return lost;
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      // A lock that could not be released goes stale on its own (or with its connection, on
      // Postgres); the run's own outcome matters more.
      await db(() => store.locks.release(o.name, o.owner.id)).catch(() => {});
    },
  };
}

/** Runs `fn` holding the lock, and releases it however `fn` ends. */
export async function withRunLock<T>(store: Store, o: RunLockOptions, fn: (lock: RunLock) => Promise<T>): Promise<T> {
  const lock = await acquireRunLock(store, o);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
