/**
 * What finance is stopped from doing by mistake (exit 2, nothing done, a flag to do it on purpose),
 * mark-paid's question on a terminal, overlapping invoice runs, and PDF failures reported alike in
 * every format. Prompts are the one seam replaced here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeEach, expect, it, vi } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { csvOf, jsonOf, makeStore, type TestStore } from '../helpers/store-setup.js';

const answers: { confirms: boolean[]; asked: string[] } = { confirms: [], asked: [] };

vi.mock('../../src/cli/prompts.js', () => ({
  input: async () => '',
  confirm: async (message: string) => {
    answers.asked.push(message);
    return answers.confirms.shift() ?? false;
  },
}));

afterAll(dropSchemas);

beforeEach(() => {
  answers.confirms = [];
  answers.asked = [];
});

interface ListJson { id: string; number: string | null; tenant_id: string; status: string; pdf: string | null }

const list = async (s: TestStore) => jsonOf<ListJson[]>(await s.run(['invoice', 'list', '--format', 'json']));
const numbers = async (s: TestStore) => (await list(s)).filter((i) => i.number !== null).map((i) => i.number);

describeEachBackend('invoice guard rails', (backend) => {
  it('warns before issuing from the placeholder issuer: the question on a terminal says so, a script has said --yes', async () => {
    const s = await makeStore(await backend.fresh());
    fs.rmSync(path.join(s.dir, 'billctl.yaml'));
    await s.run(['tenant', 'add', 'acme', '--name', 'Acme GmbH', '--plan', 'pro']);
    const warning =
      'warning: the invoices will be issued by the placeholder issuer "Your Company" with no address (there is no billctl.yaml here): ' +
      'a customer cannot pay or book such an invoice. ' +
      'Set issuer.name and issuer.address in billctl.yaml (billctl init --yes --issuer-name "…" --issuer-address "…" writes one), ' +
      'or pass --allow-placeholder-issuer to issue them so on purpose.\n';
    // Without a terminal and without --yes: refused, nothing issued.
    const refused = await s.run(['invoice', 'generate', '--period', '2026-10', '--all', '--finalize', '--issue-date', '2026-11-01'], 2);
    expect(refused.stderr.startsWith(warning)).toBe(true);
    expect(refused.stderr).toContain('(despite the warning above)? Issued numbers are permanent. This needs confirmation, and there is no terminal to ask.');
    expect(await list(s)).toEqual([]);
    // On a terminal the question names the warning; answering no issues nothing.
    await s.run(['invoice', 'generate', '--period', '2026-10', '--all']);
    const onTerminal = (argv: string[]) => cli([...argv, '--db', s.db], { cwd: s.dir, tty: true });
    answers.confirms = [false];
    const no = await onTerminal(['invoice', 'finalize', '--period', '2026-10', '--all', '--issue-date', '2026-11-01']);
    expect(no.code).toBe(2);
    expect(answers.asked).toEqual(['Finalize 1 invoice(s) of 2026-10 (despite the warning above)? Issued numbers are permanent.']);
    expect(no.stderr).toContain('placeholder issuer "Your Company"');
    expect(await numbers(s)).toEqual([]);
    // A name but no address is warned about too; --yes issues with the warning on stderr.
    s.file('billctl.yaml', 'issuer:\n  name: "Acme Cloud Ltd"\n');
    const done = await s.run(['invoice', 'finalize', '--period', '2026-10', '--all', '--issue-date', '2026-11-01', '--yes']);
    expect(done.stderr).toContain(`warning: the invoices will be issued by issuer "Acme Cloud Ltd" with no address (see issuer in ${path.join(s.dir, 'billctl.yaml')})`);
    expect(await numbers(s)).toEqual(['INV-2026-000001']);
    // On purpose: no warning.
    await s.run(['tenant', 'add', 'beta', '--name', 'Beta SA', '--plan', 'pro']);
    const quiet = await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'beta', '--finalize', '--issue-date', '2026-11-01', '--yes', '--allow-placeholder-issuer']);
    expect(quiet.stderr).not.toContain('warning:');
    expect(await numbers(s)).toEqual(['INV-2026-000001', 'INV-2026-000002']);
  });

  it('warns before issuing to tenants with no name and no address (as an import makes them), unless --allow-incomplete-customer', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'acme', '--name', 'Acme GmbH', '--plan', 'pro']);
    await s.run(['tenant', 'add', 'bare', '--plan', 'pro']);
    await s.run(['import', s.file('r.csv', csvOf([
      ['z1', 'zed', '2026-10-10T00:00:00Z', 'completed', 'qwen-70b', '', 0, 10, 0],
      // Created by the import too, but with nothing to bill in October: never named.
      ['i1', 'idle', '2026-09-10T00:00:00Z', 'completed', 'qwen-70b', '', 0, 10, 0],
    ]))]);
    const refused = await s.run(['invoice', 'generate', '--period', '2026-10', '--all', '--finalize', '--issue-date', '2026-11-01'], 2);
    expect(refused.stderr.split('\n')[0]).toBe(
      'warning: 2 tenants have no name and no address for the invoice: bare, zed (created by an import). ' +
        'Give each its name and billing address, e.g. billctl tenant update bare --name "…" --address "…" (or billctl tenant import), ' +
        'or pass --allow-incomplete-customer to issue them so on purpose.',
    );
    expect(await list(s)).toEqual([]);
    await s.run(['tenant', 'update', 'zed', '--name', 'Zed Ltd', '--address', '1 Zed Road\\nLondon']);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--all']);
    const yes = await s.run(['invoice', 'finalize', '--period', '2026-10', '--all', '--issue-date', '2026-11-01', '--yes']);
    expect(yes.stderr).toContain('warning: 1 tenant has no name and no address for the invoice: bare. ');
    expect((await list(s)).map((i) => [i.tenant_id, i.status])).toEqual([['acme', 'finalized'], ['bare', 'finalized'], ['zed', 'finalized']]);
    // A name, or an address, is enough; and on purpose, no warning.
    await s.run(['import', s.file('n.csv', csvOf([['n1', 'newbie', '2026-10-11T00:00:00Z', 'completed', 'qwen-70b', '', 0, 10, 0]]))]);
    const quiet = await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'newbie', '--finalize', '--issue-date', '2026-11-01', '--yes', '--allow-incomplete-customer']);
    expect(quiet.stderr).not.toContain('warning:');
    expect(await numbers(s)).toHaveLength(4);
  });

  it('refuses to issue a month that has not ended for a tenant, and drafts of a month not begun, unless --allow-open-period', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'berlin', '--name', 'Berlin GmbH', '--plan', 'pro', '--timezone', 'Europe/Berlin']);
    await s.run(['tenant', 'add', 'ny', '--name', 'NY Inc.', '--plan', 'pro', '--timezone', 'America/New_York']);
    // October has ended in Berlin (23:00 UTC) but not in New York (04:00 UTC on November 1).
    const halloween = { BILLCTL_NOW: '2026-10-31T23:30:00Z' };
    await s.run(['invoice', 'generate', '--period', '2026-10', '--all'], 0, halloween);
    const open = await s.run(['invoice', 'finalize', '--period', '2026-10', '--all', '--yes'], 2, halloween);
    expect(open.stderr).toBe(
      'billctl: error: 2026-10 has not ended yet for 1 tenant (ny; for ny it ends 2026-11-01 00:00 America/New_York): ' +
        'an invoice issued now would leave out the rest of the month\n' +
        'Finalize once the period has ended, or pass --allow-open-period to issue it now.\n',
    );
    expect((await s.run(['invoice', 'generate', '--period', '2026-10', '--all', '--finalize', '--yes'], 2, halloween)).stderr).toContain('has not ended yet');
    expect(await numbers(s)).toEqual([]);
    await s.run(['invoice', 'finalize', '--period', '2026-10', '--all', '--yes', '--issue-date', '2026-10-31', '--allow-open-period'], 0, halloween);
    expect(await numbers(s)).toHaveLength(2);

    const future = await s.run(['invoice', 'generate', '--period', '2026-12', '--tenant', 'berlin'], 2, halloween);
    expect(future.stderr).toBe(
      'billctl: error: 2026-12 has not begun yet for 1 tenant (berlin; for berlin it begins 2026-12-01 00:00 Europe/Berlin): there is no usage to bill\n' +
        'Generate it once the month has begun, or pass --allow-open-period (to bill a plan fee in advance, say).\n',
    );
    // The month under way is fine for drafts (month to date).
    await s.run(['invoice', 'generate', '--period', '2026-11', '--all'], 0, { BILLCTL_NOW: '2026-11-15T00:00:00Z' });
    await s.run(['invoice', 'generate', '--period', '2026-12', '--tenant', 'berlin', '--allow-open-period'], 0, halloween);
    expect((await list(s)).filter((i) => i.status === 'draft').map((i) => i.tenant_id)).toEqual(['berlin', 'ny', 'berlin']);
  });

  it('mark-paid asks on a terminal; no changes nothing, and --yes does not ask', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'acme', '--name', 'Acme GmbH', '--plan', 'pro']);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--all', '--finalize', '--issue-date', '2026-11-01', '--yes']);
    const onTerminal = (argv: string[]) => cli([...argv, '--db', s.db], { cwd: s.dir, tty: true });
    answers.confirms = [false];
    const no = await onTerminal(['invoice', 'mark-paid', 'INV-2026-000001', '--date', '2026-11-20']);
    expect([no.code, no.stderr]).toEqual([2, 'billctl: error: cancelled: nothing was done\n']);
    expect(answers.asked).toEqual(['Mark invoice INV-2026-000001 (acme 2026-10, 99.00 USD) paid on 2026-11-20?']);
    expect((await list(s))[0]!.status).toBe('finalized');
    answers.confirms = [true];
    expect((await onTerminal(['invoice', 'mark-paid', 'INV-2026-000001', '--date', '2026-11-20'])).code).toBe(0);
    expect((await list(s))[0]!.status).toBe('paid');
    expect(answers.asked).toHaveLength(2);
  });

  it('two generate --all runs at once (a cron overlap) both finish: one draft per tenant, gapless numbers, no database error', async () => {
    const s = await makeStore(await backend.fresh());
    const csv = ['id,name,plan,address', ...Array.from({ length: 60 }, (_, i) => `t${String(i).padStart(2, '0')},Tenant ${i},pro,Street ${i}`)].join('\n');
    await s.run(['tenant', 'import', s.file('tenants.csv', `${csv}\n`)]);
    const run = (extra: string[]) => spawnCli(['invoice', 'generate', '--period', '2026-10', '--all', '--db', s.db, ...extra], { cwd: s.dir });
    const drafts = await Promise.all([run([]), run([])]);
    for (const r of drafts) expect([r.code, r.stderr]).toEqual([0, '']);
    expect((await list(s)).map((i) => i.tenant_id)).toEqual(Array.from({ length: 60 }, (_, i) => `t${String(i).padStart(2, '0')}`));
    await s.run(['invoice', 'list', '--status', 'draft', '--format', 'json']);
    // And issuing side by side.
    const issued = await Promise.all([run(['--finalize', '--issue-date', '2026-11-01', '--yes']), run(['--finalize', '--issue-date', '2026-11-01', '--yes'])]);
    for (const r of issued) expect(r.code, r.stderr).toBe(0);
    expect((await numbers(s)).sort()).toEqual(Array.from({ length: 60 }, (_, i) => `INV-2026-${String(i + 1).padStart(6, '0')}`));
  }, 120_000);

  it('reports PDFs that could not be written the same in every format: stderr, JSON and the table agree (exit 3)', async () => {
    const scenario = async (format: string) => {
      const s = await makeStore(await backend.fresh());
      for (const t of ['a', 'b', 'c']) await s.run(['tenant', 'add', t, '--name', `Tenant ${t}`, '--plan', 'pro']);
      await s.run(['invoice', 'generate', '--period', '2026-10', '--all']);
      // A full disk for the second invoice: its temporary file (this process draws the PDFs) writes to /dev/full.
      const dir = path.join(s.dir, 'invoices', '2026-10');
      fs.mkdirSync(dir, { recursive: true });
      fs.symlinkSync('/dev/full', path.join(dir, `.INV-2026-000002.pdf.${process.pid}.tmp`));
      const r = await s.run(['invoice', 'finalize', '--period', '2026-10', '--all', '--issue-date', '2026-11-01', '--yes', '--format', format], 3);
      return { s, r };
    };
    const failure = 'failed: b: INV-2026-000002 was issued, but its PDF could not be written: ENOSPC: no space left on device, write\n' +
      'The invoices are issued; draw their missing PDFs with the same command again (or billctl invoice pdf <number>) once the cause is fixed.\n';
    const json = await scenario('json');
    expect(json.r.stderr).toBe(failure);
    const report = jsonOf<{ finalized: ListJson[]; failed: unknown[] }>(json.r);
    expect(report.finalized.map((i) => [i.number, i.pdf])).toEqual([
      ['INV-2026-000001', 'invoices/2026-10/INV-2026-000001.pdf'],
      ['INV-2026-000002', null],
      ['INV-2026-000003', 'invoices/2026-10/INV-2026-000003.pdf'],
    ]);
    expect(report.failed).toEqual([{ tenant_id: 'b', number: 'INV-2026-000002', error: 'INV-2026-000002 was issued, but its PDF could not be written: ENOSPC: no space left on device, write' }]);
    const table = await scenario('table');
    // PDFs are drawn on workers: the 'wrote' lines come in the order the drawings end.
    expect(table.r.stderr.startsWith(failure)).toBe(true);
    expect(table.r.stderr.slice(failure.length).split('\n').sort()).toEqual(['', 'wrote invoices/2026-10/INV-2026-000001.pdf', 'wrote invoices/2026-10/INV-2026-000003.pdf']);
    expect(table.r.stdout).toMatch(/INV-2026-000002 .* not written \(see failed\)/);
    // Run again once the disk has room: the missing PDF is drawn, nothing is issued twice.
    await table.s.run(['invoice', 'finalize', '--period', '2026-10', '--all', '--yes']);
    expect(fs.existsSync(path.join(table.s.dir, 'invoices', '2026-10', 'INV-2026-000002.pdf'))).toBe(true);
    expect(await numbers(table.s)).toEqual(['INV-2026-000001', 'INV-2026-000002', 'INV-2026-000003']);
  });
});
