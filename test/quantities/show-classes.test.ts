/**
 * Every report that shows quantities shows each token class (issue 13, item 4), on every backend:
 * usage (JSON, CSV, table, --by model and user), the usage and receipts exports, the Prometheus
 * metrics, the quota check's token count and `estimate` with class flags (CLI and HTTP shapes).
 */
import { parse } from 'csv-parse/sync';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { freshStore, write } from '../ingest/helpers.js';

afterAll(dropSchemas);

const line = (o: Record<string, unknown>) => `${JSON.stringify(o)}\n`;

const CLASS_CATALOG = `version: "2026-02"
effective_from: 2026-02-01T00:00:00Z
currency: USD
default_plan: free
gpu_rates: {}
token_unit: 1000
token_rates:
  qwen-70b: { input: "0.003", output: "0.006", cached_input: "0.0003", cache_write: "0.00375", name: "Qwen-70B" }
request_rate: "0"
plans:
  free: { name: "Free", monthly_fee: "0", included: { tokens: 1000000 } }
`;

const RECEIPTS =
  // OpenAI chat completions: input 200,000, cached 800,000, output 100,000, reasoning 200,000
  line({ id: 'o1', tenant_id: 'c', user_id: 'u1', timestamp: '2026-10-05T10:00:00Z', model: 'qwen-70b', usage: { prompt_tokens: 1_000_000, prompt_tokens_details: { cached_tokens: 800_000 }, completion_tokens: 300_000, completion_tokens_details: { reasoning_tokens: 200_000 } } }) +
  // Anthropic messages: input 50, cache read 900, cache write 100,000, output 40
  line({ id: 'msg_1', type: 'message', tenant_id: 'c', user_id: 'u2', timestamp: '2026-10-06T10:00:00Z', model: 'qwen-70b', usage: { input_tokens: 50, cache_read_input_tokens: 900, cache_creation_input_tokens: 100_000, output_tokens: 40 } });

const CLASSES = { input_tokens: 200_050, cached_input_tokens: 800_900, cache_write_tokens: 100_000, output_tokens: 100_040, reasoning_tokens: 200_000 };
const NOW = { env: { BILLCTL_NOW: '2026-10-20T12:00:00Z' } };

