/**
 * Ctrl-C during `export --out FILE` removes the temporary file; one that a killed run left behind
 * (kill -9) is removed by the next export to the same file. Real child processes and real signals
 * (needs `npx tsc -p tsconfig.json` first: it runs bin/billctl.js).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sqliteBackend } from '../helpers/backends.js';
import { BIN, spawnCli } from '../helpers/cli.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, bulkReceipts, opsStore } from './helpers.js';

const RECEIPTS = 150_000;

/** Starts an export, waits until its temporary file exists, sends `signal` and waits for the end. */
async function interruptedExport(s: TestStore, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'export', 'receipts', '--out', 'out.csv', '--db', s.db], {
    cwd: s.dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, sig) => resolve({ code, signal: sig })));
  const tmp = `.out.csv.${child.pid}.tmp`;
  const deadline = Date.now() + 30_000;
  // Wait until rows are being written (the file has some bytes), then interrupt.
  while (!(fs.existsSync(path.join(s.dir, tmp)) && fs.statSync(path.join(s.dir, tmp)).size > 0)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the export never wrote ${tmp}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill(signal);
  return { ...(await ended), stderr };
}

/** A pid that ran and no longer does. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('an interrupted export', () => {
  let s: TestStore;

  beforeAll(async () => {
    s = await opsStore(await sqliteBackend.fresh());
    await addTenant(s, 'big', 'pro');
    await bulkReceipts(s.db, 'big', RECEIPTS, Date.UTC(2026, 9, 1));
  }, 60_000);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} removes the temporary file and ends as the signal does`, async () => {
      const r = await interruptedExport(s, signal);
      expect(r.signal).toBe(signal);
      expect(r.stderr).toContain(`billctl: cancelled (${signal}); the unfinished output was removed`);
      expect(fs.readdirSync(s.dir).filter((f) => f.includes('out.csv'))).toEqual([]);
    }, 60_000);
  }

  it('the next export removes what a killed run left; a live run\'s temporary file is kept', async () => {
    const killed = await interruptedExport(s, 'SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    const leftovers = fs.readdirSync(s.dir).filter((f) => f.includes('out.csv'));
    expect(leftovers).toHaveLength(1);
    const dead = `.out.csv.${deadPid()}.tmp`;
    const live = `.out.csv.${process.pid}.tmp`; // this test's own process is alive
    fs.writeFileSync(path.join(s.dir, dead), 'half');
    fs.writeFileSync(path.join(s.dir, live), 'busy');
    const r = await spawnCli(['export', 'receipts', '--tenant', 'big', '--period', '2026-10', '--out', 'out.csv', '--db', s.db], { cwd: s.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(s.dir).filter((f) => f.includes('out.csv')).sort()).toEqual([live, 'out.csv'].sort());
    expect(fs.readFileSync(path.join(s.dir, 'out.csv'), 'utf8').split('\r\n')).toHaveLength(RECEIPTS + 2);
    fs.rmSync(path.join(s.dir, live));
  }, 60_000);

  it('metrics --out sweeps its killed runs\' temporary files too', async () => {
    const dead = `.billctl.prom.${deadPid()}.tmp`;
    fs.writeFileSync(path.join(s.dir, dead), 'half');
    const r = await spawnCli(['metrics', '--out', 'billctl.prom', '--db', s.db], { cwd: s.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(s.dir).filter((f) => f.includes('billctl.prom'))).toEqual(['billctl.prom']);
  });
});
