/**
 * Runs the reading pipeline on a worker thread (files) or in this thread (standard input, or
 * when billctl runs from its TypeScript sources), and hands its parcels over one at a time. At
 * most a few parcels wait to be taken: reading pauses until the writer catches up.
 */
import { Worker } from 'node:worker_threads';
import { hashFile, runPipeline, type PipelineControl } from './pipeline.js';
import type { PipelineEnd, PipelineJob, WireParcel as Parcel } from './types.js';

export interface ParcelStream {
  /** The next parcel, or undefined when the source is done. Throws what the reader threw. */
  next(): Promise<Parcel | undefined>;
  /** The source's hash and size, once every parcel was taken. */
  readonly end: Promise<PipelineEnd>;
  /** Whether units after the current one carry rollup sums. */
  setAggregates(on: boolean): void;
}

export interface Reading {
  hash(path: string): Promise<{ sha256: string; size: number }>;
  read(job: PipelineJob, input?: AsyncIterable<Buffer>): ParcelStream;
  close(): Promise<void>;
}

class ParcelQueue implements ParcelStream {
  private items: Parcel[] = [];
  private taker: ((p: Parcel | undefined) => void) | undefined;
  private failTaker: ((err: unknown) => void) | undefined;
  private roomWaiter: (() => void) | undefined;
  private done = false;
  private failure: { err: unknown } | undefined;
  readonly end: Promise<PipelineEnd>;
  private resolveEnd!: (e: PipelineEnd) => void;
  private rejectEnd!: (err: unknown) => void;

  /** Set by the reading side that owns the queue. */
  setAggregates: (on: boolean) => void = () => {};

  constructor(private readonly onTake?: () => void) {
    this.end = new Promise((resolve, reject) => {
      this.resolveEnd = resolve;
      this.rejectEnd = reject;
    });
    this.end.catch(() => {}); // reported through next()
  }

  push(p: Parcel): void {
    if (this.taker) {
      const t = this.taker;
      this.taker = undefined;
      this.failTaker = undefined;
      this.onTake?.();
      t(p);
    } else this.items.push(p);
  }

  /** Waits until fewer than `limit` parcels wait. */
  async room(limit: number): Promise<void> {
    while (this.items.length >= limit && !this.failure) await new Promise<void>((r) => (this.roomWaiter = r));
  }

  finish(end: PipelineEnd): void {
    this.done = true;
    this.resolveEnd(end);
    if (this.taker && this.items.length === 0) {
      const t = this.taker;
      this.taker = undefined;
      t(undefined);
    }
  }

  fail(err: unknown): void {
    if (this.done || this.failure) return;
    this.failure = { err };
    this.rejectEnd(err);
    this.failTaker?.(err);
    this.taker = undefined;
    this.failTaker = undefined;
    this.roomWaiter?.();
  }

  next(): Promise<Parcel | undefined> {
    const p = this.items.shift();
    if (p) {
      this.onTake?.();
      const w = this.roomWaiter;
      this.roomWaiter = undefined;
      w?.();
      return Promise.resolve(p);
    }
    if (this.failure) return Promise.reject(this.failure.err);
    if (this.done) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.taker = resolve;
      this.failTaker = reject;
    });
  }
}

/** Errors crossing the thread boundary keep their message and code (so exit codes stay right). */
interface WireError {
  message: string;
  code?: string;
  name?: string;
  stack?: string;
}

export function toWire(err: unknown): WireError {
  const e = err as Partial<WireError>;
  return { message: String(e?.message ?? err), code: typeof e?.code === 'string' ? e.code : undefined, name: e?.name, stack: e?.stack };
}

export function fromWire(w: WireError): Error {
  const err = new Error(w.message) as Error & { code?: string };
  if (w.code) err.code = w.code;
  if (w.stack) err.stack = w.stack;
  return err;
}

class InProcessReading implements Reading {
  hash(path: string) {
    return hashFile(path);
  }

  read(job: PipelineJob, input?: AsyncIterable<Buffer>): ParcelStream {
    const q = new ParcelQueue();
    const control: PipelineControl = { aggregates: job.sumFirstUnit };
    q.setAggregates = (on) => (control.aggregates = on);
    runPipeline(
      job,
      input,
      async (p) => {
        q.push(p);
        await q.room(job.queue);
      },
      control,
    ).then(
      (end) => q.finish(end),
      (err: unknown) => q.fail(err),
    );
    return q;
  }

  async close(): Promise<void> {}
}

type FromWorker =
  | { type: 'parcel'; parcel: Parcel }
  | { type: 'end'; end: PipelineEnd }
  | { type: 'hashed'; sha256: string; size: number }
  | { type: 'error'; error: WireError };

class ThreadReading implements Reading {
  private readonly worker: Worker;
  private queue: ParcelQueue | undefined;
  private hashing: { resolve: (r: { sha256: string; size: number }) => void; reject: (e: unknown) => void } | undefined;
  private dead: Error | undefined;

  constructor(url: URL) {
    // A young generation large enough that a parcel's records die young instead of being promoted
    // (a parcel's live records take a few MB), and no larger: it counts in the import's memory.
    this.worker = new Worker(url, { resourceLimits: { maxYoungGenerationSizeMb: 24 } });
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err) => this.die(err));
    this.worker.on('exit', (code) => this.die(new Error(`the reading thread stopped (exit ${code})`)));
  }

  private die(err: Error): void {
    this.dead ??= err;
    this.queue?.fail(err);
    this.hashing?.reject(err);
    this.hashing = undefined;
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'parcel':
        this.queue?.push(m.parcel);
        break;
      case 'end':
        this.queue?.finish(m.end);
        break;
      case 'hashed':
        this.hashing?.resolve({ sha256: m.sha256, size: m.size });
        this.hashing = undefined;
        break;
      case 'error': {
        const err = fromWire(m.error);
        if (this.hashing) {
          this.hashing.reject(err);
          this.hashing = undefined;
        } else this.queue?.fail(err);
        break;
      }
      default:
        m satisfies never;
    }
  }

  hash(path: string): Promise<{ sha256: string; size: number }> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.hashing = { resolve, reject };
      this.worker.postMessage({ type: 'hash', path });
    });
  }

  read(job: PipelineJob, input?: AsyncIterable<Buffer>): ParcelStream {
    if (input) throw new Error('the reading thread reads files only');
    const q = new ParcelQueue(() => this.worker.postMessage({ type: 'ack' }));
    q.setAggregates = (on) => this.worker.postMessage({ type: 'aggregates', on });
    this.queue = q;
    if (this.dead) q.fail(this.dead);
    else this.worker.postMessage({ type: 'run', job });
    return q;
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/**
 * A reading thread when the built worker is there (and BILLCTL_READ_THREAD is not 0), else
 * in-process reading.
 */
export function startReading(env: NodeJS.ProcessEnv): { files: Reading; stream: Reading } {
  const inProcess = new InProcessReading();
  const url = new URL('./worker.js', import.meta.url);
  if (import.meta.url.endsWith('.ts') || env.BILLCTL_READ_THREAD === '0') return { files: inProcess, stream: inProcess };
  let thread: ThreadReading | undefined;
  const lazy: Reading = {
    hash: (p) => (thread ??= new ThreadReading(url)).hash(p),
    read: (job, input) => (thread ??= new ThreadReading(url)).read(job, input),
    close: async () => {
      await thread?.close();
    },
  };
  return { files: lazy, stream: inProcess };
}
