/**
 * Currencies (billing-rules.md, "The catalog", Currencies), on every backend: one chain of catalog
 * versions per currency, a tenant's currency picks its chain (none: the currency of the newest
 * version, the first imported of equals), JPY (no minor digits) and KWD (three) priced and rounded
 * right in rating, invoice JSON, the PDF, the CSV export, usage and budgets; a tenant's currency
 * cannot change while it has a draft or an unpaid invoice.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { freshStore, write } from '../ingest/helpers.js';

afterAll(dropSchemas);

const catalog = (version: string, currency: string, input: string, output: string, fee: string) => `version: "${version}"
effective_from: 2026-01-01T00:00:00Z
currency: ${currency}
default_plan: pro
gpu_rates: {}
token_unit: 1000
token_rates:
  qwen-70b: { input: "${input}", output: "${output}", name: "Qwen-70B" }
request_rate: "0"
plans:
  pro: { name: "Pro", monthly_fee: "${fee}" }
`;

const line = (o: Record<string, unknown>) => `${JSON.stringify(o)}\n`;
const usage = (tenant: string, id: string) =>
  line({ id, tenant_id: tenant, timestamp: '2026-10-05T10:00:00Z', model: 'qwen-70b', input_tokens: 12_345_678, output_tokens: 1_000_000 });

describeEachBackend('currencies', (backend) => {
  it('rates each tenant with the chain of its currency, rounded to its minor unit everywhere', async () => {
    const s = await freshStore(backend); // the example catalog: 2026-01, USD, effective 2026-01-01
    const dir = tempDir('currencies');
    for (const [f, text] of [
      ['jpy.yaml', catalog('2026-01-jpy', 'JPY', '0.45', '0.9', '15000')],
      ['kwd.yaml', catalog('2026-01-kwd', 'KWD', '0.0009', '0.0018', '30.5')],
    ] as const) expect((await s.run(['catalog', 'import', write(dir, f, text)])).code).toBe(0);
    for (const [id, cur] of [['j', 'JPY'], ['k', 'KWD']]) {
      const r = await s.run(['tenant', 'add', id!, '--plan', 'pro', '--from', '2026-10', '--currency', cur!, '--tax-rate', '0.1']);
      expect(r.code, r.stderr).toBe(0);
    }
    // No currency: the newest versions all start 2026-01-01, so the first imported (USD) decides.
    expect((await s.run(['tenant', 'add', 'u', '--plan', 'pro', '--from', '2026-10'])).code).toBe(0);
    expect((await s.run(['import', write(dir, 'r.jsonl', usage('j', 'j1') + usage('k', 'k1') + usage('u', 'u1'))])).code).toBe(0);

    const preview = async (t: string) =>
      JSON.parse((await s.run(['invoice', 'preview', '--tenant', t, '--period', '2026-10', '--format', 'json'])).stdout) as {
        currency: string; subtotal: string; tax: string; total: string; lines: { catalog_version: string; description: string; unit_price: string | null; amount: string }[];
      };
    // JPY: input 12,345,678 × 0.45 / 1,000 = 5,555.5551 -> 5556; output 900; fee 15000; tax 10 % of 21456 = 2145.6 -> 2146.
    const j = await preview('j');
    expect([j.currency, j.subtotal, j.tax, j.total]).toEqual(['JPY', '21456', '2146', '23602']);
    expect(j.lines.map((l) => [l.catalog_version, l.description, l.amount])).toEqual([
      ['2026-01-jpy', 'Pro plan fee', '15000'],
      ['2026-01-jpy', 'Qwen-70B input tokens', '5556'],
      ['2026-01-jpy', 'Qwen-70B output tokens', '900'],
    ]);
    // KWD: input 11.1111102 -> 11.111; output 1.800; fee 30.500; tax 4.3411 -> 4.341.
    const k = await preview('k');
    expect([k.currency, k.subtotal, k.tax, k.total]).toEqual(['KWD', '43.411', '4.341', '47.752']);
    expect(k.lines.map((l) => l.amount)).toEqual(['30.500', '11.111', '1.800']);
    // USD, the example catalog's pro plan: 10,000,000 tokens included; input 2,345,678 over -> 7.04, output 6.00.
    const u = await preview('u');
    expect([u.currency, u.lines[0]!.catalog_version]).toEqual(['USD', '2026-01']);

    // usage: each tenant in its own currency and digits.
    const rows = JSON.parse((await s.run(['usage', '--period', '2026-10', '--format', 'json'])).stdout) as { tenant_id: string; rated_amount: string; currency: string }[];
    expect(rows.filter((r) => r.tenant_id !== 'u').map((r) => [r.tenant_id, r.rated_amount, r.currency])).toEqual([['j', '21456', 'JPY'], ['k', '43.411', 'KWD']]);

    // Budgets: amounts in the tenant's currency, no more digits than it has.
    expect((await s.run(['budget', 'set', 'j', '--monthly', '30000'])).code).toBe(0);
    const bad = await s.run(['budget', 'set', 'j', '--monthly', '100.5']);
    expect([bad.code, bad.stderr]).toEqual([2, 'billctl: error: --monthly: 100.5 has more decimals than JPY has (0)\n']);
    expect((await s.run(['budget', 'set', 'k', '--monthly', '50.125'])).code).toBe(0);

    // Finalized: the PDF and the CSV export show the amounts with the currency's digits.
    const out = tempDir('currency-pdf');
    for (const t of ['j', 'k']) {
      const r = await s.run(['invoice', 'generate', '--tenant', t, '--period', '2026-10', '--finalize', '--issue-date', '2026-11-02', '--out', out, '--yes']);
      expect(r.code, r.stderr).toBe(0);
    }
    const pdf = (n: string) => execFileSync('pdftotext', ['-layout', path.join(out, '2026-10', `INV-2026-00000${n}.pdf`), '-'], { encoding: 'utf8' });
    const jpdf = pdf('1');
    expect(jpdf).toMatch(/Total\s+JPY\s+23,602\b/);
    expect(jpdf).not.toMatch(/23,602\.\d/);
    expect(pdf('2')).toMatch(/Total\s+KWD\s+47\.752\b/);
    const csv = parse((await s.run(['export', 'invoices', '--period', '2026-10'])).stdout, { columns: true, bom: true }) as Record<string, string>[];
    expect(csv.filter((r) => r.tenant_id !== 'u').map((r) => [r.tenant_id, r.currency, r.subtotal, r.tax, r.total])).toEqual([
      ['j', 'JPY', '21456', '2146', '23602'],
      ['k', 'KWD', '43.411', '4.341', '47.752'],
    ]);

    // A currency change waits until nothing is open in the old currency.
    const refused = await s.run(['tenant', 'update', 'k', '--currency', 'USD']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('currency: tenant "k" is billed in KWD and has INV-2026-000002 (2026-10, unpaid); finalize and settle');
    expect((await s.run(['invoice', 'mark-paid', 'INV-2026-000002', '--date', '2026-11-05'])).code).toBe(0);
    expect((await s.run(['invoice', 'generate', '--tenant', 'u', '--period', '2026-10'])).code).toBe(0);
    const draft = await s.run(['tenant', 'update', 'u', '--currency', 'JPY']);
    expect(draft.stderr).toContain('currency: tenant "u" is billed in USD and has the draft for 2026-10;');
    const moved = await s.run(['tenant', 'update', 'k', '--currency', 'USD']);
    expect(moved.code, moved.stderr).toBe(0);
    const none = await s.run(['tenant', 'update', 'k', '--currency', 'EUR']);
    expect(none.stderr).toContain('currency: no catalog version is in EUR (catalogs: USD, JPY, KWD); import one in EUR first');
  });
});
