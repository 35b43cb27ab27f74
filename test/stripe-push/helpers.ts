/**
 * What the push tests share: a store with the meters set up and tenants linked to customers of
 * the fake Stripe, receipts written straight into the store (the push reads the receipts table;
 * going through `billctl import` would test the importer too, which has its own suite), the
 * receipts' own totals worked out here in plain code, and the CLI run in-process or as a child.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import { mulberry32 as prng } from '../../src/prng.js';
import { openStore } from '../../src/store/open.js';
import type { SqlDriver } from '../../src/store/sql.js';
import type { Store } from '../../src/store/store.js';
import { METER_KEYS, type MeterKey } from '../../src/stripe/client.js';
import { tempDir, type Backend } from '../helpers/backends.js';
import { BIN, cli, json, type CliResult } from '../helpers/cli.js';
import { startFakeStripe, type FakeStripe, type FakeStripeOptions } from '../helpers/fake-stripe.js';

export const H = 3_600_000;
export const DAY = 24 * H;
/** Every meter: GPU seconds, the five token classes, API calls. */
export const METERS: readonly MeterKey[] = METER_KEYS;
export const EVENT_NAMES = Object.fromEntries(METERS.map((m) => [m, `billctl_${m}`])) as Record<MeterKey, string>;

export interface TestReceipt {
  tenantId: string;
  id: string;
  ts: number;
  billable: boolean;
  gpuSeconds: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  cachedInputTokens?: bigint;
  cacheWriteTokens?: bigint;
  reasoningTokens?: bigint;
}

/** Seeded randomness, as everywhere in billctl's tests. */
export { prng };

/** `count` receipts per tenant at random instants in [from, to), about 10 % of them not billable. */
export function makeReceipts(seed: number, tenants: readonly string[], count: number, from: number, to: number, prefix = 'r'): TestReceipt[] {
  const rand = prng(seed);
  const out: TestReceipt[] = [];
  for (const tenantId of tenants) {
    for (let i = 0; i < count; i++) {
      out.push({
        tenantId,
        id: `${prefix}-${seed}-${i}`,
        ts: from + Math.floor(rand() * (to - from)),
        billable: rand() >= 0.1,
        gpuSeconds: rand() < 0.5 ? 0n : BigInt(Math.floor(rand() * 900)),
        inputTokens: BigInt(Math.floor(rand() * 5000)),
        outputTokens: BigInt(Math.floor(rand() * 2000)),
      });
    }
  }
  return out;
}

