/**
 * The one atomic-file writer (src/export/atomic-file.ts) on real files: whole or nothing, the
 * temporary file removed on failure and on Ctrl-C, stale ones of dead runs swept, live ones kept.
 * The Ctrl-C case runs a real child process (needs `npx tsc -p tsconfig.json` first: it imports dist/).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openAtomicFile, sweepStaleTemps, tempPathFor, withAtomicFile, writeFileAtomic } from '../../src/export/atomic-file.js';
import { tempDir } from '../helpers/backends.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A pid that ran and no longer does. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

const names = (dir: string) => fs.readdirSync(dir).sort();

describe('atomic file', () => {
  it('writes the whole file through a temporary name beside it and leaves nothing else', async () => {
    const dir = tempDir('atomic');
    const file = path.join(dir, 'a.txt');
    writeFileAtomic(file, 'one\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('one\n');
    writeFileAtomic(file, Buffer.from('two\n'));
    expect(fs.readFileSync(file, 'utf8')).toBe('two\n');
    expect(tempPathFor(file)).toBe(path.join(dir, `.a.txt.${process.pid}.tmp`));
    const f = openAtomicFile(path.join(dir, 'b.csv'));
    expect(names(dir)).toEqual([`.b.csv.${process.pid}.tmp`, 'a.txt']);
    f.stream().write('x,y\r\n');
    f.stream().write('1,2\r\n');
    await f.commit();
    expect(fs.readFileSync(path.join(dir, 'b.csv'), 'utf8')).toBe('x,y\r\n1,2\r\n');
    expect(names(dir)).toEqual(['a.txt', 'b.csv']);
    expect(fs.statSync(path.join(dir, 'b.csv')).mode & 0o777).toBe(0o644 & ~process.umask());
  });

  it('a failure while writing removes the temporary file and keeps the old file as it was', async () => {
    const dir = tempDir('atomic');
    const file = path.join(dir, 'rejects.jsonl');
    fs.writeFileSync(file, 'old\n');
    await expect(withAtomicFile(file, ({ fd }) => {
      fs.writeFileSync(fd, 'half of the new');
      throw new Error('disk on fire');
    })).rejects.toThrow('disk on fire');
    expect(names(dir)).toEqual(['rejects.jsonl']);
    expect(fs.readFileSync(file, 'utf8')).toBe('old\n');
    const aborted = openAtomicFile(file);
    aborted.stream().write('never');
    aborted.abort();
    aborted.abort();
    await expect(aborted.commit()).rejects.toThrow('committed or aborted already');
    expect(names(dir)).toEqual(['rejects.jsonl']);
    // A directory that is not there: the error is the write's, and nothing is left behind.
    expect(() => writeFileAtomic(path.join(dir, 'missing', 'x.txt'), 'x')).toThrow(/ENOENT/);
    expect(await withAtomicFile(file, ({ fd }) => {
      fs.writeFileSync(fd, 'new\n');
      return 7;
    })).toBe(7);
    expect(fs.readFileSync(file, 'utf8')).toBe('new\n');
  });

  it('sweeps the temporary files of dead runs, for the one target or the whole directory; a live run\'s stays', () => {
    const dir = tempDir('atomic');
    const dead = deadPid();
    const live = process.ppid;
    for (const n of [`.a.pdf.${dead}.tmp`, `.a.pdf.${live}.tmp`, `.b.pdf.${dead}.tmp`, '.a.pdf.x.tmp', 'keep.txt']) fs.writeFileSync(path.join(dir, n), 'x');
    sweepStaleTemps(path.join(dir, 'a.pdf'));
    expect(names(dir)).toEqual([`.a.pdf.${live}.tmp`, '.a.pdf.x.tmp', `.b.pdf.${dead}.tmp`, 'keep.txt']);
    fs.writeFileSync(path.join(dir, `.a.pdf.${dead}.tmp`), 'x');
    writeFileAtomic(path.join(dir, 'c.pdf'), 'c', { sweep: 'directory' });
    expect(names(dir)).toEqual([`.a.pdf.${live}.tmp`, '.a.pdf.x.tmp', 'c.pdf', 'keep.txt']);
    // Once per directory and thread: a stale file that appears later stays until the next run.
    fs.writeFileSync(path.join(dir, `.b.pdf.${dead}.tmp`), 'x');
    writeFileAtomic(path.join(dir, 'd.pdf'), 'd', { sweep: 'directory' });
    expect(names(dir)).toEqual([`.a.pdf.${live}.tmp`, '.a.pdf.x.tmp', `.b.pdf.${dead}.tmp`, 'c.pdf', 'd.pdf', 'keep.txt']);
    // The default sweeps the target's own.
    writeFileAtomic(path.join(dir, 'b.pdf'), 'b');
    expect(names(dir)).toEqual([`.a.pdf.${live}.tmp`, '.a.pdf.x.tmp', 'b.pdf', 'c.pdf', 'd.pdf', 'keep.txt']);
  });

  it('Ctrl-C while a file is open removes its temporary file, and the process ends by the signal', async () => {
    const dir = tempDir('atomic');
    const script = `
      const { openAtomicFile } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'export', 'atomic-file.js'))});
      const f = openAtomicFile(${JSON.stringify(path.join(dir, 'out.csv'))});
      f.stream().write('a,b\\n', () => process.stdout.write('ready\\n'));
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', () => reject(new Error(`the child ended early: ${stderr}`)));
    });
    expect(names(dir)).toEqual([`.out.csv.${child.pid}.tmp`]);
    const ended = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    child.kill('SIGINT');
    expect(await ended).toBe('SIGINT');
    expect(stderr).toBe('\nbillctl: cancelled (SIGINT); the unfinished output was removed\n');
    expect(names(dir)).toEqual([]);
  });
});
