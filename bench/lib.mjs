// Helpers for benchmarks: timing whole commands, peak RSS, medians.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(ROOT, 'bin', 'billctl.js');

/**
 * Runs a command; resolves with wall time (ms), exit code, output and peak RSS (MB, from
 * /usr/bin/time when available, else undefined).
 */
export function timeCommand(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const useTime = options.rss === true;
    const argv = useTime ? ['-f', '%M', cmd, ...args] : args;
    const exe = useTime ? '/usr/bin/time' : cmd;
    const start = process.hrtime.bigint();
    const child = spawn(exe, argv, {
      cwd: options.cwd,
      env: { ...process.env, ...(options.env ?? {}) },
      stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (options.input) child.stdin.end(options.input);
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      let rssMb;
      if (useTime) {
        const lines = stderr.trim().split('\n');
        rssMb = Number(lines.pop()) / 1024;
        stderr = lines.join('\n');
      }
      resolve({ ms, code, stdout, stderr, rssMb });
    });
  });
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median wall time of `n` runs. */
export async function medianTime(n, cmd, args, options) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const r = await timeCommand(cmd, args, options);
    if (r.code !== 0 && !options?.allowFail) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    times.push(r.ms);
  }
  return median(times);
}

export const ratio = (a, b) => Math.round((a / b) * 100) / 100;
