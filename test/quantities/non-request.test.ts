/**
 * `non_request_event_types` (receipts.md, "Billable or not"; billing-rules.md step 2), on every
 * backend: a billable receipt whose event type the version in effect lists is no API call: it
 * takes no API call allowance and is not counted on the request line; the catalog keeps the list
 * (keyed) and names a bad one by its path.
 */
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { freshStore, write } from '../ingest/helpers.js';

afterAll(dropSchemas);

const CATALOG = `version: "2026-03"
effective_from: 2026-03-01T00:00:00Z
currency: USD
default_plan: basic
non_request_event_types: [Storage, "agent run"]
gpu_rates: {}
token_unit: 1000
token_rates:
  qwen-70b: { input: "0.003", output: "0.006", name: "Qwen-70B" }
request_rate: "0.01"
plans:
  basic: { name: "Basic", monthly_fee: "0", included: { api_calls: 1 } }
`;

const line = (o: Record<string, unknown>) => `${JSON.stringify(o)}\n`;

describeEachBackend('non-request event types', (backend) => {
  it('are no API call: no allowance taken, not on the request line', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('non-request');
    expect((await s.run(['catalog', 'import', write(dir, 'c.yaml', CATALOG)])).code).toBe(0);
    const shown = JSON.parse((await s.run(['catalog', 'show', '2026-03', '--format', 'json'])).stdout) as Record<string, unknown>;
    expect(shown.non_request_event_types).toEqual(['agent-run', 'storage']);
    expect((await s.run(['tenant', 'add', 'n', '--plan', 'basic', '--from', '2026-10'])).code).toBe(0);
    const receipts =
      line({ id: 's1', tenant_id: 'n', timestamp: '2026-10-01T08:00:00Z', event_type: 'storage', quantity: 5_000_000 }) + // no call, first: takes no allowance
      line({ id: 'r1', tenant_id: 'n', timestamp: '2026-10-02T08:00:00Z', model: 'qwen-70b', input_tokens: 1000 }) + // the one included call
      line({ id: 's2', tenant_id: 'n', timestamp: '2026-10-03T08:00:00Z', type: 'STORAGE', quantity: 7 }) + // keyed: storage
      line({ id: 'a1', tenant_id: 'n', timestamp: '2026-10-04T08:00:00Z', event_type: 'Agent_Run' }) + // keyed: agent-run
      line({ id: 'r2', tenant_id: 'n', timestamp: '2026-10-05T08:00:00Z', model: 'qwen-70b', output_tokens: 1000 }) + // billed: 0.01
      line({ id: 'x1', tenant_id: 'n', timestamp: '2026-10-06T08:00:00Z', event_type: 'message', model: 'qwen-70b', input_tokens: 1000 }); // a request
    expect((await s.run(['import', write(dir, 'r.jsonl', receipts)])).code).toBe(0);
    const inv = JSON.parse((await s.run(['invoice', 'preview', '--tenant', 'n', '--period', '2026-10', '--format', 'json'])).stdout) as {
      subtotal: string; lines: { kind: string; used: number; included: number; billed: number; amount: string }[];
    };
    // Requests: r1, r2 and x1 (3); one included, two billed at 0.01. Tokens: 2,000 input (0.006), 1,000 output (0.006).
    expect(inv.lines.map((l) => [l.kind, l.used, l.included, l.billed, l.amount])).toEqual([
      ['input_tokens', 2000, 0, 2000, '0.01'],
      ['output_tokens', 1000, 0, 1000, '0.01'],
      ['requests', 3, 1, 2, '0.02'],
    ]);
    expect(inv.subtotal).toBe('0.04');

    const bad = await s.run(['catalog', 'import', write(dir, 'bad.yaml', CATALOG.replace('version: "2026-03"', 'version: "2026-04"').replace('2026-03-01', '2026-04-01').replace('[Storage, "agent run"]', '[storage, 12]'))]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('  - non_request_event_types[1]: must be an event type name (text)');
  });
});
