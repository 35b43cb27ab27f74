/**
 * Gapless credit note numbers, like invoice numbers: two processes issuing 200 credit notes side by
 * side, and a process killed with SIGKILL at any moment then run again, leave CN-2026-000001 on
 * with no gap and no repeat, and every invoice's amount due matching its notes.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { clockStore, type ClockStore, type InvoiceJson, type NoteJson } from './helpers.js';

afterAll(dropSchemas);

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'credit-note-worker.mjs');

function worker(s: ClockStore, count: number, invoices: string[]) {
  const child = spawn(process.execPath, [WORKER, s.db, String(count), invoices.join(',')], { cwd: s.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { child, done };
}

/** Ten tenants with an issued October invoice of 117.81 each. */
async function tenInvoices(s: ClockStore): Promise<string[]> {
  const csv = ['id,name,plan,tax_rate', ...Array.from({ length: 10 }, (_, i) => `t${i},Tenant ${i},pro,0.19`)].join('\n');
  await s.run(['tenant', 'import', s.file('tenants.csv', `${csv}\n`)]);
  await s.run(['invoice', 'generate', '--period', '2026-10', '--all', '--finalize', '--issue-date', '2026-11-02', '--yes']);
  return (await s.json<InvoiceJson[]>(['invoice', 'list'])).map((i) => i.number!);
}

const expected = (n: number) => Array.from({ length: n }, (_, i) => `CN-2026-${String(i + 1).padStart(6, '0')}`);

/** Every note is whole: each invoice's amount due is its total less its notes. */
async function consistent(s: ClockStore): Promise<NoteJson[]> {
  const notes = await s.json<(NoteJson & { invoice_number: string })[]>(['credit-note', 'list']);
  for (const inv of await s.json<InvoiceJson[]>(['invoice', 'list'])) {
    const cents = notes.filter((n) => n.invoice_number === inv.number).reduce((sum, n) => sum + Math.round(Number(n.applied) * 100), 0);
    expect(Math.round(Number(inv.amount_due) * 100), inv.number!).toBe(11781 - cents);
  }
  return notes;
}

describeEachBackend('credit note numbers', (backend) => {
  it('two processes issuing 200 credit notes side by side leave CN-2026-000001..000200, no gap, no repeat', async () => {
    const s = await clockStore(backend);
    const invoices = await tenInvoices(s);
    const a = worker(s, 100, invoices);
    const b = worker(s, 100, [...invoices].reverse());
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra, ra.stderr).toMatchObject({ code: 0 });
    expect(rb, rb.stderr).toMatchObject({ code: 0 });
    const notes = await consistent(s);
    expect(notes.map((n) => n.number).sort()).toEqual(expected(200));
    // Each note is 0.01 net + 0.00 tax: every invoice got 20 of them.
    expect(notes.every((n) => n.total === '0.01' && n.applied === '0.01')).toBe(true);
    const audit = await s.json<{ command: string }[]>(['audit']);
    expect(audit.filter((e) => e.command === 'invoice credit-note')).toHaveLength(200);
  }, 240_000);

  it('a process killed with SIGKILL while issuing, then run again, leaves no gap and no half-written note', async () => {
    const s = await clockStore(backend);
    const invoices = await tenInvoices(s);
    const run = worker(s, 60, invoices);
    let seen = '';
    run.child.stdout.on('data', (d: Buffer) => (seen += d));
    // Kill it once it has issued some, but (very likely) not all.
    for (let i = 0; i < 600 && seen.length < 7; i++) await new Promise((r) => setTimeout(r, 10));
    run.child.kill('SIGKILL');
    await run.done;
    const partial = await consistent(s);
    expect(partial.map((n) => n.number).sort()).toEqual(expected(partial.length));
    expect(partial.length).toBeLessThan(60);
    const rest = worker(s, 60 - partial.length, invoices);
    expect((await rest.done).code).toBe(0);
    const done = await consistent(s);
    expect(done.map((n) => n.number).sort()).toEqual(expected(60));
  }, 240_000);
});
