/**
 * Importing receipts (`import`, `backfill`): sources -> batches -> units of work, each unit one
 * transaction that also records the batch's progress, so a killed run is resumed by running the
 * same command again and ends exactly where one clean run would.
 *
 * Per file: a completed batch with the same path and stat fingerprint (or, after hashing, the same
 * SHA-256) and the same settings means "already imported": skipped without reading. A running
 * batch is resumed from its checkpoint. Otherwise a new batch is read from the start. A file is
 * hashed before it is read only when a complete batch of its size exists (only then can its content
 * match one); otherwise the reading thread hashes it as it reads it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { Decimal } from '../domain/money.js';
import { localDayNumber } from '../domain/period.js';
import { BillctlError, ExitCode } from '../errors.js';
import { loadCovenantMap, type CovenantMap } from '../ingest/covenants.js';
import { RollupAccumulator } from '../ingest/rollups.js';
import { startReading, type Reading } from '../ingest/reading.js';
import { expandInputs } from '../ingest/sources.js';
import {
  ParcelDecoder, type Checkpoint, type InputFormat, type Parcel, type PipelineJob, type PipelineOptions, type RollupDelta, type SourceSpec,
} from '../ingest/types.js';
import { ZERO_COUNTS, type BatchCounts, type BatchKind, type BatchRecord, type IngestStore, type RejectRecord, type ReceiptWriter } from '../store/ingest.js';
import type { Store } from '../store/store.js';
import { newestCatalog } from './catalogs.js';

/** Records per unit of work (one transaction each) and per parcel. */
export const UNIT_RECORDS = 262_144;
export const PARCEL_RECORDS = 2048;
/** How much of a rejected record's text the store keeps. */
const MAX_REJECT_TEXT = 64 * 1024;

export interface ImportRequest {
  kind: BatchKind;
  inputs: readonly string[];
  cwd: string;
  covenantMap?: string;
  assumeUtc: boolean;
  strict: boolean;
  dryRun: boolean;
  force: boolean;
  inputFormat?: InputFormat;
  /** Backfill window on receipt timestamps (ms): since <= ts < until. */
  since?: number;
  until?: number;
  /** Write every reject and conflict here (JSON Lines), atomically, at the end. */
  rejectsFile?: string;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  now: () => string;
}

export interface ImportProgress {
  files: number;
  filesTotal: number;
  records: number;
  bytes: number;
  bytesTotal: number;
}

export interface ImportHooks {
  progress?: (p: ImportProgress) => void;
  /** Something about the input the user should know (always shown). */
  warn?: (text: string) => void;
}

export interface ImportSummary {
  files: number;
  lines: number;
  imported: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  new_tenants: number;
  unsplit_tokens: number;
  /** Present when a file was skipped as already imported (cli.md's shape otherwise). */
  skipped_files?: number;
  out_of_range?: number;
  refused_files?: number;
  dry_run?: boolean;
}

export interface ImportOutcome {
  summary: ImportSummary;
  /** The first rejects and conflicts, for the report on stderr (file as shown, record). */
  report: { file: string; entry: RejectRecord }[];
  /** How many rejects and conflicts there are in all. */
  reportTotal: number;
}

/** Rejects and conflicts shown on stderr; --rejects FILE has them all. */
export const REPORT_LIMIT = 100;

const ROLLBACK = Symbol('dry run');

/** What identifies a file's version without reading it (as rsync and make do): device, inode, size, mtime, ctime. */
function fingerprintOf(file: string): string {
  const st = fs.statSync(file, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

function clip(text: string): string {
  return text.length > MAX_REJECT_TEXT ? `${text.slice(0, MAX_REJECT_TEXT)}...` : text;
}

function add(total: BatchCounts, c: BatchCounts): void {
  for (const k of Object.keys(total) as (keyof BatchCounts)[]) total[k] += c[k];
}

/** Standard input, gunzipped when it starts with the gzip magic bytes. */
async function stdinBytes(stdin: Readable): Promise<{ input: AsyncIterable<Buffer>; gzip: boolean }> {
  const it = (stdin as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < 2) {
    const n = await it.next();
    if (n.done) break;
    head = Buffer.concat([head, Buffer.from(n.value)]);
  }
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield Buffer.from(n.value);
    }
  }
  return { input: all(), gzip };
}

