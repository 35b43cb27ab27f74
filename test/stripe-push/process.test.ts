/**
 * `stripe push` as cron runs it: child processes of the built bin/billctl.js (run
 * `npx tsc -p tsconfig.json` first), on SQLite and Postgres. Two pushes started at once, and a
 * push killed with SIGKILL in the middle and run again: Stripe still holds every unit once (token
 * class meters included).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { BIN, json, ROOT, type CliResult } from '../helpers/cli.js';
import {
  eventPosts, expectNoLeaks, expectServerMatches, H, insertReceipts, makeReceipts, pushWorld, spawnBillctl, waitFor, withStore, type PushJson,
  type PushWorld,
} from './helpers.js';

afterAll(dropSchemas);

beforeAll(() => {
  const built = path.join(ROOT, 'dist', 'app', 'stripe-push.js');
  if (!fs.existsSync(built)) throw new Error(`${built} is missing: run npx tsc -p tsconfig.json before these tests`);
});

describe('stripe push, status and reconcile --help', () => {
  it('show their flags and examples without loading the stripe package', () => {
    const trace = path.join(tempDir('trace'), 'loads.txt');
    fs.writeFileSync(trace, '');
    for (const [cmd, flags] of [
      ['push', /--until <time>[\s\S]*--bucket <size>[\s\S]*--concurrency <n>[\s\S]*--rate <n>[\s\S]*--dry-run/],
      ['status', /--tenant <id>[\s\S]*--list <status>/],
      ['reconcile', /--period <YYYY-MM>/],
    ] as [string, RegExp][]) {
      const r = spawnSync(process.execPath, ['--import', path.join(ROOT, 'test/helpers/trace-loads.mjs'), BIN, 'stripe', cmd, '--help'], {
        env: { ...process.env, TRACE_LOADS_FILE: trace },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(flags);
      expect(r.stdout).toMatch(new RegExp(`Examples:\\n {2}\\$ billctl stripe ${cmd}`));
    }
    expect(fs.readFileSync(trace, 'utf8')).not.toContain('stripe/esm');
  });
});

describeEachBackend('stripe push in child processes', (backend) => {
  let w: PushWorld;
  let children: CliResult[];
  afterEach(async () => {
    expectNoLeaks(w, children);
    await w.close();
  });

  it('two pushes started at once: one runs, the other exits 5 (or finds nothing left); every unit lands once', async () => {
    children = [];
    w = await pushWorld(backend);
    const receipts = makeReceipts(11, ['acme', 'beta'], 40, w.now - 12 * H, w.now - 1000);
    await insertReceipts(w.db, receipts);
    w.fake.setLatency(20);
    const args = ['stripe', 'push', '--yes', '--format', 'json', '--concurrency', '2', '--rate', '1000'];
    const a = spawnBillctl(args, w.env, w.dir);
    const b = spawnBillctl(args, w.env, w.dir);
    const results = await Promise.all([a.done, b.done]);
    children.push(...results);
    const codes = results.map((r) => r.code).sort();
    expect([[0, 5], [0, 0]], results.map((r) => r.stderr).join('\n')).toContainEqual(codes);
    for (const r of results) {
      if (r.code === 5) {
        expect(r.stderr).toMatch(/another stripe push holds the lock: host .+, pid \d+, since .+ \(heartbeat \d+s ago\); nothing was done/);
        expect(r.stdout).toBe('');
      }
    }
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    expectServerMatches(w.fake, w.customers.beta!, receipts, 'beta');
    const sent = results.filter((r) => r.code === 0).reduce((n, r) => n + json<PushJson>(r).events.sent, 0);
    expect(sent).toBe(w.fake.state.meterEvents.length);
    const again = await w.push(['--rate', '1000']);
    expect(again.r.code, again.r.stderr).toBe(0);
    expect(again.j.events.planned).toBe(0);
  });

  it('kill -9 in the middle of a push, then a re-run: pending events are resent under their identifiers, none twice', async () => {
    children = [];
    w = await pushWorld(backend);
    // A third of the receipts with token classes (cached input, reasoning): their meters, made by
    // setup once the store holds them, are pushed exactly once like the others.
    const receipts = makeReceipts(12, ['acme', 'beta'], 60, w.now - 30 * H, w.now - 1000)
      .map((r, i) => (i % 3 === 0 ? { ...r, cachedInputTokens: BigInt(100 + i), reasoningTokens: BigInt(7 * i) } : r));
    await insertReceipts(w.db, receipts);
    const setup = await w.run(['stripe', 'setup']);
    expect(setup.code, setup.stderr).toBe(0);
    w.fake.setLatency(40);
    const run = spawnBillctl(['stripe', 'push', '--yes', '--quiet', '--format', 'json', '--concurrency', '2', '--rate', '1000'], w.env, w.dir);
    await waitFor(() => eventPosts(w.fake).length >= 20, 30_000, '20 meter events');
    run.child.kill('SIGKILL');
    const killed = await run.done;
    children.push(killed);
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.stdout).toBe('');
    const postedBefore = eventPosts(w.fake).length;
    expect(postedBefore).toBeLessThan(200);

    // The killed run left its rows: sent ones, pending ones (some tried, their answer lost), and its lock.
    const left = await withStore(w.db, async (s) => s.ledger.rows({ status: 'pending' }));
    expect(left.length).toBeGreaterThan(0);
    expect(left.some((r) => r.attempts > 0)).toBe(true);

    // Stripe finishes what the killed run had in flight (the answers go nowhere) before the re-run
    // resends it, so the resends meet stored identifiers (a resend that overtook one would store
    // it first instead, and nothing would show that it was in flight).
    await waitFor(() => eventPosts(w.fake).every((p) => p.outcome !== undefined), 10_000, 'the killed requests answered');
    w.fake.setLatency(0);
    const { r, j } = await w.push(['--rate', '1000']);
    expect(r.code, r.stderr).toBe(0);
    expectServerMatches(w.fake, w.customers.acme!, receipts, 'acme');
    expectServerMatches(w.fake, w.customers.beta!, receipts, 'beta');
    expect(j.events.planned).toBe(left.length);
    // What the killed run had in flight was resent with the same identifier and counted once.
    const resent = new Set(left.filter((x) => x.attempts > 0).map((x) => x.identifier));
    const posts = eventPosts(w.fake);
    const postsOf = (id: string) => posts.filter((p) => p.params.identifier === id).length;
    // (More than twice when the resend met the killed run's request still in flight: a 409, retried.)
    for (const id of resent) expect(postsOf(id)).toBeGreaterThanOrEqual(1);
    expect([...resent].some((id) => postsOf(id) >= 2)).toBe(true);
    expect(j.events.already_sent).toBeGreaterThan(0);
    expect(new Set(w.fake.state.meterEvents.map((e) => e.object.identifier)).size).toBe(w.fake.state.meterEvents.length);
    await withStore(w.db, async (s) => {
      expect(await s.ledger.rows({ status: 'pending' })).toEqual([]);
      expect(await s.locks.holder('stripe-push')).toBeUndefined();
    });
  });
});