export async function withStore<T>(db: string, fn: (s: Store) => Promise<T>): Promise<T> {
  const s = await openStore(db);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

export function driverOf(store: Store): SqlDriver {
  return (store as unknown as { db: SqlDriver }).db;
}

/** Writes receipts straight into the receipts table (batch 0). */
export async function insertReceipts(db: string, receipts: readonly TestReceipt[]): Promise<void> {
  await withStore(db, async (s) => {
    const d = driverOf(s);
    await s.transaction(async () => {
      for (const r of receipts) {
        await d.run(
          `INSERT INTO receipts (tenant_id, id, ts, billable, status, model, model_key, gpu_type, gpu_key, gpu_seconds, input_tokens,
             output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, unsplit, batch_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`,
          [
            r.tenantId, r.id, r.ts, r.billable ? 1 : 0, r.billable ? 'completed' : 'failed', 'qwen-70b', 'qwen-70b',
            r.gpuSeconds > 0n ? 'a100-80gb' : null, r.gpuSeconds > 0n ? 'a100-80gb' : null, r.gpuSeconds, r.inputTokens, r.outputTokens,
            r.cachedInputTokens ?? 0n, r.cacheWriteTokens ?? 0n, r.reasoningTokens ?? 0n,
          ],
        );
      }
    });
  });
}

/** The receipts' own totals per meter: billable ones with ts < until. */
export function totalsOf(receipts: readonly TestReceipt[], tenantId: string, until = Number.POSITIVE_INFINITY): Record<MeterKey, bigint> {
  const t = Object.fromEntries(METERS.map((m) => [m, 0n])) as Record<MeterKey, bigint>;
  for (const r of receipts) {
    if (r.tenantId !== tenantId || !r.billable || r.ts >= until) continue;
    t.gpu_seconds += r.gpuSeconds;
    t.input_tokens += r.inputTokens;
    t.output_tokens += r.outputTokens;
    t.cached_input_tokens += r.cachedInputTokens ?? 0n;
    t.cache_write_tokens += r.cacheWriteTokens ?? 0n;
    t.reasoning_tokens += r.reasoningTokens ?? 0n;
    t.api_calls += 1n;
  }
  return t;
}

/** What the fake Stripe holds for a customer, per meter, as exact decimal text. */
export function serverTotals(fake: FakeStripe, customer: string): Record<MeterKey, string> {
  return Object.fromEntries(METERS.map((m) => [m, fake.state.total(customer, EVENT_NAMES[m])])) as Record<MeterKey, string>;
}

export function expectServerMatches(fake: FakeStripe, customer: string, receipts: readonly TestReceipt[], tenantId: string, until?: number): void {
  const want = totalsOf(receipts, tenantId, until);
  expect(serverTotals(fake, customer), `${tenantId} (${customer})`).toEqual(Object.fromEntries(METERS.map((m) => [m, want[m].toString()])));
}

/** The meter events posted to the fake. */
export function eventPosts(fake: FakeStripe) {
  return fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/billing/meter_events');
}

export interface PushWorld {
  fake: FakeStripe;
  db: string;
  dir: string;
  now: number;
  env: Record<string, string>;
  outputs: CliResult[];
  customers: Record<string, string>;
  run(args: string[], env?: Record<string, string | undefined>, options?: { tty?: boolean }): Promise<CliResult>;
  push(args?: string[], env?: Record<string, string | undefined>): Promise<{ r: CliResult; j: PushJson }>;
  close(): Promise<void>;
}

export interface PushJson {
  dry_run: boolean;
  livemode: boolean;
  until: string;
  bucket: string;
  events: Record<'planned' | 'sent' | 'already_sent' | 'failed' | 'retry_later' | 'expired' | 'uncertain', number>;
  tenants: {
    tenant_id: string;
    customer: string | null;
    result: string;
    events: PushJson['events'];
    planned: Record<MeterKey, number>;
    sent: Record<MeterKey, number>;
    expired: Record<MeterKey, number>;
    expired_buckets: { first: string; last: string; count: number } | null;
    uncertain: Record<MeterKey, number>;
    waiting: Record<MeterKey, number>;
    errors: string[];
  }[];
  retries: number;
  left_for_next_run: number;
  stopped: string | null;
  setup_needed: string | null;
  duration_ms: number;
  send_ms: number;
}

export interface WorldOptions {
  now?: number;
  fake?: FakeStripeOptions;
  /** Stripe-mode tenants with a customer in the fake (default acme, beta). */
  tenants?: string[];
  /** Also an invoice-mode tenant `gamma` (default true). */
  invoiceTenant?: boolean;
}

export const NOW = Date.parse('2026-11-21T12:30:00Z');

/**
 * A store on `backend` with the sample catalog, the meters set up in the fake, stripe-mode
 * tenants linked to customers in the fake, and (by default) an invoice-mode tenant `gamma`.
 */
export async function pushWorld(backend: Backend, options: WorldOptions = {}): Promise<PushWorld> {
  const now = options.now ?? NOW;
  const fake = await startFakeStripe({ now, ...options.fake });
  const dir = tempDir('push');
  const db = await backend.fresh();
  const env: Record<string, string> = { ...fake.env, BILLCTL_DB: db, BILLCTL_NOW: new Date(now).toISOString() };
  const outputs: CliResult[] = [];
  const run = async (args: string[], extra: Record<string, string | undefined> = {}, o: { tty?: boolean } = {}) => {
    const r = await cli(args, { env: { ...env, ...extra }, cwd: dir, ...(o.tty ? { tty: true } : {}) });
    outputs.push(r);
    return r;
  };
  const must = async (args: string[]) => {
    const r = await run(args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  };
  await must(['init', '--yes', '--sample-catalog']);
  await must(['stripe', 'setup']);
  const customers: Record<string, string> = {};
  for (const t of options.tenants ?? ['acme', 'beta']) {
    const c = fake.state.addCustomer({ name: t, metadata: { tenant_id: t } });
    customers[t] = c.id;
    await must(['tenant', 'add', t, '--billing-mode', 'stripe', '--stripe-customer', c.id]);
  }
  if (options.invoiceTenant ?? true) {
    const c = fake.state.addCustomer({ name: 'gamma' });
    customers.gamma = c.id;
    await must(['tenant', 'add', 'gamma', '--billing-mode', 'invoice', '--stripe-customer', c.id]);
  }
  return {
    fake, db, dir, now, env, outputs, customers, run,
    async push(args = [], extra = {}) {
      const r = await run(['stripe', 'push', '--yes', '--format', 'json', ...args], extra);
      return { r, j: json<PushJson>(r) };
    },
    close: () => fake.close(),
  };
}

/** Checks that the key never left but in the Authorization header, and that no output holds it. */
export function expectNoLeaks(w: PushWorld, extraOutputs: { stdout: string; stderr: string }[] = []): void {
  expect(w.fake.leaksOf(w.fake.apiKey)).toEqual([]);
  for (const o of [...w.outputs, ...extraOutputs]) {
    expect(o.stdout).not.toContain(w.fake.apiKey);
    expect(o.stderr).not.toContain(w.fake.apiKey);
  }
}

/** Starts the built billctl as a child process; resolves its output when it ends. */
export function spawnBillctl(args: string[], env: Record<string, string>, cwd: string): { child: ChildProcess; done: Promise<CliResult & { signal: NodeJS.Signals | null }> } {
  const full: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '', BILLCTL_ACTOR: 'test', ...env };
  delete full.FORCE_COLOR;
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code: code ?? 128, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
  return { child, done };
}

export async function waitFor(cond: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