class ImportRun {
  readonly totals: BatchCounts = { ...ZERO_COUNTS };
  files = 0;
  skipped = 0;
  refused = 0;
  /** Batches read in this run, in order, with how their file is shown. */
  readonly batches: { id: number; display: string }[] = [];
  private readonly tzFix = new Map<string, string>();
  private bytesBefore = 0;
  private records = 0;
  private readonly bytesTotal: number;
  private readonly writer: ReceiptWriter;

  constructor(
    private readonly store: Store,
    private readonly ingest: IngestStore,
    private readonly reading: { files: Reading; stream: Reading },
    private readonly req: ImportRequest,
    private readonly sources: SourceSpec[],
    private readonly known: Map<string, string>,
    private readonly defaultPlan: string,
    private readonly covenants: CovenantMap | null,
    private readonly hooks: ImportHooks,
  ) {
    this.writer = ingest.writer();
    let total = 0;
    for (const s of sources) if (s.path !== '-') total += fs.statSync(s.path).size;
    this.bytesTotal = total;
  }

  private options(): PipelineOptions {
    return {
      assumeUtc: this.req.assumeUtc,
      covenants: this.covenants ? [...this.covenants.map] : null,
      since: this.req.since ?? null,
      until: this.req.until ?? null,
    };
  }

  /** What changes the result of reading a source: batches are only "the same import" with equal settings. */
  private settings(src: SourceSpec): string {
    return JSON.stringify({
      format: src.format,
      assume_utc: this.req.assumeUtc,
      covenant_map: this.covenants?.digest ?? null,
      since: this.req.since ?? null,
      until: this.req.until ?? null,
    });
  }

  private tell(bytesRead: number): void {
    this.hooks.progress?.({
      files: this.files,
      filesTotal: this.sources.length,
      records: this.records,
      bytes: this.bytesBefore + bytesRead,
      bytesTotal: this.bytesTotal,
    });
  }

  async source(src: SourceSpec): Promise<void> {
    this.tell(0);
    if (src.path === '-') await this.stdin(src);
    else await this.file(src, src.path, null);
    this.files++;
    this.tell(0);
  }

