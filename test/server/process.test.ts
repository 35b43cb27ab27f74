/**
 * billctl serve as a real process: kill -9 under a load of webhook posts loses no event that got
 * a 200 (each is stored exactly once after a restart and Stripe's retries), and SIGTERM lets a
 * request under way finish before the process exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { afterAll, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { stripeSignatureHeader } from '../../src/stripe/webhook-signature.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { BIN } from '../helpers/cli.js';
import { addTenant, opsStore } from '../ops/helpers.js';
import { stripeEvent } from './helpers.js';

afterAll(dropSchemas);

const SECRET = 'whsec_crash';
const NOW_ISO = '2026-10-20T12:00:00Z';
const NOW_S = Date.parse(NOW_ISO) / 1000;

function serve(db: string, cwd: string, extra: string[] = []): Promise<{ child: ChildProcess; url: string; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--db', db, ...extra], {
    cwd, env: { ...process.env, STRIPE_WEBHOOK_SECRET: SECRET, BILLCTL_NOW: NOW_ISO, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m) resolve({ child, url: m[1]!, stderr: () => err, exited });
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

function postEvent(url: string, raw: string): Promise<number> {
  return fetch(`${url}/v1/stripe/webhook`, {
    method: 'POST', body: raw, headers: { 'stripe-signature': stripeSignatureHeader(raw, SECRET, NOW_S) },
  }).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  }, () => 0);
}

describeEachBackend('billctl serve, killed and stopped', (backend) => {
  it('kill -9 mid-load: every webhook event that got a 200 is stored, exactly once after Stripe retries', async () => {
    const s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro');
    await s.run(['stripe', 'link', 'acme', 'cus_acme', '--offline']);
    const events = Array.from({ length: 300 }, (_, i) =>
      stripeEvent(`evt_${String(i).padStart(4, '0')}`, i % 3 === 0 ? 'invoice.payment_failed' : 'invoice.paid', {
        id: `in_${i % 50}`, customer: 'cus_acme', currency: 'usd', amount_due: 100 + i, attempt_count: 1 + (i % 4),
      }, NOW_S));
    const server = await serve(s.db, s.dir);
    const ok = new Set<string>();
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (next < events.length) {
        const i = next++;
        const status = await postEvent(server.url, events[i]!);
        if (status === 200) ok.add(JSON.parse(events[i]!).id as string);
        if (ok.size >= 80 && !killed) {
          killed = true;
          server.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(await server.exited).toBe(null);
    expect(ok.size).toBeGreaterThanOrEqual(80);
    expect(ok.size).toBeLessThan(events.length);

    const store = await openStore(s.db);
    try {
      const stored = new Set(await store.stripeEvents.ids());
      for (const id of ok) expect(stored.has(id), id).toBe(true);
      // Stripe retries everything it got no 200 for (here: everything): each event ends stored once.
      const again = await serve(s.db, s.dir);
      const statuses = [];
      for (const raw of events) statuses.push(await postEvent(again.url, raw));
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(0);
      expect(statuses.every((x) => x === 200)).toBe(true);
      expect(await store.stripeEvents.count()).toBe(events.length);
      expect(new Set(await store.stripeEvents.ids()).size).toBe(events.length);
    } finally {
      await store.close();
    }
  }, 120_000);

  it('SIGTERM: a request under way finishes (200, committed) and the process exits 0', async () => {
    const s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro');
    await s.run(['stripe', 'link', 'acme', 'cus_acme', '--offline']);
    const server = await serve(s.db, s.dir);
    const raw = stripeEvent('evt_slow', 'invoice.paid', { id: 'in_slow', customer: 'cus_acme' }, NOW_S);
    const u = new URL(server.url);
    const answer = new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: u.hostname, port: u.port, path: '/v1/stripe/webhook', method: 'POST',
        headers: { 'stripe-signature': stripeSignatureHeader(raw, SECRET, NOW_S), 'content-length': Buffer.byteLength(raw) },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      // Half the body, then the signal, then the rest.
      req.write(raw.slice(0, 40));
      setTimeout(() => {
        server.child.kill('SIGTERM');
        setTimeout(() => req.end(raw.slice(40)), 300);
      }, 200);
    });
    expect(await answer).toBe(200);
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toContain('billctl serve: SIGTERM, finishing the requests under way');
    const store = await openStore(s.db);
    try {
      expect(await store.stripeEvents.get('evt_slow')).toBeDefined();
    } finally {
      await store.close();
    }
  }, 60_000);

  it('--host and --format json: one JSON object per request log line, no token value', async () => {
    const s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro');
    const server = await serve(s.db, s.dir, ['--host', '127.0.0.1', '--format', 'json']);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${server.url}/healthz?token=sekrit`);
    expect(health.status).toBe(200);
    await health.arrayBuffer();
    const denied = await fetch(`${server.url}/v1/tenants/acme/quota`);
    expect(denied.status).toBe(401);
    await denied.arrayBuffer();
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const lines = server.stderr().split('\n').filter((l) => l !== '');
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = entries.filter((e) => 'method' in e);
    expect(requests.map((e) => [e.method, e.path, e.status, e.token])).toEqual([
      ['GET', '/healthz?token=[redacted]', 200, null],
      ['GET', '/v1/tenants/acme/quota', 401, null],
    ]);
    for (const e of requests) {
      expect(Object.keys(e).sort()).toEqual(['bytes', 'method', 'ms', 'path', 'status', 'time', 'token']);
      expect(typeof e.ms).toBe('number');
    }
    expect(server.stderr()).not.toContain('sekrit');
    expect(entries.some((e) => typeof e.message === 'string' && (e.message as string).includes('listening on http://127.0.0.1:'))).toBe(true);
  }, 60_000);
});
