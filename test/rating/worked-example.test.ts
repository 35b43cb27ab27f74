/** billing-rules.md's worked examples and rating corners, through the CLI, on both stores. */
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf, jsonOf, makeStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

interface LineJson {
  kind: string; key: string; catalog_version: string | null; period: string; description: string;
  used: number; included: number; billed: number; unit: string | null; unit_price: string | null; unit_size: number | null;
  plan?: string | null; amount: string; adjusts?: string;
}
interface InvoiceJson { subtotal: string; tax: string; total: string; currency: string; lines: LineJson[]; status: string; number: string | null }

const WORKED = csvOf([
  ['r1', 'acme', '2026-09-30T22:30:00Z', 'completed', 'qwen-70b', 'a100-80gb', 360000, 9000000, 500000],
  ['r2', 'acme', '2026-10-15T08:00:00Z', 'completed', 'qwen-70b', 'a100-80gb', 3600, 400000, 1200000],
  ['r3', 'acme', '2026-10-31T23:30:00Z', 'completed', 'gemma-2b', 'rtx-4090', 1800, 1000, 1000],
]);

describeEachBackend('the worked example of billing-rules.md', (backend) => {
  it('previews acme 2026-10: subtotal 109.60, tax 20.82, total 130.42, every line', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'acme', '--name', 'Acme Robotics', '--plan', 'pro', '--from', '2026-10', '--timezone', 'Europe/Berlin', '--tax-rate', '0.19', '--net-days', '30']);
    const imp = jsonOf<Record<string, number>>(await s.run(['import', s.file('r.csv', WORKED), '--format', 'json']));
    expect(imp).toMatchObject({ files: 1, lines: 3, imported: 3, duplicates: 0, conflicts: 0, rejected: 0, new_tenants: 0 });
    const inv = jsonOf<InvoiceJson>(await s.run(['invoice', 'preview', '--tenant', 'acme', '--period', '2026-10', '--format', 'json']));
    expect({ subtotal: inv.subtotal, tax: inv.tax, total: inv.total, currency: inv.currency }).toEqual({
      subtotal: '109.60', tax: '20.82', total: '130.42', currency: 'USD',
    });
    // What generate would store: a draft, stored nowhere yet.
    expect(inv).toMatchObject({ id: null, number: null, status: 'draft', tenant_id: 'acme', period: '2026-10', issue_date: null, due_date: null, pdf: null });
    expect(inv.lines).toEqual([
      {
        kind: 'fee', key: 'pro', catalog_version: '2026-01', period: '2026-10', description: 'Pro plan fee',
        used: 0, included: 0, billed: 0, unit: null, unit_price: null, unit_size: null, plan: 'pro', amount: '99.00',
      },
      {
        kind: 'gpu', key: 'a100-80gb', catalog_version: '2026-01', period: '2026-10', description: 'A100 80GB GPU hours',
        used: 363600, included: 360000, billed: 3600, unit: 'second', unit_price: '4.00', unit_size: 3600, plan: 'pro', amount: '4.00',
      },
      {
        kind: 'input_tokens', key: 'qwen-70b', catalog_version: '2026-01', period: '2026-10', description: 'Qwen-70B input tokens',
        used: 9400000, included: 9400000, billed: 0, unit: 'token', unit_price: '0.003', unit_size: 1000, plan: 'pro', amount: '0.00',
      },
      {
        kind: 'output_tokens', key: 'qwen-70b', catalog_version: '2026-01', period: '2026-10', description: 'Qwen-70B output tokens',
        used: 1700000, included: 600000, billed: 1100000, unit: 'token', unit_price: '0.006', unit_size: 1000, plan: 'pro', amount: '6.60',
      },
    ]);
    // The usage report shows the same period (cli.md's usage JSON, exactly; second wave: the other token classes, 0 when none).
    const usage = jsonOf<unknown[]>(await s.run(['usage', '--period', '2026-10', '--format', 'json']));
    expect(usage).toEqual([
      {
        tenant_id: 'acme', period: '2026-10', receipts: 2, requests: 2, gpu_seconds: 363600, input_tokens: 9400000,
        cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 1700000, reasoning_tokens: 0, rated_amount: '109.60', currency: 'USD',
      },
    ]);
    // r3 is November in Berlin.
    const nov = jsonOf<InvoiceJson>(await s.run(['invoice', 'preview', '--tenant', 'acme', '--period', '2026-11', '--format', 'json']));
    expect(nov.lines.filter((l) => l.kind !== 'fee').map((l) => [l.kind, l.key, l.used])).toEqual([
      ['gpu', 'rtx-4090', 1800], ['input_tokens', 'gemma-2b', 1000], ['output_tokens', 'gemma-2b', 1000],
    ]);
    // Per model and per GPU, the amounts are the invoice lines of that key.
    const byModel = jsonOf<{ model: string; rated_amount: string }[]>(await s.run(['usage', '--period', '2026-10', '--by', 'model', '--format', 'json']));
    expect(byModel.map((r) => [r.model, r.rated_amount])).toEqual([['qwen-70b', '6.60']]);
    const byGpu = jsonOf<{ gpu: string; rated_amount: string }[]>(await s.run(['usage', '--period', '2026-10', '--by', 'gpu', '--format', 'json']));
    expect(byGpu.map((r) => [r.gpu, r.rated_amount])).toEqual([['a100-80gb', '4.00']]);
    // Per day: r1's day is wholly covered; r2's day carries the overage (1 GPU hour + 1,100,000 output tokens).
    const byDay = jsonOf<{ day: string; rated_amount: string }[]>(await s.run(['usage', '--period', '2026-10', '--by', 'day', '--format', 'json']));
    expect(byDay.map((r) => [r.day, r.rated_amount])).toEqual([['2026-10-01', '0.00'], ['2026-10-15', '10.60']]);
  });

  it('bills late usage as adjustments on the next invoice (billing-rules.md, second worked example)', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'b', '--name', 'B Labs', '--plan', 'free']);
    await s.run(['import', s.file('oct.csv', csvOf([['o1', 'b', '2026-10-10T00:00:00Z', 'completed', 'qwen-70b', '', 0, 800000, 100000]]))]);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'b', '--finalize', '--issue-date', '2026-11-01', '--yes']);
    const oct = jsonOf<InvoiceJson>(await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json']));
    expect(oct.total).toBe('0.00');
    expect(oct.lines.map((l) => [l.kind, l.used, l.included, l.amount])).toEqual([
      ['input_tokens', 800000, 800000, '0.00'],
      ['output_tokens', 100000, 100000, '0.00'],
    ]);
    await s.run(['import', s.file('late.csv', csvOf([
      ['o0', 'b', '2026-10-05T00:00:00Z', 'completed', 'qwen-70b', '', 0, 500000, 0],
      ['n1', 'b', '2026-11-03T00:00:00Z', 'completed', 'gemma-2b', '', 0, 1000, 1000],
    ]))]);
    const gen = jsonOf<{ results: { status: string }[] }>(await s.run(['invoice', 'generate', '--period', '2026-11', '--tenant', 'b', '--format', 'json']));
    expect(gen.results[0]!.status).toBe('created');
    const nov = jsonOf<{ invoices?: unknown; }>(await s.run(['invoice', 'list', '--period', '2026-11', '--format', 'json'])) as unknown as { id: string }[];
    const shown = jsonOf<InvoiceJson>(await s.run(['invoice', 'show', nov[0]!.id, '--format', 'json']));
    expect(shown.lines.map((l) => [l.kind, l.adjusts ?? null, l.period, l.description, l.amount])).toEqual([
      ['input_tokens', null, '2026-11', 'Gemma-2B input tokens', '0.00'],
      ['output_tokens', null, '2026-11', 'Gemma-2B output tokens', '0.00'],
      ['adjustment', 'input_tokens', '2026-10', 'Adjustment for 2026-10: Qwen-70B input tokens', '0.90'],
      ['adjustment', 'output_tokens', '2026-10', 'Adjustment for 2026-10: Qwen-70B output tokens', '0.60'],
    ]);
    expect([shown.subtotal, shown.tax, shown.total]).toEqual(['1.50', '0.00', '1.50']);
    // Finalized, the adjustment is billed once: December carries none.
    await s.run(['invoice', 'finalize', nov[0]!.id, '--issue-date', '2026-12-01', '--yes']);
    const dec = await s.run(['invoice', 'preview', '--tenant', 'b', '--period', '2026-12', '--format', 'json']);
    expect(dec.stdout.trim()).toBe('null');
  });

  it('refuses unpriced usage naming kind, key, version and receipt count; --allow-unpriced bills it at 0.00', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'u', '--name', 'U Labs', '--plan', 'pro']);
    await s.run(['import', s.file('u.csv', csvOf([
      ['u1', 'u', '2026-10-02T00:00:00Z', 'completed', 'mystery-9b', '', 0, 5000, 100],
      ['u2', 'u', '2026-10-03T00:00:00Z', 'completed', 'mystery-9b', 'h200', 60, 10, 0],
      ['u3', 'u', '2025-12-31T23:59:59.999Z', 'completed', 'qwen-70b', '', 0, 1, 0],
    ]))]);
    const refused = await s.run(['invoice', 'preview', '--tenant', 'u', '--period', '2026-10'], 2);
    expect(refused.stderr).toContain('GPU "h200" has no rate in catalog 2026-01: 1 receipt');
    expect(refused.stderr).toContain('model "mystery-9b" has no rate in catalog 2026-01: 2 receipts');
    const allowed = jsonOf<InvoiceJson>(await s.run(['invoice', 'preview', '--tenant', 'u', '--period', '2026-10', '--allow-unpriced', '--format', 'json']));
    const unpriced = allowed.lines.filter((l) => l.description.includes('UNPRICED'));
    expect(unpriced.map((l) => [l.kind, l.key, l.used, l.amount])).toEqual([
      ['gpu', 'h200', 60, '0.00'], ['input_tokens', 'mystery-9b', 5010, '0.00'], ['output_tokens', 'mystery-9b', 100, '0.00'],
    ]);
    expect(allowed.total).toBe('99.00');
    const before = await s.run(['invoice', 'preview', '--tenant', 'u', '--period', '2025-12'], 2);
    expect(before.stderr).toContain('no catalog version is in effect');
  });

  it('refuses to change an issued invoice, to finalize twice and to void a draft (exit 2)', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'p', '--name', 'P Labs', '--plan', 'pro']);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'p']);
    const draft = jsonOf<{ id: string; number: null; status: string; issue_date: null; due_date: null; pdf: null; total: string }[]>(
      await s.run(['invoice', 'list', '--format', 'json']),
    )[0]!;
    expect(draft).toMatchObject({ number: null, status: 'draft', issue_date: null, due_date: null, pdf: null, total: '99.00' });
    const voidDraft = await s.run(['invoice', 'void', draft.id, '--reason', 'x', '--yes'], 2);
    expect(voidDraft.stderr).toContain('is a draft');
    const noYes = await s.run(['invoice', 'finalize', draft.id], 2);
    expect(noYes.stderr).toContain('Pass --yes to confirm.');
    await s.run(['invoice', 'finalize', draft.id, '--issue-date', '2026-11-05', '--yes']);
    const issued = jsonOf<{ number: string; issue_date: string; due_date: string; pdf: string; status: string }>(
      await s.run(['invoice', 'show', draft.id, '--format', 'json']),
    );
    expect(issued).toMatchObject({ number: 'INV-2026-000001', issue_date: '2026-11-05', due_date: '2026-12-05', status: 'finalized', pdf: 'invoices/2026-10/INV-2026-000001.pdf' });
    const again = await s.run(['invoice', 'finalize', draft.id, '--yes'], 2);
    expect(again.stderr).toContain('is finalized, not a draft');
    const regen = await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'p'], 2);
    expect(regen.stderr).toContain('an issued invoice never changes');
    await s.run(['invoice', 'mark-paid', 'INV-2026-000001', '--date', '2026-11-20']);
    const paidVoid = await s.run(['invoice', 'void', 'INV-2026-000001', '--reason', 'x', '--yes'], 2);
    expect(paidVoid.stderr).toContain('is paid');
    const unknown = await s.run(['invoice', 'show', 'INV-2099-000001'], 2);
    expect(unknown.stderr).toContain('no invoice "INV-2099-000001"');
  });
});

