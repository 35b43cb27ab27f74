/**
 * A plan change inside a period (billing-rules.md, "A plan change inside a period"; issue 15 item 2):
 * plan history `from` as a local date, the period split into segments at local midnights, prorated
 * fees, allowances and commitments, lines keyed and dated by segment. Through the CLI, on both stores.
 *
 * The spec's last worked example is checked line by line, its "User seats (team)" line included: the
 * team segment's seats are its own receipts' users (u2, u3), its included seats 2 × 10/31 → 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { pdfText, popplerMissing, squash } from '../pdf/poppler.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf, jsonOf, makeStore, type TestStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

/** billing-rules.md's catalog plus what the last worked example adds. */
export const WORKED_CATALOG = `version: "2026-01"
effective_from: 2026-01-01T00:00:00Z
currency: USD
default_plan: free
gpu_rates:
  a100-80gb: { price: "4.00", name: "A100 80GB" }
token_unit: 1000
token_rates:
  gemma-2b: { input: "0.0001", output: "0.0002", name: "Gemma-2B" }
  qwen-70b: { input: "0.003", output: "0.006", cached_input: "0.0003", name: "Qwen-70B" }
request_rate: "0"
metrics:
  seats: { name: "User seats", aggregation: unique_count, field: user_id }
plans:
  free:       { name: "Free", monthly_fee: "0",   included: { gpu_hours: 10,  tokens: 1000000,  api_calls: 10000 } }
  pro:        { name: "Pro",  monthly_fee: "99",  included: { gpu_hours: 100, tokens: 10000000, api_calls: 100000 } }
  enterprise: { name: "Enterprise", monthly_fee: "2500", included: { gpu_hours: 1000, tokens: 100000000, api_calls: 1000000 }, usage_discount_percent: "10" }
  team:
    name: "Team"
    monthly_fee: "310"
    included: { tokens: 1000000 }
    rates:
      token_rates:
        qwen-70b: { output: { model: graduated, tiers: [ { up_to: 2000000, price: "0.006" }, { up_to: null, price: "0.004" } ] } }
    charges: { seats: { included: 2, price: "10" } }
`;

interface LineJson {
  kind: string; key: string; description: string; used: number; included: number; billed: number;
  plan: string | null; from?: string; to?: string; amount: string; catalog_version: string | null; adjusts?: string; period: string;
}
interface InvoiceJson { subtotal: string; tax: string; total: string; lines: LineJson[] }

const jsonl = (o: Record<string, unknown>) => `${JSON.stringify(o)}\n`;

async function catalogStore(db: string): Promise<TestStore> {
  const s = await makeStore(db, { catalog: false });
  await s.run(['catalog', 'import', s.file('c.yaml', WORKED_CATALOG)]);
  return s;
}

async function workedStore(db: string): Promise<TestStore> {
  const s = await catalogStore(db);
  await s.run(['tenant', 'add', 'c', '--name', 'C Labs', '--plan', 'pro', '--from', '2026-10']);
  await s.run(['tenant', 'set-plan', 'c', 'team', '--from', '2026-10-22']);
  await s.run(['import', s.file('c1.jsonl', jsonl({
    id: 'c1', tenant_id: 'c', user_id: 'u1', timestamp: '2026-10-05T10:00:00Z', model: 'qwen-70b',
    usage: { prompt_tokens: 3_000_000, prompt_tokens_details: { cached_tokens: 2_000_000 }, completion_tokens: 500_000, completion_tokens_details: { reasoning_tokens: 100_000 } },
  }))]);
  await s.run(['import', s.file('c2.jsonl',
    jsonl({ id: 'c2', tenant_id: 'c', user_id: 'u2', timestamp: '2026-10-25T10:00:00Z', model: 'qwen-70b', input_tokens: 2_000_000, output_tokens: 3_000_000 }) +
    jsonl({ id: 'c3', tenant_id: 'c', user_id: 'u3', timestamp: '2026-10-26T10:00:00Z', model: 'qwen-70b', input_tokens: 1000 }) +
    jsonl({ id: 'c4', tenant_id: 'c', user_id: 'u2', timestamp: '2026-10-27T10:00:00Z', model: 'qwen-70b', input_tokens: 1000 }))]);
  return s;
}

