/**
 * Every CSV billctl writes goes through here: streaming exports (500 rows per write, constant
 * memory, CRLF row ends) and `--format csv` (src/cli/render.ts).
 *
 * Quoting is RFC 4180's: a field holding a comma, a double quote, a CR or an LF is quoted and its
 * quotes doubled, so a bare CR (which csv-stringify leaves unquoted when rows end in CRLF) can
 * never split a row. Text cells a spreadsheet would run as a formula (starting with =, +, -, @, a
 * tab, a CR or an LF) get a leading `'`; so does text that already starts with `'`, so a reader
 * gets the original back by dropping one leading `'` from any text cell that has one. Numbers
 * billctl itself wrote (amounts, quantities, timestamps, dates) are left alone, after a check that
 * they are plain numbers (anything else in such a column is neutralised like text).
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { openAtomicFile } from './atomic-file.js';

/** `text` is data from outside (ids, names, models): neutralised. The rest is written by billctl. */
export type CsvCellType = 'text' | 'amount' | 'quantity' | 'timestamp' | 'date' | 'flag';

export interface CsvColumn<R> {
  header: string;
  type: CsvCellType;
  value: (row: R) => string | number | bigint | boolean | null | undefined;
}

const FORMULA_START = /^[=+\-@\t\r\n']/;
const PLAIN_NUMBER = /^-?\d+(\.\d+)?$/;
const PLAIN_TIME = /^\d{4}-\d{2}(-\d{2}([T ][\d:.]+Z?)?)?$/;
const NEEDS_QUOTES = /[",\r\n]/;

export function neutralise(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** A cell whose type is not known (`--format csv`): a plain number (`-5.00`) stays a number, the rest is text. */
export function neutraliseUnlessNumber(text: string): string {
  return PLAIN_NUMBER.test(text) ? text : neutralise(text);
}

/** One field as RFC 4180 writes it. */
export function csvField(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Rows of (already neutralised) cells as CSV text, each row ended by `eol`. */
export function csvRows(rows: readonly (readonly string[])[], eol: '\r\n' | '\n'): string {
  let out = '';
  for (const row of rows) out += row.map(csvField).join(',') + eol;
  return out;
}

/** The text a neutralised cell stood for: one leading `'` dropped (for readers of billctl's CSV). */
export function unneutralise(cell: string): string {
  return cell.startsWith("'") ? cell.slice(1) : cell;
}

function cell<R>(c: CsvColumn<R>, row: R): string {
  const v = c.value(row);
  if (v === null || v === undefined) return '';
  if (c.type === 'flag') return v ? 'true' : 'false';
  const text = String(v);
  switch (c.type) {
    case 'text':
      return neutralise(text);
    case 'amount':
    case 'quantity':
      return neutraliseUnlessNumber(text);
    case 'timestamp':
    case 'date':
      return PLAIN_TIME.test(text) ? text : neutralise(text);
    default:
      c.type satisfies never;
      return neutralise(text);
  }
}

export interface CsvSink {
  /** Writes one row, waiting when the destination is slow (backpressure). */
  write(row: string[]): Promise<void>;
  /** Flushes; for a file, moves the finished temporary file into place. */
  close(): Promise<void>;
  /** Drops a half-written file. */
  abort(): Promise<void>;
}

/** Rows formatted per batch: one csv-stringify call and one write per BATCH rows, not per row. */
const BATCH = 500;

/**
 * A sink to `out` (a path, or stdout for `-`). A file is written to a temporary name beside it
 * and renamed at the end, so a failed, interrupted or killed export never leaves a half file
 * behind: a failure or Ctrl-C removes the temporary file, and one a killed run left (kill -9) is
 * removed by the next export to the same file. Writes wait while the destination's buffer is full
 * (backpressure), so memory stays flat.
 */
export async function openCsvSink(out: string, stdout: Writable, options: { excel: boolean }): Promise<CsvSink> {
  const file = out === '-' ? undefined : openAtomicFile(out);
  const dest: Writable = file ? file.stream() : stdout;
  let failed: Error | undefined;
  const onError = (e: Error) => (failed = e);
  dest.on('error', onError);
  let batch: string[][] = [];
  let bom = options.excel;
  const flush = async () => {
    if (failed) throw failed;
    if (batch.length === 0 && !bom) return;
    const text = (bom ? '\ufeff' : '') + csvRows(batch, '\r\n');
    bom = false;
    batch = [];
    if (!dest.write(text)) await once(dest, 'drain');
  };
  return {
    async write(row) {
      batch.push(row);
      if (batch.length >= BATCH) await flush();
    },
    async close() {
      await flush();
      dest.off('error', onError);
      await file?.commit();
    },
    async abort() {
      batch = [];
      dest.off('error', onError);
      file?.abort();
    },
  };
}

/** Writes a header and every row of `rows` (any async iterable) through `sink`. */
export async function writeCsv<R>(sink: CsvSink, columns: readonly CsvColumn<R>[], rows: AsyncIterable<R> | Iterable<R>, onRow?: () => void): Promise<number> {
  let n = 0;
  try {
    await sink.write(columns.map((c) => neutralise(c.header)));
    for await (const r of rows) {
      await sink.write(columns.map((c) => cell(c, r)));
      n++;
      onRow?.();
    }
    await sink.close();
    return n;
  } catch (err) {
    await sink.abort();
    throw err;
  }
}
