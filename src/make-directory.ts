/** Creating folders for output (stores, PDFs, the demo) without Node's recursive mkdir. */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Creates a directory and its missing parents. fs.mkdir's recursive mode never returns where
 * mkdir answers ENOENT under a parent that exists (as under /proc): it retries the parent
 * forever. Walking up by hand fails with mkdir's own error instead.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      fs.statSync(d);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      missing.push(d);
      if (path.dirname(d) === d) break;
    }
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
