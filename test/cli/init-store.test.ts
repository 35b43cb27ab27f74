/**
 * Where init puts the store: a Postgres database that does not exist (say how to create it, or
 * create it with --create-database), URLs of other schemes refused (never taken for file names).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, PG_URL, postgresBackend, tempDir } from '../helpers/backends.js';
import { cli, json } from '../helpers/cli.js';

const created: string[] = [];

afterAll(async () => {
  if (created.length === 0) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  for (const db of created) await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)}`);
  await c.end();
});

describe.runIf(BACKENDS.includes(postgresBackend))('init on a Postgres database that does not exist', () => {
  it('says how to create it; --create-database creates it, once; nothing else is written before', async () => {
    const name = `billctl_t_${randomBytes(4).toString('hex')}`;
    created.push(name);
    const u = new URL(PG_URL);
    u.pathname = `/${name}`;
    const db = u.toString();
    const cwd = tempDir('init-pg');
    const missing = await cli(['init', '--yes', '--db', db, '--issuer-name', 'Acme'], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      `billctl: error: database "${name}" does not exist on ${u.hostname}:${u.port || 5432}\n` +
        `Create it: run billctl init again with --create-database (as a role allowed to create databases), or: createdb -h ${u.hostname} -p ${u.port || 5432} -U ${u.username || 'postgres'} ${name}\n`,
    );
    expect(fs.readdirSync(cwd)).toEqual([]); // no billctl.yaml from a failed init
    const other = await cli(['usage', '--period', '2026-10', '--db', db], { cwd });
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(`database "${name}" does not exist`);

    const first = await cli(['init', '--yes', '--db', db, '--create-database', '--issuer-name', 'Acme'], { cwd });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`database created: ${db}`);
    expect(first.stdout).toContain('created (schema version');
    expect(fs.readdirSync(cwd)).toEqual(['billctl.yaml']);
    const again = await cli(['init', '--yes', '--db', db, '--create-database', '--format', 'json'], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(json<{ migrations_applied: unknown[] }>(again).migrations_applied).toEqual([]);
    const audit = json<{ command: string; details: Record<string, unknown> }[]>(await cli(['audit', '--format', 'json', '--db', db], { cwd }));
    expect(audit.filter((a) => a.command === 'init').map((a) => a.details.database_created)).toEqual([true]);
  });
});

describe('store locations', () => {
  it('a URL of another scheme is refused (exit 2), never created as a file, its password never shown', async () => {
    const cwd = tempDir('schemes');
    for (const [argv, env, source, scheme] of [
      [['--db', 'mysql://root:Sw0rdfish@db.example/billing'], {}, '--db', 'mysql'],
      [[], { BILLCTL_DB: 'http://user:Sw0rdfish@example.com/x' }, 'BILLCTL_DB', 'http'],
      [['--db', 'sqlite:///tmp/x.db'], {}, '--db', 'sqlite'],
    ] as const) {
      for (const command of [['init', '--yes'], ['tenant', 'list']]) {
        const r = await cli([...command, ...argv], { cwd, env });
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toBe(`billctl: error: ${source}: ${scheme}:// is not a store billctl can open: a store is a SQLite file path (like billing.db) or a postgres:// URL\n`);
      }
    }
    fs.writeFileSync(path.join(cwd, 'billctl.yaml'), 'db: "file:///var/billing.db"\n');
    const r = await cli(['tenant', 'list'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('db: file:// is not a store billctl can open');
    fs.rmSync(path.join(cwd, 'billctl.yaml'));
    expect(fs.readdirSync(cwd)).toEqual([]);
    // A path with a colon (no //) is a file.
    const colon = await cli(['init', '--yes', '--db', 'store:2026.db'], { cwd });
    expect(colon.code, colon.stderr).toBe(0);
    expect(fs.readdirSync(cwd)).toEqual(['store:2026.db']);
  });

  it('init --config DIR/billctl.yaml --issuer-name puts the store beside the settings, as they say', async () => {
    const cwd = tempDir('config-dir');
    fs.mkdirSync(path.join(cwd, 'ops'));
    const r = await cli(['init', '--yes', '--config', 'ops/billctl.yaml', '--issuer-name', 'Acme'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(path.join(cwd, 'ops')).sort()).toEqual(['billctl.yaml', 'billing.db']);
    expect(fs.readdirSync(cwd)).toEqual(['ops']);
  });
});
