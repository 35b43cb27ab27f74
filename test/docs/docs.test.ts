/**
 * Every example in the docs runs as written (the convention: docs/development.md). The README's
 * `sh` blocks run in a fresh directory laid out like the repository root, each guide's `sh`
 * blocks in a copy of what the README left; every billctl command of every block is parsed by
 * the real command registry; links point to files and headings that exist.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { anchorsOf, billctlInvocations, blocksOf, commandsOf, docFiles, linksOf, type DocCommand } from './doc-examples.js';

const FILES = docFiles(ROOT);
const README = path.join(ROOT, 'README.md');
const rel = (f: string) => path.relative(ROOT, f);

let tmp: string;
let shimDir: string;
let readmeDir: string;

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, PATH: `${shimDir}${path.delimiter}${process.env.PATH ?? ''}`, NO_COLOR: '1', BILLCTL_ACTOR: 'docs' };
  for (const k of ['BILLCTL_DB', 'STRIPE_API_KEY', 'STRIPE_API_BASE', 'BILLCTL_NOW', 'FORCE_COLOR']) delete e[k];
  return e;
}

interface Ran extends DocCommand {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs each command in its own `bash -c` in `cwd`; the first one that exits otherwise than announced fails. */
function runAll(commands: DocCommand[], cwd: string): Ran[] {
  const ran: Ran[] = [];
  for (const c of commands) {
    const r = spawnSync('bash', ['-c', c.command], { cwd, env: env(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    const done = { ...c, code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    ran.push(done);
    if (done.code !== c.exitCode) {
      throw new Error(
        `${rel(c.file)}:${c.line}: \`${c.command}\` exited ${done.code}, the docs say ${c.exitCode}\n` +
          `stdout:\n${done.stdout}\nstderr:\n${done.stderr}`,
      );
    }
  }
  return ran;
}

const runnable = (file: string) => blocksOf(file).filter((b) => b.lang === 'sh').flatMap(commandsOf);

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'billctl-docs-'));
  // `npx billctl` is this checkout's billctl; any other npx use in the docs fails loudly.
  shimDir = path.join(tmp, 'bin');
  fs.mkdirSync(shimDir);
  fs.writeFileSync(
    path.join(shimDir, 'npx'),
    `#!/bin/sh\nif [ "$1" = billctl ]; then shift; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"; fi\n` +
      `echo "docs test: only npx billctl is available" >&2; exit 127\n`,
    { mode: 0o755 },
  );
  readmeDir = path.join(tmp, 'readme');
  fs.mkdirSync(readmeDir);
  fs.cpSync(path.join(ROOT, 'templates'), path.join(readmeDir, 'templates'), { recursive: true });
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the README, run as written', () => {
  it("runs the month end to end from a fresh checkout's root, with the results it states", () => {
    const ran = runAll(runnable(README), readmeDir);
    expect(ran.length).toBeGreaterThanOrEqual(9);

    const run = (...args: string[]) => {
      const r = spawnSync(process.execPath, [BIN, ...args, '--format', 'json'], { cwd: readmeDir, env: env(), encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as unknown;
    };
    const text = fs.readFileSync(README, 'utf8').replace(/\s+/g, ' ');

    // "The import reads 403 receipts and stores 402 (the gateway logged one request twice)."
    const imported = ran.find((c) => /billctl import /.test(c.command))!;
    expect(imported.stdout).toMatch(/lines\s*│\s*403\s/);
    expect(imported.stdout).toMatch(/imported\s*│\s*402\s/);
    expect(imported.stdout).toMatch(/duplicates\s*│\s*1\s/);
    expect(text).toContain('The import reads 403 receipts and stores 402');

    // "Four invoices are issued, INV-2026-000001 to INV-2026-000004 ... Acme's comes to 3,119.05 USD"
    const invoices = run('invoice', 'list', '--period', '2026-10') as { number: string; tenant_id: string; status: string; total: string }[];
    expect(invoices.map((i) => [i.number, i.tenant_id, i.status, i.total])).toEqual([
      ['INV-2026-000001', 'acme', 'finalized', '3119.05'],
      ['INV-2026-000002', 'globex', 'finalized', '114.32'],
      ['INV-2026-000003', 'hooli', 'finalized', '0.00'],
      ['INV-2026-000004', 'initech', 'finalized', '121.54'],
    ]);
    expect(text).toContain('Four invoices are issued, `INV-2026-000001` to `INV-2026-000004`');
    expect(text).toContain("Acme's comes to 3,119.05 USD");
    for (const i of invoices) expect(fs.existsSync(path.join(readmeDir, 'invoices', '2026-10', `${i.number}.pdf`))).toBe(true);

    // docs/rating.md works Acme's invoice out by hand.
    const acme = run('invoice', 'show', 'INV-2026-000001') as { subtotal: string; tax: string; lines: { description: string; billed: number; amount: string }[] };
    expect(acme.lines.map((l) => [l.description, l.amount]).filter(([, a]) => a !== '0.00')).toEqual([
      ['Enterprise plan fee', '2500.00'],
      ['A100 40GB GPU hours', '5.83'],
      ['A100 80GB GPU hours', '128.67'],
      ['Usage discount 10%', '-13.45'],
    ]);
    expect(acme.lines.filter((l) => l.description.includes('GPU')).map((l) => l.billed)).toEqual([8400, 115800]);
    expect([acme.subtotal, acme.tax]).toEqual(['2621.05', '498.00']);

    const lines = fs.readFileSync(path.join(readmeDir, 'lines-2026-10.csv'), 'utf8').trimEnd().split('\r\n');
    expect(lines).toHaveLength(1 + 24);

    // "Running the block again changes nothing."
    const again = runAll(runnable(README), readmeDir);
    expect(again.find((c) => /billctl import /.test(c.command))!.stdout).toMatch(/imported\s*│\s*0\s/);
    expect((run('invoice', 'list') as unknown[]).length).toBe(4);
  });

  it('`npx billctl` resolves to this checkout without a network', () => {
    const cache = path.join(tmp, 'npm-cache');
    const e = { ...env(), PATH: process.env.PATH ?? '', npm_config_cache: cache, npm_config_ignore_scripts: 'true', npm_config_update_notifier: 'false' };
    const r = spawnSync('npx', ['--offline', 'billctl', '--version'], { cwd: ROOT, env: e, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
    expect(r.status).toBe(0);
  });
});

describe('the guides, run as written', () => {
  for (const file of FILES.filter((f) => f !== README && runnable(f).length > 0)) {
    it(`${rel(file)}: its sh blocks run on the README's month`, () => {
      const dir = path.join(tmp, path.basename(file, '.md'));
      fs.cpSync(readmeDir, dir, { recursive: true });
      runAll(runnable(file), dir);
    });
  }
});

/** The registry with every action replaced by nothing: parsing checks commands, flags and arguments. */
function parser(): Command {
  const sink = new PassThrough();
  sink.resume();
  const program = buildProgram({
    io: { stdout: sink, stderr: sink, stdin: sink, stdoutIsTTY: false, stderrIsTTY: false, stdinIsTTY: false, env: {}, cwd: ROOT },
    argv: [],
    exitCode: 0,
  });
  const walk = (c: Command) => {
    if ((c as unknown as { _actionHandler: unknown })._actionHandler) c.action(() => {});
    c.commands.forEach(walk);
  };
  walk(program);
  return program;
}

describe('every billctl command in the docs', () => {
  const shown = FILES.flatMap((f) => blocksOf(f).filter((b) => ['sh', 'shell', 'cron'].includes(b.lang)).flatMap(commandsOf));
  const calls = shown.flatMap((c) => billctlInvocations(c.command).map((args) => ({ ...c, args })));

  it('are found (the extraction works)', () => {
    expect(calls.length).toBeGreaterThan(100);
    expect(calls.find((c) => c.args.join(' ') === 'stripe push --yes --quiet --format json')).toBeDefined();
    expect(calls.find((c) => c.args[0] === 'alerts' && c.file.endsWith('budgets-alerts-quotas.md') && c.command.startsWith('0 *'))).toBeDefined();
  });

  it('name real commands, flags and arguments', async () => {
    const problems: string[] = [];
    for (const c of calls) {
      try {
        await parser().parseAsync(c.args, { from: 'user' });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') continue;
        problems.push(`${rel(c.file)}:${c.line}: billctl ${c.args.join(' ')}: ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('is run as npx billctl, except in crontab lines', () => {
    const bare = shown.filter((c) => billctlInvocations(c.command).length > 0 && !/\bnpx billctl\b/.test(c.command) && !/^\S+(\s+\S+){4}\s+cd\s/.test(c.command));
    expect(bare.map((c) => `${rel(c.file)}:${c.line}: ${c.command}`)).toEqual([]);
  });
});

describe('links in the docs', () => {
  it('point to files and headings that exist', () => {
    const problems: string[] = [];
    for (const file of FILES) {
      for (const { line, target } of linksOf(file)) {
        const [p, anchor] = target.split('#') as [string, string | undefined];
        const dest = p === '' ? file : path.resolve(path.dirname(file), p);
        if (!fs.existsSync(dest)) problems.push(`${rel(file)}:${line}: ${target}: no such file`);
        else if (anchor !== undefined && dest.endsWith('.md') && !anchorsOf(dest).has(anchor)) {
          problems.push(`${rel(file)}:${line}: ${target}: no such heading`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('never cite files that only exist outside the repository', () => {
    const outside = FILES.flatMap((f) =>
      fs.readFileSync(f, 'utf8').split('\n').flatMap((l, i) =>
        /\.\.\/shared|billing-rules\.md|receipts\.md|cli\.md|architecture\.md/.test(l) ? [`${rel(f)}:${i + 1}: ${l.trim()}`] : [],
      ),
    );
    expect(outside).toEqual([]);
  });
});
