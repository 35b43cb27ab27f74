/**
 * Every CSV billctl writes (exports and --format csv) quotes what RFC 4180 requires and
 * neutralises formula cells: parsed back with csv-parse, the row count and every cell are exact.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  csvRows, neutralise, neutraliseUnlessNumber, openCsvSink, unneutralise, writeCsv,
} from '../../src/export/csv-writer.js';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, opsStore, parseJson } from './helpers.js';

afterAll(dropSchemas);

/**
 * Parses as a strict reader would: outside quotes a CR or LF may only end a row (csv-parse alone
 * is lenient and would keep a bare CR inside an unquoted field, where Excel starts a new row).
 */
function parseCsv(text: string): string[][] {
  const eol = text.endsWith('\r\n') ? '\r\n' : '\n'; // every row ends in it, the last one too
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '\r' || c === '\n')) {
      expect(text.startsWith(eol, i), `a bare ${JSON.stringify(c)} outside quotes at ${i}: ${JSON.stringify(text.slice(Math.max(0, i - 20), i + 20))}`).toBe(true);
      i += eol.length - 1;
    }
  }
  return parse(text, { bom: true, relax_column_count: false, record_delimiter: eol }) as string[][];
}

/** Text rich in what breaks CSV and spreadsheets: separators, quotes, bare CR and LF, formula starts. */
const hostile = fc.string({
  unit: fc.oneof(
    fc.constantFrom(',', '"', '\r', '\n', '\r\n', '=', '+', '-', '@', '\t', "'", ' ', ';', '1', '.'),
    fc.string({ unit: 'grapheme', maxLength: 3 }),
  ),
  maxLength: 12,
});
const table = fc.integer({ min: 2, max: 5 }).chain((cols) => fc.array(fc.array(hostile, { minLength: cols, maxLength: cols }), { maxLength: 8 }));

describe('CSV quoting (RFC 4180) and formula cells', () => {
  it('any text round-trips through write and parse, modulo the documented leading quote', () => {
    fc.assert(
      fc.property(table, fc.constantFrom('\r\n' as const, '\n' as const), (rows, eol) => {
        const text = csvRows(rows.map((r) => r.map(neutralise)), eol);
        const back = parseCsv(text);
        expect(back).toHaveLength(rows.length);
        expect(back.map((r) => r.map(unneutralise))).toEqual(rows);
        // No cell a spreadsheet reads starts a formula.
        for (const r of back) for (const c of r) expect(c).not.toMatch(/^[=+\-@\t\r\n]/);
      }),
      { numRuns: 500 },
    );
  });

  it('cells of unknown type: plain numbers (negative amounts too) stay numbers, the rest as text', () => {
    fc.assert(
      fc.property(table, (rows) => {
        const back = parseCsv(csvRows(rows.map((r) => r.map(neutraliseUnlessNumber)), '\n'));
        expect(back.map((r) => r.map(unneutralise))).toEqual(rows);
      }),
      { numRuns: 300 },
    );
    expect(['-5.00', '12', '-0.5', '-5e3', '+5', '-1+1', '\r-5'].map(neutraliseUnlessNumber)).toEqual([
      '-5.00', '12', '-0.5', "'-5e3", "'+5", "'-1+1", "'\r-5",
    ]);
  });

  it('a bare CR or LF is always inside quotes', () => {
    expect(csvRows([['\r=1+1', 'a\nb', 'x'], ['"q"', 'c,d', '']], '\r\n')).toBe('"\r=1+1","a\nb",x\r\n"""q""","c,d",\r\n');
  });

  it('an export file of hostile rows parses back exactly', async () => {
    const file = path.join(tempDir('csv'), 'hostile.csv');
    await fc.assert(
      fc.asyncProperty(table, async (rows) => {
        const width = rows[0]?.length ?? 2;
        const cols = Array.from({ length: width }, (_, i) => ({ header: `c${i}`, type: 'text' as const, value: (r: string[]) => r[i] }));
        expect(await writeCsv(await openCsvSink(file, process.stdout, { excel: true }), cols, rows)).toBe(rows.length);
        const [header, ...back] = parseCsv(fs.readFileSync(file, 'utf8'));
        expect(header).toEqual(cols.map((c) => c.header));
        expect(back.map((r) => r.map(unneutralise))).toEqual(rows);
      }),
      { numRuns: 50 },
    );
  });
});

const CR_FORMULA = '\r=1+1';
const FORMULA_TENANT = '=HYPERLINK("http://x")';
const NOW = { BILLCTL_NOW: '2026-11-15T12:00:00Z' };

