/**
 * The dialect adapter (src/store/dialect-adapter.ts): each store's fragments run on the real
 * database and give the same exact answers; and shared store code never asks which store it is on
 * (a grep over src/store outside the adapters).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import type { Row } from '../../src/store/sql.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';

afterAll(dropSchemas);

const STORE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'store');

describeEachBackend('dialect adapter', (backend) => {
  it('sums quantities past 64 bits and decimals exactly, adds them, passes them as parameters, compares ids by bytes', async () => {
    const location = await backend.fresh();
    const store = (await openStore(location, { create: true, skipSchemaCheck: true })) as SqlStore;
    try {
      const db = store.db;
      const sql = db.dialect;
      expect(sql.name).toBe(backend.name);
      expect(store.dialect).toBe(backend.name);
      await db.exec(`CREATE TABLE t (k TEXT NOT NULL, q ${backend.name === 'sqlite' ? '' : 'numeric'}, d TEXT)`);
      const big = 2n ** 63n - 1n;
      for (const [k, q, d] of [['b', big, '0.10'], ['B', 2n, '1.205'], ['a', 5n, null], ['é', 0n, '-0.305']] as const) {
        await db.run('INSERT INTO t (k, q, d) VALUES (?, ?, ?)', [k, sql.quantityParam(q), d]);
      }
      const r = await db.get<Row>(`SELECT ${sql.quantitySum('q')} AS q, ${sql.decimalSum('d')} AS d, ${sql.decimalSum("CASE WHEN k = 'x' THEN d END")} AS none FROM t`);
      expect(String(r!.q)).toBe((big + 7n).toString());
      expect(String(r!.d)).toBe('1');
      expect(String(r!.none)).toBe('0');
      const added = await db.get<Row>(`SELECT ${sql.quantityAdd(sql.quantitySum('q'), sql.quantitySum('q'))} AS q, ${sql.decimalAdd("'1.50'", "'2.25'")} AS d FROM t`);
      expect(String(added!.q)).toBe(((big + 7n) * 2n).toString());
      expect(String(added!.d)).toBe('3.75');
      // Byte order: upper case before lower case, é (two bytes) last.
      const keys = await db.all<Row>(`SELECT k FROM t ORDER BY ${sql.collate('k')}`);
      expect(keys.map((x) => String(x.k))).toEqual(['B', 'a', 'b', 'é']);
      // Row locks where the store has them; a plain SELECT where one writer at a time is the rule.
      expect([sql.rowLock('update'), sql.rowLock('share')]).toEqual(backend.name === 'sqlite' ? ['', ''] : [' FOR UPDATE', ' FOR SHARE']);
      await db.transaction(async () => {
        expect((await db.all<Row>(`SELECT k FROM t WHERE k = 'a'${sql.rowLock('update')}`)).length).toBe(1);
      });
    } finally {
      await store.close();
    }
  });

  it('advisory locks (Postgres): one session holds a purpose, another is refused until it unlocks or disconnects', async () => {
    const location = await backend.fresh();
    const a = (await openStore(location, { create: true, skipSchemaCheck: true })) as SqlStore;
    const b = (await openStore(location, { create: true, skipSchemaCheck: true })) as SqlStore;
    try {
      const locks = a.db.dialect.advisoryLocks;
      if (backend.name === 'sqlite') {
        expect(locks).toBeNull();
        return;
      }
      expect(locks).not.toBeNull();
      const key = await locks!.tryLock(a.db, 'lock:test');
      expect(key).toMatch(/^-?\d+$/);
      expect(await locks!.tryLock(b.db, 'lock:test')).toBeUndefined();
      expect(await locks!.tryLock(b.db, 'lock:other')).toMatch(/^-?\d+$/);
      await locks!.unlock(a.db, key!);
      const taken = await locks!.tryLock(b.db, 'lock:test');
      expect(taken).toBe(key);
      await b.close();
      expect(await locks!.tryLock(a.db, 'lock:test')).toBe(key);
    } finally {
      await a.close();
      await b.close().catch(() => {});
    }
  });
});

/** Files that may name a store: the factory that opens one from its location. */
const KNOWN_EXCEPTIONS: Record<string, string> = {
  // Chooses the store from its location (a file path or a postgres:// URL): the one factory.
  'open.ts': 'the factory',
  // Parses locations: whether a text is a postgres:// URL.
  'location.ts': 'parsing a location',
};

/** Tests of which store the code runs on. */
const DIALECT_CHECKS = [
  /\bdialect(\.name)?\s*[!=]==?/,
  /[!=]==?\s*'(sqlite|postgres)'/,
  /'(sqlite|postgres)'\s*[!=]==?/,
  /\bisPostgres\w*\s*\(/,
  /\bisSqlite\w*\s*\(/,
  /instanceof\s+(Sqlite|Postgres)\w*/,
  /\bpg_\w+\s*\(/,
  /\bbillctl_(int|dec)_\w+\s*\(/,
];

describe('shared store code never asks which store it is on', () => {
  it('finds no dialect check in src/store outside the adapters (sqlite/, postgres/) and the known exceptions', () => {
    const found: string[] = [];
    for (const name of fs.readdirSync(STORE_DIR).sort()) {
      const file = path.join(STORE_DIR, name);
      if (!name.endsWith('.ts') || fs.statSync(file).isDirectory() || name === 'dialect-adapter.ts' || name in KNOWN_EXCEPTIONS) continue;
      fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '').replace(/\/\*.*?\*\//g, '');
        if (DIALECT_CHECKS.some((re) => re.test(code))) found.push(`src/store/${name}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('catches a check written the usual ways', () => {
    const caught = (line: string) => DIALECT_CHECKS.some((re) => re.test(line));
    expect(caught("const x = db.dialect === 'postgres' ? ' FOR UPDATE' : '';")).toBe(true);
    expect(caught("if (this.db.dialect.name !== 'sqlite') {")).toBe(true);
    expect(caught("if (isPostgresUrl(location)) {")).toBe(true);
    expect(caught("if (db instanceof SqliteDriver) {")).toBe(true);
    expect(caught("await db.run('SELECT pg_advisory_unlock(?::bigint)', [key]);")).toBe(true);
    expect(caught('const s = `billctl_int_sum(${expr})`;')).toBe(true);
    expect(caught('const s = db.dialect.quantitySum(expr);')).toBe(false);
  });
});
