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
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { Decimal } from '../domain/money.js';
import { localDayNumber } from '../domain/period.js';
import { BillctlError, errorMessage, ExitCode, isOperational } from '../errors.js';
import { loadCovenantMap, type CovenantMap } from '../ingest/covenants.js';
import { RollupAccumulator, ROLLUP_FLUSH_KEYS } from '../ingest/rollups.js';
import { startReading, type Reading } from '../ingest/reading.js';
import { expandInputs } from '../ingest/sources.js';
import { withAtomicFile } from '../export/atomic-file.js';
import {
  ParcelDecoder, ROW, type Checkpoint, type InputFormat, type Parcel, type PipelineEnd, type PipelineJob, type PipelineOptions,
  type SourceSpec,
} from '../ingest/types.js';
import {
  ZERO_COUNTS, type BatchCounts, type BatchKind, type BatchRecord, type BatchStatus, type IngestStore, type NewBatch, type RejectRecord,
  type ReceiptWriter,
} from '../store/ingest.js';
import type { LockOwner } from '../store/lock-repo.js';
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
  /** Who imports, for the audit entry each committed unit writes in its own transaction. */
  actor: string;
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
  /** What the run is doing meanwhile (waiting for another run's lock). */
  notice?: (text: string) => void;
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

/** A source, or the rest of one, that a failed run did not import (a re-run imports it). */
export interface Unfinished {
  file: string;
  /** The first line not committed (1 for a source not started). */
  fromLine: number;
}

export interface ImportOutcome {
  summary: ImportSummary;
  /** The first rejects and conflicts, for the report on stderr (file as shown, record). */
  report: { file: string; entry: RejectRecord }[];
  /** How many rejects and conflicts there are in all. */
  reportTotal: number;
  /**
   * Set when the run failed: the summary then counts what was committed (everything of a file up
   * to its last committed unit), and `unfinished` says what was not.
   */
  failure?: { error: unknown; unfinished: Unfinished[] };
}

/** Rejects and conflicts shown on stderr; --rejects FILE has them all. */
export const REPORT_LIMIT = 100;

const ROLLBACK = Symbol('dry run');

/** How a source is loaded: into a running batch (resumed) or a new one, and what is known of its hash. */
interface LoadPlan {
  resume?: BatchRecord;
  /** The batch to create with the first unit, when none is resumed. */
  create: NewBatch;
  sha: string | null;
  /** Standard input's bytes (files are read by path). */
  input?: AsyncIterable<Buffer>;
  /** The file's stat fingerprint when it started (null for standard input). */
  fingerprint: string | null;
  hashAsRead: boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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

/** The import lock of one file: by its real path, so two runs never read one file at once. */
function fileLockName(file: string): string {
  return `import:${createHash('sha256').update(fs.realpathSync(file)).digest('hex')}`;
}

/**
 * A file lock's row is renewed with every unit; on SQLite a lock whose process is gone on this host
 * is taken over at once, one left by another host after this long (Postgres frees its advisory
 * lock when the holder's connection drops).
 */
const FILE_LOCK_STALE_MS = 10 * 60_000;
const FILE_LOCK_POLL_MS = 200;

/** The counts of a unit: what it added to its batch. */
function difference(after: BatchCounts, before: BatchCounts): BatchCounts {
  const d = { ...after };
  for (const k of Object.keys(d) as (keyof BatchCounts)[]) d[k] -= before[k];
  return d;
}

class ImportRun {
  readonly totals: BatchCounts = { ...ZERO_COUNTS };
  files = 0;
  skipped = 0;
  refused = 0;
  /** Batches read in this run, in order, with how their file is shown. */
  readonly batches: { id: number; display: string }[] = [];
  /** The source being read and the first line of it not committed yet (for a failure's report). */
  current: Unfinished | undefined;
  private readonly owner: LockOwner = { id: randomUUID(), host: os.hostname(), pid: process.pid };
  private heldLock: string | undefined;
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
    this.writer = ingest.writer({ rollupKeys: this.size('BILLCTL_ROLLUP_KEYS', ROLLUP_FLUSH_KEYS) });
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
    this.current = { file: src.display, fromLine: 1 };
    if (src.path === '-') await this.stdin(src);
    else await this.file(src, src.path, null);
    this.current = undefined;
    this.files++;
    this.tell(0);
  }

