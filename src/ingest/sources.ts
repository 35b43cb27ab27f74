/**
 * What to read: files by extension, directories (recursively, in path order), standard input.
 * Every problem a user can fix (a missing file, an unknown format) is a usage error, found before
 * anything is read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { InputFormat, SourceSpec } from './types.js';

/** The format a file name says: .jsonl/.ndjson, .json, .csv, each optionally .gz. */
export function formatOfName(name: string): { format: InputFormat; gzip: boolean } | undefined {
  let n = name.toLowerCase();
  const gzip = n.endsWith('.gz');
  if (gzip) n = n.slice(0, -3);
  if (n.endsWith('.jsonl') || n.endsWith('.ndjson')) return { format: 'jsonl', gzip };
  if (n.endsWith('.json')) return { format: 'json', gzip };
  if (n.endsWith('.csv')) return { format: 'csv', gzip };
  return undefined;
}

/** Byte order of UTF-8, so path order is the same everywhere. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function displayOf(abs: string, cwd: string): string {
  const rel = path.relative(cwd, abs);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
}

/** Whether `real` is `root` or lies under it (both real paths). */
function inside(root: string, real: string): boolean {
  const rel = path.relative(root, real);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

/**
 * Receipt files under a directory, recursively, in path order: the byte order of their whole
 * paths (so `a.jsonl` comes before `a/x.jsonl`, as `/` sorts after `.`). Every file counts,
 * hidden ones too. A symbolic link is followed only while it stays inside the directory named
 * (a link to `..` or to /etc is left out and told to `outside`); a file reached by two paths
 * counts once.
 */
function walk(dir: string, outside: (link: string) => void): string[] {
  const root = fs.realpathSync(dir);
  const found: Found[] = [];
  collect(dir, root, new Set(), found, outside);
  // A file reached by two paths is read once, by its own path rather than a link's.
  found.sort((a, b) => Number(a.viaLink) - Number(b.viaLink) || byteOrder(a.file, b.file));
  const taken = new Set<string>();
  return found.filter((f) => !taken.has(f.real) && taken.add(f.real)).map((f) => f.file).sort(byteOrder);
}

interface Found {
  file: string;
  real: string;
  viaLink: boolean;
}

function collect(dir: string, root: string, seenDirs: Set<string>, found: Found[], outside: (link: string) => void, viaLink = false): void {
  const real = fs.realpathSync(dir);
  if (seenDirs.has(real)) return; // a symlink loop, or a directory reached twice
  seenDirs.add(real);
  const entries: { full: string; name: string; st: fs.Stats; target: string; link: boolean }[] = [];
  for (const name of fs.readdirSync(dir).sort(byteOrder)) {
    const full = path.join(dir, name);
    try {
      const st = fs.statSync(full);
      const link = fs.lstatSync(full).isSymbolicLink();
      entries.push({ full, name, st, link, target: link ? fs.realpathSync(full) : path.join(real, name) });
    } catch {
      // a dangling symlink
    }
  }
  // Directories themselves before links to them, so a directory's files keep their own paths.
  entries.sort((a, b) => Number(a.link) - Number(b.link));
  for (const e of entries) {
    const isDir = e.st.isDirectory();
    if (!isDir && !(e.st.isFile() && formatOfName(e.name))) continue;
    if (!inside(root, e.target)) outside(e.full);
    else if (isDir) collect(e.full, root, seenDirs, found, outside, viaLink || e.link);
    else found.push({ file: e.full, real: e.target, viaLink: viaLink || e.link });
  }
}

export interface ExpandOptions {
  /** --input-format: for standard input and for named files whose extension does not say. */
  inputFormat?: InputFormat;
  allowStdin: boolean;
  command: string;
  /** Told of each symbolic link in a directory that points outside it (left out). */
  outside?: (link: string) => void;
}

export function expandInputs(inputs: readonly string[], cwd: string, o: ExpandOptions): SourceSpec[] {
  if (inputs.length === 0) {
    throw new UsageError(`${o.command}: name at least one file or directory`, `Example: billctl ${o.command} receipts/`);
  }
  const out: SourceSpec[] = [];
  const taken = new Set<string>();
  const add = (s: SourceSpec) => {
    if (taken.has(s.path)) return;
    taken.add(s.path);
    out.push(s);
  };
  for (const input of inputs) {
    if (input === '-') {
      if (!o.allowStdin) {
        throw new UsageError(`${o.command} reads files and directories, not standard input`, 'Use billctl import - for standard input.');
      }
      add({ path: '-', display: '-', format: o.inputFormat ?? 'jsonl', gzip: false });
      continue;
    }
    const abs = path.resolve(cwd, input);
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(
        `${input}: ${code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
        'Check the path (a file, a directory of receipt files, or - for standard input).',
      );
    }
    if (st.isDirectory()) {
      const files = walk(abs, o.outside ?? (() => {}));
      if (files.length === 0) {
        throw new UsageError(
          `${input}: no receipt files in this directory`,
          'billctl reads *.jsonl, *.ndjson, *.json and *.csv files, each optionally .gz.',
        );
      }
      for (const f of files) add({ path: f, display: displayOf(f, cwd), ...formatOfName(path.basename(f))! });
      continue;
    }
    const byName = formatOfName(path.basename(abs));
    let format = byName?.format ?? o.inputFormat;
    if (format === undefined) {
      throw new UsageError(
        `${input}: cannot tell its format from its name`,
        'Name it .jsonl, .ndjson, .json or .csv (optionally .gz), or pass --input-format jsonl|csv.',
      );
    }
    if (byName === undefined && o.inputFormat) format = o.inputFormat;
    try {
      fs.accessSync(abs, fs.constants.R_OK);
    } catch (err) {
      throw new UsageError(`${input}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    add({ path: abs, display: input, format, gzip: abs.toLowerCase().endsWith('.gz') });
  }
  return out;
}
