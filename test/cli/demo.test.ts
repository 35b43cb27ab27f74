/** `billctl demo` runs from a fresh checkout's build and leaves its PDFs. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/backends.js';
import { spawnCli } from '../helpers/cli.js';

describe('billctl demo', () => {
  it('makes a store, imports ~100,000 receipts, issues invoices with PDFs and shows a late adjustment', async () => {
    const cwd = tempDir('demo');
    const r = await spawnCli(['demo', '--out', 'demo'], { cwd, env: { BILLCTL_NOW: '2026-11-21T09:00:00Z' } });
    expect(r.code, r.stderr).toBe(0);
    const dir = path.join(cwd, 'demo');
    const pdfs = fs.readdirSync(path.join(dir, 'invoices', '2026-10')).filter((f) => f.endsWith('.pdf')).sort();
    expect(pdfs).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `DEMO-2026-00000${n}.pdf`));
    for (const p of pdfs) expect(fs.readFileSync(path.join(dir, 'invoices', '2026-10', p)).subarray(0, 5).toString()).toBe('%PDF-');
    // The pricing tenants: volta on `team` (its own A100 80GB price, graduated output tokens, a
    // minimum commitment), zephyr billed in euros from the EUR catalog chain.
    const text = (n: number) => spawnSync('pdftotext', ['-layout', path.join(dir, 'invoices', '2026-10', `DEMO-2026-00000${n}.pdf`), '-'], { encoding: 'utf8' }).stdout;
    const volta = text(7).replace(/\s+/g, ' ');
    expect(volta).toContain('Volta Robotics Inc.');
    expect(volta).toContain('A100 80GB GPU hours 200.6044 h 50.00 h 150.6044 h 3.50 / h 527.12');
    expect(volta).toContain('first 50,000,000 at 338.06 0.006 / 1,000; next');
    expect(volta).toContain('Minimum commitment true-up 99.61');
    expect(volta).toContain('Subtotal 1,500.00');
    const zephyr = text(8).replace(/\s+/g, ' ');
    expect(zephyr).toContain('Zéphyr Labs SAS');
    expect(zephyr).toContain('A100 40GB GPU hours 118.6206 h 100.00 h 18.6206 h 2.30 / h 42.83');
    expect(zephyr).toContain('Total EUR 170.75');
    expect(r.stdout).toContain('$ billctl import');
    expect(r.stdout).toContain('Adjustment for 2026-10: Qwen-70B input tokens');
    expect(r.stdout).toContain(`store:     ${path.join(dir, 'billing.db')}`);
    // The closing hint runs where it is printed: from another folder, without this checkout's node_modules/.bin on PATH.
    const hint = /^ {2}try: {7}(.*)$/m.exec(r.stdout)?.[1];
    expect(hint).toBeDefined();
    expect(hint).not.toContain('npx');
    const PATH = (process.env.PATH ?? '').split(path.delimiter).filter((d) => !d.includes('node_modules')).join(path.delimiter);
    const tried = spawnSync('bash', ['-c', hint!], { cwd: os.tmpdir(), env: { ...process.env, PATH, BILLCTL_DB: '' }, encoding: 'utf8' });
    expect(tried.status, tried.stderr).toBe(0);
    expect(tried.stdout).toContain('DEMO-2026-000001');
    const rejects = fs.readFileSync(path.join(dir, 'rejects.jsonl'), 'utf8').trim().split('\n');
    expect(rejects.length).toBe(10);
    // A second demo in the same place refuses to overwrite the first.
    const again = await spawnCli(['demo', '--out', 'demo'], { cwd });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('is not empty');
  }, 120_000);

  it('--format json: one JSON document on stdout, the transcript on stderr', async () => {
    const cwd = tempDir('demo-json');
    const r = await spawnCli(['demo', '--out', 'demo', '--format', 'json'], { cwd, env: { BILLCTL_NOW: '2026-11-21T09:00:00Z' } });
    expect(r.code, r.stderr).toBe(0);
    const dir = path.join(cwd, 'demo');
    expect(JSON.parse(r.stdout)).toEqual({
      dir, store: path.join(dir, 'billing.db'), config: path.join(dir, 'billctl.yaml'), period: '2026-10',
      receipts: path.join(dir, 'receipts'), late: path.join(dir, 'late', 'late-receipts.jsonl'),
      rejects: path.join(dir, 'rejects.jsonl'), invoices: path.join(dir, 'invoices', '2026-10'),
    });
    expect(r.stderr).toContain('$ billctl import');
    expect(fs.readdirSync(path.join(dir, 'invoices', '2026-10'))).toHaveLength(8);
  }, 120_000);
});
