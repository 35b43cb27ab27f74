/** export receipts|usage|invoices|lines: parsed back with a real CSV parser, they equal the store. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { neutralise, openCsvSink, unneutralise, writeCsv } from '../../src/export/csv-writer.js';
import type { Receipt } from '../../src/domain/receipt.js';
import { openStore } from '../../src/store/open.js';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { BIN } from '../helpers/cli.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, importReceipts, opsStore, parseJson } from './helpers.js';

afterAll(dropSchemas);

const NOW = { BILLCTL_NOW: '2026-11-15T12:00:00Z' };
const FORMULA_TENANT = '=HYPERLINK("http://x")';

const rows = (csv: string): string[][] => parse(csv, { bom: true, relax_column_count: false }) as string[][];

async function storeReceipts(db: string): Promise<Receipt[]> {
  const store = await openStore(db);
  try {
    const out: Receipt[] = [];
    for (const t of await store.listTenants()) for await (const r of store.receipts(t.id, -1e15, 1e15)) out.push(r);
    return out;
  } finally {
    await store.close();
  }
}

/** A receipt as the export's cells should read once un-neutralised. */
function cellsOf(r: Receipt): string[] {
  const s = (v: string | null) => v ?? '';
  return [
    r.tenantId, r.id, new Date(r.ts).toISOString(), String(r.billable), s(r.status), s(r.userId), s(r.projectId), s(r.provider),
    s(r.model), s(r.modelKey), s(r.gpuType), s(r.gpuKey), s(r.eventType), String(r.gpuSeconds), String(r.inputTokens),
    String(r.cachedInputTokens), String(r.cacheWriteTokens), String(r.outputTokens), String(r.reasoningTokens), String(r.quantity),
    s(r.reportedCost), String(r.unsplit),
  ];
}

