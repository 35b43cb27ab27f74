/** The real executable in child processes: fresh-clone flow, lazy loading, secrets. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, dropSchemas, postgresBackend, tempDir } from '../helpers/backends.js';
import { BIN, ROOT, spawnCli } from '../helpers/cli.js';
import { SAMPLE_CATALOG } from '../helpers/fixtures.js';

afterAll(dropSchemas);

describe('the billctl executable', () => {
  it('does not load pdfkit, stripe or pg for --help', () => {
    const trace = path.join(tempDir('trace'), 'loads.txt');
    fs.writeFileSync(trace, '');
    const r = spawnSync(process.execPath, ['--import', path.join(ROOT, 'test/helpers/trace-loads.mjs'), BIN, '--help'], {
      env: { ...process.env, TRACE_LOADS_FILE: trace },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const loaded = fs.readFileSync(trace, 'utf8');
    expect(loaded).toContain('commander');
    const heavyModules = ['node_modules/pdfkit', 'node_modules/stripe', 'node_modules/pg/', 'cjs:pg', 'node_modules/better-sqlite3', 'node_modules/cli-table3', '@inquirer', 'src/pdf/', 'dist/pdf/'];
    for (const heavy of heavyModules) {
      expect(loaded, heavy).not.toContain(heavy);
    }
  });

  for (const backend of BACKENDS) {
    it(`runs init, catalog import and catalog show from a fresh folder [${backend.name}]`, async () => {
      const dir = tempDir('fresh');
      const db = backend.name === 'sqlite' ? 'billing.db' : await backend.fresh();
      const env = { BILLCTL_DB: db };
      const init = await spawnCli(['init', '--yes'], { cwd: dir, env });
      expect(init.code, init.stderr).toBe(0);
      const imp = await spawnCli(['catalog', 'import', SAMPLE_CATALOG], { cwd: dir, env });
      expect(imp.code, imp.stderr).toBe(0);
      const show = await spawnCli(['catalog', 'show', '--format', 'json'], { cwd: dir, env });
      expect(show.code).toBe(0);
      expect(JSON.parse(show.stdout)).toMatchObject({ version: '2026-01', currency: 'USD', default_plan: 'free' });
      const bad = await spawnCli(['tenant', 'add', 'x', '--timezone', 'Nope/Nope'], { cwd: dir, env });
      expect(bad.code).toBe(2);
      expect(bad.stdout).toBe('');
    });
  }

  it.runIf(BACKENDS.includes(postgresBackend))('never shows the password of a Postgres URL in output or the audit log', async () => {
    const u = new URL(await postgresBackend.fresh());
    u.password = 'Sw0rdfish-pw';
    const db = u.toString();
    const dir = tempDir('pw');
    const init = await spawnCli(['init', '--yes', '--format', 'json'], { cwd: dir, env: { BILLCTL_DB: db } });
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout).store).toContain('postgres:***@');
    const audit = await spawnCli(['audit', '--format', 'json', '--db', db], { cwd: dir });
    expect(audit.code).toBe(0);
    for (const out of [init.stdout, init.stderr, audit.stdout, audit.stderr]) expect(out).not.toContain('Sw0rdfish');
    const missing = await spawnCli(['tenant', 'show', 'nobody', '--db', db], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).not.toContain('Sw0rdfish');
  });
});
