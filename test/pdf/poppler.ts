/**
 * Reading PDFs back with poppler (pdftotext, pdfinfo, pdffonts). Without poppler-utils the PDF
 * checks are skipped with a notice, except under CI=true, where that is a failure (.ci/run
 * installs poppler-utils).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function has(tool: string): boolean {
  return spawnSync(tool, ['-v'], { stdio: 'ignore' }).error === undefined;
}

export const popplerMissing = !has('pdftotext') || !has('pdfinfo') || !has('pdffonts');

if (popplerMissing) {
  const message = 'pdftotext, pdfinfo and pdffonts (poppler-utils) are needed to read invoice PDFs back: apt-get install -y poppler-utils';
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(message);
  process.stderr.write(`notice: PDF content checks skipped: ${message}\n`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'billctl-pdf-test-'));
let n = 0;

function toFile(pdf: Buffer): string {
  const file = path.join(dir, `${++n}.pdf`);
  fs.writeFileSync(file, pdf);
  return file;
}

function run(tool: string, args: string[]): string {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * The text of a PDF (or of pages first..last), laid out as on the page; or `raw`, in the order it
 * was drawn (a watermark across the page then stays one word).
 */
export function pdfText(pdf: Buffer, pages?: { first: number; last: number }, mode: 'layout' | 'raw' = 'layout'): string {
  const range = pages ? ['-f', String(pages.first), '-l', String(pages.last)] : [];
  return run('pdftotext', [`-${mode}`, '-enc', 'UTF-8', ...range, toFile(pdf), '-']);
}

export function pdfPageCount(pdf: Buffer): number {
  const m = /^Pages:\s+(\d+)/m.exec(run('pdfinfo', [toFile(pdf)]));
  if (!m) throw new Error('pdfinfo printed no page count');
  return Number(m[1]);
}

/** pdfinfo's fields: Title, Author, CreationDate, ... */
export function pdfInfo(pdf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of run('pdfinfo', ['-isodates', toFile(pdf)]).split('\n')) {
    const m = /^([A-Za-z ]+):\s+(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

/** The embedded fonts' names (subset tag removed), and whether each is embedded and a subset. */
export function pdfFonts(pdf: Buffer): { name: string; embedded: boolean; subset: boolean }[] {
  const lines = run('pdffonts', [toFile(pdf)]).split('\n').slice(2).filter((l) => l.trim() !== '');
  return lines.map((l) => {
    const cols = l.trim().split(/\s+/);
    const name = cols[0] ?? '';
    // name type encoding emb sub uni object ID: the yes/no columns come in a fixed order from the end.
    const [emb, sub] = cols.slice(-5, -3);
    return { name: name.replace(/^[A-Z]{6}\+/, ''), embedded: emb === 'yes', subset: sub === 'yes' };
  });
}

/** Text with runs of whitespace made single spaces, for matching phrases across table layout. */
export function squash(text: string): string {
  return text.replace(/\s+/g, ' ');
}
