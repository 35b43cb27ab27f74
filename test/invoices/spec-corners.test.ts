/** Corners of billing-rules.md's "Invoices" found in review, through the CLI, on both stores. */
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf, jsonOf, makeStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

interface InvoiceJson {
  id: string; number: string | null; status: string; subtotal: string; tax: string; total: string;
  tax_rate: string; tax_label: string; pdf: string | null;
}

describeEachBackend('invoice corners', (backend) => {
  it('a draft whose amounts stay 0.00 still takes the tenant\'s new tax rate, and is issued with it', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'z', '--plan', 'free']);
    await s.run(['import', s.file('z.csv', csvOf([['z1', 'z', '2026-10-10T00:00:00Z', 'completed', 'qwen-70b', '', 0, 10, 0]]))]);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'z']);
    await s.run(['tenant', 'update', 'z', '--tax-rate', '0.2']);
    const regen = jsonOf<{ results: { status: string }[] }>(await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'z', '--format', 'json']));
    expect(regen.results.map((r) => r.status)).toEqual(['updated']);
    const draft = jsonOf<InvoiceJson>(await s.run(['invoice', 'show', '1', '--format', 'json']));
    expect([draft.tax_rate, draft.subtotal, draft.tax, draft.total]).toEqual(['0.2', '0.00', '0.00', '0.00']);
    // Changed again after the draft was made: finalizing remakes it with the rate in force.
    await s.run(['tenant', 'update', 'z', '--tax-rate', '0.1']);
    await s.run(['invoice', 'finalize', '1', '--issue-date', '2026-11-01', '--yes']);
    const issued = jsonOf<InvoiceJson>(await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json']));
    expect([issued.status, issued.tax_rate, issued.total]).toEqual(['finalized', '0.1', '0.00']);
  });
});