describe('CSV cells', () => {
  it('neutralises formula starts and a leading quote, and nothing else', () => {
    for (const t of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx', "'x"]) expect(neutralise(t)).toBe(`'${t}`);
    for (const t of ['acme', '1+1', 'a=b', ' =x', '']) expect(neutralise(t)).toBe(t);
    for (const t of ['=1', "'q", 'plain']) expect(unneutralise(neutralise(t))).toBe(t);
  });

  it('a failed export leaves neither the file nor a temporary one; a good one is renamed into place', async () => {
    const dir = tempDir('sink');
    const file = path.join(dir, 'x.csv');
    fs.writeFileSync(file, 'old\r\n');
    async function* failing(): AsyncGenerator<{ a: string }> {
      yield { a: '1' };
      throw new Error('boom');
    }
    const col = [{ header: 'a', type: 'text' as const, value: (r: { a: string }) => r.a }];
    await expect(writeCsv(await openCsvSink(file, process.stdout, { excel: false }), col, failing())).rejects.toThrow('boom');
    expect(fs.readdirSync(dir)).toEqual(['x.csv']);
    expect(fs.readFileSync(file, 'utf8')).toBe('old\r\n');
    const many = Array.from({ length: 1234 }, (_, i) => ({ a: i % 2 ? `=${i}` : `line\n${i}` }));
    expect(await writeCsv(await openCsvSink(file, process.stdout, { excel: false }), col, many)).toBe(1234);
    expect(fs.readdirSync(dir)).toEqual(['x.csv']);
    expect(rows(fs.readFileSync(file, 'utf8'))).toEqual([['a'], ...many.map((r) => [neutralise(r.a)])]);
  });
});

describeEachBackend('export', (backend) => {
  let s: TestStore;

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro');
    await addTenant(s, 'berlin', 'pro', ['--timezone', 'Europe/Berlin', '--tax-rate', '0.19']);
    await importReceipts(s, [
      { id: 'r1', tenant: 'acme', ts: '2026-10-03T14:07:11.250Z', model: 'Qwen-70B', gpu: 'A100 80GB', gpuSeconds: 412, input: 1800, output: 350, user: '+49 30 1234', provider: '=cmd|\' /C calc\'!A0' },
      { id: 'r2', tenant: 'acme', ts: '2026-10-04T00:00:00Z', model: 'gemma-2b', input: 10, output: 20, user: '-2+3', provider: 'openai' },
      { id: '@r3', tenant: 'acme', ts: '2026-11-02T10:00:00Z', status: 'failed', model: 'qwen-30b', input: 5, user: '@SUM(A1)' },
      { id: 'b1', tenant: 'berlin', ts: '2026-09-30T22:30:00Z', model: 'qwen-70b', gpu: 'a100-80gb', gpuSeconds: 360000, input: 9000000, output: 500000, user: "'quoted" },
      { id: 'b2', tenant: 'berlin', ts: '2026-10-31T23:30:00Z', model: 'gemma-2b', gpu: 'rtx-4090', gpuSeconds: 1800, input: 1000, output: 1000, user: 'comma, "quote"' },
      { id: 'x1', tenant: FORMULA_TENANT, ts: '2026-10-05T08:00:00Z', model: 'gemma-2b', input: 100, output: 100 },
    ]);
  });

  it('a reader that stops early (| head) ends the export quietly with exit 0; a full disk fails it (exit 1)', async () => {
    const big = await opsStore(await backend.fresh());
    await addTenant(big, 'acme', 'pro');
    // Far more than a pipe holds, so the export is still writing when head has gone.
    await importReceipts(big, Array.from({ length: 3000 }, (_, i) => ({ id: `r${i}`, tenant: 'acme', ts: '2026-10-03T14:07:11Z', model: 'qwen-70b', input: i, output: 1 })));
    const r = spawnSync('bash', ['-c', 'set -o pipefail; "$0" "$1" export receipts --db "$2" | head -c 100 > /dev/null', process.execPath, BIN, big.db], {
      encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // Any other failure to write the output is a failure (exit 1), said on stderr.
    const full = spawnSync('bash', ['-c', '"$0" "$1" export receipts --db "$2" > /dev/full', process.execPath, BIN, big.db], {
      encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' },
    });
    expect(full.stderr).toBe('billctl: failed: writing the output: ENOSPC: no space left on device, write\n');
    expect(full.status).toBe(1);
  });

  it('receipts: parsed back, every row equals the store, with formula cells neutralised', async () => {
    const r = await s.run(['export', 'receipts']);
    expect(r.stdout.split('\r\n').length).toBe(8); // header + 6 rows + the empty string after the last CRLF
    const [header, ...data] = rows(r.stdout);
    expect(header).toEqual([
      'tenant_id', 'id', 'timestamp', 'billable', 'status', 'user_id', 'project_id', 'provider', 'model', 'model_key',
      'gpu_type', 'gpu_key', 'event_type', 'gpu_seconds', 'input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens',
      'reasoning_tokens', 'quantity', 'reported_cost', 'unsplit',
    ]);
    const stored = await storeReceipts(s.db);
    expect(stored).toHaveLength(6);
    expect(data.map((row) => row.map(unneutralise))).toEqual(stored.map(cellsOf));
    // The formula tenant comes back as text: a leading ', the rest untouched.
    const formula = data.find((row) => row[1] === 'x1')!;
    expect(formula[0]).toBe(`'${FORMULA_TENANT}`);
    const r1 = data.find((row) => row[1] === 'r1')!;
    expect(r1[5]).toBe("'+49 30 1234");
    expect(r1[7]).toBe("'=cmd|' /C calc'!A0");
    expect(r1[2]).toBe('2026-10-03T14:07:11.250Z');
    expect(r1.slice(12, 20)).toEqual(['', '412', '1800', '0', '0', '350', '0', '0']);
    expect(data.find((row) => row[1] === "'@r3")).toBeDefined();
    expect(data.find((row) => row[1] === 'b1')![5]).toBe("''quoted");
    // Numbers billctl wrote are never prefixed.
    for (const row of data) for (const i of [2, 13, 14, 15, 16, 17, 18, 19]) expect(row[i]).toMatch(/^\d/);
  });

  it('receipts --period follows each tenant\'s timezone; --tenant picks one', async () => {
    const oct = rows((await s.run(['export', 'receipts', '--period', '2026-10'])).stdout).slice(1);
    // Berlin's October starts 2026-09-30T22:00Z and ends 2026-10-31T23:00Z: b1 in, b2 out (November).
    expect(oct.map((r) => r[1])).toEqual(['x1', 'r1', 'r2', 'b1']); // tenants in code point order: '=' before letters
    const acme = rows((await s.run(['export', 'receipts', '--tenant', 'acme'])).stdout).slice(1);
    expect(acme.map((r) => r[1])).toEqual(['r1', 'r2', "'@r3"]);
    await s.run(['export', 'receipts', '--tenant', 'nobody'], 2);
    await s.run(['export', 'nonsense'], 2);
    await s.run(['export', 'receipts', '--period', '2026-13'], 2);
  });

  it('--out writes the file through a temporary name, --excel adds a BOM', async () => {
    const r = await s.run(['export', 'receipts', '--out', 'out.csv', '--excel', '--format', 'json']);
    expect(parseJson(r.stdout)).toEqual({ kind: 'receipts', rows: 6, out: 'out.csv' });
    const bytes = fs.readFileSync(path.join(s.dir, 'out.csv'));
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(rows(bytes.toString('utf8')).slice(1)).toHaveLength(6);
    expect(fs.readdirSync(s.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('usage: the rows and keys of usage --format json', async () => {
    for (const extra of [[], ['--by', 'model'], ['--by', 'day']]) {
      const csv = rows((await s.run(['export', 'usage', '--period', '2026-10', ...extra], 0, NOW)).stdout);
      const json = parseJson<Record<string, unknown>[]>((await s.run(['usage', '--period', '2026-10', '--format', 'json', ...extra], 0, NOW)).stdout);
      const [header, ...data] = csv;
      expect(data).toHaveLength(json.length);
      for (const [i, o] of json.entries()) {
        for (const [k, v] of Object.entries(o)) {
          const col = header!.indexOf(k);
          expect(col, k).toBeGreaterThanOrEqual(0);
          expect(unneutralise(data[i]![col]!), `${k} of row ${i}`).toBe(v === null ? '' : String(v));
        }
      }
    }
  });

  it('usage of the period under way has month-to-date and projection columns', async () => {
    const env = { BILLCTL_NOW: '2026-10-16T00:00:00Z' };
    const [header, ...data] = rows((await s.run(['export', 'usage', '--period', '2026-10'], 0, env)).stdout);
    const json = parseJson<Record<string, string>[]>((await s.run(['usage', '--period', '2026-10', '--format', 'json'], 0, env)).stdout);
    const acme = data.find((r) => r[0] === 'acme')!;
    const j = json.find((o) => o.tenant_id === 'acme')!;
    expect(acme[header!.indexOf('month_to_date')]).toBe(j.month_to_date);
    expect(acme[header!.indexOf('projected_month_end')]).toBe(j.projected_month_end);
  });

  it('invoices and lines: the keys of invoice list and invoice show', async () => {
    await s.run(['invoice', 'generate', '--period', '2026-10', '--all'], 0, NOW);
    const list = parseJson<Record<string, unknown>[]>((await s.run(['invoice', 'list', '--format', 'json'])).stdout);
    expect(list.length).toBeGreaterThanOrEqual(2);
    const [ih, ...inv] = rows((await s.run(['export', 'invoices', '--period', '2026-10'])).stdout);
    expect(ih).toEqual(['id', 'number', 'tenant_id', 'period', 'status', 'currency', 'subtotal', 'tax', 'total', 'issue_date', 'due_date', 'pdf', 'amount_due', 'paid_date']);
    expect(inv.map((r) => r.map(unneutralise))).toEqual(list.map((o) => ih!.map((k) => (o[k] === null ? '' : String(o[k])))));

    const [lh, ...lines] = rows((await s.run(['export', 'lines', '--tenant', 'berlin'])).stdout);
    expect(lh).toEqual([
      'invoice_id', 'number', 'tenant_id', 'invoice_period', 'kind', 'adjusts', 'key', 'catalog_version', 'period', 'description',
      'used', 'included', 'billed', 'unit', 'unit_price', 'unit_size', 'amount', 'plan', 'price_model',
    ]);
    const berlin = list.find((o) => o.tenant_id === 'berlin')!;
    const shown = parseJson<{ lines: Record<string, unknown>[] }>((await s.run(['invoice', 'show', String(berlin.id), '--format', 'json'])).stdout);
    expect(lines).toHaveLength(shown.lines.length);
    for (const [i, l] of shown.lines.entries()) {
      const row = lines[i]!;
      expect(row.slice(0, 4)).toEqual([String(berlin.id), '', 'berlin', '2026-10']);
      for (const [k, v] of Object.entries(l)) expect(row[lh!.indexOf(k)], k).toBe(v === null ? '' : String(v));
    }
    // Fee, then GPU and tokens fully covered by the Pro allowance: exact decimal text.
    expect(lines.map((r) => r[lh!.indexOf('amount')])).toEqual(['99.00', '0.00', '0.00', '0.00']);
  });
});
