/**
 * What the Stripe Billing tests share: a store and a fake Stripe whose clocks agree (BILLCTL_NOW
 * and the fake's clock are set together), the CLI run in-process against both, and a catalog
 * Stripe can bill.
 */
import { expect } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { tempDir, type Backend } from '../helpers/backends.js';
import { cli, json, type CliResult } from '../helpers/cli.js';
import { startFakeStripe, type FakeStripe, type FakeStripeOptions } from '../helpers/fake-stripe.js';
import { STRIPE_READY_CATALOG } from '../helpers/stripe-catalog.js';
import fs from 'node:fs';
import path from 'node:path';

export interface BillingWorld {
  fake: FakeStripe;
  db: string;
  dir: string;
  /** BILLCTL_DB, BILLCTL_NOW and the fake's key and address, for a child process. */
  env(): Record<string, string>;
  /** Runs billctl in-process; fails the test on another exit code than `expected`. */
  run(args: string[], expected?: number): Promise<CliResult>;
  runJson<T>(args: string[], expected?: number): Promise<T>;
  /** Moves both clocks (billctl's BILLCTL_NOW and the fake Stripe's) to an instant. */
  setNow(iso: string): void;
  file(name: string, content: string): string;
  withStore<T>(fn: (s: Store) => Promise<T>): Promise<T>;
  outputs: CliResult[];
  close(): Promise<void>;
}

export async function billingWorld(backend: Backend, now: string, options: FakeStripeOptions = {}): Promise<BillingWorld> {
  const fake = await startFakeStripe({ now, frozenClock: true, ...options });
  const dir = tempDir('billing');
  const db = await backend.fresh();
  let nowIso = now;
  const outputs: CliResult[] = [];
  const env = () => ({ ...fake.env, BILLCTL_DB: db, BILLCTL_NOW: nowIso });
  const run = async (args: string[], expected = 0) => {
    const r = await cli(args, { env: env(), cwd: dir });
    outputs.push(r);
    if (r.code !== expected) throw new Error(`billctl ${args.join(' ')}: expected exit ${expected}, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  return {
    fake, db, dir, env, run, outputs,
    runJson: async <T>(args: string[], expected = 0) => json<T>(await run([...args, '--format', 'json'], expected)),
    setNow(iso) {
      nowIso = iso;
      fake.clock.set(iso, { frozen: true });
    },
    file(name, content) {
      const p = path.join(dir, name);
      fs.writeFileSync(p, content);
      return p;
    },
    async withStore(fn) {
      const s = await openStore(db);
      try {
        return await fn(s);
      } finally {
        await s.close();
      }
    },
    async close() {
      expect(fake.leaksOf(fake.apiKey)).toEqual([]);
      for (const o of outputs) expect(o.stdout + o.stderr).not.toContain(fake.apiKey);
      await fake.close();
    },
  };
}

/** A store with the Stripe-ready catalog, the meters set up and (optionally) the catalog synced. */
export async function readyStore(w: BillingWorld, options: { sync?: boolean } = {}): Promise<void> {
  await w.run(['init', '--yes']);
  await w.run(['catalog', 'import', w.file('stripe-catalog.yaml', STRIPE_READY_CATALOG)]);
  await w.run(['stripe', 'setup']);
  if (options.sync !== false) await w.run(['stripe', 'catalog', 'sync']);
}

export const posts = (fake: FakeStripe, p: string | RegExp) =>
  fake.requests.filter((r) => r.method === 'POST' && (typeof p === 'string' ? r.path === p : p.test(r.path)));