describeEachBackend('token classes in every report', (backend) => {
  it('usage, exports, metrics, quota and estimate carry every class', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('show-classes');
    expect((await s.run(['catalog', 'import', write(dir, 'c.yaml', CLASS_CATALOG)])).code).toBe(0);
    expect((await s.run(['tenant', 'add', 'c', '--plan', 'free', '--from', '2026-10'])).code).toBe(0);
    expect((await s.run(['import', write(dir, 'r.jsonl', RECEIPTS)])).code).toBe(0);

    // usage --format json: the sums of each class; the rated amount is the invoice's subtotal (2.18).
    const usage = JSON.parse((await s.run(['usage', '--period', '2026-10', '--tenant', 'c', '--format', 'json'])).stdout) as Record<string, unknown>[];
    expect(usage).toEqual([{
      tenant_id: 'c', period: '2026-10', receipts: 2, requests: 2, gpu_seconds: 0, ...CLASSES, rated_amount: '2.18', currency: 'USD',
    }]);
    // --by model: the model's lines of every class; --by user: each receipt's billed units at its prices.
    const byModel = JSON.parse((await s.run(['usage', '--period', '2026-10', '--tenant', 'c', '--by', 'model', '--format', 'json'])).stdout) as Record<string, unknown>[];
    expect(byModel).toEqual([{
      tenant_id: 'c', period: '2026-10', model: 'qwen-70b', receipts: 2, requests: 2, gpu_seconds: 0, ...CLASSES, rated_amount: '2.18', currency: 'USD',
    }]);
    const byUser = JSON.parse((await s.run(['usage', '--period', '2026-10', '--tenant', 'c', '--by', 'user', '--format', 'json'])).stdout) as Record<string, unknown>[];
    // u1 (o1): the allowance covers its input and cached input; output 100,000 × 0.006 = 0.60, reasoning 200,000 × 0.006 = 1.20.
    // u2 (msg_1): input 50 × 0.003 = 0.00015, cached 900 × 0.0003 = 0.00027, cache write 100,000 × 0.00375 = 0.375, output 40 × 0.006 = 0.00024.
    expect(byUser.map((r) => [r.user_id, r.input_tokens, r.cached_input_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens, r.rated_amount])).toEqual([
      ['u1', 200_000, 800_000, 0, 100_000, 200_000, '1.80'],
      ['u2', 50, 900, 100_000, 40, 0, '0.38'],
    ]);
    // CSV: the JSON keys as columns.
    const csv = parse((await s.run(['usage', '--period', '2026-10', '--tenant', 'c', '--format', 'csv'])).stdout) as string[][];
    expect(csv).toEqual([
      ['tenant_id', 'period', 'receipts', 'requests', 'gpu_seconds', 'input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'rated_amount', 'currency', 'month_to_date', 'projected_month_end'].slice(0, 12),
      ['c', '2026-10', '2', '2', '0', '200050', '800900', '100000', '100040', '200000', '2.18', 'USD'],
    ]);
    // The table shows the classes a row has.
    const table = (await s.run(['usage', '--period', '2026-10', '--tenant', 'c'])).stdout;
    for (const h of ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens']) expect(table).toContain(h);
    expect(table).toContain('800900');

    // Exports: usage rows with every class; receipts with every quantity and the event type.
    const exported = parse((await s.run(['export', 'usage', '--period', '2026-10'])).stdout, { columns: true, bom: true }) as Record<string, string>[];
    expect(exported.map((r) => [r.tenant_id, r.input_tokens, r.cached_input_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens, r.rated_amount]))
      .toEqual([['c', '200050', '800900', '100000', '100040', '200000', '2.18']]);
    const receipts = parse((await s.run(['export', 'receipts'])).stdout, { columns: true, bom: true }) as Record<string, string>[];
    expect(receipts.map((r) => [r.id, r.input_tokens, r.cached_input_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens, r.quantity, r.event_type])).toEqual([
      ['o1', '200000', '800000', '0', '100000', '200000', '0', ''],
      ['msg_1', '50', '900', '100000', '40', '0', '0', 'message'], // Anthropic's `type` is the event type (receipts.md)
    ]);

    // Prometheus: a sample per class of the model.
    const prom = (await s.run(['metrics'], NOW)).stdout;
    const tokenSamples = prom.split('\n').filter((l) => l.startsWith('billctl_usage_tokens'));
    expect(tokenSamples).toEqual([
      'billctl_usage_tokens{tenant="c",period="2026-10",model="qwen-70b",direction="input"} 200050',
      'billctl_usage_tokens{tenant="c",period="2026-10",model="qwen-70b",direction="cached_input"} 800900',
      'billctl_usage_tokens{tenant="c",period="2026-10",model="qwen-70b",direction="cache_write"} 100000',
      'billctl_usage_tokens{tenant="c",period="2026-10",model="qwen-70b",direction="output"} 100040',
      'billctl_usage_tokens{tenant="c",period="2026-10",model="qwen-70b",direction="reasoning"} 200000',
    ]);

    // The quota check counts every class against the token allowance.
    const quota = await s.run(['quota', 'check', '--tenant', 'c', '--metric', 'tokens', '--amount', '1', '--format', 'json'], NOW);
    expect(JSON.parse(quota.stdout)).toMatchObject({ used: 1400990 });

    // estimate with class flags: rated by the engine (the allowance is spent): cached 1,000 more adds
    // 0.0003 to a line of 0.00027 (still 0.00); reasoning 1,000 more takes 1.20 to 1.206 -> 1.21.
    const est = await s.run(['estimate', '--tenant', 'c', '--model', 'qwen-70b', '--cached-input-tokens', '1000', '--reasoning-tokens', '1000', '--format', 'json'], NOW);
    expect(est.stderr).toBe('');
    expect(JSON.parse(est.stdout)).toMatchObject({
      input_tokens: 0, cached_input_tokens: 1000, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 1000, amount: '0.01',
      lines: [
        { kind: 'cached_input_tokens', key: 'qwen-70b', used: 1000, included: 0, billed: 1000, amount: '0.00' },
        { kind: 'reasoning_tokens', key: 'qwen-70b', used: 1000, included: 0, billed: 1000, amount: '0.01' },
      ],
    });
    const bad = await s.run(['estimate', '--tenant', 'c', '--model', 'qwen-70b', '--cache-write-tokens', '1.5'], NOW);
    expect([bad.code, bad.stderr]).toEqual([2, 'billctl: error: --cache-write-tokens: "1.5" is not a whole number\n']);
  });
});
