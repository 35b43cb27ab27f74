/**
 * Custom metrics and charges (billing-rules.md, "Custom metrics and charges"), on every backend:
 * the spec's catalog block (seats, agent runs, storage), a metric value per aggregation, a line of
 * kind `metric` per charged metric (used, included, billed, any price model), none for a metric
 * without a charge, counted in the usage subtotal (metric keys are keyed like names: `agent_runs` is
 * `agent-runs`); the PDF shows the lines; bad catalogs name the path.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { freshStore, write } from '../ingest/helpers.js';

afterAll(dropSchemas);

const CATALOG = `version: "2026-05"
effective_from: 2026-05-01T00:00:00Z
currency: USD
default_plan: standard
non_request_event_types: [storage]
metrics:
  seats:      { name: "User seats",       aggregation: unique_count, field: user_id }
  agent_runs: { name: "Agent executions", aggregation: count, event_types: [agent-execution] }
  storage_gb: { name: "Storage (GB)",     aggregation: max,   field: quantity, event_types: [storage] }
  models:     { name: "Models used",      aggregation: unique_count, field: model }
gpu_rates: {}
token_unit: 1000
token_rates:
  qwen-70b: { input: "0.003", output: "0.006", name: "Qwen-70B" }
request_rate: "0"
plans:
  standard: { name: "Standard", monthly_fee: "99", included: { tokens: 1000000 },
              charges: { seats: { included: 25, price: "5" }, agent_runs: { included: 5000, price: "0.10" },
                         storage_gb: { included: 100, price: { model: graduated, tiers: [ { up_to: 1000, price: "0.50" }, { up_to: null, price: "0.25" } ] } } } }
`;

interface Line { kind: string; key: string; description: string; used: number; included: number; billed: number; unit: string | null; unit_price: string | null; price_model?: string; amount: string }

describeEachBackend('custom metrics and charges', (backend) => {
  it('bills each charged metric on a line of kind metric; a metric without a charge makes none', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('metrics');
    const imported = await s.run(['catalog', 'import', write(dir, 'c.yaml', CATALOG)]);
    expect(imported.code, imported.stderr).toBe(0);
    expect((await s.run(['tenant', 'add', 'm', '--plan', 'standard', '--from', '2026-10'])).code).toBe(0);
    const at = (i: number) => new Date(Date.parse('2026-10-02T00:00:00Z') + i * 60_000).toISOString();
    const lines: string[] = [];
    // 27 users, one chat each: 27 seats (25 included, 2 billed at 5 = 10.00); a failed one of a 28th user is not billable.
    for (let i = 1; i <= 27; i++) lines.push(JSON.stringify({ id: `c${i}`, tenant_id: 'm', user_id: `u${i}`, timestamp: at(i), model: 'qwen-70b', input_tokens: 1000 }));
    lines.push(JSON.stringify({ id: 'c28', tenant_id: 'm', user_id: 'u28', timestamp: at(28), status: 'failed', model: 'qwen-70b', input_tokens: 1000 }));
    // 5,003 agent executions: 3 billed at 0.10 = 0.30.
    for (let i = 0; i < 5003; i++) lines.push(JSON.stringify({ id: `a${i}`, tenant_id: 'm', timestamp: at(100 + i), event_type: 'Agent Execution' }));
    // Storage readings: the max is 1,500 GB; 1,400 billed, graduated: 1,000 × 0.50 + 400 × 0.25 = 600.00.
    lines.push(JSON.stringify({ id: 's1', tenant_id: 'm', timestamp: at(6000), event_type: 'storage', quantity: 1200 }));
    lines.push(JSON.stringify({ id: 's2', tenant_id: 'm', timestamp: at(7000), event_type: 'storage', quantity: 1500 }));
    expect((await s.run(['import', write(dir, 'r.jsonl', `${lines.join('\n')}\n`)])).code).toBe(0);

    const preview = await s.run(['invoice', 'preview', '--tenant', 'm', '--period', '2026-10', '--format', 'json']);
    expect(preview.stderr).toBe('');
    const inv = JSON.parse(preview.stdout) as { subtotal: string; lines: Line[] };
    expect(inv.lines.map((l) => [l.kind, l.key, l.description, l.used, l.included, l.billed, l.unit, l.unit_price, l.price_model ?? null, l.amount])).toEqual([
      ['fee', 'standard', 'Standard plan fee', 0, 0, 0, null, null, null, '99.00'],
      ['input_tokens', 'qwen-70b', 'Qwen-70B input tokens', 27_000, 27_000, 0, 'token', '0.003', null, '0.00'],
      ['metric', 'agent-runs', 'Agent executions', 5003, 5000, 3, 'unit', '0.10', null, '0.30'],
      ['metric', 'seats', 'User seats', 27, 25, 2, 'unit', '5', null, '10.00'],
      ['metric', 'storage-gb', 'Storage (GB)', 1500, 100, 1400, 'unit', null, 'graduated', '600.00'],
    ]);
    expect(inv.subtotal).toBe('709.30');

    // The catalog keeps its metrics and charges.
    const shown = JSON.parse((await s.run(['catalog', 'show', '2026-05', '--format', 'json'])).stdout) as { metrics: Record<string, unknown>; plans: Record<string, { charges: Record<string, unknown> }> };
    expect(shown.metrics['agent-runs']).toEqual({ name: 'Agent executions', aggregation: 'count', event_types: ['agent-execution'] });
    expect(shown.plans.standard!.charges.seats).toEqual({ included: 25, price: '5' });

    // The issued PDF shows the metric lines.
    const out = tempDir('metrics-pdf');
    const fin = await s.run(['invoice', 'generate', '--tenant', 'm', '--period', '2026-10', '--finalize', '--issue-date', '2026-11-01', '--out', out, '--yes']);
    expect(fin.code, fin.stderr).toBe(0);
    const pdf = execFileSync('pdftotext', ['-layout', path.join(out, '2026-10', 'INV-2026-000001.pdf'), '-'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
    expect(pdf).toContain('User seats 27 25 2 5 / unit 10.00');
    expect(pdf).toContain('Agent executions 5,003 5,000 3 0.10 / unit 0.30');
    // (the tiers in words wrap in their cell around the amount)
    expect(pdf).toContain('Storage (GB) 1,500 100 1,400 first 1,000 at 0.50 / 600.00 unit; next 400 at 0.25 / unit');
    // The chart's days add up to the usage lines, the metric charges on the period's last day.
    expect(pdf).toContain('The days add up to the usage charges above: 610.30.');

    // Late usage: a higher October storage reading after October was issued. November's invoice
    // re-rates October and adjusts the metric line: 1,900 billed = 500.00 + 900 × 0.25 = 725.00, +125.00.
    const late = JSON.stringify({ id: 's3', tenant_id: 'm', timestamp: '2026-10-30T00:00:00Z', event_type: 'storage', quantity: 2000 });
    expect((await s.run(['import', write(dir, 'late.jsonl', `${late}\n`)])).code).toBe(0);
    const nov = JSON.parse((await s.run(['invoice', 'preview', '--tenant', 'm', '--period', '2026-11', '--format', 'json'])).stdout) as { lines: (Line & { adjusts?: string })[] };
    expect(nov.lines.filter((l) => l.kind === 'adjustment').map((l) => [l.adjusts, l.description, l.billed, l.amount])).toEqual([
      ['metric', 'Adjustment for 2026-10: Storage (GB)', 500, '125.00'],
    ]);
  });

  it('names every problem of metrics and charges by its path', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('metrics-bad');
    const bad = CATALOG
      .replace('aggregation: unique_count, field: user_id', 'aggregation: distinct, field: user_id')
      .replace('aggregation: max,   field: quantity', 'aggregation: max')
      .replace('agent_runs: { included: 5000', 'agent_run: { included: 5000');
    const r = await s.run(['catalog', 'import', write(dir, 'bad.yaml', bad)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('  - metrics.seats.aggregation: "distinct" is not one of count, sum, max, unique_count');
    expect(r.stderr).toContain('  - metrics.storage-gb.field: max needs a whole-number field: one of gpu_seconds, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, quantity');
    expect(r.stderr).toContain('  - plans.standard.charges.agent-run: no metric "agent-run" in this catalog\'s metrics (metrics: agent-runs, models)');
  });
});
