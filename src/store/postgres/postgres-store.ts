import { SqlLockRepo } from '../lock-repo.js';
import { SqlStore } from '../sql-store.js';
import { advisoryKey } from './dialect-adapter.js';
import type { PostgresDriver } from './driver.js';

export { advisoryKey };

export class PostgresStore extends SqlStore {
  readonly locks: SqlLockRepo;

  constructor(override readonly db: PostgresDriver) {
    super(db);
    this.locks = new SqlLockRepo(db);
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