describeEachBackend('CSV output of every command', (backend) => {
  let s: TestStore;

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro', ['--name', '-Acme, "the" corp', '--address', 'Line 1\\nLine 2']);
    await addTenant(s, FORMULA_TENANT, 'pro', ['--name', '@SUM(A1)']);
    const receipts = [
      { id: CR_FORMULA, tenant_id: 'acme', timestamp: '2026-10-03T10:00:00Z', model: 'qwen-70b', input_tokens: 10, user_id: CR_FORMULA },
      { id: 'plain', tenant_id: 'acme', timestamp: '2026-10-04T10:00:00Z', model: 'qwen-70b', input_tokens: 20, user_id: 'a\rb' },
      { id: 'lf', tenant_id: 'acme', timestamp: '2026-10-05T10:00:00Z', model: 'qwen-70b', input_tokens: 30, user_id: '\n+1' },
      { id: 'x1', tenant_id: FORMULA_TENANT, timestamp: '2026-10-05T10:00:00Z', model: 'gemma-2b', input_tokens: 5 },
    ];
    const file = s.file('hostile.jsonl', receipts.map((r) => JSON.stringify(r)).join('\n'));
    const r = await s.run(['import', file, '--format', 'json']);
    expect(parseJson(r.stdout)).toMatchObject({ imported: 4, rejected: 0 });
  });

  it('export receipts: an id and a user_id holding a bare CR stay one row, neutralised', async () => {
    const [header, ...data] = parseCsv((await s.run(['export', 'receipts'])).stdout);
    expect(data).toHaveLength(4);
    const row = data.find((r) => r[1] === `'${CR_FORMULA}`)!;
    expect(row).toBeDefined();
    expect(row[header!.indexOf('user_id')]).toBe(`'${CR_FORMULA}`);
    // Tenants in code point order ('=' before 'a'), then by time.
    expect(data.map((r) => unneutralise(r[header!.indexOf('user_id')]!))).toEqual(['', CR_FORMULA, 'a\rb', '\n+1']);
  });

  it('export usage --by user and usage --by user --format csv: one row per user, neutralised', async () => {
    const exported = parseCsv((await s.run(['export', 'usage', '--period', '2026-10', '--by', 'user', '--tenant', 'acme'], 0, NOW)).stdout);
    const shown = parseCsv((await s.run(['usage', '--period', '2026-10', '--by', 'user', '--tenant', 'acme', '--format', 'csv'], 0, NOW)).stdout);
    for (const [header, ...data] of [exported, shown]) {
      const col = header!.indexOf('user_id');
      expect(data.map((r) => r[col]).sort()).toEqual([`'\n+1`, `'${CR_FORMULA}`, 'a\rb'].sort());
    }
  });

  it('tenant list --format csv: names and addresses quoted and neutralised', async () => {
    const [header, ...data] = parseCsv((await s.run(['tenant', 'list', '--format', 'csv'])).stdout);
    const json = parseJson<{ id: string; name: string | null }[]>((await s.run(['tenant', 'list', '--format', 'json'])).stdout);
    expect(data).toHaveLength(json.length);
    const ids = data.map((r) => r[header!.indexOf('id')]);
    expect(ids).toEqual(json.map((t) => neutralise(t.id)));
    const names = data.map((r) => r[header!.indexOf('name')]);
    expect(names).toContain(`'-Acme, "the" corp`);
    expect(names).toContain(`'@SUM(A1)`);
  });

  it('invoice list, invoice show and invoice preview --format csv: text neutralised, amounts numbers', async () => {
    await s.run(['invoice', 'generate', '--period', '2026-10', '--all'], 0, NOW);
    const list = parseJson<{ id: number; tenant_id: string; total: string }[]>((await s.run(['invoice', 'list', '--format', 'json'])).stdout);
    const [lh, ...rows] = parseCsv((await s.run(['invoice', 'list', '--format', 'csv'])).stdout);
    expect(rows).toHaveLength(list.length);
    expect(rows.map((r) => r[lh!.indexOf('tenant_id')])).toEqual(list.map((i) => neutralise(i.tenant_id)));
    expect(rows.map((r) => r[lh!.indexOf('total')])).toEqual(list.map((i) => i.total));
    const f = list.find((i) => i.tenant_id === FORMULA_TENANT)!;
    for (const argv of [['invoice', 'show', String(f.id)], ['invoice', 'preview', '--tenant', FORMULA_TENANT, '--period', '2026-10']]) {
      const json = parseJson<{ lines: { amount: string; description: string }[] }>((await s.run([...argv, '--format', 'json'], 0, NOW)).stdout);
      const [h, ...lines] = parseCsv((await s.run([...argv, '--format', 'csv'], 0, NOW)).stdout);
      expect(lines).toHaveLength(json.lines.length);
      expect(lines.map((l) => l[h!.indexOf('amount')])).toEqual(json.lines.map((l) => l.amount));
      expect(lines.map((l) => unneutralise(l[h!.indexOf('description')]!))).toEqual(json.lines.map((l) => l.description));
    }
  });
});
