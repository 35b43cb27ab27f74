/**
 * Writing a whole file atomically: to a temporary name in the same directory, flushed to disk,
 * then renamed over the target. A reader (node_exporter's textfile collector, a spreadsheet) sees
 * the old file or the new one, never half of one.
 */
import fs from 'node:fs';
import path from 'node:path';

export function writeFileAtomic(file: string, content: string | Buffer): void {
  const final = path.resolve(file);
  // A name the textfile collector ignores (it reads *.prom only) and a crash leaves recognisable.
  const tmp = path.join(path.dirname(final), `.${path.basename(final)}.${process.pid}.tmp`);
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
