/** CLI contract for the foundation commands: help, exit codes, JSON shapes, colour, validation. */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { LATEST_VERSION } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open.js';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { cli, json, type CliResult } from '../helpers/cli.js';
import { SAMPLE_CATALOG, sampleCatalogDoc } from '../helpers/fixtures.js';
import { expectGolden } from '../helpers/golden.js';
import { PassThrough, Readable } from 'node:stream';

afterAll(dropSchemas);

function expectExit(r: CliResult, code: number): void {
  if (r.code !== code) throw new Error(`expected exit ${code}, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

describe('help, versions and usage errors', () => {
  it('prints the top-level help (golden)', async () => {
    const r = await cli(['--help']);
    expectExit(r, 0);
    expectGolden('help.txt', r.stdout);
  });

  it('prints a command help with examples (golden)', async () => {
    const r = await cli(['tenant', 'add', '--help']);
    expectExit(r, 0);
    expectGolden('tenant-add-help.txt', r.stdout);
  });

  it('gives every command at least one example in --help', async () => {
    const program = buildProgram({
      io: {
        stdout: new PassThrough(), stderr: new PassThrough(), stdin: Readable.from([]), stdoutIsTTY: false,
        stderrIsTTY: false, stdinIsTTY: false, env: {}, cwd: process.cwd(),
      },
      argv: [],
      exitCode: 0,
    });
    const paths: string[][] = [];
    const walk = (cmd: Command, prefix: string[]) => {
      for (const sub of cmd.commands) {
        const p = [...prefix, sub.name()];
        paths.push(p);
        walk(sub, p);
      }
    };
    walk(program, []);
    expect(paths.length).toBeGreaterThan(10);
    for (const p of paths) {
      const r = await cli([...p, '--help']);
      expect(r.code, p.join(' ')).toBe(0);
      expect(r.stdout, p.join(' ')).toMatch(/Examples:\n {2}\$ billctl /);
    }
  });

  it('prints the version', async () => {
    const r = await cli(['--version']);
    expectExit(r, 0);
    expect(r.stdout).toBe('0.1.0\n');
  });

  it('refuses an unknown command with exit 2 and says what to do', async () => {
    const r = await cli(['frobnicate']);
    expectExit(r, 2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("error: unknown command 'frobnicate'");
    expect(r.stderr).toContain('Run `billctl --help`');
  });

  it('refuses an unknown flag and a bad --format with exit 2', async () => {
    expectExit(await cli(['catalog', 'list', '--bogus']), 2);
    const r = await cli(['catalog', 'list', '--format', 'xml']);
    expectExit(r, 2);
    expect(r.stderr).toContain('Allowed choices are table, json, csv');
  });

  it('shows usage with exit 2 when no command is given', async () => {
    const r = await cli([]);
    expectExit(r, 2);
    expect(r.stderr).toContain('Usage: billctl');
  });

  it('says how to create a store when there is none', async () => {
    const dir = tempDir('nostore');
    const r = await cli(['catalog', 'list'], { cwd: dir });
    expectExit(r, 2);
    expect(r.stderr).toBe(`billctl: error: no store at ${path.join(dir, 'billing.db')}\nRun \`billctl init\` to create one, or point --db (or BILLCTL_DB) at an existing store.\n`);
  });

  it('fails (exit 1) where no folder can be made for the store, rather than hanging', async () => {
    // Node's recursive mkdir retries forever where mkdir answers ENOENT under /proc.
    const r = await cli(['init', '--yes', '--db', '/proc/billctl-nowhere/billing.db'], { cwd: tempDir('proc') });
    expectExit(r, 1);
    expect(r.stderr).toBe("billctl: failed: ENOENT: no such file or directory, mkdir '/proc/billctl-nowhere'\n");
  });
});