const preview = async (s: TestStore, tenant: string, period: string) =>
  jsonOf<InvoiceJson>(await s.run(['invoice', 'preview', '--tenant', tenant, '--period', period, '--format', 'json']));

const row = (l: LineJson) => [l.description, l.plan, l.from ?? null, l.to ?? null, l.used, l.included, l.billed, l.amount];

describeEachBackend('a plan change inside a period', (backend) => {
  it('rates the last worked example of billing-rules.md line by line', async () => {
    const s = await workedStore(await backend.fresh());
    const shown = jsonOf<{ plans: { plan: string; from: string | null }[] }>(await s.run(['tenant', 'show', 'c', '--format', 'json']));
    expect(shown.plans.map((p) => [p.plan, p.from])).toEqual([['pro', '2026-10'], ['team', '2026-10-22']]);
    const inv = await preview(s, 'c', '2026-10');
    const P = ['pro', '2026-10-01', '2026-10-21'] as const;
    const T = ['team', '2026-10-22', '2026-10-31'] as const;
    expect(inv.lines.map(row)).toEqual([
      ['Pro plan fee, 2026-10-01 \u2013 2026-10-21', ...P, 0, 0, 0, '67.06'],
      ['Qwen-70B input tokens', ...P, 1000000, 1000000, 0, '0.00'],
      ['Qwen-70B cached input tokens', ...P, 2000000, 2000000, 0, '0.00'],
      ['Qwen-70B output tokens', ...P, 400000, 400000, 0, '0.00'],
      ['Qwen-70B reasoning tokens', ...P, 100000, 100000, 0, '0.00'],
      ['Team plan fee, 2026-10-22 \u2013 2026-10-31', ...T, 0, 0, 0, '100.00'],
      ['Qwen-70B input tokens', ...T, 2002000, 322581, 1679419, '5.04'],
      ['Qwen-70B output tokens', ...T, 3000000, 0, 3000000, '16.00'],
      ['User seats', ...T, 2, 1, 1, '10.00'],
    ]);
    expect([inv.subtotal, inv.tax, inv.total]).toEqual(['198.10', '0.00', '198.10']);
  });

  it('a change on the first day of a period is no split; on the last day, a one-day segment', async () => {
    const s = await catalogStore(await backend.fresh());
    await s.run(['tenant', 'add', 'f', '--name', 'F', '--plan', 'free', '--from', '2026-09']);
    await s.run(['tenant', 'set-plan', 'f', 'pro', '--from', '2026-10-01']);
    await s.run(['tenant', 'add', 'l', '--name', 'L', '--plan', 'free', '--from', '2026-09']);
    await s.run(['tenant', 'set-plan', 'l', 'pro', '--from', '2026-10-31']);
    await s.run(['import', s.file('r.csv', csvOf([
      ['f1', 'f', '2026-10-31T12:00:00Z', 'completed', 'qwen-70b', '', 0, 2000000, 0],
      ['l1', 'l', '2026-10-30T12:00:00Z', 'completed', 'qwen-70b', '', 0, 2000000, 0],
      ['l2', 'l', '2026-10-31T12:00:00Z', 'completed', 'qwen-70b', '', 0, 2000000, 0],
    ]))]);
    const f = await preview(s, 'f', '2026-10');
    expect(f.lines.map(row)).toEqual([
      ['Pro plan fee', 'pro', null, null, 0, 0, 0, '99.00'],
      ['Qwen-70B input tokens', 'pro', null, null, 2000000, 2000000, 0, '0.00'],
    ]);
    // free: 1,000,000 × 30/31 → 967,742 tokens; pro: 99 × 1/31 = 3.19 and 10,000,000 × 1/31 → 322,581 tokens.
    const l = await preview(s, 'l', '2026-10');
    expect(l.lines.map(row)).toEqual([
      ['Qwen-70B input tokens', 'free', '2026-10-01', '2026-10-30', 2000000, 967742, 1032258, '3.10'],
      ['Pro plan fee, 2026-10-31 \u2013 2026-10-31', 'pro', '2026-10-31', '2026-10-31', 0, 0, 0, '3.19'],
      ['Qwen-70B input tokens', 'pro', '2026-10-31', '2026-10-31', 2000000, 322581, 1677419, '5.03'],
    ]);
    expect(l.total).toBe('11.32');
  });

  it('two changes in one period make three segments, each with its own prorated fee, allowances and discount', async () => {
    const s = await catalogStore(await backend.fresh());
    await s.run(['tenant', 'add', 't', '--name', 'T', '--plan', 'pro', '--from', '2026-09']);
    await s.run(['tenant', 'set-plan', 't', 'enterprise', '--from', '2026-11-11']);
    await s.run(['tenant', 'set-plan', 't', 'free', '--from', '2026-11-21']);
    await s.run(['import', s.file('r.csv', csvOf([
      ['t1', 't', '2026-11-15T12:00:00Z', 'completed', 'qwen-70b', 'a100-80gb', 3600 * 400, 0, 0],
    ]))]);
    const inv = await preview(s, 't', '2026-11');
    // November: 30 days; pro 10, enterprise 10, free 10. Enterprise: 2500/3 = 833.33, 1000 h/3 → 1,200,000 s.
    expect(inv.lines.map(row)).toEqual([
      ['Pro plan fee, 2026-11-01 \u2013 2026-11-10', 'pro', '2026-11-01', '2026-11-10', 0, 0, 0, '33.00'],
      ['Enterprise plan fee, 2026-11-11 \u2013 2026-11-20', 'enterprise', '2026-11-11', '2026-11-20', 0, 0, 0, '833.33'],
      ['A100 80GB GPU hours', 'enterprise', '2026-11-11', '2026-11-20', 1440000, 1200000, 240000, '266.67'],
      ['Usage discount 10%, 2026-11-11 \u2013 2026-11-20', 'enterprise', '2026-11-11', '2026-11-20', 0, 0, 0, '-26.67'],
    ]);
    expect(inv.total).toBe('1106.33');
  });

  it('splits at local midnight in the tenant\'s timezone, on a DST day (Europe/Berlin, 2026-10-25 has 25 hours)', async () => {
    const s = await catalogStore(await backend.fresh());
    await s.run(['tenant', 'add', 'b', '--name', 'B', '--plan', 'free', '--from', '2026-09', '--timezone', 'Europe/Berlin']);
    await s.run(['tenant', 'set-plan', 'b', 'pro', '--from', '2026-10-25']);
    await s.run(['import', s.file('r.csv', csvOf([
      // 2026-10-24T21:59:59Z is 23:59:59 CEST on the 24th (free); 22:00:00Z is local midnight of the 25th (pro).
      ['b1', 'b', '2026-10-24T21:59:59Z', 'completed', 'gemma-2b', '', 0, 1000, 0],
      ['b2', 'b', '2026-10-24T22:00:00Z', 'completed', 'gemma-2b', '', 0, 2000, 0],
      // 23:30 CET on the 31st: still October in Berlin.
      ['b3', 'b', '2026-10-31T22:30:00Z', 'completed', 'gemma-2b', '', 0, 4000, 0],
    ]))]);
    const inv = await preview(s, 'b', '2026-10');
    expect(inv.lines.map(row)).toEqual([
      ['Gemma-2B input tokens', 'free', '2026-10-01', '2026-10-24', 1000, 1000, 0, '0.00'],
      ['Pro plan fee, 2026-10-25 \u2013 2026-10-31', 'pro', '2026-10-25', '2026-10-31', 0, 0, 0, '22.35'],
      ['Gemma-2B input tokens', 'pro', '2026-10-25', '2026-10-31', 6000, 6000, 0, '0.00'],
    ]);
  });

  it('a finalized split invoice keeps its segments (JSON, PDF); late usage re-rates it by segment', async () => {
    const s = await catalogStore(await backend.fresh());
    await s.run(['tenant', 'add', 'l', '--name', 'L', '--plan', 'free', '--from', '2026-09']);
    await s.run(['tenant', 'set-plan', 'l', 'pro', '--from', '2026-10-31']);
    await s.run(['import', s.file('r.csv', csvOf([
      ['l1', 'l', '2026-10-30T12:00:00Z', 'completed', 'qwen-70b', '', 0, 2000000, 0],
      ['l2', 'l', '2026-10-31T12:00:00Z', 'completed', 'qwen-70b', '', 0, 2000000, 0],
    ]))]);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'l', '--finalize', '--issue-date', '2026-11-01', '--yes']);
    const oct = jsonOf<InvoiceJson & { pdf: string }>(await s.run(['invoice', 'show', 'INV-2026-000001', '--format', 'json']));
    expect(oct.lines.map(row)).toEqual((await preview(s, 'l', '2026-10')).lines.map(row));
    expect(oct.total).toBe('11.32');
    if (!popplerMissing) {
      const text = squash(pdfText(fs.readFileSync(path.join(s.dir, oct.pdf)), undefined, 'raw'));
      expect(text).toContain('Pro plan fee, 2026-10-31 \u2013 2026-10-31');
      expect(text).toContain('3.19');
      expect(text).toContain('3.10');
      expect(text).toContain('5.03');
    }
    // Late receipts: 1,000,000 more on the 31st (pro), 10 on the 2nd (free). Only the pro segment's input line changes.
    await s.run(['import', s.file('late.csv', csvOf([
      ['l0', 'l', '2026-10-02T12:00:00Z', 'completed', 'qwen-70b', '', 0, 10, 0],
      ['l3', 'l', '2026-10-31T13:00:00Z', 'completed', 'qwen-70b', '', 0, 1000000, 0],
    ]))]);
    const nov = await preview(s, 'l', '2026-11');
    // free: 2,000,010 − 967,742 = 1,032,268 billed → 3.096804 → 3.10 (as billed); pro: 1,000,000 × 0.003 / 1,000 = 3.00 more.
    expect(nov.lines.filter((l) => l.kind === 'adjustment').map((l) => [l.description, l.adjusts, l.period, l.from ?? null, l.used, l.amount])).toEqual([
      ['Adjustment for 2026-10: Qwen-70B input tokens', 'input_tokens', '2026-10', '2026-10-31', 1000000, '3.00'],
    ]);
  });

  it('takes a date `from` in the tenant CSV and refuses a date that does not exist', async () => {
    const s = await catalogStore(await backend.fresh());
    const csv = 'id,name,plan,from,timezone\nk,K,free,2026-09,UTC\nk,K,pro,2026-10-15,UTC\n';
    await s.run(['tenant', 'import', s.file('t.csv', csv)]);
    const shown = jsonOf<{ plans: { plan: string; from: string | null }[] }>(await s.run(['tenant', 'show', 'k', '--format', 'json']));
    expect(shown.plans.map((p) => [p.plan, p.from])).toEqual([['free', '2026-09'], ['pro', '2026-10-15']]);
    const again = await s.run(['tenant', 'import', s.file('t.csv', csv), '--format', 'json']);
    expect(jsonOf<Record<string, number>>(again)).toMatchObject({ rows: 2, created: 0, updated: 0, unchanged: 1, plan_changes: 0 });
    const bad = await s.run(['tenant', 'set-plan', 'k', 'pro', '--from', '2026-02-30'], 2);
    expect(bad.stderr).toContain('from: "2026-02-30" is not a date (YYYY-MM-DD)');
    const inv = await preview(s, 'k', '2026-10');
    // 31 days: free to the 14th, pro from the 15th (17 days): 99 × 17 / 31 = 54.29.
    expect(inv.lines.map(row)).toEqual([['Pro plan fee, 2026-10-15 \u2013 2026-10-31', 'pro', '2026-10-15', '2026-10-31', 0, 0, 0, '54.29']]);
  });
});
