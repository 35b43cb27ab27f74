/**
 * Run locks, so cron overlaps never run one job twice at once. A lock row names its owner
 * (host, pid, since) and carries a heartbeat; a lock whose heartbeat is stale, or whose process
 * on this host is gone, is taken over. On Postgres a session advisory lock guards the row as well:
 * the server frees it the moment a killed run's connection drops.
 */
import { toNumber, type Row, type SqlDriver } from './sql.js';
import { processAlive } from '../process-alive.js';

export interface LockOwner {
  /** Unique per run. */
  id: string;
  host: string;
  pid: number;
}

export interface LockHolder extends LockOwner {
  acquiredAt: string;
  heartbeatAt: number;
}

export type LockAttempt = { acquired: true } | { acquired: false; holder: LockHolder };

/** A holder whose row could not be read (Postgres: the lock is held, the row not written yet). */
export const UNKNOWN_HOLDER: Readonly<LockHolder> = Object.freeze({ id: 'unknown', host: 'unknown', pid: 0, acquiredAt: 'unknown', heartbeatAt: 0 });
/** How long a refused run waits for the holder's row (Postgres). */
const ADVISORY_HOLDER_WAIT_MS = 2_000;

export const LOCK_MIGRATION_SQL = `
  CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    heartbeat_at {bigint} NOT NULL
  );
`;

export interface LockRepo {
  tryAcquire(name: string, owner: LockOwner, now: number, staleMs: number): Promise<LockAttempt>;
  /** Renews the heartbeat; false when the lock is no longer ours (taken over). */
  heartbeat(name: string, ownerId: string, now: number): Promise<boolean>;
  release(name: string, ownerId: string): Promise<void>;
  /** The lock's row, if any (on Postgres a killed run's row stays until the next run takes over). */
  holder(name: string): Promise<LockHolder | undefined>;
}

export class SqlLockRepo implements LockRepo {
  /** Advisory keys held by this session, per lock name (stores with advisory locks). */
  private readonly advisory = new Map<string, string>();

  constructor(private readonly db: SqlDriver) {}

  /** The store's session advisory locks, if it has them (src/store/dialect-adapter.ts). */
  private get advisoryLocks() {
    return this.db.dialect.advisoryLocks;
  }

  private holderOf(r: Row): LockHolder {
    return {
      id: String(r.owner), host: String(r.host), pid: toNumber(r.pid), acquiredAt: String(r.acquired_at),
      heartbeatAt: toNumber(r.heartbeat_at),
    };
  }

  async tryAcquire(name: string, owner: LockOwner, now: number, staleMs: number): Promise<LockAttempt> {
    const advisory = this.advisoryLocks;
    if (advisory) {
      const key = await advisory.tryLock(this.db, `lock:${name}`);
      if (key === undefined) return { acquired: false, holder: await this.advisoryHolder(name, now, staleMs) };
      this.advisory.set(name, key);
    }
    const result = await this.db.transaction(async (): Promise<LockAttempt> => {
      const r = await this.db.get<Row>('SELECT * FROM locks WHERE name = ?', [name]);
      if (r && String(r.owner) !== owner.id && !advisory) {
        const holder = this.holderOf(r);
        const stale = now - holder.heartbeatAt > staleMs;
        const dead = holder.host === owner.host && !processAlive(holder.pid);
        if (!stale && !dead) return { acquired: false, holder };
      }
      await this.db.run(
        `INSERT INTO locks (name, owner, host, pid, acquired_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid,
           acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at`,
        [name, owner.id, owner.host, owner.pid, new Date(now).toISOString(), now],
      );
      return { acquired: true };
    });
    if (!result.acquired) await this.dropAdvisory(name);
    return result;
  }

  /**
   * Who holds an advisory lock: its row. The holder writes the row just after taking the lock, so
   * a run starting at the same moment may find none yet, or the stale row of a killed run: it
   * waits a little for the fresh one.
   */
  private async advisoryHolder(name: string, now: number, staleMs: number): Promise<LockHolder> {
    const started = Date.now();
    let r: Row | undefined;
    for (;;) {
      r = await this.db.get<Row>('SELECT * FROM locks WHERE name = ?', [name]);
      const fresh = r !== undefined && now - toNumber(r.heartbeat_at) <= staleMs;
      if (fresh || Date.now() - started > ADVISORY_HOLDER_WAIT_MS) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return r ? this.holderOf(r) : { ...UNKNOWN_HOLDER };
  }

  async heartbeat(name: string, ownerId: string, now: number): Promise<boolean> {
    return (await this.db.run('UPDATE locks SET heartbeat_at = ? WHERE name = ? AND owner = ?', [now, name, ownerId])) === 1;
  }

  async release(name: string, ownerId: string): Promise<void> {
    await this.db.run('DELETE FROM locks WHERE name = ? AND owner = ?', [name, ownerId]);
    await this.dropAdvisory(name);
  }

  async holder(name: string): Promise<LockHolder | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM locks WHERE name = ?', [name]);
    return r ? this.holderOf(r) : undefined;
  }

  private async dropAdvisory(name: string): Promise<void> {
    const key = this.advisory.get(name);
    if (key === undefined) return;
    this.advisory.delete(name);
    await this.advisoryLocks?.unlock(this.db, key);
  }
}
