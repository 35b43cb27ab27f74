import { SqlLockRepo } from '../lock-repo.js';
import { SqlStore } from '../sql-store.js';
import type { PostgresDriver } from './driver.js';

/** A 64-bit advisory lock key per schema and purpose, so stores sharing a database do not collide. */
export function advisoryKey(schema: string, purpose: string): string {
  let h = 0xcbf29ce484222325n;
  for (const ch of Buffer.from(`${schema}\u0000${purpose}`, 'utf8')) {
    h ^= BigInt(ch);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return BigInt.asIntN(64, h).toString();
}

export class PostgresStore extends SqlStore {
  readonly locks: SqlLockRepo;

  constructor(override readonly db: PostgresDriver) {
    super(db);
    this.locks = new SqlLockRepo(db, (name) => advisoryKey(db.schema, `lock:${name}`));
  }

  protected async withMigrationLock<T>(fn: () => Promise<T>): Promise<T> {
    const key = advisoryKey(this.db.schema, 'migrate');
    await this.db.run('SELECT pg_advisory_lock(?::bigint)', [key]);
    try {
      return await fn();
    } finally {
      await this.db.run('SELECT pg_advisory_unlock(?::bigint)', [key]);
    }
  }

  protected async tableExists(name: string): Promise<boolean> {
    const row = await this.db.get(
      'SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?',
      [name],
    );
    return row !== undefined;
  }
}
