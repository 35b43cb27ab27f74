/**
 * Invoice PDFs through the CLI, read back with pdftotext: what the customer reads, byte-identical
 * re-renders, VOID and PAID copies beside the issued PDF, drafts marked DRAFT, and --out copies.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { spawnCli } from '../helpers/cli.js';
import { csvOf, jsonOf, makeStore } from '../helpers/store-setup.js';
import { pdfText, squash } from '../pdf/poppler.js';

afterAll(dropSchemas);

interface InvoiceJson {
  id: string; number: string; status: string; pdf: string; subtotal: string; tax: string; total: string; due_date: string;
  stamped_pdf?: string | null; lines: { amount: string; description: string }[];
}

describeEachBackend('invoice PDFs', (backend) => {
  it('says what the customer needs in its words, and re-renders byte for byte', async () => {
    const s = await makeStore(await backend.fresh());
    // The README's own init example: the typed \n is a line break on every invoice.
    fs.rmSync(path.join(s.dir, 'billctl.yaml'));
    await s.run(['init', '--yes', '--issuer-name', 'Müller Rechenzentrum GmbH', '--issuer-address', 'Ringstraße 5\\n1010 Wien']);
    await s.run(['tenant', 'add', 'jp', '--name', '株式会社テスト', '--plan', 'pro', '--from', '2026-10', '--timezone', 'Europe/Berlin',
      '--tax-rate', '0.19', '--tax-label', 'VAT', '--address', "O'Brien House\\n東京都千代田区1-1", '--tax-id', 'JP1234567890123',
      '--po-number', 'PO-4711', '--net-days', '14']);
    await s.run(['import', s.file('r.csv', csvOf([
      ['r1', 'jp', '2026-09-30T22:30:00Z', 'completed', 'qwen-70b', 'a100-80gb', 360000, 9000000, 500000],
      ['r2', 'jp', '2026-10-15T08:00:00Z', 'completed', 'qwen-70b', 'a100-80gb', 3600, 400000, 1200000],
      ['r3', 'jp', '2026-10-20T08:00:00Z', 'completed', 'qwen-70b', 'a100-80gb', 1_080_000, 0, 0],
      ['r4', 'jp', '2026-10-21T08:00:00Z', 'completed', 'mystery-9b', '', 0, 5000, 0],
    ]))]);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'jp', '--finalize', '--issue-date', '2026-11-01', '--allow-unpriced', '--yes']);
    const inv = jsonOf<InvoiceJson>(await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json']));
    // The JSON (and the terminal) keep the UNPRICED mark (billing-rules.md step 6).
    expect(inv.lines.map((l) => l.description)).toContain('mystery-9b input tokens (UNPRICED)');
    expect([inv.subtotal, inv.tax, inv.total]).toEqual(['1309.60', '248.82', '1558.42']);
    expect(inv.pdf).toBe('invoices/2026-10/INV-2026-000001.pdf');
    const file = path.join(s.dir, inv.pdf);
    const bytes = fs.readFileSync(file);
    const text = pdfText(bytes);
    const flat = squash(text);
    // Issuer and customer, one address line each.
    expect(text).toMatch(/^\s*Ringstraße 5\s*$/m);
    expect(text).toMatch(/^\s*1010 Wien\s*$/m);
    expect(text).not.toContain('\\n');
    for (const words of ['株式会社テスト', "O'Brien House", '東京都千代田区1-1', 'Tax ID: JP1234567890123', 'Customer ID: jp']) expect(text).toContain(words);
    // Number, dates, payment terms, PO number, the period as dates in its timezone.
    for (const row of ['Invoice number INV-2026-000001', 'Issue date 2026-11-01', 'Due date 2026-11-15', 'Payment terms Net 14',
      'PO number PO-4711', 'Period 2026-10-01 – 2026-10-31', 'Time zone Europe/Berlin']) {
      expect(flat).toContain(row);
    }
    // The plan fee is a line; GPU time in decimal hours; the unpriced line is not charged, in words.
    expect(flat).toContain('Description Used Included Billed Unit price Amount (USD)');
    expect(flat).toContain('Pro plan fee 99.00');
    expect(flat).toContain('A100 80GB GPU hours 401.00 h 100.00 h 301.00 h 4.00 / h 1,204.00');
    expect(flat).toContain('Qwen-70B output tokens 1,700,000 600,000 1,100,000 0.006 / 1,000 tokens 6.60');
    expect(flat).toContain('mystery-9b input tokens 5,000 0 5,000 Not charged 0.00');
    expect(text).not.toContain('UNPRICED');
    // Totals checkable by eye: fee + usage subtotal = subtotal; amounts grouped, with the currency.
    expect(flat).toContain('Usage subtotal 1,210.60');
    expect(flat).toContain('Subtotal 1,309.60 VAT 19 % 248.82 Total USD 1,558.42 Amount due USD 1,558.42 Due date 2026-11-15');
    // The chart is what was billed: 2026-10-01 was covered by the allowance, 2026-10-20 charged 1,200.00.
    expect(flat).toContain('Usage charges per day (USD) 1,200.00');
    expect(flat).toContain('The days add up to the usage charges above: 1,210.60.');

    // Drawn again in another process and timezone: the same bytes.
    fs.rmSync(file);
    const again = await spawnCli(['invoice', 'pdf', 'INV-2026-000001', '--db', s.db], { cwd: s.dir, env: { TZ: 'Pacific/Chatham' } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('invoices/2026-10/INV-2026-000001.pdf\n');
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);

    // A copy elsewhere with --out: the same bytes, and the recorded path stays where it was issued.
    const out = tempDir('pdf-out');
    const copy = jsonOf<{ pdf: string; stamped_pdf: null }>(await s.run(['invoice', 'pdf', 'INV-2026-000001', '--out', out, '--format', 'json']));
    expect(copy).toMatchObject({ pdf: path.join(out, '2026-10', 'INV-2026-000001.pdf'), stamped_pdf: null });
    expect(fs.readFileSync(copy.pdf).equals(bytes)).toBe(true);
    expect(jsonOf<InvoiceJson>(await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json'])).pdf).toBe('invoices/2026-10/INV-2026-000001.pdf');
    // An --out where no directory can be made fails (exit 1) and says so, rather than hanging.
    const nowhere = await s.run(['invoice', 'pdf', 'INV-2026-000001', '--out', '/proc/billctl-nowhere'], 1);
    expect(nowhere.stderr).toBe(
      "billctl: error: the PDF of INV-2026-000001 could not be written: ENOENT: no such file or directory, mkdir '/proc/billctl-nowhere'\n" +
        'Point --out at a directory you can write to, then run the command again.\n',
    );
  });

  it('writes a VOID copy and a PAID copy beside the issued PDF, which never changes, and draws drafts marked DRAFT', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'acme', '--name', 'Acme GmbH', '--plan', 'pro', '--address', 'Hauptstr. 1\\n10115 Berlin']);
    await s.run(['import', s.file('r.csv', csvOf([['r1', 'acme', '2026-11-03T08:00:00Z', 'completed', 'qwen-70b', '', 0, 1000, 1000]]))]);

    // A draft: no number, marked DRAFT on every page, in a folder of its own; nothing recorded.
    await s.run(['invoice', 'generate', '--period', '2026-11', '--tenant', 'acme']);
    const draft = jsonOf<{ id: string }[]>(await s.run(['invoice', 'list', '--status', 'draft', '--format', 'json']))[0]!;
    const drawn = jsonOf<{ pdf: string; number: null; status: string }>(await s.run(['invoice', 'pdf', draft.id, '--format', 'json']));
    expect(drawn).toMatchObject({ pdf: `invoices/drafts/2026-11/draft-${draft.id}.pdf`, number: null, status: 'draft' });
    const draftText = squash(pdfText(fs.readFileSync(path.join(s.dir, drawn.pdf))));
    expect(draftText).toContain('Invoice number DRAFT');
    expect(draftText).toContain('Payment terms Net 30');
    expect(draftText).not.toContain('INV-');
    expect(draftText).not.toContain('Issue date');
    expect(jsonOf<{ pdf: null }>(await s.run(['invoice', 'show', draft.id, '--format', 'json'])).pdf).toBeNull();
    // A draft that no longer matches its data is drawn with a warning that says how to remake it.
    await s.run(['import', s.file('r2.csv', csvOf([['r2', 'acme', '2026-11-04T08:00:00Z', 'completed', 'qwen-70b', '', 0, 1000, 1000]]))]);
    const stale = await s.run(['invoice', 'pdf', draft.id]);
    expect(stale.stderr).toContain(`warning: draft ${draft.id} no longer matches the data; remake it first with: billctl invoice generate --period 2026-11 --tenant acme`);

    await s.run(['invoice', 'finalize', draft.id, '--issue-date', '2026-12-01', '--yes']);
    const issuedFile = path.join(s.dir, 'invoices', '2026-11', 'INV-2026-000001.pdf');
    const issued = fs.readFileSync(issuedFile);
    expect(squash(pdfText(issued))).not.toMatch(/VOID|PAID|DRAFT/);

    // Void: the issued PDF stays as it was sent; the VOID copy says so on every page.
    const voided = jsonOf<{ status: string; stamped_pdf: string }>(
      await s.run(['invoice', 'void', 'INV-2026-000001', '--reason', 'wrong address', '--yes', '--format', 'json']),
    );
    expect(voided).toMatchObject({ status: 'void', stamped_pdf: 'invoices/2026-11/INV-2026-000001.void.pdf' });
    expect(fs.readFileSync(issuedFile).equals(issued)).toBe(true);
    const voidCopy = fs.readFileSync(path.join(s.dir, voided.stamped_pdf));
    expect(squash(pdfText(voidCopy))).toContain('INV-2026-000001 · VOID');
    // invoice pdf draws both again: the issued one byte for byte, and the same VOID copy.
    fs.rmSync(path.join(s.dir, voided.stamped_pdf));
    const both = await s.run(['invoice', 'pdf', 'INV-2026-000001']);
    expect(both.stdout).toBe('invoices/2026-11/INV-2026-000001.pdf\ninvoices/2026-11/INV-2026-000001.void.pdf\n');
    expect(fs.readFileSync(issuedFile).equals(issued)).toBe(true);
    expect(fs.readFileSync(path.join(s.dir, voided.stamped_pdf)).equals(voidCopy)).toBe(true);

    // Reissued, then paid: a date before the issue date is refused; the PAID copy shows the payment and nothing due.
    await s.run(['invoice', 'generate', '--period', '2026-11', '--tenant', 'acme', '--finalize', '--issue-date', '2026-12-02', '--yes']);
    const early = await s.run(['invoice', 'mark-paid', 'INV-2026-000002', '--date', '2026-12-01'], 2);
    expect(early.stderr).toBe(
      "billctl: error: --date 2026-12-01 is before INV-2026-000002's issue date 2026-12-02: an invoice is paid after it is issued\n" +
        'Give the day the payment arrived: billctl invoice mark-paid INV-2026-000002 --date YYYY-MM-DD (2026-12-02 or later)\n',
    );
    const second = fs.readFileSync(path.join(s.dir, 'invoices', '2026-11', 'INV-2026-000002.pdf'));
    // No terminal and no --yes: scripts that mark invoices paid go on as before.
    const paid = await s.run(['invoice', 'mark-paid', 'INV-2026-000002', '--date', '2026-12-03']);
    expect(paid.stdout).toBe('INV-2026-000002 paid on 2026-12-03\ninvoices/2026-11/INV-2026-000002.paid.pdf\n');
    expect(fs.readFileSync(path.join(s.dir, 'invoices', '2026-11', 'INV-2026-000002.pdf')).equals(second)).toBe(true);
    const paidText = squash(pdfText(fs.readFileSync(path.join(s.dir, 'invoices', '2026-11', 'INV-2026-000002.paid.pdf')), undefined, 'raw'));
    expect(paidText).toContain('INV-2026-000002 · PAID');
    expect(paidText).toContain('Total USD 99.00 Paid on 2026-12-03 -99.00 Amount due USD 0.00');
    expect(fs.readdirSync(path.join(s.dir, 'invoices', '2026-11')).sort()).toEqual([
      'INV-2026-000001.pdf', 'INV-2026-000001.void.pdf', 'INV-2026-000002.paid.pdf', 'INV-2026-000002.pdf',
    ]);
  });
});
