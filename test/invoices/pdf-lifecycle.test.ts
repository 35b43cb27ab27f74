/** Issued invoices' PDFs, read back with pdftotext: every amount, the names, byte-identical re-renders. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { spawnCli } from '../helpers/cli.js';
import { csvOf, jsonOf, makeStore } from '../helpers/store-setup.js';
import { pdfText } from '../pdf/poppler.js';

afterAll(dropSchemas);

describeEachBackend('invoice PDFs', (backend) => {
  it('shows every amount of the invoice JSON, survives non-Latin names, and re-renders byte for byte', async () => {
    const s = await makeStore(await backend.fresh());
    s.file('billctl.yaml', 'issuer:\n  name: "Müller Rechenzentrum GmbH"\n  address: "Ringstraße 5\\n1010 Wien"\n  tax_id: "ATU12345678"\n');
    await s.run(['tenant', 'add', 'jp', '--name', '株式会社テスト', '--plan', 'pro', '--from', '2026-10', '--timezone', 'Europe/Berlin',
      '--tax-rate', '0.19', '--tax-label', 'VAT', '--address', "O'Brien House\\n東京都千代田区1-1"]);
    await s.run(['import', s.file('r.csv', csvOf([
      ['r1', 'jp', '2026-09-30T22:30:00Z', 'completed', 'qwen-70b', 'a100-80gb', 360000, 9000000, 500000],
      ['r2', 'jp', '2026-10-15T08:00:00Z', 'completed', 'qwen-70b', 'a100-80gb', 3600, 400000, 1200000],
    ]))]);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'jp', '--finalize', '--issue-date', '2026-11-01', '--yes']);
    const inv = jsonOf<{ number: string; pdf: string; subtotal: string; tax: string; total: string; due_date: string; lines: { amount: string; description: string }[] }>(
      await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json']),
    );
    expect(inv.pdf).toBe('invoices/2026-10/INV-2026-000001.pdf');
    const file = path.join(s.dir, inv.pdf);
    const bytes = fs.readFileSync(file);
    const text = pdfText(bytes);
    for (const amount of [inv.subtotal, inv.tax, inv.total, ...inv.lines.map((l) => l.amount)]) expect(text).toContain(amount);
    for (const words of ['INV-2026-000001', '株式会社テスト', "O'Brien House", '東京都千代田区1-1', 'Müller Rechenzentrum GmbH', 'ATU12345678', inv.due_date, 'Qwen-70B output tokens', 'VAT']) {
      expect(text).toContain(words);
    }
    // The document is frozen: renaming the tenant afterwards changes nothing in the issued PDF.
    await s.run(['tenant', 'update', 'jp', '--name', 'Renamed KK']);
    fs.rmSync(file);
    const again = await spawnCli(['invoice', 'pdf', 'INV-2026-000001', '--db', s.db], { cwd: s.dir, env: { TZ: 'Pacific/Chatham' } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe('invoices/2026-10/INV-2026-000001.pdf');
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    // Elsewhere with --out: the same bytes.
    const out = tempDir('pdf-out');
    await s.run(['invoice', 'pdf', 'INV-2026-000001', '--out', out]);
    expect(fs.readFileSync(path.join(out, '2026-10', 'INV-2026-000001.pdf')).equals(bytes)).toBe(true);
    // An --out where no directory can be made fails (exit 1) and says so, rather than hanging:
    // Node's recursive mkdir retries forever where mkdir answers ENOENT under /proc.
    const nowhere = await s.run(['invoice', 'pdf', 'INV-2026-000001', '--out', '/proc/billctl-nowhere'], 1);
    expect(nowhere.stderr).toBe(
      "billctl: error: the PDF of INV-2026-000001 could not be written: ENOENT: no such file or directory, mkdir '/proc/billctl-nowhere'\n" +
        'Point --out at a directory you can write to, then run the command again.\n',
    );
    // Drafts have no PDF.
    await s.run(['invoice', 'generate', '--period', '2026-11', '--tenant', 'jp']);
    const draft = jsonOf<{ id: string; status: string }[]>(await s.run(['invoice', 'list', '--status', 'draft', '--format', 'json']))[0]!;
    const refused = await s.run(['invoice', 'pdf', draft.id], 2);
    expect(refused.stderr).toContain('only issued invoices have PDFs');
  });
});
