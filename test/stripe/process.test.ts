/**
 * The stripe commands in the built executable (run `npx tsc -p tsconfig.json` first): help
 * without loading the SDK, and the key kept out of everything a child process prints.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/backends.js';
import { BIN, ROOT, spawnCli } from '../helpers/cli.js';
import { startFakeStripe, type FakeStripe } from '../helpers/fake-stripe.js';

describe('stripe commands in a child process', () => {
  let fake: FakeStripe;
  beforeEach(async () => {
    fake = await startFakeStripe();
  });
  afterEach(async () => {
    await fake.close();
  });

  it('shows help with examples without loading the stripe package', () => {
    const trace = path.join(tempDir('trace'), 'loads.txt');
    fs.writeFileSync(trace, '');
    for (const args of [['stripe', '--help'], ['stripe', 'setup', '--help'], ['stripe', 'customers', 'sync', '--help']]) {
      const r = spawnSync(process.execPath, ['--import', path.join(ROOT, 'test/helpers/trace-loads.mjs'), BIN, ...args], {
        env: { ...process.env, TRACE_LOADS_FILE: trace },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Examples:\n {2}\$ [^\n]*\n[\s\S]*billctl stripe/);
    }
    expect(fs.readFileSync(trace, 'utf8')).not.toContain('stripe/esm');
  });

  it('runs setup and customers sync against the fake; the key appears in no output', async () => {
    const dir = tempDir('stripe-proc');
    const env = { ...fake.env, BILLCTL_DB: path.join(dir, 'billing.db') };
    const steps = [
      ['init', '--yes', '--sample-catalog'],
      ['tenant', 'add', 'acme', '--billing-mode', 'stripe', '--email', 'billing@acme.example'],
      ['stripe', 'setup'],
      ['stripe', 'customers', 'sync', '--format', 'json'],
      ['stripe', 'setup', '--format', 'json'],
    ];
    for (const args of steps) {
      const r = await spawnCli(args, { cwd: dir, env });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(fake.apiKey);
    }
    expect(fake.state.meters.size).toBe(4);
    expect(fake.state.customers.size).toBe(1);
    const wrong = await spawnCli(['stripe', 'setup'], { cwd: dir, env: { ...env, STRIPE_API_KEY: 'sk_test_DoNotPrintMe123456789' } });
    expect(wrong.code).toBe(2);
    expect(wrong.stdout + wrong.stderr).not.toMatch(/DoNotPrintMe|456789/);
    expect(fake.leaksOf(fake.apiKey)).toEqual([]);
    const unreachable = await spawnCli(['stripe', 'setup'], { cwd: dir, env: { ...env, STRIPE_API_BASE: 'http://127.0.0.1:9' } });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach Stripe/);
    expect(unreachable.stderr).not.toContain(fake.apiKey);
  });
});
