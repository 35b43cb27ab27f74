/**
 * Gapless invoice numbers: two processes finalizing 200 invoices at once, and a finalize run
 * killed with SIGKILL then run again, leave numbers 1..N with no gap and no repeat.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { BIN, spawnCli } from '../helpers/cli.js';
import { jsonOf, makeStore, TEST_ISSUER_YAML, type TestStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

async function storeWithDrafts(db: string, n: number): Promise<TestStore> {
  const s = await makeStore(db);
  // Pro tenants bill their fee with no usage at all: n drafts without importing a receipt.
  const csv = ['id,name,plan,timezone', ...Array.from({ length: n }, (_, i) => `t${String(i).padStart(3, '0')},Tenant ${i},pro,UTC`)].join('\n');
  await s.run(['tenant', 'import', s.file('tenants.csv', `${csv}\n`)]);
  const gen = jsonOf<{ results: { status: string }[] }>(await s.run(['invoice', 'generate', '--period', '2026-10', '--all', '--format', 'json']));
  expect(gen.results.filter((r) => r.status === 'created')).toHaveLength(n);
  return s;
}

async function numbers(s: TestStore): Promise<{ numbers: string[]; drafts: number }> {
  const list = jsonOf<{ number: string | null; status: string }[]>(await s.run(['invoice', 'list', '--period', '2026-10', '--format', 'json']));
  return {
    numbers: list.filter((i) => i.status === 'finalized').map((i) => i.number!).sort(),
    drafts: list.filter((i) => i.status === 'draft').length,
  };
}

const expected = (n: number) => Array.from({ length: n }, (_, i) => `INV-2026-${String(i + 1).padStart(6, '0')}`);

describeEachBackend('invoice numbers', (backend) => {
  it('two finalize runs at once leave 1..200 with no gap and no repeat', async () => {
    const s = await storeWithDrafts(await backend.fresh(), 200);
    const args = ['invoice', 'finalize', '--period', '2026-10', '--all', '--issue-date', '2026-11-02', '--yes', '--db', s.db, '--format', 'json'];
    const [a, b] = await Promise.all([spawnCli(args, { cwd: s.dir }), spawnCli(args, { cwd: s.dir })]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const mine = (r: typeof a) => (JSON.parse(r.stdout) as { finalized: { number: string }[] }).finalized.map((f) => f.number);
    // Each invoice was issued by exactly one of the runs.
    expect(mine(a).length + mine(b).length).toBe(200);
    const got = await numbers(s);
    expect(got.drafts).toBe(0);
    expect(got.numbers).toEqual(expected(200));
    // Every PDF is there, named by its number only.
    for (const n of got.numbers) expect(fs.existsSync(path.join(s.dir, 'invoices', '2026-10', `${n}.pdf`)), n).toBe(true);
  }, 180_000);

  it('a finalize run killed with SIGKILL, then run again, leaves no gap', async () => {
    const s = await storeWithDrafts(await backend.fresh(), 60);
    const child = spawn(process.execPath, [BIN, 'invoice', 'finalize', '--period', '2026-10', '--all', '--issue-date', '2026-11-02', '--yes', '--db', s.db], {
      cwd: s.dir, stdio: 'ignore', env: { ...process.env, BILLCTL_ACTOR: 'test' },
    });
    // Kill it once it has issued some, but (very likely) not all.
    for (let i = 0; i < 400; i++) {
      await new Promise((r) => setTimeout(r, 25));
      const { numbers: got } = await numbers(s);
      if (got.length >= 5) break;
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const partial = await numbers(s);
    expect(partial.numbers).toEqual(expected(partial.numbers.length));
    await s.run(['invoice', 'finalize', '--period', '2026-10', '--all', '--issue-date', '2026-11-02', '--yes']);
    const done = await numbers(s);
    expect(done.drafts).toBe(0);
    expect(done.numbers).toEqual(expected(60));
    for (const n of done.numbers) expect(fs.existsSync(path.join(s.dir, 'invoices', '2026-10', `${n}.pdf`)), n).toBe(true);
    // Killed after issuing the last invoice but before drawing it: a run with nothing left to
    // issue still draws it, byte for byte (finalize --all and generate --all --finalize alike).
    const last = path.join(s.dir, 'invoices', '2026-10', `${done.numbers[done.numbers.length - 1]}.pdf`);
    const bytes = fs.readFileSync(last);
    fs.rmSync(last);
    await s.run(['invoice', 'finalize', '--period', '2026-10', '--all', '--issue-date', '2026-11-02', '--yes']);
    expect(fs.readFileSync(last).equals(bytes)).toBe(true);
    fs.rmSync(last);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--all', '--finalize', '--issue-date', '2026-11-02', '--yes']);
    expect(fs.readFileSync(last).equals(bytes)).toBe(true);
    expect((await numbers(s)).numbers).toEqual(expected(60));
  }, 180_000);

  it('starts a sequence at the configured first number and runs per (prefix, year)', async () => {
    const s = await makeStore(await backend.fresh());
    s.file('billctl.yaml', `${TEST_ISSUER_YAML}invoice:\n  prefix: "ACME-"\n  first_number: 4711\n`);
    await s.run(['tenant', 'add', 'a', '--name', 'A', '--plan', 'pro']);
    await s.run(['tenant', 'add', 'b', '--name', 'B', '--plan', 'pro']);
    await s.run(['invoice', 'generate', '--period', '2026-11', '--all', '--finalize', '--issue-date', '2026-12-31', '--yes']);
    await s.run(['invoice', 'generate', '--period', '2026-12', '--tenant', 'a', '--finalize', '--issue-date', '2027-01-01', '--yes'], 0, { BILLCTL_NOW: '2027-01-01T12:00:00Z' });
    const list = jsonOf<{ number: string; tenant_id: string; period: string }[]>(await s.run(['invoice', 'list', '--format', 'json']));
    expect(list.map((i) => [i.period, i.tenant_id, i.number])).toEqual([
      ['2026-11', 'a', 'ACME-2026-004711'],
      ['2026-11', 'b', 'ACME-2026-004712'],
      ['2026-12', 'a', 'ACME-2027-004711'],
    ]);
  });
});
