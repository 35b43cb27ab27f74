/**
 * After invoices are issued, on both stores: partial payments and mark-unpaid (amount_due and
 * paid_date in every invoice JSON), invoice aging as of any day, the tax report adding up exactly
 * to what it covers, exports, and an older store's paid invoices upgraded with their payment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { cli } from '../helpers/cli.js';
import { pdfText, squash } from '../pdf/poppler.js';
import { clockStore, issue, proTenant, show, type InvoiceJson, type NoteJson } from './helpers.js';

afterAll(dropSchemas);

interface AgingJson { as_of: string; tenants: Record<string, unknown>[]; totals: Record<string, unknown>[] }
interface TaxRowJson { tax_label?: string; tax_rate?: string; currency: string; invoices: number; credit_notes: number; net: string; tax: string; invoice_net: string; invoice_tax: string; credit_note_net: string; credit_note_tax: string }

const cents = (s: string) => Math.round(Number(s) * 100);

describeEachBackend('payments', (backend) => {
  it('a payment in part leaves the rest due; the invoice is paid when nothing is left; mark-unpaid undoes the last payment', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    const preview = await s.json<InvoiceJson>(['invoice', 'preview', '--tenant', 'acme', '--period', '2026-10']);
    expect([preview.amount_due, preview.paid_date]).toEqual(['117.81', null]);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'acme']);
    expect((await s.json<InvoiceJson[]>(['invoice', 'list']))[0]).toMatchObject({ status: 'draft', amount_due: '117.81', paid_date: null });
    const fin = await s.json<{ finalized: InvoiceJson[] }>(['invoice', 'finalize', '1', '--issue-date', '2026-11-02', '--yes']);
    expect(fin.finalized[0]).toMatchObject({ number: 'INV-2026-000001', amount_due: '117.81', paid_date: null });
    const issuedPdf = fs.readFileSync(path.join(s.dir, 'invoices', '2026-10', 'INV-2026-000001.pdf'));

    const part = await s.run(['invoice', 'mark-paid', 'INV-2026-000001', '--amount', '50', '--date', '2026-11-05']);
    expect(part.stdout).toBe('INV-2026-000001: 50.00 USD received on 2026-11-05; 67.81 USD still due\n');
    expect(await show(s, 'INV-2026-000001')).toMatchObject({ status: 'finalized', amount_due: '67.81', paid_date: null });
    expect((await s.run(['invoice', 'mark-paid', 'INV-2026-000001', '--amount', '67.82'], 2)).stderr)
      .toContain('--amount 67.82 is more than the 67.81 USD due on INV-2026-000001');
    expect((await s.run(['invoice', 'mark-paid', 'INV-2026-000001', '--amount', '1.001'], 2)).stderr).toContain('--amount: 1.001 has more decimals than USD has (2)');
    expect((await s.run(['invoice', 'void', 'INV-2026-000001', '--reason', 'x', '--yes'], 2)).stderr)
      .toContain('has a payment recorded: a paid invoice is not voided');
    const rest = await s.json<InvoiceJson & { stamped_pdf: string }>(['invoice', 'mark-paid', 'INV-2026-000001', '--date', '2026-11-20']);
    expect(rest).toMatchObject({ status: 'paid', amount_due: '0.00', paid_date: '2026-11-20', stamped_pdf: 'invoices/2026-10/INV-2026-000001.paid.pdf' });
    expect((await s.run(['invoice', 'mark-paid', 'INV-2026-000001'], 2)).stderr).toContain('invoice INV-2026-000001 is already paid (on 2026-11-20)');
    const paidCopy = path.join(s.dir, rest.stamped_pdf);
    expect(squash(pdfText(fs.readFileSync(paidCopy), undefined, 'raw')))
      .toContain('Total USD 117.81 Paid on 2026-11-05 -50.00 Paid on 2026-11-20 -67.81 Amount due USD 0.00');

    const undo = await s.json<InvoiceJson & { removed_pdf: string | null }>(['invoice', 'mark-unpaid', 'INV-2026-000001']);
    expect(undo).toMatchObject({ status: 'finalized', amount_due: '67.81', paid_date: null, removed_pdf: 'invoices/2026-10/INV-2026-000001.paid.pdf' });
    expect(fs.existsSync(paidCopy)).toBe(false);
    expect(fs.readFileSync(path.join(s.dir, 'invoices', '2026-10', 'INV-2026-000001.pdf')).equals(issuedPdf)).toBe(true);
    const again = await s.run(['invoice', 'mark-unpaid', 'INV-2026-000001']);
    expect(again.stdout).toBe('INV-2026-000001: the payment of 50.00 USD on 2026-11-05 is undone; 117.81 USD due\n');
    expect((await s.run(['invoice', 'mark-unpaid', 'INV-2026-000001'], 2)).stderr).toContain('invoice INV-2026-000001 has no payment recorded: nothing to undo');
    const audit = await s.json<{ command: string; details: Record<string, unknown> }[]>(['audit']);
    expect(audit.filter((a) => a.command.startsWith('invoice mark-')).map((a) => [a.command, a.details.amount, a.details.amount_due])).toEqual([
      ['invoice mark-paid', '50.00', '67.81'], ['invoice mark-paid', '67.81', '0.00'],
      ['invoice mark-unpaid', '67.81', '67.81'], ['invoice mark-unpaid', '50.00', '117.81'],
    ]);
    // Paid in full again, in one go, as before.
    expect((await s.run(['invoice', 'mark-paid', 'INV-2026-000001', '--date', '2026-11-21'])).stdout).toContain('INV-2026-000001 paid on 2026-11-21');
  });

  it('aging as of any day: what was owed then, by days past due, per tenant and currency', async () => {
    const s = await clockStore(backend);
    for (const [id, net, tax] of [['a', '30', '0.19'], ['b', '0', '0'], ['c', '90', '0.19'], ['d', '0', '0.19'], ['e', '30', '0.19'], ['f', '30', '0.19']]) {
      await s.run(['tenant', 'add', id!, '--name', `${id} Ltd`, '--plan', 'pro', '--net-days', net!, '--tax-rate', tax!]);
    }
    await issue(s, 'd', '2026-09', '2026-10-01'); // INV-1, due 2026-10-01
    await issue(s, 'f', '2026-10', '2026-11-01'); // INV-2, due 2026-12-01, voided today
    for (const t of ['a', 'b', 'c', 'e']) await issue(s, t, '2026-10', '2026-11-02');
    await s.run(['invoice', 'void', 'INV-2026-000002', '--reason', 'duplicate', '--yes']);
    await s.run(['invoice', 'mark-paid', 'INV-2026-000004', '--amount', '40', '--date', '2026-12-01']); // b
    await s.run(['invoice', 'credit-note', 'INV-2026-000005', '--amount', '10', '--reason', 'goodwill', '--issue-date', '2026-11-10']); // c: 11.90
    await s.run(['invoice', 'mark-paid', 'INV-2026-000001', '--date', '2027-02-01']); // d, paid late
    await s.run(['invoice', 'mark-paid', 'INV-2026-000006', '--date', '2026-11-05']); // e
    const aging = async (asOf: string) => {
      const r = await s.json<AgingJson>(['invoice', 'aging', '--as-of', asOf]);
      expect(r.as_of).toBe(asOf);
      const row = (x: Record<string, unknown>) => [x.tenant_id ?? 'total', x.current, x.days_1_30, x.days_31_60, x.days_61_90, x.days_90_plus, x.total, x.invoices];
      return [...r.tenants.map(row), ...r.totals.map(row)];
    };
    expect(await aging('2027-01-15')).toEqual([
      ['a', '0.00', '0.00', '117.81', '0.00', '0.00', '117.81', 1], // due 2026-12-02: 44 days
      ['b', '0.00', '0.00', '0.00', '59.00', '0.00', '59.00', 1], // due 2026-11-02: 74 days, 40.00 paid
      ['c', '105.91', '0.00', '0.00', '0.00', '0.00', '105.91', 1], // due 2027-01-31, 11.90 credited
      ['d', '0.00', '0.00', '0.00', '0.00', '117.81', '117.81', 1], // due 2026-10-01: 106 days, paid after
      ['total', '105.91', '0.00', '117.81', '59.00', '117.81', '400.53', 4],
    ]);
    expect(await aging('2026-11-15')).toEqual([
      ['a', '117.81', '0.00', '0.00', '0.00', '0.00', '117.81', 1],
      ['b', '0.00', '99.00', '0.00', '0.00', '0.00', '99.00', 1], // the 40.00 came later
      ['c', '105.91', '0.00', '0.00', '0.00', '0.00', '105.91', 1],
      ['d', '0.00', '0.00', '117.81', '0.00', '0.00', '117.81', 1],
      ['total', '223.72', '99.00', '117.81', '0.00', '0.00', '440.53', 4],
    ]);
    // Before f was voided (today, 2026-11-02) it was owed; before the others were issued they were not.
    expect(await aging('2026-11-01')).toEqual([
      ['d', '0.00', '0.00', '117.81', '0.00', '0.00', '117.81', 1],
      ['f', '117.81', '0.00', '0.00', '0.00', '0.00', '117.81', 1],
      ['total', '117.81', '0.00', '117.81', '0.00', '0.00', '235.62', 2],
    ]);
    expect((await aging('2027-02-01')).map((r) => r[0])).toEqual(['a', 'b', 'c', 'total']);
    const csv = (await s.run(['invoice', 'aging', '--as-of', '2027-01-15', '--format', 'csv'])).stdout.split('\n');
    expect(csv[0]).toBe('row,tenant_id,currency,current,days_1_30,days_31_60,days_61_90,days_90_plus,total,invoices');
    expect(csv[1]).toBe('tenant,a,USD,0.00,0.00,117.81,0.00,0.00,117.81,1');
    expect(csv[5]).toBe('total,,USD,105.91,0.00,117.81,59.00,117.81,400.53,4');
    const table = (await s.run(['invoice', 'aging', '--as-of', '2027-01-15'])).stdout;
    expect(table).toContain('Unpaid amounts due on 2027-01-15, by days past the due date');
    expect(table).toMatch(/total USD\s+│ USD\s+│\s+105\.91 │/);
    expect((await s.run(['invoice', 'aging', '--as-of', '2027-13-01'], 2)).stderr).toContain('--as-of: "2027-13-01" is not a date');
  });

  it('the tax report: invoices less credit notes by label, rate and currency, by issue date, adding up exactly to what it covers', async () => {
    const s = await clockStore(backend);
    await proTenant(s, 'acme', '0.19');
    await proTenant(s, 'beta', '0.07');
    await s.run(['tenant', 'add', 'gamma', '--name', 'Gamma Inc', '--plan', 'pro', '--tax-label', 'Sales tax']);
    await proTenant(s, 'delta', '0.19');
    await issue(s, 'acme', '2026-09', '2026-10-01');
    await issue(s, 'acme', '2026-10', '2026-11-02');
    await issue(s, 'beta', '2026-10', '2026-11-02');
    await issue(s, 'gamma', '2026-10', '2026-11-03');
    await issue(s, 'delta', '2026-10', '2026-11-04');
    await s.run(['invoice', 'void', 'INV-2026-000005', '--reason', 'issued by mistake', '--yes']);
    await s.run(['invoice', 'credit-note', 'INV-2026-000002', '--amount', '20', '--reason', 'outage', '--issue-date', '2026-11-10']);
    await s.run(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '10', '--reason', '=cmd|x', '--issue-date', '2026-11-15']);
    await s.run(['invoice', 'credit-note', 'INV-2026-000003', '--amount', '5', '--reason', 'late', '--issue-date', '2026-12-01']);
    const nov = await s.json<{ from: string; to: string; first_day: string; last_day: string; rows: TaxRowJson[]; totals: TaxRowJson[] }>(
      ['report', 'tax', '--from', '2026-11', '--to', '2026-11'],
    );
    expect([nov.first_day, nov.last_day]).toEqual(['2026-11-01', '2026-11-30']);
    const row = (r: TaxRowJson) => [r.tax_label ?? 'total', r.tax_rate ?? '', r.invoices, r.invoice_net, r.invoice_tax, r.credit_notes, r.credit_note_net, r.credit_note_tax, r.net, r.tax];
    expect([...nov.rows.map(row), ...nov.totals.map(row)]).toEqual([
      ['Sales tax', '0', 1, '99.00', '0.00', 0, '0.00', '0.00', '99.00', '0.00'],
      ['VAT', '0.07', 1, '99.00', '6.93', 0, '0.00', '0.00', '99.00', '6.93'],
      // The September invoice is October's, but its credit note was issued in November.
      ['VAT', '0.19', 1, '99.00', '18.81', 2, '30.00', '5.70', '69.00', '13.11'],
      ['total', '', 3, '297.00', '25.74', 2, '30.00', '5.70', '267.00', '20.04'],
    ]);
    // It adds up exactly to the invoices (not void) and credit notes issued in the months it covers.
    for (const [from, to] of [['2026-10', '2026-12'], ['2026-11', '2026-11'], ['2026-12', '2026-12']] as const) {
      const r = await s.json<{ totals: TaxRowJson[]; last_day: string }>(['report', 'tax', '--from', from, '--to', to]);
      const inRange = (d: string | null) => d !== null && d >= `${from}-01` && d <= r.last_day;
      const invoices = (await s.json<InvoiceJson[]>(['invoice', 'list'])).filter((i) => i.status !== 'void' && inRange(i.issue_date));
      const notes = (await s.json<NoteJson[]>(['credit-note', 'list'])).filter((n) => inRange(n.issue_date));
      const net = invoices.reduce((x, i) => x + cents(i.subtotal), 0) - notes.reduce((x, n) => x + cents(n.net), 0);
      const tax = invoices.reduce((x, i) => x + cents(i.tax), 0) - notes.reduce((x, n) => x + cents(n.tax), 0);
      const total = r.totals[0] ?? { net: '0.00', tax: '0.00', invoices: 0, credit_notes: 0 };
      expect([cents(total.net), cents(total.tax), total.invoices, total.credit_notes], `${from}..${to}`).toEqual([net, tax, invoices.length, notes.length]);
    }
    const csv = (await s.run(['report', 'tax', '--from', '2026-11', '--to', '2026-11', '--format', 'csv'])).stdout.split('\n');
    expect(csv[0]).toBe('row,tax_label,tax_rate,currency,invoices,invoice_net,invoice_tax,credit_notes,credit_note_net,credit_note_tax,net,tax');
    expect(csv[4]).toBe('total,,,USD,3,297.00,25.74,2,30.00,5.70,267.00,20.04');
    expect((await s.run(['report', 'tax', '--from', '2026-12', '--to', '2026-11'], 2)).stderr).toContain('--from 2026-12 is after --to 2026-11');
    // Exports: formula cells neutralised, amounts as plain decimals.
    const exported = (await s.run(['export', 'credit-notes', '--period', '2026-09'])).stdout.split('\r\n');
    expect(exported[0]).toBe('id,number,invoice_number,tenant_id,period,issue_date,currency,net,tax,total,tax_rate,tax_label,reason,line,line_description,applied,granted,pdf');
    expect(exported[1]).toBe("2,CN-2026-000002,INV-2026-000001,acme,2026-09,2026-11-15,USD,10.00,1.90,11.90,0.19,VAT,'=cmd|x,,,11.90,0.00,invoices/2026-09/CN-2026-000002.pdf");
    expect(exported).toHaveLength(3);
  });

  it('an older store is upgraded: a paid invoice gets its payment, a finalized one owes its total', async () => {
    const db = await backend.fresh();
    const before = MIGRATIONS.find((m) => m.name === 'credits, credit notes and payments')!.version - 1;
    const store = (await openStore(db, { create: true, skipSchemaCheck: true })) as SqlStore;
    try {
      await store.migrate({ to: before });
      await store.db.run("INSERT INTO tenants (id, name, created_at, updated_at) VALUES ('acme', 'Acme', 'x', 'x')");
      for (const [id, status, paid] of [[1, 'paid', '2026-11-20'], [2, 'finalized', null], [3, 'void', null], [4, 'draft', null]] as const) {
        await store.db.run(
          `INSERT INTO invoices (id, tenant_id, period, status, currency, fee, usage, discount, adjustments, subtotal, tax, total, tax_rate, tax_label,
             number, issue_date, due_date, paid_date, created_at, updated_at)
           VALUES (?, 'acme', ?, ?, 'USD', '99.00', '0.00', '0.00', '0.00', '99.00', '18.81', '117.81', '0.19', 'VAT', ?, ?, ?, ?, 'x', '2026-11-20T10:00:00Z')`,
          [id, `2026-0${id}`, status, status === 'draft' ? null : `INV-2026-00000${id}`, status === 'draft' ? null : '2026-11-02', status === 'draft' ? null : '2026-12-02', paid],
        );
      }
      await store.migrate();
      expect((await store.invoices.list({})).map((i) => [i.id, i.status, i.amountDue.toFixed(2), i.prepaidApplied.toFixed(2), i.totals.credits.toFixed(2)])).toEqual([
        ['1', 'paid', '0.00', '0.00', '0.00'], ['2', 'finalized', '117.81', '0.00', '0.00'], ['3', 'void', '0.00', '0.00', '0.00'], ['4', 'draft', '117.81', '0.00', '0.00'],
      ]);
      expect((await store.invoices.payments('1')).map((p) => [p.amount.toString(), p.date, p.reversedAt])).toEqual([['117.81', '2026-11-20', null]]);
    } finally {
      await store.close();
    }
    // mark-unpaid undoes that payment like any other.
    const r = await cli(['invoice', 'mark-unpaid', 'INV-2026-000001', '--db', db, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'finalized', amount_due: '117.81' });
  });
});
