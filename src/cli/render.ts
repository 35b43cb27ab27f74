/**
 * Output: `--format table` (cli-table3 + chalk; colour only on a terminal and without NO_COLOR or
 * --no-color), `json` (one document), `csv` (RFC 4180 quoting and formula cells neutralised, as
 * exports: src/export/csv-writer.ts; rows end in LF). Results go to stdout.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { csvRows, neutraliseUnlessNumber } from '../export/csv-writer.js';
import { toJson } from '../json.js';

export type Format = 'table' | 'json' | 'csv';
export type Cell = string | number | bigint | boolean | null | undefined | { toString(): string };

export interface Column<R> {
  header: string;
  value: (row: R) => Cell;
  align?: 'left' | 'right';
}

export function makeChalk(color: boolean): ChalkInstance {
  return new Chalk({ level: color ? 1 : 0 });
}

function cellText(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

export async function renderTable<R>(rows: readonly R[], columns: readonly Column<R>[], chalk: ChalkInstance): Promise<string> {
  const { default: Table } = await import('cli-table3');
  const table = new Table({
    head: columns.map((c) => chalk.bold(c.header)),
    colAligns: columns.map((c) => c.align ?? 'left'),
    style: { head: [], border: [], compact: true },
    chars: chalk.level > 0 ? {} : undefined,
  });
  for (const r of rows) table.push(columns.map((c) => cellText(c.value(r))));
  return `${table.toString()}\n`;
}

/** Any cell may hold outside text (ids, names, descriptions): all but plain numbers are neutralised. */
export function renderCsv<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const cells = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => cellText(c.value(r))))];
  return csvRows(cells.map((row) => row.map(neutraliseUnlessNumber)), '\n');
}

export function renderJson(value: unknown): string {
  return `${toJson(value)}\n`;
}
