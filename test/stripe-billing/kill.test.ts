/**
 * `stripe catalog sync` and `stripe subscribe` as real child processes of the built
 * bin/billctl.js (run `npx tsc -p tsconfig.json` first), killed with SIGKILL at seeded random
 * moments (some with a request in flight, so Stripe made the object and the answer was lost),
 * then run again: Stripe ends with exactly the products, prices and subscriptions of one clean
 * run, and the store names them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { mulberry32 } from '../../src/prng.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { ROOT } from '../helpers/cli.js';
import { spawnBillctl, waitFor } from '../stripe-push/helpers.js';
import { billingWorld, posts, readyStore, type BillingWorld } from './helpers.js';

afterAll(dropSchemas);

beforeAll(() => {
  const built = path.join(ROOT, 'dist', 'app', 'stripe-subscriptions.js');
  if (!fs.existsSync(built)) throw new Error(`${built} is missing: run npx tsc -p tsconfig.json before these tests`);
});

/** Runs `args` in a child, kills it with SIGKILL once `k` more requests reached the fake, and waits for it to end. */
async function killAfter(w: BillingWorld, args: string[], k: number): Promise<void> {
  const start = w.fake.requests.length;
  const run = spawnBillctl(args, w.env(), w.dir);
  let finished = false;
  void run.done.then(() => {
    finished = true;
  });
  await waitFor(() => finished || w.fake.requests.length >= start + k, 30_000, `${k} requests`);
  run.child.kill('SIGKILL');
  const r = await run.done;
  // It may have finished before the kill landed; otherwise it printed nothing.
  if (r.signal === 'SIGKILL') expect(r.stdout).toBe('');
}

describeEachBackend('kill -9 during stripe catalog sync and stripe subscribe', (backend) => {
  let w: BillingWorld;
  afterEach(async () => {
    await w.close();
  });

  it('catalog sync killed four times, then run to the end: five products and nine prices, none twice', async () => {
    w = await billingWorld(backend, '2026-10-10T12:00:00Z');
    await readyStore(w, { sync: false });
    w.fake.setLatency(25);
    const rand = mulberry32(backend.name === 'sqlite' ? 181 : 182);
    const points: number[] = [];
    for (let i = 0; i < 4; i++) {
      const k = 1 + Math.floor(rand() * 12);
      points.push(k);
      await killAfter(w, ['stripe', 'catalog', 'sync'], k);
    }
    const last = await spawnBillctl(['stripe', 'catalog', 'sync', '--format', 'json'], w.env(), w.dir).done;
    expect(last.code, `${last.stderr} (killed after ${points.join(', ')} requests)`).toBe(0);
    expect(w.fake.billing.products.size).toBe(5);
    expect(w.fake.billing.prices.size).toBe(9);
    expect([...w.fake.billing.prices.values()].every((p) => p.object.active && p.object.lookup_key !== null)).toBe(true);
    const rows = await w.withStore((s) => s.stripeBilling.prices(false));
    expect(rows.map((r) => r.priceId).sort()).toEqual([...w.fake.billing.prices.keys()].sort());
    // A clean run after it creates nothing.
    const before = posts(w.fake, /^\/v1\/(prices|products)/).length;
    w.fake.setLatency(0);
    await w.run(['stripe', 'catalog', 'sync']);
    expect(posts(w.fake, /^\/v1\/(prices|products)/).length).toBe(before);
  });

  it('subscribe --all killed four times, then run to the end: one subscription per tenant', async () => {
    w = await billingWorld(backend, '2026-10-10T12:00:00Z');
    await readyStore(w);
    const tenants = ['t1', 't2', 't3'];
    for (const t of tenants) await w.run(['tenant', 'add', t, '--plan', t === 't2' ? 'starter' : 'pro', '--billing-mode', 'stripe', '--email', `${t}@example.com`]);
    await w.run(['stripe', 'customers', 'sync']);
    w.fake.setLatency(25);
    const rand = mulberry32(backend.name === 'sqlite' ? 281 : 282);
    const points: number[] = [];
    for (let i = 0; i < 4; i++) {
      const k = 1 + Math.floor(rand() * 8);
      points.push(k);
      await killAfter(w, ['stripe', 'subscribe', '--all'], k);
    }
    const last = await spawnBillctl(['stripe', 'subscribe', '--all', '--format', 'json'], w.env(), w.dir).done;
    expect(last.code, `${last.stderr} (killed after ${points.join(', ')} requests)`).toBe(0);
    const j = JSON.parse(last.stdout) as { tenants: { tenant_id: string; subscription: string; action: string }[] };
    expect(j.tenants.map((t) => t.action).every((a) => a === 'created' || a === 'unchanged')).toBe(true);
    await w.withStore(async (s) => {
      for (const t of tenants) {
        const tenant = (await s.getTenant(t))!;
        const subs = w.fake.billing.subscriptionsOf(tenant.stripeCustomerId!);
        expect(subs.map((x) => x.status), `${t} (killed after ${points.join(', ')} requests)`).toEqual(['active']);
        expect((await s.stripeBilling.getSubscription(t))!.subscriptionId).toBe(subs[0]!.id);
        expect(subs[0]!.items.length).toBe(t === 't2' ? 4 : 5);
      }
    });
    w.fake.setLatency(0);
    const again = await w.runJson<{ tenants: { action: string }[] }>(['stripe', 'subscribe', '--all']);
    expect(again.tenants.map((t) => t.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(w.fake.billing.subscriptions.size).toBe(3);
  });
});