describeEachBackend('drafts made before another invoice was issued', (backend) => {
  it('are remade when finalized, so late usage is never billed twice', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'b', '--name', 'B Labs', '--plan', 'free']);
    await s.run(['import', s.file('oct.csv', csvOf([['o1', 'b', '2026-10-10T00:00:00Z', 'completed', 'qwen-70b', '', 0, 800000, 100000]]))]);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'b', '--finalize', '--issue-date', '2026-11-01', '--yes']);
    await s.run(['import', s.file('late.csv', csvOf([['o0', 'b', '2026-10-05T00:00:00Z', 'completed', 'qwen-70b', '', 0, 500000, 0]]))]);
    // Both November and December drafts carry October's adjustment (1.50) while neither is issued.
    await s.run(['invoice', 'generate', '--period', '2026-11', '--tenant', 'b']);
    await s.run(['invoice', 'generate', '--period', '2026-12', '--tenant', 'b']);
    const drafts = jsonOf<{ id: string; period: string; total: string }[]>(await s.run(['invoice', 'list', '--status', 'draft', '--format', 'json']));
    expect(drafts.map((d) => [d.period, d.total])).toEqual([['2026-11', '1.50'], ['2026-12', '1.50']]);
    await s.run(['invoice', 'finalize', drafts[0]!.id, '--issue-date', '2026-12-01', '--yes']);
    // December's draft is stale now: remade without the adjustment November billed, it has nothing to bill.
    const january = { BILLCTL_NOW: '2027-01-01T12:00:00Z' }; // December has ended
    const dec = await s.run(['invoice', 'finalize', drafts[1]!.id, '--issue-date', '2027-01-01', '--yes'], 0, january);
    expect(dec.stderr).toContain('the draft had nothing left to bill and was removed');
    const issued = jsonOf<{ period: string; total: string }[]>(await s.run(['invoice', 'list', '--format', 'json']));
    expect(issued.map((i) => [i.period, i.total])).toEqual([['2026-10', '0.00'], ['2026-11', '1.50']]);
    // With December usage, its remade draft is issued without October's adjustment.
    await s.run(['import', s.file('dec.csv', csvOf([['d1', 'b', '2026-12-03T00:00:00Z', 'completed', 'gemma-2b', '', 0, 10, 0]]))]);
    await s.run(['invoice', 'generate', '--period', '2026-12', '--tenant', 'b', '--finalize', '--issue-date', '2027-01-01', '--yes'], 0, january);
    const last = jsonOf<{ total: string; lines: { kind: string }[] }>(await s.run(['invoice', 'show', 'INV-2027-000001', '--format', 'json']));
    expect([last.total, last.lines.map((l) => l.kind)]).toEqual(['0.00', ['input_tokens']]);
  });
});
