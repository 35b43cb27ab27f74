/**
 * billing-rules.md, "Credit notes", through the CLI on both stores: tax at the invoice's rate
 * rounded half up, the CN sequence, the cap at the invoice's total, the amount due lowered (never
 * below 0, the rest a prepaid grant), a paid invoice's note feeding the next invoice, --line,
 * the refusals, a configured prefix per year, and the PDF that names the invoice it corrects.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf, TEST_ISSUER_YAML } from '../helpers/store-setup.js';
import { pdfText, squash } from '../pdf/poppler.js';
import { clockStore, grants, issue, proTenant, show, type InvoiceJson, type NoteJson } from './helpers.js';

afterAll(dropSchemas);

const note = (n: NoteJson) => [n.number, n.net, n.tax, n.total, n.applied, n.granted];

describeEachBackend('credit notes', (backend) => {
  it('tax at the invoice\'s rate, half up; numbers CN-2026-000001 on; the amount due drops; the cap is the invoice total', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    const inv = await issue(s, 'acme', '2026-10', '2026-11-02');
    expect([inv.number, inv.total, inv.amount_due]).toEqual(['INV-2026-000001', '117.81', '117.81']);
    // 0.05 × 0.19 = 0.0095: half up to 0.01.
    const tiny = await s.json<NoteJson & { invoice: InvoiceJson; grant: null }>(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '0.05', '--reason', 'rounding']);
    expect(note(tiny)).toEqual(['CN-2026-000001', '0.05', '0.01', '0.06', '0.06', '0.00']);
    expect([tiny.invoice.amount_due, tiny.invoice.status, tiny.grant]).toEqual(['117.75', 'finalized', null]);
    const outage = await s.json<NoteJson>(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '20', '--reason', 'Outage on 2026-10-12']);
    expect(note(outage)).toEqual(['CN-2026-000002', '20.00', '3.80', '23.80', '23.80', '0.00']);
    expect((await show(s, 'INV-2026-000001')).amount_due).toBe('93.95');
    // 93.95 is left of the total: 79.00 net would be 94.01 with tax.
    const over = await s.run(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '79', '--reason', 'too much'], 2);
    expect(over.stderr).toBe(
      "billctl: error: a credit note of 79.00 USD net (94.01 USD with tax) would credit more than INV-2026-000001's total of 117.81 USD\n" +
        'At most 78.95 USD net (93.95 USD with tax) is left to credit on it.\n',
    );
    const rest = await s.json<NoteJson & { invoice: InvoiceJson }>(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '78.95', '--reason', 'the rest']);
    expect(note(rest)).toEqual(['CN-2026-000003', '78.95', '15.00', '93.95', '93.95', '0.00']);
    // Nothing due and no payment: finalized, owed nothing.
    expect([rest.invoice.amount_due, rest.invoice.status]).toEqual(['0.00', 'finalized']);
    const none = await s.run(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '0.01', '--reason', 'more'], 2);
    expect(none.stderr).toContain('Its credit notes already total its 117.81 USD: nothing is left to credit.');
    const list = await s.json<NoteJson[]>(['credit-note', 'list', '--tenant', 'acme']);
    expect(list.map((n) => n.number)).toEqual(['CN-2026-000001', 'CN-2026-000002', 'CN-2026-000003']);
    const shown = await s.json<NoteJson>(['credit-note', 'show', 'CN-2026-000002']);
    expect(shown).toEqual(list[1]);
    expect([shown.number, shown.net, shown.tax, shown.total, shown.reason]).toEqual(['CN-2026-000002', '20.00', '3.80', '23.80', 'Outage on 2026-10-12']);
    const table = (await s.run(['credit-note', 'show', 'CN-2026-000002', '--format', 'table'])).stdout;
    expect(table).toContain('CN-2026-000002');
    expect(table).toContain('Outage on 2026-10-12');
    expect(await grants(s)).toEqual([]);
    // A void is refused once a credit note corrects the invoice.
    const voided = await s.run(['invoice', 'void', 'INV-2026-000001', '--reason', 'x', '--yes'], 2);
    expect(voided.stderr).toContain('invoice INV-2026-000001 has credit notes (CN-2026-000001, CN-2026-000002, CN-2026-000003): an invoice with credit notes is not voided');
  });

  it('on a paid invoice the whole note becomes a prepaid grant that the next invoice draws', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    await issue(s, 'acme', '2026-10', '2026-11-02');
    await s.run(['invoice', 'mark-paid', 'INV-2026-000001', '--date', '2026-11-10']);
    s.now = '2026-11-12T09:00:00Z';
    const cn = await s.json<NoteJson & { invoice: InvoiceJson; grant: { id: string; name: string; kind: string; amount: string; start: string; expires: null } }>(
      ['invoice', 'credit-note', 'INV-2026-000001', '--amount', '20', '--reason', 'goodwill'],
    );
    expect(note(cn)).toEqual(['CN-2026-000001', '20.00', '3.80', '23.80', '0.00', '23.80']);
    expect([cn.invoice.status, cn.invoice.amount_due, cn.invoice.paid_date]).toEqual(['paid', '0.00', '2026-11-10']);
    expect(cn.grant).toMatchObject({ id: '1', kind: 'prepaid', name: 'Credit note CN-2026-000001', amount: '23.80', start: '2026-11-12', expires: null });
    s.now = '2026-12-02T10:00:00Z';
    const nov = await show(s, (await issue(s, 'acme', '2026-11', '2026-12-02')).number!);
    expect([nov.total, nov.prepaid_applied, nov.amount_due]).toEqual(['117.81', '23.80', '94.01']);
    expect((await grants(s)).map((g) => [g.name, g.balance, g.status])).toEqual([['Credit note CN-2026-000001', '0.00', 'used']]);
    // The November PDF names the prepaid credit beside the total.
    const text = squash(pdfText(fs.readFileSync(path.join(s.dir, 'invoices', '2026-11', 'INV-2026-000002.pdf')), undefined, 'raw'));
    expect(text).toContain('Total USD 117.81 Prepaid credit: Credit note CN-2026-000001 -23.80 Amount due USD 94.01');
  });

  it('beyond what is due, the rest of a note becomes a prepaid grant; with a payment it settles the invoice', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    await issue(s, 'acme', '2026-10', '2026-11-02');
    await s.run(['invoice', 'mark-paid', 'INV-2026-000001', '--amount', '100', '--date', '2026-11-05']);
    const cn = await s.json<NoteJson & { invoice: InvoiceJson; grant: { amount: string; name: string } }>(
      ['invoice', 'credit-note', 'INV-2026-000001', '--amount', '20', '--reason', 'goodwill', '--issue-date', '2026-11-06'],
    );
    expect(note(cn)).toEqual(['CN-2026-000001', '20.00', '3.80', '23.80', '17.81', '5.99']);
    expect([cn.invoice.status, cn.invoice.amount_due, cn.invoice.paid_date]).toEqual(['paid', '0.00', '2026-11-06']);
    expect(cn.grant).toMatchObject({ amount: '5.99', name: 'Credit note CN-2026-000001' });
  });

  it('--line N credits one line: at most what it charged, less earlier notes on it', async () => {
    const s = await clockStore(backend);
    await proTenant(s, 'b', '0.2');
    await s.run(['import', s.file('oct.csv', csvOf([['o1', 'b', '2026-10-10T00:00:00Z', 'completed', 'qwen-70b', '', 0, 15_000_000, 0]]))]);
    await issue(s, 'b', '2026-10', '2026-11-02');
    expect((await show(s, 'INV-2026-000001')).lines!.map((l) => `${l.description} ${l.amount}`)).toEqual(['Pro plan fee 99.00', 'Qwen-70B input tokens 15.00']);
    const more = await s.run(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '15.01', '--reason', 'wrong price', '--line', '2'], 2);
    expect(more.stderr).toContain('--line 2: 15.01 USD is more than is left to credit on "Qwen-70B input tokens" (15.00 USD net)');
    const cn = await s.json<NoteJson>(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '10', '--reason', 'wrong price', '--line', '2']);
    expect([cn.line, cn.line_description, cn.net, cn.tax, cn.total]).toEqual([2, 'Qwen-70B input tokens', '10.00', '2.00', '12.00']);
    expect((await s.run(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '5.01', '--reason', 'x', '--line', '2'], 2)).stderr)
      .toContain('(5.00 USD net)');
    expect((await s.run(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '1', '--reason', 'x', '--line', '3'], 2)).stderr)
      .toContain('--line 3: INV-2026-000001 has 2 line(s)');
    expect((await s.run(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '1', '--reason', 'x', '--line', '0'], 2)).stderr)
      .toContain('--line: "0" is not a line number');
    // The credit note's PDF names the line and the reason.
    const text = squash(pdfText(fs.readFileSync(path.join(s.dir, cn.pdf!))));
    expect(text).toContain('Credit for invoice INV-2026-000001 Reason: wrong price Description Amount (USD) Qwen-70B input tokens 10.00');
  });

  it('refuses drafts, void invoices, unknown numbers, a missing reason and an early date (exit 2); nothing is numbered', async () => {
    const s = await clockStore(backend);
    await proTenant(s);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'acme']);
    const cases: [string[], string][] = [
      [['invoice', 'credit-note', '1', '--amount', '5', '--reason', 'x'], 'invoice 1 is a draft: a draft is remade, not credited'],
      [['invoice', 'credit-note', 'INV-2099-000001', '--amount', '5', '--reason', 'x'], 'no invoice "INV-2099-000001"'],
      [['invoice', 'credit-note', '1', '--amount', '5'], "required option '--reason <text>' not specified"],
    ];
    for (const [argv, message] of cases) expect((await s.run(argv, 2)).stderr, argv.join(' ')).toContain(message);
    await s.run(['invoice', 'finalize', '1', '--issue-date', '2026-11-02', '--yes']);
    expect((await s.run(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '5', '--reason', ' '], 2)).stderr).toContain('--reason is required');
    expect((await s.run(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '5', '--reason', 'x', '--issue-date', '2026-11-01'], 2)).stderr)
      .toContain("--issue-date 2026-11-01 is before INV-2026-000001's issue date 2026-11-02");
    await s.run(['invoice', 'void', 'INV-2026-000001', '--reason', 'wrong', '--yes']);
    expect((await s.run(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '5', '--reason', 'x'], 2)).stderr).toContain('is void: there is nothing to credit on it');
    expect(await s.json<NoteJson[]>(['credit-note', 'list'])).toEqual([]);
    expect((await s.run(['credit-note', 'show', 'CN-2026-000001'], 2)).stderr).toContain('no credit note "CN-2026-000001"');
  });

  it('a configured prefix and first number, a sequence per year, and a PDF in the invoice\'s style that names the invoice it corrects', async () => {
    const s = await clockStore(backend);
    s.file('billctl.yaml', `${TEST_ISSUER_YAML}credit_note:\n  prefix: "GS-"\n  first_number: 5\n`);
    await proTenant(s);
    await issue(s, 'acme', '2026-10', '2026-11-02');
    const invoicePdf = path.join(s.dir, 'invoices', '2026-10', 'INV-2026-000001.pdf');
    const issuedBytes = fs.readFileSync(invoicePdf);
    const a = await s.json<NoteJson>(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '20', '--reason', 'Outage on 2026-10-12', '--issue-date', '2026-12-31']);
    s.now = '2027-01-05T10:00:00Z';
    const b = await s.json<NoteJson>(['invoice', 'credit-note', 'INV-2026-000001', '--amount', '1', '--reason', 'again']);
    expect([a.number, a.pdf, b.number, b.issue_date]).toEqual(['GS-2026-000005', 'invoices/2026-10/GS-2026-000005.pdf', 'GS-2027-000005', '2027-01-05']);
    // The invoice's own PDF is never touched.
    expect(fs.readFileSync(invoicePdf).equals(issuedBytes)).toBe(true);
    const file = path.join(s.dir, a.pdf!);
    const bytes = fs.readFileSync(file);
    const text = squash(pdfText(bytes));
    expect(text.trim().startsWith('Credit note Test Cloud GmbH')).toBe(true);
    for (const phrase of [
      'Credit note number GS-2026-000005', 'Issue date 2026-12-31', 'Corrects invoice INV-2026-000001',
      'Invoice date 2026-11-02', 'Credit for invoice INV-2026-000001', 'Outage on 2026-10-12 20.00', 'Credit (net) 20.00', 'VAT 19 % 3.80',
      'Total credit USD 23.80', 'Applied to invoice INV-2026-000001 23.80', 'acme GmbH', 'Test Cloud GmbH',
    ]) expect(text, phrase).toContain(phrase);
    expect(text).not.toMatch(/Due date|Payment terms|Amount due|Added to your credit balance/);
    // Drawn again: the same bytes.
    fs.rmSync(file);
    expect((await s.run(['credit-note', 'pdf', 'GS-2026-000005'])).stdout).toBe('invoices/2026-10/GS-2026-000005.pdf\n');
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    // A prefix shared with invoices is refused.
    s.file('billctl.yaml', `${TEST_ISSUER_YAML}credit_note:\n  prefix: "INV-"\n`);
    expect((await s.run(['credit-note', 'pdf', 'GS-2026-000005'], 2)).stderr).toContain('credit_note.prefix: "INV-" is the invoice prefix too');
  });
});
