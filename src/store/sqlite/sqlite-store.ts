import { SqlLockRepo } from '../lock-repo.js';
import { SqlStore } from '../sql-store.js';
import type { SqliteDriver } from './driver.js';

export class SqliteStore extends SqlStore {
  readonly locks: SqlLockRepo;

  constructor(override readonly db: SqliteDriver) {
    super(db);
    this.locks = new SqlLockRepo(db);
  }

  protected async withMigrationLock<T>(fn: () => Promise<T>): Promise<T> {
    // Each migration runs in BEGIN IMMEDIATE, which already excludes other writers; a second
    // process re-reads the version inside its own transaction and finds nothing left to do.
    return fn();
  }

  protected async tableExists(name: string): Promise<boolean> {
    return (await this.db.get("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])) !== undefined;
  }
}
