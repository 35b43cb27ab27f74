/**
 * Minimum commitments (billing-rules.md, "Commitments" and step 10; issue 14): the true-up line,
 * and late usage, where the re-rated period's commitment changes by the opposite amount. On both stores.
 */
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf, jsonOf, makeStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

export const COMMITMENT_CATALOG = `version: "commit-1"
effective_from: 2026-01-01T00:00:00Z
currency: USD
default_plan: committed
gpu_rates:
  a100-80gb: { name: "A100 80GB", price: "4.00" }
plans:
  committed: { name: "Committed", monthly_fee: "100", minimum_commitment: "500", usage_discount_percent: "10" }
`;

interface LineJson { kind: string; adjusts?: string; plan: string | null; period: string; description: string; amount: string }
type InvoiceJson = { subtotal: string; total: string; lines: LineJson[] };
const brief = (l: LineJson) => [l.kind, l.adjusts ?? null, l.plan, l.period, l.description, l.amount];

describeEachBackend('minimum commitments', (backend) => {
  it('tops a short period up to the minimum, and a late receipt moves the true-up by the opposite amount', async () => {
    const s = await makeStore(await backend.fresh(), { catalog: false });
    await s.run(['catalog', 'import', s.file('c.yaml', COMMITMENT_CATALOG)]);
    await s.run(['tenant', 'add', 'c', '--name', 'C Corp', '--plan', 'committed']);
    await s.run(['import', s.file('oct.csv', csvOf([['o1', 'c', '2026-10-10T00:00:00Z', 'completed', '', 'a100-80gb', 36000, 0, 0]]))]);
    // 100 + 10 h × 4.00 − 10 % of 40.00 = 136.00: 364.00 short of 500.
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'c', '--finalize', '--issue-date', '2026-11-01', '--yes']);
    const oct = jsonOf<InvoiceJson>(await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json']));
    expect(oct.lines.map(brief)).toEqual([
      ['fee', null, 'committed', '2026-10', 'Committed plan fee', '100.00'],
      ['gpu', null, 'committed', '2026-10', 'A100 80GB GPU hours', '40.00'],
      ['discount', null, 'committed', '2026-10', 'Usage discount 10%', '-4.00'],
      ['commitment', null, 'committed', '2026-10', 'Minimum commitment true-up', '364.00'],
    ]);
    expect([oct.subtotal, oct.total]).toEqual(['500.00', '500.00']);

    // Late: 5 more hours in October; November uses 200 h, well above the minimum (100 + 800 − 80 = 820).
    await s.run(['import', s.file('late.csv', csvOf([
      ['o2', 'c', '2026-10-20T00:00:00Z', 'completed', '', 'a100-80gb', 18000, 0, 0],
      ['n1', 'c', '2026-11-05T00:00:00Z', 'completed', '', 'a100-80gb', 720000, 0, 0],
    ]))]);
    const nov = jsonOf<InvoiceJson>(await s.run(['invoice', 'preview', '--tenant', 'c', '--period', '2026-11', '--format', 'json']));
    expect(nov.lines.map(brief)).toEqual([
      ['fee', null, 'committed', '2026-11', 'Committed plan fee', '100.00'],
      ['gpu', null, 'committed', '2026-11', 'A100 80GB GPU hours', '800.00'],
      ['discount', null, 'committed', '2026-11', 'Usage discount 10%', '-80.00'],
      // October re-rated: 20.00 more usage, 2.00 more discount, and the true-up 18.00 less (346.00): 0 in all.
      ['adjustment', 'gpu', null, '2026-10', 'Adjustment for 2026-10: A100 80GB GPU hours', '20.00'],
      ['adjustment', 'discount', null, '2026-10', 'Adjustment for 2026-10: Usage discount 10%', '-2.00'],
      ['adjustment', 'commitment', null, '2026-10', 'Adjustment for 2026-10: Minimum commitment true-up', '-18.00'],
    ]);
    expect([nov.subtotal, nov.total]).toEqual(['820.00', '820.00']);
  });

  it('makes no line at or above the minimum, and refuses a bad minimum by path', async () => {
    const s = await makeStore(await backend.fresh(), { catalog: false });
    const r = await s.run(['catalog', 'import', s.file('bad.yaml', COMMITMENT_CATALOG.replace('minimum_commitment: "500"', 'minimum_commitment: "-5"'))], 2);
    expect(r.stderr).toContain('  - plans.committed.minimum_commitment: "-5" is negative\n');
    await s.run(['catalog', 'import', s.file('c.yaml', COMMITMENT_CATALOG.replace('minimum_commitment: "500"', 'minimum_commitment: "140"'))]);
    await s.run(['tenant', 'add', 'c', '--name', 'C Corp', '--plan', 'committed']);
    // 100 + 40.00 − 4.00 = 136.00: 4.00 short of 140; with 2 more hours 143.20, no true-up.
    await s.run(['import', s.file('oct.csv', csvOf([['o1', 'c', '2026-10-10T00:00:00Z', 'completed', '', 'a100-80gb', 36000, 0, 0]]))]);
    const short = jsonOf<InvoiceJson>(await s.run(['invoice', 'preview', '--tenant', 'c', '--period', '2026-10', '--format', 'json']));
    expect(short.lines.filter((l) => l.kind === 'commitment').map((l) => l.amount)).toEqual(['4.00']);
    expect(short.subtotal).toBe('140.00');
    await s.run(['import', s.file('more.csv', csvOf([['o2', 'c', '2026-10-11T00:00:00Z', 'completed', '', 'a100-80gb', 7200, 0, 0]]))]);
    const over = jsonOf<InvoiceJson>(await s.run(['invoice', 'preview', '--tenant', 'c', '--period', '2026-10', '--format', 'json']));
    expect(over.lines.map((l) => l.kind)).toEqual(['fee', 'gpu', 'discount']);
    expect(over.subtotal).toBe('143.20');
  });
});
