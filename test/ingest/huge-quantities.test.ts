/**
 * Quantities as large as receipts.md allows (2^53 − 1 each) add up past 64 bits: 1,025 such
 * receipts of one tenant on one day. The import, the rollups, usage, an invoice preview, a timezone
 * change and the usage export stay exact, alike on every store, and JSON writes every quantity as
 * a number with all its digits.
 */
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { freshStore, query, summaryOf, write } from './helpers.js';

afterAll(dropSchemas);

const MAX = 9_007_199_254_740_991n; // 2^53 − 1
const N = 1025n;
const SUM = MAX * N; // 9232379236109515775 > 2^63 − 1

describeEachBackend('quantities past 64 bits', (backend) => {
  it('imports, sums, reports and bills them exactly', async () => {
    expect(SUM > 2n ** 63n - 1n).toBe(true);
    const s = await freshStore(backend);
    expect((await s.run(['tenant', 'add', 'big', '--plan', 'pro'])).code).toBe(0);
    const dir = tempDir('huge');
    const lines: string[] = [];
    for (let i = 0; i < Number(N); i++) {
      lines.push(`{"id":"h${i}","tenant_id":"big","timestamp":"2026-10-03T10:00:00Z","model":"Qwen-70B","input_tokens":${MAX},"gpu_type":"A100 80GB","gpu_seconds":${MAX}}`);
    }
    lines.push('{"id":"s1","tenant_id":"small","timestamp":"2026-10-03T10:00:00Z","model":"Qwen-70B","input_tokens":100}');
    const file = write(dir, 'huge.jsonl', `${lines.join('\n')}\n`);
    const r = await s.run(['import', file, '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(summaryOf(r)).toMatchObject({ lines: 1026, imported: 1026, rejected: 0 });

    const rollup = async () =>
      (await query<{ text: string }>(s.db, "SELECT CAST(input_tokens AS TEXT) AS text FROM receipt_rollups WHERE tenant_id = 'big'")).map((x) => x.text);
    expect(await rollup()).toEqual([SUM.toString()]);

    // usage: JSON numbers with every digit, for the big tenant; the small one untouched.
    const usage = await s.run(['usage', '--period', '2026-10', '--format', 'json']);
    expect(usage.code).toBe(0);
    expect(usage.stdout).toContain(`"input_tokens": ${SUM}`);
    expect(usage.stdout).toContain(`"gpu_seconds": ${SUM}`);
    expect(usage.stdout).not.toMatch(/"input_tokens": "/);
    const small = (JSON.parse(usage.stdout) as { tenant_id: string; input_tokens: number }[]).find((u) => u.tenant_id === 'small');
    expect(small?.input_tokens).toBe(100);
    const table = await s.run(['usage', '--period', '2026-10']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(SUM.toString());

    // The invoice: 0.003 per 1,000 input tokens past the 10,000,000 included, half up to the cent.
    const preview = await s.run(['invoice', 'preview', '--tenant', 'big', '--period', '2026-10', '--format', 'json']);
    expect(preview.code).toBe(0);
    const billed = SUM - 10_000_000n;
    const cents = (billed * 3n * 100n + 500_000n) / 1_000_000n; // billed × 0.003 / 1000, in cents, half up
    const amount = `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
    expect(preview.stdout).toContain(`"used": ${SUM},\n`);
    expect(preview.stdout).toContain(`"billed": ${billed},\n`);
    expect(preview.stdout).toContain(`"amount": "${amount}"`);

    // A timezone change rebuilds the tenant's rollups from its receipts: as exact.
    expect((await s.run(['tenant', 'update', 'big', '--timezone', 'Asia/Tokyo'])).code).toBe(0);
    expect(await rollup()).toEqual([SUM.toString()]);

    const exported = await s.run(['export', 'usage', '--period', '2026-10']);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain(SUM.toString());
  });
});