  /**
   * Holds the import lock of a file while `fn` reads it; a run that finds it held waits for the
   * other run to finish the file (and then finds it imported). A dry run writes nothing and takes none.
   */
  private async withFileLock<T>(file: string, display: string, fn: () => Promise<T>): Promise<T> {
    if (this.req.dryRun) return fn();
    const name = fileLockName(file);
    let told = false;
    for (;;) {
      const got = await this.store.locks.tryAcquire(name, this.owner, Date.now(), FILE_LOCK_STALE_MS);
      if (got.acquired) break;
      if (!told) {
        const h = got.holder;
        this.hooks.notice?.(
          `${display}: another import of this file is running (host ${h.host}, pid ${h.pid}, since ${h.acquiredAt}); waiting for it to finish`,
        );
        told = true;
      }
      await sleep(FILE_LOCK_POLL_MS);
    }
    this.heldLock = name;
    try {
      return await fn();
    } finally {
      this.heldLock = undefined;
      await this.store.locks.release(name, this.owner.id).catch(() => {});
    }
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
    await this.load(spec, {
      create: {
        kind: this.req.kind, path: '-', display: '-', format: src.format, settings: this.settings(src), size: null, sha256: null,
        fingerprint: null, status: 'running', startedAt: this.req.now(),
      },
      sha: null, input, fingerprint: null, hashAsRead: false,
    });
  }

  /** A complete batch stands for reading its file again, unless --strict would now refuse that file. */
  private skippable(b: BatchRecord): boolean {
    return !this.req.strict || b.counts.rejected === 0;
  }

  /** A file (or spooled standard input, recorded as `recordAs`), under its import lock. */
  private async file(src: SourceSpec, file: string, recordAs: string | null): Promise<void> {
    if (recordAs !== null) return this.fileLocked(src, file, recordAs);
    return this.withFileLock(file, src.display, () => this.fileLocked(src, file, recordAs));
  }

  private async fileLocked(src: SourceSpec, file: string, recordAs: string | null): Promise<void> {
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
    await this.load(source, {
      resume,
      create: {
        kind: this.req.kind, path: batchPath, display: src.display, format: src.format, settings, size, sha256: sha, fingerprint,
        status: 'running', startedAt: this.req.now(),
      },
      sha, fingerprint, hashAsRead,
    });
    this.bytesBefore += size;
  }

  /** Tests shrink units, parcels and rollup pieces to exercise their boundaries (and crashes between them). */
  private size(name: string, dflt: number): number {
    const v = Number(this.req.env[name]);
    return Number.isSafeInteger(v) && v > 0 ? v : dflt;
  }

