/** Corners of billing-rules.md's "Invoices" found in review, through the CLI, on both stores. */
import fs from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { SAMPLE_CATALOG } from '../helpers/fixtures.js';
import { csvOf, jsonOf, makeStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

interface InvoiceJson {
  id: string; number: string | null; status: string; subtotal: string; tax: string; total: string;
  tax_rate: string; tax_label: string; pdf: string | null;
}

describeEachBackend('invoice corners', (backend) => {
  it('a draft whose amounts stay 0.00 still takes the tenant\'s new tax rate, and is issued with it', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'z', '--name', 'Z Labs', '--plan', 'free']);
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

  it('a catalog version that gave a finalized invoice its plan terms, and priced none of its lines, is never replaced', async () => {
    const s = await makeStore(await backend.fresh());
    const sample = fs.readFileSync(SAMPLE_CATALOG, 'utf8');
    // 2026-10b takes effect mid-October: every October line is priced by it, the free plan's terms come from 2026-01.
    const b = s.file('b.yaml', sample.replace('version: "2026-01"', 'version: "2026-10b"').replace(/effective_from: \S+/, 'effective_from: 2026-10-15T00:00:00Z'));
    await s.run(['catalog', 'import', b]);
    await s.run(['tenant', 'add', 'f', '--name', 'F Labs', '--plan', 'free']);
    await s.run(['import', s.file('f.csv', csvOf([['f1', 'f', '2026-10-20T00:00:00Z', 'completed', 'qwen-70b', '', 0, 1000000, 0]]))]);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'f', '--finalize', '--issue-date', '2026-11-01', '--yes']);
    const issued = jsonOf<InvoiceJson & { lines: { catalog_version: string; amount: string }[] }>(
      await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json']),
    );
    expect(issued.lines.map((l) => [l.catalog_version, l.amount])).toEqual([['2026-10b', '0.00']]);
    // A smaller token allowance in 2026-01 would change what October billed: refused.
    const a = s.file('a.yaml', sample.replace('tokens: 1000000,', 'tokens: 1,'));
    const refused = await s.run(['catalog', 'import', a, '--replace'], 2);
    expect(refused.stderr).toContain('was used by a finalized invoice and can never be replaced');
  });

  it('a draft follows a plan change even when its lines and amounts stay the same', async () => {
    const s = await makeStore(await backend.fresh());
    const sample = fs.readFileSync(SAMPLE_CATALOG, 'utf8');
    // 2026-02 adds "starter", with the free plan's terms.
    const c = s.file('c.yaml', sample.replace('version: "2026-01"', 'version: "2026-02"').replace(/effective_from: \S+/, 'effective_from: 2026-02-01T00:00:00Z')
      .replace(/^(  free: .*)$/m, '$1\n  starter: { name: "Starter", monthly_fee: "0", included: { gpu_hours: 10, tokens: 1000000, api_calls: 10000 } }'));
    await s.run(['catalog', 'import', c]);
    await s.run(['tenant', 'add', 'f', '--name', 'F Labs', '--plan', 'free']);
    await s.run(['import', s.file('f.csv', csvOf([['f1', 'f', '2026-10-20T00:00:00Z', 'completed', 'qwen-70b', '', 0, 1000, 0]]))]);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'f']);
    expect(jsonOf<{ plan: string }>(await s.run(['invoice', 'show', '1', '--format', 'json'])).plan).toBe('free');
    await s.run(['tenant', 'set-plan', 'f', 'starter', '--from', '2026-10']);
    const regen = jsonOf<{ results: { status: string }[] }>(await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'f', '--format', 'json']));
    expect(regen.results.map((r) => r.status)).toEqual(['updated']);
    const draft = jsonOf<{ plan: string; total: string; lines: { description: string; amount: string }[] }>(
      await s.run(['invoice', 'show', '1', '--format', 'json']),
    );
    expect([draft.plan, draft.total, draft.lines.map((l) => [l.description, l.amount])]).toEqual(['starter', '0.00', [['Qwen-70B input tokens', '0.00']]]);
  });

  it('a tenant with no plan for a period and only receipts that are not billable has nothing to bill: skipped, not failed', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'acme', '--name', 'Acme', '--plan', 'pro', '--from', '2026-10']);
    await s.run(['tenant', 'add', 'other', '--name', 'Other', '--plan', 'pro']);
    await s.run(['import', s.file('f.csv', csvOf([['f1', 'acme', '2026-09-10T00:00:00Z', 'failed', 'qwen-70b', '', 0, 10, 0]]))]);
    const gen = jsonOf<{ results: { tenant_id: string; status: string }[]; failed: unknown[] }>(
      await s.run(['invoice', 'generate', '--period', '2026-09', '--all', '--format', 'json']),
    );
    expect(gen.results.map((r) => [r.tenant_id, r.status])).toEqual([['acme', 'skipped'], ['other', 'created']]);
    expect(gen.failed).toEqual([]);
    const usage = jsonOf<{ tenant_id: string; rated_amount: string }[]>(await s.run(['usage', '--period', '2026-09', '--format', 'json']));
    expect(usage.map((u) => [u.tenant_id, u.rated_amount])).toEqual([['other', '99.00']]);
    // A billable receipt in a period without a plan is still refused, naming the tenant.
    await s.run(['import', s.file('b.csv', csvOf([['b1', 'acme', '2026-09-11T00:00:00Z', 'completed', 'qwen-70b', '', 0, 10, 0]]))]);
    const refused = await s.run(['invoice', 'generate', '--period', '2026-09', '--all'], 3);
    expect(refused.stderr).toContain('acme 2026-09: the tenant has no plan for the period');
  });
});
