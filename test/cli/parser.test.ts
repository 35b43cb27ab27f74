/** The argument parser's own errors and help: the billctl: prefix, `help a b`, required flags marked. */
import { PassThrough, Readable } from 'node:stream';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { cli } from '../helpers/cli.js';

describe('the argument parser', () => {
  it('prefixes its errors with billctl: like every other error', async () => {
    for (const [argv, first] of [
      [['frobnicate'], "billctl: error: unknown command 'frobnicate'"],
      [['catalog', 'list', '--bogus'], "billctl: error: unknown option '--bogus'"],
      [['tenant', 'set-plan', 'acme', 'pro'], "billctl: error: required option '--from <YYYY-MM|YYYY-MM-DD>' not specified"],
      [['tenant', 'show'], "billctl: error: missing required argument 'id'"],
    ] as const) {
      const r = await cli([...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0], argv.join(' ')).toBe(first);
    }
  });

  it('billctl help a b shows the help of `a b` (exit 0); an unknown one exits 2', async () => {
    for (const path of [['invoice', 'generate'], ['tenant', 'set-plan'], ['invoice'], ['alerts', 'check']]) {
      const viaHelp = await cli(['help', ...path]);
      const viaFlag = await cli([...path, '--help']);
      expect(viaHelp.code, path.join(' ')).toBe(0);
      expect(viaHelp.stdout, path.join(' ')).toBe(viaFlag.stdout);
      expect(viaHelp.stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: billctl ${path.join(' ')} `));
    }
    expect((await cli(['help'])).stdout).toBe((await cli(['--help'])).stdout);
    const nope = await cli(['help', 'invoice', 'nope']);
    expect(nope.code).toBe(2);
    expect(nope.stderr).toContain('billctl: error: help: "invoice nope" is not a command');
  });

  it('every required flag says so in its help', async () => {
    const r = await cli(['help', 'tenant', 'set-plan']);
    expect(r.stdout).toMatch(/--from <YYYY-MM\|YYYY-MM-DD> +first period, or first local day, on the new plan\n +\(required\)\n/);
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), stdin: Readable.from([]), stdoutIsTTY: false, stderrIsTTY: false, stdinIsTTY: false, env: {}, cwd: '.' };
    const program = buildProgram({ io, argv: [], exitCode: 0 });
    let required = 0;
    const walk = (cmd: Command) => {
      for (const o of cmd.options) {
        if (!o.mandatory) continue;
        required++;
        expect(o.description, `${cmd.name()} ${o.flags}`).toMatch(/\(required\)$/);
        expect(cmd.helpInformation()).toContain('(required)');
      }
      cmd.commands.forEach(walk);
    };
    walk(program);
    expect(required).toBeGreaterThan(3);
  });
});