  private async stdin(src: SourceSpec): Promise<void> {
    const { input, gzip } = await stdinBytes(this.req.stdin);
    const spec = { ...src, gzip };
    if (this.req.strict) {
      // --strict reads a source twice: spool standard input to a file first.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'billctl-stdin-'));
      const spool = path.join(dir, 'stdin');
      try {
        const out = fs.createWriteStream(spool);
        for await (const chunk of input) if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
        await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
        await this.file(spec, spool, '-');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      return;
    }
    const id = await this.ingest.createBatch({
      kind: this.req.kind, path: '-', display: '-', format: src.format, settings: this.settings(src), size: null, sha256: null,
      fingerprint: null, status: 'running', startedAt: this.req.now(),
    });
    await this.load(spec, id, { ...ZERO_COUNTS }, { records: 0, line: 0, byte: 0 }, null, input);
  }

  /** A complete batch stands for reading its file again, unless --strict would now refuse that file. */
  private skippable(b: BatchRecord): boolean {
    return !this.req.strict || b.counts.rejected === 0;
  }

  /** A file (or spooled standard input, recorded as `recordAs`). */
  private async file(src: SourceSpec, file: string, recordAs: string | null): Promise<void> {
    const size = fs.statSync(file).size;
    const fingerprint = recordAs === null ? fingerprintOf(file) : null;
    const batchPath = recordAs ?? file;
    const settings = this.settings(src);
    // Skipped without reading, but counted as reading it again would count it (cli.md's summary,
    // receipts.md's "duplicates are counted across runs"): every record it stored is now a
    // duplicate; its duplicates, conflicts, rejects and out-of-range receipts are what they were,
    // and its rejects and conflicts are reported again.
    const skip = (done: BatchRecord) => {
      this.skipped++;
      this.bytesBefore += size;
      const c = done.counts;
      this.records += c.lines;
      add(this.totals, {
        ...ZERO_COUNTS, lines: c.lines, duplicates: c.imported + c.duplicates, conflicts: c.conflicts, rejected: c.rejected,
        outOfRange: c.outOfRange,
      });
      this.batches.push({ id: done.id, display: src.display });
    };
    let resume;
    if (fingerprint !== null) {
      const byPath = (await this.ingest.findBatches({ path: batchPath })).filter((b) => b.settings === settings);
      const done = byPath.find((b) => b.status === 'complete' && b.fingerprint === fingerprint && this.skippable(b));
      if (!this.req.force && done) return skip(done);
      resume = byPath.find((b) => b.status === 'running' && b.fingerprint === fingerprint);
    }
    let sha = resume?.sha256 ?? null;
    // Without a complete batch of the same size no content can match: the reading thread hashes
    // the file as it reads it, instead of a pass over the whole file first.
    let hashAsRead = false;
    if (!resume && !this.req.force) {
      if (!this.req.strict && !(await this.ingest.completeBatchOfSize(size))) hashAsRead = true;
      else {
        sha = (await this.reading.files.hash(file)).sha256;
        const bySha = (await this.ingest.findBatches({ sha256: sha })).filter((b) => b.settings === settings);
        const done = bySha.find((b) => b.status === 'complete' && this.skippable(b));
        if (done) return skip(done);
        resume = fingerprint === null ? undefined : bySha.find((b) => b.status === 'running');
        if (resume) await this.ingest.moveBatch(resume.id, batchPath, src.display, fingerprint);
      }
    }
    const source = { ...src, path: file };
    if (this.req.strict && !(await this.validate(source, batchPath, settings, sha, size))) {
      this.bytesBefore += size;
      return;
    }
    const id =
      resume?.id ??
      (await this.ingest.createBatch({
        kind: this.req.kind, path: batchPath, display: src.display, format: src.format, settings, size, sha256: sha, fingerprint,
        status: 'running', startedAt: this.req.now(),
      }));
    await this.load(
      source, id, resume ? { ...resume.counts } : { ...ZERO_COUNTS }, resume?.checkpoint ?? { records: 0, line: 0, byte: 0 }, sha,
      undefined, fingerprint, hashAsRead,
    );
    this.bytesBefore += size;
  }

  private job(src: SourceSpec, batchId: number, resume: Checkpoint, emitRows: boolean): PipelineJob {
    const seek = src.path !== '-' && src.format === 'jsonl' && !src.gzip && resume.byte > 0;
    // Tests shrink units and parcels to exercise their boundaries (and crashes between them).
    const size = (name: string, dflt: number) => {
      const v = Number(this.req.env[name]);
      return Number.isSafeInteger(v) && v > 0 ? v : dflt;
    };
    const unitRecords = size('BILLCTL_IMPORT_UNIT', UNIT_RECORDS);
    return {
      source: src, batchId, resume, seek, options: this.options(), tenants: [...this.known], emitRows,
      // Whether the reading side hashes the source is load()'s to decide.
      aggregates: emitRows && this.writer.wantsRollups, hash: false, unitRecords,
      // --force mostly reads receipts that are stored already: the reading side's sums would go unused.
      sumFirstUnit: !this.req.force,
      parcelRecords: Math.min(unitRecords, size('BILLCTL_IMPORT_PARCEL', PARCEL_RECORDS)),
      queue: this.writer.queueDepth,
    };
  }

  private rejectsOf(batchId: number, p: Pick<Parcel, 'rejects'>): RejectRecord[] {
    return p.rejects.map((r) => ({
      batchId, line: r.line, kind: 'reject', reason: r.reason, text: clip(r.text), tenantId: null, receiptId: null,
      stored: null, incoming: null,
    }));
  }

  /**
   * --strict: a first pass only validates. A source with any reject imports nothing; its batch is
   * recorded as refused, with its rejects, in one transaction. True when the source is clean.
   */
  private async validate(src: SourceSpec, batchPath: string, settings: string, sha: string | null, size: number): Promise<boolean> {
    const reading = this.reading.files;
    const check = reading.read(this.job(src, 0, { records: 0, line: 0, byte: 0 }, false));
    let bad = 0;
    for (let p = await check.next(); p; p = await check.next()) bad += p.rejects.length;
    await check.end;
    if (bad === 0) return true;
    await this.store.transaction(async () => {
      const id = await this.ingest.createBatch({
        kind: this.req.kind, path: batchPath, display: src.display, format: src.format, settings, size, sha256: sha,
        fingerprint: null, status: 'refused', startedAt: this.req.now(),
      });
      this.batches.push({ id, display: src.display });
      const counts: BatchCounts = { ...ZERO_COUNTS };
      const again = reading.read(this.job(src, id, { records: 0, line: 0, byte: 0 }, false));
      let checkpoint: Checkpoint = { records: 0, line: 0, byte: 0 };
      for (let p = await again.next(); p; p = await again.next()) {
        await this.ingest.addRejects(this.rejectsOf(id, p));
        counts.lines += p.records;
        counts.rejected += p.rejects.length;
        counts.outOfRange += p.outOfRange;
        checkpoint = p.checkpoint;
        this.records += p.records;
        this.tell(p.bytesRead);
      }
      await again.end;
      await this.ingest.finishBatch(id, { status: 'refused', counts, checkpoint, sha256: null, size: null, at: this.req.now() });
      add(this.totals, counts);
    });
    this.refused++;
    return false;
  }

  /** Creates the tenants a parcel mentions for the first time (in the caller's transaction). */
  private async tenants(names: readonly string[], counts: BatchCounts): Promise<void> {
    const unknown = names.filter((t) => !this.known.has(t));
    if (unknown.length === 0) return;
    const created = await this.store.insertTenantsIfAbsent(
      unknown.map((t) => ({
        id: t, name: t, timezone: 'UTC', taxRate: Decimal.ZERO, taxLabel: 'Tax', netDays: 30, currency: null, email: null,
        address: null, billingMode: 'invoice' as const, stripeCustomerId: null, autoCreated: true, plan: this.defaultPlan, planFrom: null,
      })),
      this.req.now(),
    );
    for (const t of unknown) {
      if (created.has(t)) {
        this.known.set(t, 'UTC');
        counts.newTenants++;
        continue;
      }
      // Another process created it since this run looked: its days follow its own timezone.
      const existing = await this.store.getTenant(t);
      const timezone = existing?.timezone ?? 'UTC';
      this.known.set(t, timezone);
      if (timezone !== 'UTC') this.tzFix.set(t, timezone);
    }
  }

  /** Rows of tenants whose timezone the reading side did not know get their real local day. */
  private fixDays(p: Parcel, corrections: RollupAccumulator): void {
    if (this.tzFix.size === 0) return;
    for (let i = 0; i < p.rows.length; i++) {
      const row = p.rows[i]!;
      const tz = this.tzFix.get(row[0]);
      if (tz === undefined) continue;
      const day = localDayNumber(tz, row[2]);
      if (day === p.days[i]) continue;
      corrections.add(row, p.days[i]!, -1);
      corrections.add(row, day, 1);
      p.days[i] = day;
    }
  }

  /** Reads a source into its batch, one transaction per unit, from `checkpoint` on. */
  private async load(
    src: SourceSpec,
    batchId: number,
    counts: BatchCounts,
    checkpoint: Checkpoint,
    sha: string | null,
    input?: AsyncIterable<Buffer>,
    fingerprint?: string | null,
    hashAsRead = false,
  ): Promise<void> {
    this.batches.push({ id: batchId, display: src.display });
    this.tzFix.clear();
    const job = this.job(src, batchId, checkpoint, true);
    // Standard input, and a new file no complete batch could match, are hashed as they are read.
    job.hash = sha === null && (input !== undefined || hashAsRead);
    /** The timezones the reading side computes days with. */
    const snapshot = new Map(job.tenants);
    const stream = (input ? this.reading.stream : this.reading.files).read(job, input);
    // Otherwise a file read without a hash (--force, a resumed batch) is hashed on this thread
    // meanwhile (it waits on the reader then).
    const hashing = sha === null && !job.hash ? this.reading.stream.hash(src.path) : undefined;
    hashing?.catch(() => {});
    const decoder = new ParcelDecoder(batchId);
    const next = async () => {
      // One turn of the event loop per parcel, so timers (the progress bar) run while parcels flow.
      await setImmediate();
      const w = await stream.next();
      return w && decoder.decode(w);
    };
    let last = checkpoint;
    for (let p = await next(); p; p = await next()) {
      const unitStart: Parcel = p;
      await this.store.transaction(async () => {
        // Timezones as they are now: a tenant moved since the reading side looked gets its real days.
        for (const [t, tz] of await this.ingest.tenantTimezones(true)) {
          if ((snapshot.get(t) ?? 'UTC') !== tz) this.tzFix.set(t, tz);
          else this.tzFix.delete(t);
          this.known.set(t, tz);
        }
        await this.writer.begin(batchId, (t, ts) => localDayNumber(this.known.get(t) ?? 'UTC', ts));
        const corrections = new RollupAccumulator();
        let q = unitStart;
        for (;;) {
          if (q.newTenants.length > 0) {
            await this.writer.quiesce();
            await this.tenants(q.newTenants, counts);
          }
          this.fixDays(q, corrections);
          await this.writer.add(q);
          if (q.rejects.length > 0) {
            await this.writer.quiesce();
            await this.ingest.addRejects(this.rejectsOf(batchId, q));
          }
          counts.lines += q.records;
          counts.rejected += q.rejects.length;
          counts.outOfRange += q.outOfRange;
          this.records += q.records;
          this.tell(q.bytesRead);
          if (q.unitEnd) break;
          const n = await next();
          if (!n) throw new Error('the reader ended inside a unit of work');
          q = n;
        }
        let sums: RollupDelta[][] | undefined;
        if (q.rollups) {
          sums = [q.rollups];
          if (corrections.size > 0) sums.push(corrections.deltas());
        }
        const r = await this.writer.finish(sums);
        stream.setAggregates(r.wantsSums);
        counts.imported += r.imported;
        counts.duplicates += r.duplicates;
        counts.conflicts += r.conflicts.length;
        counts.unsplitTokens += r.unsplit;
        if (r.conflicts.length > 0) await this.ingest.addRejects(r.conflicts.map((c) => ({ ...c, text: clip(c.text) })));
        await this.ingest.saveProgress(batchId, counts, q.checkpoint);
        last = q.checkpoint;
      });
    }
    const end = await stream.end;
    if (fingerprint !== undefined && fingerprint !== null && fingerprintOf(src.path) !== fingerprint) {
      throw new BillctlError(
        `${src.display} changed while it was read`,
        ExitCode.failed,
        'What was read is stored (and deduplicated); run the same command again to import the file as it is now.',
      );
    }
    // A file the reading side could not hash to its end (a damaged .gz) is hashed here.
    const digest =
      sha ?? end.sha256 ?? (hashing ? (await hashing).sha256 : input ? null : (await this.reading.stream.hash(src.path)).sha256);
    await this.ingest.finishBatch(batchId, {
      status: 'complete', counts, checkpoint: last, sha256: digest, size: input ? end.bytes : null, at: this.req.now(),
    });
    add(this.totals, counts);
  }

  summary(): ImportSummary {
    const t = this.totals;
    const s: ImportSummary = {
      files: this.files, lines: t.lines, imported: t.imported, duplicates: t.duplicates, conflicts: t.conflicts,
      rejected: t.rejected, new_tenants: t.newTenants, unsplit_tokens: t.unsplitTokens,
    };
    if (this.skipped > 0) s.skipped_files = this.skipped;
    if (this.req.kind === 'backfill') s.out_of_range = t.outOfRange;
    if (this.req.strict) s.refused_files = this.refused;
    if (this.req.dryRun) s.dry_run = true;
    return s;
  }

  /** Every reject and conflict of this run's batches, in order. */
  async *rejects(): AsyncGenerator<{ file: string; entry: RejectRecord }> {
    for (const b of this.batches) {
      let after = 0;
      for (;;) {
        const page = await this.ingest.listRejects(b.id, after, 1000);
        for (const entry of page) yield { file: b.display, entry };
        if (page.length < 1000) break;
        after = page[page.length - 1]!.line;
      }
    }
  }
}

/** One JSON Lines entry of the --rejects file: the record verbatim, where it was, and why. */
export function rejectLine(file: string, e: RejectRecord): string {
  const o: Record<string, unknown> = { file, line: e.line, kind: e.kind, reason: e.reason, text: e.text };
  if (e.kind === 'conflict') {
    o.tenant_id = e.tenantId;
    o.id = e.receiptId;
    o.stored = e.stored;
    o.new = e.incoming;
  }
  return `${JSON.stringify(o)}\n`;
}

async function writeRejectsFile(file: string, entries: AsyncIterable<{ file: string; entry: RejectRecord }>): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    let buf = '';
    for await (const { file: f, entry } of entries) {
      buf += rejectLine(f, entry);
      if (buf.length > 1 << 20) {
        fs.writeSync(fd, buf);
        buf = '';
      }
    }
    fs.writeSync(fd, buf);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

/** `import` and `backfill`: reads every source, returns the summary and the report. */
export async function importReceipts(store: Store, req: ImportRequest, hooks: ImportHooks = {}): Promise<ImportOutcome> {
  const sources = expandInputs(req.inputs, req.cwd, {
    inputFormat: req.inputFormat, allowStdin: req.kind === 'import', command: req.kind,
    outside: (link) => hooks.warn?.(`${path.relative(req.cwd, link) || link}: a symbolic link to outside the directory named, not read`),
  });
  const covenants = req.covenantMap ? loadCovenantMap(path.resolve(req.cwd, req.covenantMap)) : null;
  const rejectsFile = req.rejectsFile === undefined ? undefined : path.resolve(req.cwd, req.rejectsFile);
  if (rejectsFile !== undefined && !fs.existsSync(path.dirname(rejectsFile))) {
    throw new BillctlError(`--rejects ${req.rejectsFile}: its folder does not exist`, ExitCode.usage);
  }
  const defaultPlan = (await newestCatalog(store)).catalog.defaultPlan;
  const ingest = await store.ingest();
  const known = await ingest.tenantTimezones();
  const reading = startReading(req.env);
  try {
    const run = new ImportRun(store, ingest, reading, req, sources, known, defaultPlan, covenants, hooks);
    const body = async (): Promise<ImportOutcome> => {
      for (const s of sources) await run.source(s);
      const report: ImportOutcome['report'] = [];
      let reportTotal = 0;
      for await (const r of run.rejects()) {
        if (report.length < REPORT_LIMIT) report.push(r);
        reportTotal++;
      }
      if (rejectsFile !== undefined) await writeRejectsFile(rejectsFile, run.rejects());
      return { summary: run.summary(), report, reportTotal };
    };
    if (!req.dryRun) return await body();
    let outcome: ImportOutcome | undefined;
    try {
      await store.transaction(async () => {
        outcome = await body();
        throw ROLLBACK;
      });
    } catch (err) {
      if (err !== ROLLBACK) throw err;
    }
    return outcome!;
  } finally {
    await reading.files.close();
  }
}
