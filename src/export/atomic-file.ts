/**
 * Writing a whole file atomically, the one way billctl does it (PDFs, exports, the --rejects
 * file, the metrics textfile): to a temporary name in the same directory, flushed to disk, then
 * renamed over the target. A reader (node_exporter's textfile collector, a spreadsheet, a mail
 * merge picking up PDFs) sees the old file or the new one, never half of one.
 *
 * The temporary name is `.NAME.PID.tmp` beside the target (a name the textfile collector ignores:
 * it reads *.prom only). A failure removes it; so does Ctrl-C (SIGINT, SIGTERM, SIGHUP) on the
 * main thread, through src/interrupt.ts. A run killed before its rename (kill -9, a power cut)
 * leaves it behind; the next write of the same target (or, for many files in one directory, the
 * first write there: `sweep: 'directory'`) removes every such file whose pid no longer runs.
 * Two runs writing the same file at once each rename their own complete bytes into place.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { cleanupOnInterrupt } from '../interrupt.js';
import { processAlive } from '../process-alive.js';

export function tempPathFor(final: string): string {
  return path.join(path.dirname(final), `.${path.basename(final)}.${process.pid}.tmp`);
}

const TEMP_NAME = /^\.(.+)\.(\d+)\.tmp$/;

/**
 * Removes the temporary files that runs no longer alive left behind: those of `final`, or with
 * `wholeDirectory` those of every file in its directory.
 */
export function sweepStaleTemps(final: string, wholeDirectory = false): void {
  const dir = path.dirname(final);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // no directory yet: nothing to sweep (the write itself reports why it cannot write)
  }
  const base = path.basename(final);
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || (!wholeDirectory && m[1] !== base)) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && !processAlive(pid)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/** Directories this thread has swept once (`sweep: 'directory'`). */
const sweptDirectories = new Set<string>();

export interface AtomicOptions {
  /**
   * 'file' (the default): sweep the stale temporaries of this target before writing. 'directory':
   * sweep those of every file in the directory, once per thread and directory (a run writing a
   * thousand PDFs reads the directory once, not a thousand times).
   */
  sweep?: 'file' | 'directory';
}

function sweepFor(final: string, options: AtomicOptions): void {
  if (options.sweep === 'directory') {
    const dir = path.dirname(final);
    if (sweptDirectories.has(dir)) return;
    sweepStaleTemps(final, true);
    sweptDirectories.add(dir);
  } else sweepStaleTemps(final);
}

/**
 * A file being written: bytes go to its temporary file (`fd`, or `stream()`), `commit` flushes them
 * to disk and renames them into place, `abort` removes them. Until one of the two, Ctrl-C removes
 * the temporary file too.
 */
export interface AtomicFile {
  readonly path: string;
  readonly tempPath: string;
  readonly fd: number;
  /** A stream over `fd` (for backpressure); `commit` ends it first. */
  stream(): Writable;
  commit(): Promise<void>;
  /** `commit` for a file written through `fd` only (no stream). */
  commitSync(): void;
  /** Removes the temporary file (after a failure); idempotent. */
  abort(): void;
}

export function openAtomicFile(file: string, options: AtomicOptions = {}): AtomicFile {
  const final = path.resolve(file);
  sweepFor(final, options);
  const tmp = tempPathFor(final);
  const fd = fs.openSync(tmp, 'w', 0o644);
  let done = false;
  let fdOpen = true;
  const closeFd = () => {
    if (!fdOpen) return;
    fdOpen = false;
    fs.closeSync(fd);
  };
  // Once a stream is made it owns the descriptor: destroying it closes the descriptor after the
  // writes in flight (closing it under them could hand their bytes to a file opened next).
  let stream: fs.WriteStream | undefined;
  let streamError: Error | undefined;
  const closeStream = async (s: fs.WriteStream) => {
    if (s.closed) return;
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.destroy();
    await closed;
  };
  // Signals reach the main thread only; a worker's temporaries are swept by the next run. The
  // process is ending: removing the name is enough.
  const unregister = isMainThread ? cleanupOnInterrupt(() => fs.rmSync(tmp, { force: true })) : () => {};
  const rename = () => {
    fs.renameSync(tmp, final);
    done = true;
    unregister();
  };
  const f: AtomicFile = {
    path: final,
    tempPath: tmp,
    fd,
    stream() {
      if (done) throw new Error(`${final}: committed or aborted already`);
      if (!stream) {
        stream = fs.createWriteStream(tmp, { fd, autoClose: false });
        stream.on('error', (e) => (streamError = e));
      }
      return stream;
    },
    async commit() {
      if (done) throw new Error(`${final}: committed or aborted already`);
      if (!stream) return f.commitSync();
      try {
        if (streamError) throw streamError;
        await finished(stream.end());
        fs.fsyncSync(fd);
        await closeStream(stream);
        rename();
      } catch (err) {
        f.abort();
        throw err;
      }
    },
    commitSync() {
      if (done) throw new Error(`${final}: committed or aborted already`);
      if (stream) throw new Error(`${final}: written through a stream, commit it with commit()`);
      try {
        fs.fsyncSync(fd);
        closeFd();
      } catch (err) {
        f.abort();
        throw err;
      }
      try {
        rename();
      } catch (err) {
        done = true;
        fs.rmSync(tmp, { force: true });
        unregister();
        throw err;
      }
    },
    abort() {
      if (done) return;
      done = true;
      fs.rmSync(tmp, { force: true });
      if (stream) stream.destroy();
      else {
        try {
          closeFd();
        } catch {
          // the descriptor is gone either way
        }
      }
      unregister();
    },
  };
  return f;
}

/** Writes `content` as the whole of `file`, atomically. */
export function writeFileAtomic(file: string, content: string | Uint8Array, options: AtomicOptions = {}): void {
  const f = openAtomicFile(file, options);
  try {
    // writeFileSync continues a short write (how a full disk first shows), so the error is seen.
    fs.writeFileSync(f.fd, content);
  } catch (err) {
    f.abort();
    throw err;
  }
  f.commitSync();
}

/**
 * Fills `file` through `write` (given the open file) and commits it; a failure in `write` or while
 * committing removes the temporary file and rethrows.
 */
export async function withAtomicFile<T>(file: string, write: (f: AtomicFile) => Promise<T> | T, options: AtomicOptions = {}): Promise<T> {
  const f = openAtomicFile(file, options);
  let result: T;
  try {
    result = await write(f);
  } catch (err) {
    f.abort();
    throw err;
  }
  await f.commit();
  return result;
}