describeEachBackend('foundation commands', (backend) => {
  let db: string;
  let dir: string;
  const run = (...argv: string[]) => cli([...argv, '--db', db], { cwd: dir });

  beforeEach(async () => {
    db = await backend.fresh();
    dir = tempDir('cli');
    expectExit(await run('init', '--yes'), 0);
  });

  it('init is idempotent and reports what it did', async () => {
    const again = await run('init', '--yes', '--format', 'json');
    expectExit(again, 0);
    expect(json(again)).toMatchObject({ backend: backend.name, schema_version: LATEST_VERSION, migrations_applied: [], sample_catalog: null, config: null });
  });

  it('init upgrades an old schema', async () => {
    const old = await backend.fresh();
    const s = await openStore(old, { create: true, skipSchemaCheck: true });
    await s.migrate({ to: 1 });
    await s.close();
    if (LATEST_VERSION > 1) {
      const refused = await cli(['catalog', 'list', '--db', old], { cwd: dir });
      expectExit(refused, 2);
      expect(refused.stderr).toContain('Run `billctl init` to upgrade it');
    }
    const r = await cli(['init', '--yes', '--format', 'json', '--db', old], { cwd: dir });
    expectExit(r, 0);
    const out = json<{ schema_version: number; migrations_applied: { version: number }[] }>(r);
    expect(out.schema_version).toBe(LATEST_VERSION);
    expect(out.migrations_applied.map((m) => m.version)).toEqual(
      Array.from({ length: LATEST_VERSION - 1 }, (_, i) => i + 2),
    );
  });

  it('imports the sample catalog once; the same version again is a no-op', async () => {
    const first = await run('catalog', 'import', SAMPLE_CATALOG, '--format', 'json');
    expectExit(first, 0);
    expect(json(first)).toEqual({
      version: '2026-01', effective_from: '2026-01-01T00:00:00.000Z', currency: 'USD', outcome: 'created',
      plans: 4, gpu_rates: 4, token_rates: 3,
    });
    const second = await run('catalog', 'import', SAMPLE_CATALOG, '--format', 'json');
    expect(json<{ outcome: string }>(second).outcome).toBe('unchanged');
    const shown = await run('catalog', 'show', '--format', 'json');
    expectExit(shown, 0);
    const doc = json<Record<string, any>>(shown);
    expect(doc.gpu_rates['a100-80gb']).toEqual({ name: 'A100 80GB', price: '4.00' });
    expect(doc.token_rates['qwen-70b']).toEqual({ name: 'Qwen-70B', input: '0.003', output: '0.006' });
    expect(doc.plans.enterprise).toEqual({
      name: 'Enterprise', monthly_fee: '2500', included: { gpu_hours: 1000, tokens: 100000000, api_calls: 1000000 },
      hard_cap: false, usage_discount_percent: '10',
    });
    expect(doc.token_unit).toBe(1000);
    const list = await run('catalog', 'list', '--format', 'json');
    expect(json<{ version: string }[]>(list).map((c) => c.version)).toEqual(['2026-01']);
  });

  it('refuses a different catalog under a used label, and replaces it with --replace', async () => {
    expectExit(await run('catalog', 'import', SAMPLE_CATALOG), 0);
    const changed = sampleCatalogDoc();
    (changed.gpu_rates as Record<string, { price: string }>)['a100-80gb']!.price = '4.50';
    const file = path.join(dir, 'changed.json');
    fs.writeFileSync(file, JSON.stringify(changed));
    const r = await run('catalog', 'import', file);
    expectExit(r, 2);
    expect(r.stderr).toContain('catalog version "2026-01" is already in the store with different content');
    const replaced = await run('catalog', 'import', file, '--replace', '--format', 'json');
    expectExit(replaced, 0);
    expect(json<{ outcome: string }>(replaced).outcome).toBe('replaced');
  });

  it('refuses two versions that take effect at the same instant', async () => {
    expectExit(await run('catalog', 'import', SAMPLE_CATALOG), 0);
    const file = path.join(dir, 'same-instant.json');
    fs.writeFileSync(file, JSON.stringify({ ...sampleCatalogDoc(), version: 'other' }));
    const r = await run('catalog', 'import', file);
    expectExit(r, 2);
    expect(r.stderr).toContain('Two versions of one currency cannot take effect at the same instant');
  });

  it('adds, updates and shows tenants with their plan history', async () => {
    expectExit(await run('catalog', 'import', SAMPLE_CATALOG), 0);
    const add = await run('tenant', 'add', 'acme', '--name', 'Acme GmbH', '--plan', 'pro', '--from', '2026-10',
      '--timezone', 'europe/berlin', '--tax-rate', '0.19', '--tax-label', 'VAT', '--format', 'json');
    expectExit(add, 0);
    expect(json(add)).toMatchObject({
      id: 'acme', name: 'Acme GmbH', timezone: 'Europe/Berlin', tax_rate: '0.19', tax_label: 'VAT', net_days: 30,
      billing_mode: 'invoice', auto_created: false, plans: [{ plan: 'pro', from: '2026-10' }],
    });
    expectExit(await run('tenant', 'set-plan', 'acme', 'enterprise', '--from', '2027-01'), 0);
    const upd = await run('tenant', 'update', 'acme', '--net-days', '14', '--email', 'ap@acme.example', '--format', 'json');
    expectExit(upd, 0);
    expect(json(upd)).toMatchObject({ net_days: 14, email: 'ap@acme.example' });
    const show = await run('tenant', 'show', 'acme', '--format', 'json');
    expect(json<{ plans: { plan: string; from: string | null }[] }>(show).plans.map((p) => [p.plan, p.from])).toEqual([
      ['pro', '2026-10'],
      ['enterprise', '2027-01'],
    ]);
    const plain = await run('tenant', 'add', 'plain');
    expectExit(plain, 0);
    const list = json<{ id: string; plans: { plan: string; from: null }[] }[]>(await run('tenant', 'list', '--format', 'json'));
    expect(list.map((t) => t.id)).toEqual(['acme', 'plain']);
    expect(list[1]!.plans).toMatchObject([{ plan: 'free', from: null }]);
    const csv = await run('tenant', 'list', '--format', 'csv');
    expect(csv.stdout.split('\n').slice(0, 3)).toEqual([
      'id,name,plan,from,timezone,tax_rate,tax_label,net_days,email,address,tax_id,po_number,currency,billing_mode,stripe_customer,stripe_since',
      'acme,Acme GmbH,pro,2026-10,Europe/Berlin,0.19,VAT,14,ap@acme.example,,,,,invoice,,',
      'acme,,enterprise,2027-01,,,,,,,,,,,,',
    ]);
  });

  it('names every bad tenant value and exits 2', async () => {
    expectExit(await run('catalog', 'import', SAMPLE_CATALOG), 0);
    const r = await run('tenant', 'add', 'x', '--timezone', 'Mars/Olympus', '--tax-rate', '1', '--plan', 'gold',
      '--from', '2026-13', '--net-days', 'ten', '--currency', 'EUR', '--billing-mode', 'paypal', '--stripe-customer', 'c_1');
    expectExit(r, 2);
    expect(r.stderr).toBe(
      [
        'billctl: error: tenant x: 8 problems',
        '  - timezone: "Mars/Olympus" is not an IANA timezone (like Europe/Berlin, America/New_York, UTC)',
        '  - tax-rate: tax rate 1 is outside [0, 1): write 19 % as 0.19',
        '  - net-days: "ten" is not a whole number of days from 0 to 365',
        '  - currency: no catalog version is in EUR (catalogs: USD); import one in EUR first',
        '  - billing-mode: "paypal" must be invoice or stripe',
        '  - stripe-customer: "c_1" is not a Stripe customer id (cus_…)',
        '  - from: "2026-13" is not a period (YYYY-MM)',
        '  - plan: "gold" is not a plan of the catalog (plans: enterprise, free, pro, team)',
        'Fix the values above and run the command again.',
        '',
      ].join('\n'),
    );
    for (const [rate, msg] of [['-0.1', 'outside [0, 1)'], ['abc', 'is not a decimal'], ['0.19x', 'is not a decimal']]) {
      const t = await run('tenant', 'add', 'y', '--tax-rate', rate!);
      expectExit(t, 2);
      expect(t.stderr).toContain(msg);
    }
    expectExit(await run('tenant', 'add', 'ok', '--tax-rate', '0.999'), 0);
    const dup = await run('tenant', 'add', 'ok');
    expectExit(dup, 2);
    expect(dup.stderr).toContain('tenant "ok" already exists');
    const missing = await run('tenant', 'show', 'nobody');
    expectExit(missing, 2);
    expect(missing.stderr).toContain('no tenant "nobody"');
    const long = await run('tenant', 'add', 'x'.repeat(129));
    expectExit(long, 2);
    expect(long.stderr).toContain('tenant id is longer than 128 characters');
    const ctl = await run('tenant', 'add', 'a\tb');
    expectExit(ctl, 2);
    expect(ctl.stderr).toContain('control character');
  });

  it('imports tenants from CSV: all rows or none, bad rows by line number, idempotent', async () => {
    expectExit(await run('catalog', 'import', SAMPLE_CATALOG), 0);
    const good = path.join(dir, 'tenants.csv');
    fs.writeFileSync(
      good,
      'id,name,plan,from,timezone,tax_rate,net_days,email,address\n' +
        'acme,Acme GmbH,pro,2026-10,Europe/Berlin,0.19,30,ap@acme.example,"Hauptstr. 1\n10115 Berlin"\n' +
        'jp,株式会社テスト,enterprise,,Asia/Tokyo,0.10,45,,\n',
    );
    const r1 = await run('tenant', 'import', good, '--format', 'json');
    expectExit(r1, 0);
    expect(json(r1)).toEqual({ rows: 2, created: 2, updated: 0, unchanged: 0, plan_changes: 0 });
    const t = json<{ address: string; name: string }>(await run('tenant', 'show', 'acme', '--format', 'json'));
    expect(t.address).toBe('Hauptstr. 1\n10115 Berlin');
    const r2 = await run('tenant', 'import', good, '--format', 'json');
    expect(json(r2)).toEqual({ rows: 2, created: 0, updated: 0, unchanged: 2, plan_changes: 0 });

    const bad = path.join(dir, 'bad.csv');
    fs.writeFileSync(bad, 'id,name,timezone,tax_rate\nnew1,New,UTC,0\nnew2,New,Nowhere/City,0\n"quoted\nname",Q,UTC,2\n');
    const r3 = await run('tenant', 'import', bad);
    expectExit(r3, 2);
    expect(r3.stderr).toContain('line 3: timezone: "Nowhere/City" is not an IANA timezone');
    expect(r3.stderr).toContain('line 5: tax-rate: tax rate 2 is outside [0, 1)');
    expect(r3.stderr).toContain('Nothing was imported.');
    const list = json<{ id: string }[]>(await run('tenant', 'list', '--format', 'json'));
    expect(list.map((x) => x.id)).toEqual(['acme', 'jp']);
  });

  it('records who changed what in the audit log', async () => {
    expectExit(await cli(['catalog', 'import', SAMPLE_CATALOG, '--db', db, '--actor', 'finance-bot'], { cwd: dir }), 0);
    expectExit(await run('tenant', 'add', 'acme'), 0);
    const r = await run('audit', '--format', 'json');
    const entries = json<{ actor: string; command: string; details: Record<string, unknown> }[]>(r);
    expect(entries.map((e) => [e.actor, e.command])).toEqual([
      ['test', 'init'],
      ['finance-bot', 'catalog import'],
      ['test', 'tenant add'],
    ]);
    expect(entries[2]!.details).toEqual({ tenant: 'acme', created: 1 });
    const since = await run('audit', '--since', '2999-01-01', '--format', 'json');
    expect(json(since)).toEqual([]);
  });

  it('accepts global flags before and after the command', async () => {
    expectExit(await run('catalog', 'import', SAMPLE_CATALOG), 0);
    const before = await cli(['--db', db, '--format', 'json', 'catalog', 'list'], { cwd: dir });
    const after = await cli(['catalog', 'list', '--format', 'json', '--db', db], { cwd: dir });
    expectExit(before, 0);
    expect(before.stdout).toBe(after.stdout);
    const viaEnv = await cli(['catalog', 'list', '--format', 'json'], { cwd: dir, env: { BILLCTL_DB: db } });
    expect(viaEnv.stdout).toBe(after.stdout);
  });

  it('writes colour only to a terminal, and never with NO_COLOR or --no-color', async () => {
    expectExit(await run('catalog', 'import', SAMPLE_CATALOG), 0);
    const esc = /\u001b\[/;
    expect((await run('catalog', 'list')).stdout).not.toMatch(esc);
    expect((await cli(['catalog', 'list', '--db', db], { cwd: dir, tty: true })).stdout).toMatch(esc);
    expect((await cli(['catalog', 'list', '--db', db], { cwd: dir, tty: true, env: { NO_COLOR: '1' } })).stdout).not.toMatch(esc);
    expect((await cli(['catalog', 'list', '--db', db, '--no-color'], { cwd: dir, tty: true })).stdout).not.toMatch(esc);
    expect((await cli(['--no-color', 'catalog', 'list', '--db', db], { cwd: dir, tty: true })).stdout).not.toMatch(esc);
  });
});

describe('catalog validation', () => {
  let db: string;
  let dir: string;
  beforeEach(async () => {
    dir = tempDir('catalog');
    db = path.join(dir, 'billing.db');
    expectExit(await cli(['init', '--yes', '--db', db], { cwd: dir }), 0);
  });

  async function importDoc(doc: unknown, name = 'cat.json'): Promise<CliResult> {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
    return cli(['catalog', 'import', file, '--db', db], { cwd: dir });
  }

  it('names the file, the field and the problem for each error, exit 2', async () => {
    const doc = sampleCatalogDoc() as Record<string, any>;
    delete doc.gpu_rates['a100-80gb'].price;
    doc.token_rates['qwen-70b'].output = '0.00.6';
    doc.default_plan = 'gold';
    delete doc.plans.pro.monthly_fee;
    doc.plans.free.included.tokens = 1.5;
    doc.currency = 'usdx';
    const r = await importDoc(doc);
    expectExit(r, 2);
    const file = path.join(dir, 'cat.json');
    expect(r.stderr).toBe(
      [
        `billctl: error: ${file}: 6 problems`,
        '  - currency: "usdx" is not an ISO 4217 currency code (like USD)',
        '  - gpu_rates.a100-80gb.price: missing',
        '  - token_rates.qwen-70b.output: "0.00.6" is not a decimal number (write it like "4.00")',
        '  - plans.free.included.tokens: 1.5 is not a whole number',
        '  - plans.pro.monthly_fee: missing: every plan needs a fee (write "0" for a free plan)',
        '  - default_plan: "gold" is not a plan of this catalog (plans: free, pro, enterprise)',
        'Fix the fields named above and import again.',
        '',
      ].join('\n'),
    );
  });

  it('reports bad YAML with its file, and a missing file, with exit 2', async () => {
    const r = await importDoc('version: "x"\nplans: [unclosed\n', 'bad.yaml');
    expectExit(r, 2);
    expect(r.stderr).toContain(`${path.join(dir, 'bad.yaml')}: a problem`);
    expect(r.stderr).toContain('not valid YAML');
    const missing = await cli(['catalog', 'import', path.join(dir, 'nope.yaml'), '--db', db], { cwd: dir });
    expectExit(missing, 2);
    expect(missing.stderr).toContain('no such file');
  });

  it('keys names like receipts do and refuses two spellings of one key', async () => {
    const doc = sampleCatalogDoc() as Record<string, any>;
    doc.gpu_rates['A100 80GB'] = { price: '5' };
    const r = await importDoc(doc);
    expectExit(r, 2);
    expect(r.stderr).toContain('gpu_rates.a100-80gb: "A100 80GB" and "a100-80gb" are the same key');
  });

  it('reads numbers by their shortest decimal text and warns about unknown fields', async () => {
    const doc = sampleCatalogDoc() as Record<string, any>;
    doc.gpu_rates['a100-80gb'].price = 4.1;
    doc.colour = 'blue';
    fs.writeFileSync(path.join(dir, 'x.json'), JSON.stringify(doc));
    const ok = await cli(['catalog', 'import', path.join(dir, 'x.json'), '--db', db], { cwd: dir });
    expectExit(ok, 0);
    expect(ok.stderr).toContain('colour: unknown field, ignored');
    const shown = json<Record<string, any>>(await cli(['catalog', 'show', '--format', 'json', '--db', db], { cwd: dir }));
    expect(shown.gpu_rates['a100-80gb'].price).toBe('4.1');
  });
});

describe('secrets', () => {
  it('never prints a database password, even when the connection fails', async () => {
    const r = await cli(['catalog', 'list', '--db', 'postgres://billing:hunter2secret@127.0.0.1:1/nowhere']);
    expectExit(r, 1);
    expect(r.stderr).toContain('cannot connect to postgres://billing:***@127.0.0.1:1/nowhere');
    expect(r.stderr).not.toContain('hunter2secret');
  });

  it('refuses secrets in the config file', async () => {
    const dir = tempDir('cfg');
    fs.writeFileSync(path.join(dir, 'billctl.yaml'), 'stripe:\n  api_key: sk_test_123\n');
    const r = await cli(['init', '--yes'], { cwd: dir });
    expectExit(r, 2);
    expect(r.stderr).toContain('stripe.api_key: secrets are never read from the config file');
    expect(r.stderr).not.toContain('sk_test_123');
  });
});
