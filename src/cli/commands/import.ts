/** import (and, through runImport, backfill): read receipt files into the store. */
import { importReceipts, type ImportOutcome, type ImportProgress, type ImportRequest } from '../../app/import.js';
import { parseDate, parseRfc3339, DAY_MS } from '../../domain/time.js';
import { errorMessage, UsageError } from '../../errors.js';
import type { InputFormat } from '../../ingest/types.js';
import type { BatchKind } from '../../store/ingest.js';
import type { Context } from '../context.js';
import { startProgress, type Progress } from '../progress.js';

/** An instant from --since/--until: a date (UTC midnight; for --until the end of that day) or RFC 3339. */
export function parseBound(flag: string, text: string, endOfDay: boolean): number {
  const day = parseDate(text);
  if (day !== undefined) return endOfDay ? day + DAY_MS : day;
  const t = parseRfc3339(text);
  if (t.ok) return t.ms;
  throw new UsageError(`${flag} ${JSON.stringify(text)} is not a date (YYYY-MM-DD) or an instant (2026-10-03T14:07:11Z)`);
}

function mb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Progress on a terminal: files, records, records per second, bytes and ETA (silent otherwise). */
async function progressReporter(ctx: Context): Promise<{ update: (p: ImportProgress) => void; stop: () => void }> {
  const bar: Progress = await startProgress(
    ctx,
    '{bar} {percentage}% | file {file}/{files} | {records} records | {rate} records/s | {done} of {size} | ETA {eta_formatted}',
    1,
  );
  const started = Date.now();
  let lastDraw = 0;
  let total = 1;
  return {
    update: (p) => {
      const now = Date.now();
      if (now - lastDraw < 200 && p.bytes < p.bytesTotal) return;
      lastDraw = now;
      // Standard input has no size: the bar then follows what was read.
      const size = Math.max(p.bytesTotal, p.bytes, 1);
      if (size !== total) bar.setTotal((total = size));
      const secs = Math.max((now - started) / 1000, 0.001);
      bar.update(p.bytes, {
        file: Math.min(p.files + 1, p.filesTotal), files: p.filesTotal, records: p.records,
        rate: Math.round(p.records / secs), done: mb(p.bytes), size: p.bytesTotal > 0 ? mb(p.bytesTotal) : '?',
      });
    },
    stop: () => bar.stop(),
  };
}

export function reportRejects(ctx: Context, outcome: ImportOutcome, rejectsFile: string | undefined): void {
  for (const { file, entry } of outcome.report) {
    ctx.warn(`${file}:${entry.line}: ${entry.reason}`);
    if (entry.kind === 'conflict' && entry.stored && entry.incoming) {
      ctx.io.stderr.write(`  stored: ${JSON.stringify(entry.stored)}\n  new:    ${JSON.stringify(entry.incoming)}\n`);
    }
  }
  const more = outcome.reportTotal - outcome.report.length;
  if (more > 0) {
    ctx.warn(
      `... and ${more} more rejected or conflicting record${more === 1 ? '' : 's'}` +
        (rejectsFile ? ` (all are in ${rejectsFile})` : ' (--rejects FILE writes them all)'),
    );
  }
}

export async function runImport(ctx: Context, kind: BatchKind, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const inputs = (args[0] as string[] | undefined) ?? [];
  const str = (k: string) => (opts[k] === undefined ? undefined : String(opts[k]));
  const since = str('since');
  const until = str('until');
  const req: ImportRequest = {
    kind,
    inputs,
    cwd: ctx.io.cwd,
    covenantMap: str('covenantMap'),
    assumeUtc: opts.assumeUtc === true,
    strict: opts.strict === true,
    dryRun: opts.dryRun === true,
    force: opts.force === true,
    inputFormat: str('inputFormat') as InputFormat | undefined,
    since: since === undefined ? undefined : parseBound('--since', since, false),
    until: until === undefined ? undefined : parseBound('--until', until, true),
    rejectsFile: str('rejects'),
    stdin: ctx.io.stdin,
    env: ctx.io.env,
    now: () => ctx.nowIso(),
    actor: ctx.actor,
  };
  if (req.since !== undefined && req.until !== undefined && req.since >= req.until) {
    throw new UsageError(`--since ${since} is not before --until ${until}`);
  }
  return ctx.withStore(async (store) => {
    let outcome: ImportOutcome;
    const progress = await progressReporter(ctx);
    try {
      outcome = await importReceipts(store, req, { progress: progress.update, warn: (t) => ctx.warn(t), notice: (t) => ctx.notice(t) });
    } finally {
      progress.stop();
    }
    // Each committed unit wrote its own audit entry, in its own transaction.
    const s = outcome.summary;
    reportRejects(ctx, outcome, req.rejectsFile);
    // JSON is exactly cli.md's summary; what a run adds to it is said on stderr (and in the table).
    const { skipped_files: skipped, out_of_range: outOfRange, refused_files: refused, dry_run: _dryRun, ...shape } = s;
    const failure = outcome.failure;
    if (failure) {
      // What was done and what was not, alike in every format; then the error (stderr, exit code).
      const unfinished = failure.unfinished.map((u) => ({ file: u.file, from_line: u.fromLine }));
      const error = errorMessage(failure.error);
      await ctx.record(
        [...Object.entries(s), ['error', error], ['unfinished', unfinished.map((u) => `${u.file} from line ${u.from_line}`).join('; ')]],
        { ...shape, error, unfinished },
      );
      throw failure.error;
    }
    await ctx.record(Object.entries(s), shape);
    if (ctx.format !== 'table') {
      const files = (n: number) => (n === 1 ? '1 file' : `${n} files`);
      if (skipped) ctx.notice(`${files(skipped)} already imported with the same settings, not read again (counted as reading them again would; --force reads them)`);
      if (outOfRange) ctx.notice(`${outOfRange} receipt${outOfRange === 1 ? '' : 's'} outside --since/--until, not imported`);
      if (refused) ctx.notice(`${files(refused)} refused whole by --strict`);
    }
    if (req.dryRun) ctx.notice('dry run: nothing was written to the store');
    return s.rejected > 0 || s.conflicts > 0 ? 3 : 0;
  });
}

export async function run(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return runImport(ctx, 'import', args, opts);
}
