/**
 * Opening and closing a store in one place. The backend is loaded on demand, so commands that
 * never touch Postgres never load pg.
 */
import fs from 'node:fs';
import { UsageError } from '../errors.js';
import { isPostgresUrl, redactUrl } from './location.js';
import type { Store } from './store.js';
import { LATEST_VERSION } from './migrations.js';

export interface OpenOptions {
  /** Create the database when missing (only `init`). */
  create?: boolean;
  /** Skip the check that the schema is initialised and current (only `init`). */
  skipSchemaCheck?: boolean;
}

export async function openStore(location: string, options: OpenOptions = {}): Promise<Store> {
  const create = options.create ?? false;
  let store: Store;
  if (isPostgresUrl(location)) {
    const { PostgresDriver } = await import('./postgres/driver.js');
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    store = new PostgresStore(await PostgresDriver.connect(location, { create }));
  } else {
    if (!create && !fs.existsSync(location)) {
      throw new UsageError(
        `no store at ${location}`,
        'Run `billctl init` to create one, or point --db (or BILLCTL_DB) at an existing store.',
      );
    }
    const { SqliteDriver } = await import('./sqlite/driver.js');
    const { SqliteStore } = await import('./sqlite/sqlite-store.js');
    store = new SqliteStore(new SqliteDriver(location, { create }));
  }
  if (!options.skipSchemaCheck) {
    try {
      const version = await store.schemaVersion();
      if (version === 0) {
        throw new UsageError(`the store at ${redactUrl(location)} is not initialised`, 'Run `billctl init` first.');
      }
      if (version < LATEST_VERSION) {
        throw new UsageError(
          `the store at ${redactUrl(location)} has schema version ${version}; this billctl needs ${LATEST_VERSION}`,
          'Run `billctl init` to upgrade it (safe to run at any time).',
        );
      }
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  return store;
}

/** With a postgres URL, creates its database when missing (`init --create-database`); true when it did. */
export async function createDatabaseIfMissing(location: string): Promise<boolean> {
  if (!isPostgresUrl(location)) return false;
  const driver = await import('./postgres/driver.js');
  return driver.createDatabaseIfMissing(location);
}

/** Runs `fn` with an open store and always closes it. */
export async function withStore<T>(location: string, fn: (store: Store) => Promise<T>, options?: OpenOptions): Promise<T> {
  const store = await openStore(location, options);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