  private job(src: SourceSpec, batchId: number, resume: Checkpoint, emitRows: boolean): PipelineJob {
    const seek = src.path !== '-' && src.format === 'jsonl' && !src.gzip && resume.byte > 0;
    const unitRecords = this.size('BILLCTL_IMPORT_UNIT', UNIT_RECORDS);
    return {
      source: src, batchId, resume, seek, options: this.options(), tenants: [...this.known], emitRows,
      // Whether the reading side hashes the source is load()'s to decide.
      aggregates: emitRows && this.writer.wantsRollups, hash: false, unitRecords,
      // --force mostly reads receipts that are stored already: the reading side's sums would go unused.
      sumFirstUnit: !this.req.force,
      parcelRecords: Math.min(unitRecords, this.size('BILLCTL_IMPORT_PARCEL', PARCEL_RECORDS)),
      rollupKeys: this.size('BILLCTL_ROLLUP_KEYS', ROLLUP_FLUSH_KEYS),
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
      await this.audit(src, id, counts, 'refused');
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

  /**
   * Rows of tenants whose timezone the reading side did not know get their real local day (and,
   * when the reading side summed them, `corrections` move their sums there).
   */
  private fixDays(p: Parcel, corrections: RollupAccumulator | undefined): void {
    if (this.tzFix.size === 0) return;
    for (let i = 0; i < p.rows.length; i++) {
      const row = p.rows[i]!;
      const tz = this.tzFix.get(row[ROW.tenantId]);
      if (tz === undefined) continue;
      const day = localDayNumber(tz, row[ROW.ts]);
      if (day === p.days[i]) continue;
      corrections?.add(row, p.days[i]!, -1);
      corrections?.add(row, day, 1);
      p.days[i] = day;
    }
  }

  /** The audit entry of one committed change to a batch, written in the change's transaction. */
  private async audit(src: SourceSpec, batchId: number, c: BatchCounts, status: BatchStatus): Promise<void> {
    const details: Record<string, unknown> = {
      file: src.display, batch: batchId, status, lines: c.lines, imported: c.imported, duplicates: c.duplicates, conflicts: c.conflicts,
      rejected: c.rejected, new_tenants: c.newTenants, unsplit_tokens: c.unsplitTokens,
    };
    if (this.req.kind === 'backfill') details.out_of_range = c.outOfRange;
    await this.store.appendAudit({ at: this.req.now(), actor: this.req.actor, command: this.req.kind, details });
  }

  /**
   * Reads a source into its batch, one transaction per unit, from the resumed batch's checkpoint
   * on (or into a new batch, created with the first unit). Each unit's transaction also records
   * the batch's progress and the unit's audit entry; the last one completes the batch, so what is
   * committed and what the batch and the audit log say never differ.
   */
  private async load(src: SourceSpec, plan: LoadPlan): Promise<void> {
    const { resume, input } = plan;
    let batchId = resume?.id;
    let counts: BatchCounts = resume ? { ...resume.counts } : { ...ZERO_COUNTS };
    const start: Checkpoint = resume?.checkpoint ?? { records: 0, line: 0, byte: 0 };
    if (batchId !== undefined) this.batches.push({ id: batchId, display: src.display });
    // A resumed batch's earlier units count in this run's summary, as one clean run would count them.
    add(this.totals, counts);
    this.current = { file: src.display, fromLine: start.line + 1 };
    this.tzFix.clear();
    const job = this.job(src, batchId ?? 0, start, true);
    // Standard input, and a new file no complete batch could match, are hashed as they are read.
    job.hash = plan.sha === null && (input !== undefined || plan.hashAsRead);
    /** The timezones the reading side computes days with. */
    const snapshot = new Map(job.tenants);
    const stream = (input ? this.reading.stream : this.reading.files).read(job, input);
    // Otherwise a file read without a hash (--force, a resumed batch) is hashed on this thread
    // meanwhile (it waits on the reader then).
    const hashing = plan.sha === null && !job.hash ? this.reading.stream.hash(src.path) : undefined;
    hashing?.catch(() => {});
    const decoder = new ParcelDecoder(batchId ?? 0);
    const next = async () => {
      // One turn of the event loop per parcel, so timers (the progress bar) run while parcels flow.
      await setImmediate();
      const w = await stream.next();
      return w && decoder.decode(w);
    };
    for (let p = await next(); p; p = await next()) {
      const unitStart: Parcel = p;
      const after: BatchCounts = { ...counts };
      let last: Parcel = unitStart;
      await this.store.transaction(async () => {
        if (batchId === undefined) {
          batchId = await this.ingest.createBatch(plan.create);
          decoder.batchId = batchId;
          this.batches.push({ id: batchId, display: src.display });
        }
        const id = batchId;
        // Timezones as they are now: a tenant moved since the reading side looked gets its real days.
        for (const [t, tz] of await this.ingest.tenantTimezones(true)) {
          if ((snapshot.get(t) ?? 'UTC') !== tz) this.tzFix.set(t, tz);
          else this.tzFix.delete(t);
          this.known.set(t, tz);
        }
        await this.writer.begin(id);
        // Sums the reading side made with a tenant's old timezone are moved to the right days.
        const corrections = unitStart.summing ? new RollupAccumulator() : undefined;
        let q = unitStart;
        for (;;) {
          if (q.newTenants.length > 0) {
            await this.writer.quiesce();
            await this.tenants(q.newTenants, after);
          }
          this.fixDays(q, corrections);
          await this.writer.add(q);
          if (q.rejects.length > 0) {
            await this.writer.quiesce();
            await this.ingest.addRejects(this.rejectsOf(id, q));
          }
          after.lines += q.records;
          after.rejected += q.rejects.length;
          after.outOfRange += q.outOfRange;
          this.records += q.records;
          this.tell(q.bytesRead);
          if (q.unitEnd) break;
          const n = await next();
          if (!n) throw new Error('the reader ended inside a unit of work');
          q = n;
        }
        last = q;
        if (corrections && corrections.size > 0) await this.writer.addSums(corrections.deltas());
        const r = await this.writer.finish();
        stream.setAggregates(r.wantsSums);
        after.imported += r.imported;
        after.duplicates += r.duplicates;
        after.conflicts += r.conflicts.length;
        after.unsplitTokens += r.unsplit;
        if (r.conflicts.length > 0) await this.ingest.addRejects(r.conflicts.map((c) => ({ ...c, text: clip(c.text) })));
        if (q.end) await this.complete(src, id, after, q.checkpoint, plan, q.end, input !== undefined, hashing);
        else await this.ingest.saveProgress(id, after, q.checkpoint);
        await this.audit(src, id, difference(after, counts), q.end ? 'complete' : 'running');
        if (this.heldLock !== undefined) await this.store.locks.heartbeat(this.heldLock, this.owner.id, Date.now());
      });
      add(this.totals, difference(after, counts));
      counts = after;
      this.current = last.end ? undefined : { file: src.display, fromLine: last.checkpoint.line + 1 };
    }
    await stream.end;
  }

  /** Completes a batch, in its last unit's transaction: the file was read to its end, unchanged. */
  private async complete(
    src: SourceSpec, id: number, counts: BatchCounts, checkpoint: Checkpoint, plan: LoadPlan, end: PipelineEnd, stdin: boolean,
    hashing: Promise<{ sha256: string }> | undefined,
  ): Promise<void> {
    if (plan.fingerprint !== null && fingerprintOf(src.path) !== plan.fingerprint) {
      throw new BillctlError(
        `${src.display} changed while it was read`,
        ExitCode.failed,
        'What was committed before its last part is kept (and deduplicated); run the same command again to import the file as it is now.',
      );
    }
    // A file the reading side could not hash to its end (a damaged .gz) is hashed here.
    const digest =
      plan.sha ?? end.sha256 ?? (hashing ? (await hashing).sha256 : stdin ? null : (await this.reading.stream.hash(src.path)).sha256);
    await this.ingest.finishBatch(id, {
      status: 'complete', counts, checkpoint, sha256: digest, size: stdin ? end.bytes : null, at: this.req.now(),
    });
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

/**
 * The --rejects file, written whole or not at all: through a temporary file beside it (removed
 * if the run is interrupted meanwhile, or by a later run when a killed one left it), renamed into
 * place once flushed. writeFileSync continues a short write (how a full disk first shows), so
 * the error is seen.
 */
async function writeRejectsFile(file: string, entries: AsyncIterable<{ file: string; entry: RejectRecord }>): Promise<void> {
  await withAtomicFile(file, async ({ fd }) => {
    let buf = '';
    for await (const { file: f, entry } of entries) {
      buf += rejectLine(f, entry);
      if (buf.length > 1 << 20) {
        fs.writeFileSync(fd, buf);
        buf = '';
      }
    }
    fs.writeFileSync(fd, buf);
  });
}

const RESUME_HINT =
  'The summary counts what was committed; run the same command again to import the rest: it goes on where this run stopped.';

/** The error a run stopped with, saying that a re-run goes on (a bug stays a bug). */
function stopped(err: unknown, more: boolean): unknown {
  if (!more) return err;
  if (err instanceof BillctlError) {
    if (err.hint?.includes('run the same command again')) return err;
    return new BillctlError(err.message, err.exitCode, err.hint ? `${err.hint}\n${RESUME_HINT}` : RESUME_HINT);
  }
  if (!isOperational(err)) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  // A write that did not fit: a full disk (ENOSPC, SQLITE_FULL) or a file size limit (EFBIG, an I/O error to SQLite).
  const disk = /^(ENOSPC|EFBIG|EDQUOT|SQLITE_FULL|SQLITE_IOERR)/.test(code);
  return new BillctlError(
    `${errorMessage(err)}${code ? ` (${code})` : ''}`,
    ExitCode.failed,
    disk ? `Is the disk full? Free some space. ${RESUME_HINT}` : RESUME_HINT,
  );
}

/**
 * `import` and `backfill`: reads every source, returns the summary and the report. A run that
 * stops (a lost connection, a full disk) returns what it committed and what it did not.
 */
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
      let at = 0;
      try {
        for (; at < sources.length; at++) await run.source(sources[at]!);
      } catch (err) {
        // A dry run rolls everything back: nothing to report but the error.
        if (req.dryRun) throw err;
        const unfinished = [...(run.current ? [run.current] : []), ...sources.slice(at + 1).map((s) => ({ file: s.display, fromLine: 1 }))];
        return { summary: run.summary(), report: [], reportTotal: 0, failure: { error: stopped(err, unfinished.length > 0), unfinished } };
      }
      const report: ImportOutcome['report'] = [];
      let reportTotal = 0;
      for await (const r of run.rejects()) {
        if (report.length < REPORT_LIMIT) report.push(r);
        reportTotal++;
      }
      if (rejectsFile !== undefined) {
        try {
          await writeRejectsFile(rejectsFile, run.rejects());
        } catch (err) {
          const error = new BillctlError(
            `cannot write ${req.rejectsFile}: ${errorMessage(err)}`,
            ExitCode.failed,
            'The import itself is complete. Run the same command again to write the file: the files are skipped as imported, and their rejects and conflicts are written again.',
          );
          return { summary: run.summary(), report, reportTotal, failure: { error, unfinished: [] } };
        }
      }
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
