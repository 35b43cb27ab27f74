/**
 * Cleaning up when billctl is interrupted (Ctrl-C's SIGINT, SIGTERM, SIGHUP) in the middle of work
 * that would leave something behind: an export's temporary file. While a cleanup is registered, the
 * signal runs every registered cleanup (synchronously), says so on stderr, then raises the signal
 * again with billctl's handler gone, so the process ends exactly as it would have without one
 * (killed by the signal: a shell reports 130 for Ctrl-C). With nothing registered, billctl keeps
 * Node's default and a signal ends the process at once; stores are crash-safe by themselves.
 */
import fs from 'node:fs';

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const cleanups = new Set<() => void>();

function install(): void {
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
}

function onSignal(signal: NodeJS.Signals): void {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // best effort: the process is ending anyway
    }
  }
  cleanups.clear();
  uninstall();
  try {
    fs.writeSync(2, `\nbillctl: cancelled (${signal}); the unfinished output was removed\n`);
  } catch {
    // stderr is gone
  }
  process.kill(process.pid, signal);
}

/**
 * Runs `cleanup` if the process is interrupted before the returned function is called (call it
 * once the work is done or has cleaned up after itself).
 */
export function cleanupOnInterrupt(cleanup: () => void): () => void {
  if (cleanups.size === 0) install();
  cleanups.add(cleanup);
  return () => {
    if (cleanups.delete(cleanup) && cleanups.size === 0) uninstall();
  };
}
