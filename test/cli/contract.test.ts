/** cli.md to the letter: exit codes, invoice JSON after finalizing, CSV with the JSON's fields. */
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf, jsonOf, makeStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

describeEachBackend('cli.md contract', (backend) => {
  it('invoice list: unknown tenant exit 2; finalize JSON names the PDF it wrote; CSV has the JSON fields', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'acme', '--name', 'Acme', '--plan', 'pro', '--timezone', 'UTC', '--tax-rate', '0.19', '--net-days', '30']);
    await s.run(['import', s.file('r.csv', csvOf([['r1', 'acme', '2026-10-03T14:07:11Z', 'completed', 'qwen-70b', '', '', 1000000, 2000000]]))]);

    const unknown = await s.run(['invoice', 'list', '--tenant', 'nope', '--format', 'json'], 2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain('no tenant "nope"');

    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'acme']);
    const draftCsv = await s.run(['invoice', 'list', '--format', 'csv']);
    const draft = jsonOf<{ id: string; subtotal: string; tax: string; total: string }[]>(await s.run(['invoice', 'list', '--format', 'json']))[0]!;
    expect(draftCsv.stdout).toBe(
      'id,number,tenant_id,period,status,currency,subtotal,tax,total,issue_date,due_date,pdf\n' +
        `${draft.id},,acme,2026-10,draft,USD,${draft.subtotal},${draft.tax},${draft.total},,,\n`,
    );

    const fin = await s.run(['invoice', 'finalize', draft.id, '--issue-date', '2026-11-01', '--yes', '--format', 'json']);
    const report = jsonOf<{ finalized: Record<string, unknown>[] }>(fin);
    expect(report.finalized).toEqual([{
      id: draft.id, number: 'INV-2026-000001', tenant_id: 'acme', period: '2026-10', status: 'finalized', currency: 'USD',
      subtotal: draft.subtotal, tax: draft.tax, total: draft.total, issue_date: '2026-11-01', due_date: '2026-12-01',
      pdf: 'invoices/2026-10/INV-2026-000001.pdf',
    }]);
    expect(jsonOf<Record<string, unknown>[]>(await s.run(['invoice', 'list', '--tenant', 'acme', '--format', 'json']))).toEqual(report.finalized);

    const lines = await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'csv']);
    const shown = jsonOf<{ lines: { amount: string }[] }>(await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json']));
    const rows = lines.stdout.trimEnd().split('\n');
    expect(rows[0]).toBe('kind,adjusts,key,catalog_version,period,description,used,included,billed,unit,unit_price,unit_size,amount');
    expect(rows).toHaveLength(shown.lines.length + 1);
    expect(rows[1]).toBe('fee,,pro,2026-01,2026-10,Pro plan fee,0,0,0,,,,99.00');
    expect(rows.slice(1).map((r) => r.split(',').at(-1))).toEqual(shown.lines.map((l) => l.amount));
  });
});
