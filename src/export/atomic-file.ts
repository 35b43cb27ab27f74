/**
 * Writing a whole file atomically: to a temporary name in the same directory, flushed to disk,
 * then renamed over the target. A reader (node_exporter's textfile collector, a spreadsheet) sees
 * the old file or the new one, never half of one.
 *
 * The temporary name is `.NAME.PID.tmp` beside the target (a name the textfile collector ignores:
 * it reads *.prom only). A run killed before its rename (kill -9, a power cut) leaves it behind;
 * the next write of the same target removes every such file whose pid no longer runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { processAlive } from '../process-alive.js';

export function tempPathFor(final: string): string {
  return path.join(path.dirname(final), `.${path.basename(final)}.${process.pid}.tmp`);
}

/** Removes the temporary files of `final` that runs no longer alive left behind. */
export function sweepStaleTemps(final: string): void {
  const dir = path.dirname(final);
  const prefix = `.${path.basename(final)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // no directory yet: nothing to sweep (the write itself reports why it cannot write)
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = name.slice(prefix.length, -'.tmp'.length);
    if (/^\d+$/.test(pid) && Number(pid) !== process.pid && !processAlive(Number(pid))) {
      fs.rmSync(path.join(dir, name), { force: true });
    }
  }
}

export function writeFileAtomic(file: string, content: string | Buffer): void {
  const final = path.resolve(file);
  sweepStaleTemps(final);
  const tmp = tempPathFor(final);
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    try {
      fs.writeFileSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, final);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
