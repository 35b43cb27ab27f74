/**
 * Token classes end to end on every backend: a catalog with class prices stored and read back,
 * receipts of each producer imported, the invoice lines per class (JSON, and the PDF's text), the
 * refusal of an unpriced class and its UNPRICED line with --allow-unpriced.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
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
  gemma-2b: { input: "0.0001", output: "0.0002", name: "Gemma-2B" }
request_rate: "0"
plans:
  free: { name: "Free", monthly_fee: "0", included: { tokens: 1000000 } }
  pro:  { name: "Pro", monthly_fee: "99", included: { tokens: 10000000 } }
`;

interface Line { kind: string; description: string; used: number; included: number; billed: number; unit: string; unit_price: string | null; amount: string }

describeEachBackend('token classes on invoices', (backend) => {
  it('bills every class on its own line at its own price, in the allowance order', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('inv-classes');
    expect((await s.run(['catalog', 'import', write(dir, 'c.yaml', CLASS_CATALOG)])).code).toBe(0);
    const show = JSON.parse((await s.run(['catalog', 'show', '2026-02', '--format', 'json'])).stdout) as { token_rates: Record<string, unknown> };
    expect(show.token_rates['qwen-70b']).toEqual({ name: 'Qwen-70B', input: '0.003', output: '0.006', cached_input: '0.0003', cache_write: '0.00375' });
    expect((await s.run(['tenant', 'add', 'c', '--plan', 'free', '--from', '2026-10'])).code).toBe(0);
    const text =
      // OpenAI chat completions: input 200,000, cached 800,000, output 100,000, reasoning 200,000
      line({ id: 'o1', tenant_id: 'c', timestamp: '2026-10-05T10:00:00Z', model: 'qwen-70b', usage: { prompt_tokens: 1_000_000, prompt_tokens_details: { cached_tokens: 800_000 }, completion_tokens: 300_000, completion_tokens_details: { reasoning_tokens: 200_000 } } }) +
      // Anthropic messages: input 50, cache read 900, cache write 100,000, output 40
      line({ id: 'msg_1', type: 'message', tenant_id: 'c', timestamp: '2026-10-06T10:00:00Z', model: 'qwen-70b', usage: { input_tokens: 50, cache_read_input_tokens: 900, cache_creation_input_tokens: 100_000, output_tokens: 40 } });
    expect((await s.run(['import', write(dir, 'r.jsonl', text)])).code).toBe(0);
    const preview = await s.run(['invoice', 'preview', '--tenant', 'c', '--period', '2026-10', '--format', 'json']);
    expect(preview.stderr).toBe('');
    const inv = JSON.parse(preview.stdout) as { lines: Line[]; subtotal: string; total: string };
    // Allowance 1,000,000: o1's input 200,000 and cached 800,000 take it all; the rest is billed.
    expect(inv.lines.map((l) => [l.kind, l.description, l.used, l.included, l.billed, l.unit, l.unit_price, l.amount])).toEqual([
      ['input_tokens', 'Qwen-70B input tokens', 200_050, 200_000, 50, 'token', '0.003', '0.00'],
      ['cached_input_tokens', 'Qwen-70B cached input tokens', 800_900, 800_000, 900, 'token', '0.0003', '0.00'],
      ['cache_write_tokens', 'Qwen-70B cache write tokens', 100_000, 0, 100_000, 'token', '0.00375', '0.38'],
      ['output_tokens', 'Qwen-70B output tokens', 100_040, 0, 100_040, 'token', '0.006', '0.60'],
      ['reasoning_tokens', 'Qwen-70B reasoning tokens', 200_000, 0, 200_000, 'token', '0.006', '1.20'],
    ]);
    expect([inv.subtotal, inv.total]).toEqual(['2.18', '2.18']);

    // The PDF shows each class as a line.
    const out = tempDir('pdf');
    expect((await s.run(['invoice', 'generate', '--tenant', 'c', '--period', '2026-10', '--finalize', '--issue-date', '2026-11-01', '--out', out, '--yes'])).code).toBe(0);
    const pdf = execFileSync('pdftotext', ['-layout', path.join(out, '2026-10', 'INV-2026-000001.pdf'), '-'], { encoding: 'utf8' });
    for (const d of ['Qwen-70B input tokens', 'Qwen-70B cached input tokens', 'Qwen-70B cache write tokens', 'Qwen-70B output tokens', 'Qwen-70B reasoning tokens']) {
      expect(pdf).toContain(d);
    }
  });

  it('refuses a cached class without a price, and marks it UNPRICED at 0.00 with --allow-unpriced', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('inv-unpriced');
    const text = line({ id: 'g1', tenant_id: 'u', timestamp: '2026-10-05T10:00:00Z', model: 'gemma-2b', input_tokens: 5, cache_read_input_tokens: 7 });
    expect((await s.run(['import', write(dir, 'r.jsonl', text)])).code).toBe(0);
    const refused = await s.run(['invoice', 'preview', '--tenant', 'u', '--period', '2026-10', '--format', 'json']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('cached input tokens of model "gemma-2b" have no cached_input price in catalog 2026-01: 1 receipt');
    const allowed = await s.run(['invoice', 'preview', '--tenant', 'u', '--period', '2026-10', '--format', 'json', '--allow-unpriced']);
    const inv = JSON.parse(allowed.stdout) as { lines: Line[] };
    expect(inv.lines.map((l) => [l.kind, l.description, l.used, l.billed, l.unit_price, l.amount])).toEqual([
      ['input_tokens', 'Gemma-2B input tokens', 5, 0, '0.0001', '0.00'],
      ['cached_input_tokens', 'Gemma-2B cached input tokens (UNPRICED)', 7, 0, null, '0.00'],
    ]);
  });
});
