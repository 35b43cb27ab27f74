/** alerts check: budgets, projections, allowances and hard caps, spikes, once-only firing, webhooks. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERTS_LOCK, evaluateTenant, type TenantFacts } from '../../src/app/alerts.js';
import { Decimal } from '../../src/domain/money.js';
import { openStore } from '../../src/store/open.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, importReceipts, opsStore, parseJson, type ReceiptInput } from './helpers.js';

afterAll(dropSchemas);

const d = (s: string) => Decimal.parse(s);

function facts(over: Partial<TenantFacts> = {}): TenantFacts {
  return {
    tenantId: 't', period: '2026-10', currency: 'USD', spent: d('0'), projected: null,
    plan: { id: 'pro', name: 'Pro', hardCap: false },
    granted: { gpuSeconds: 360_000n, tokens: 10_000_000n, apiCalls: 100_000n },
    used: { gpuSeconds: 0n, tokens: 0n, apiCalls: 0n },
    ...over,
  };
}

const keys = (f: TenantFacts) => evaluateTenant(f).map((a) => `${a.kind}:${a.threshold}`);

describe('evaluateTenant (exact thresholds)', () => {
  const budget = { monthly: d('100.00'), thresholds: [50, 80, 100] };

  it('budget thresholds are crossed at exactly the percentage, never a cent before; only the highest one reached fires', () => {
    expect(keys(facts({ budget, spent: d('49.99') }))).toEqual([]);
    expect(keys(facts({ budget, spent: d('79.99') }))).toEqual(['budget:50']);
    expect(keys(facts({ budget, spent: d('80.00') }))).toEqual(['budget:80']);
    expect(keys(facts({ budget, spent: d('100.00') }))).toEqual(['budget:100']);
    expect(keys(facts({ budget, spent: d('116.00') }))).toEqual(['budget:100']);
    expect(keys(facts({ budget: { monthly: d('100'), thresholds: [100, 50, 80] }, spent: d('90') }))).toEqual(['budget:80']);
    expect(keys(facts({ budget: { monthly: d('0.03'), thresholds: [34] }, spent: d('0.01') }))).toEqual([]);
    expect(keys(facts({ budget: { monthly: d('0.03'), thresholds: [33] }, spent: d('0.01') }))).toEqual(['budget:33']);
  });

  it('the projection fires while the budget is not yet spent', () => {
    expect(keys(facts({ budget, spent: d('40'), projected: d('99.99') }))).toEqual([]);
    expect(keys(facts({ budget, spent: d('40'), projected: d('100') }))).toEqual(['budget_projected:100']);
    expect(keys(facts({ budget, spent: d('100'), projected: d('150') }))).not.toContain('budget_projected:100');
  });

  it('allowances at 80, 100 and 120 % (the highest reached); a hard-cap plan is flagged past 100 %', () => {
    const at = (gpuSeconds: bigint, hardCap = false) =>
      evaluateTenant(facts({ used: { gpuSeconds, tokens: 0n, apiCalls: 0n }, plan: { id: 'free', name: 'Free', hardCap } }));
    expect(at(287_999n)).toEqual([]);
    expect(at(288_000n).map((a) => a.threshold)).toEqual(['80']);
    expect(at(360_000n, true).map((a) => [a.threshold, a.details.over_hard_cap])).toEqual([['100', false]]);
    const over = at(360_001n, true);
    expect(over.map((a) => [a.threshold, a.details.over_hard_cap])).toEqual([['100', true]]);
    expect(over[0]!.text).toContain('over its hard cap');
    expect(at(432_000n).map((a) => a.threshold)).toEqual(['120']);
    expect(at(432_000n)[0]!.details).toMatchObject({ metric: 'gpu_hours', value: '120', limit: '100', unit: 'hour', percent: 120 });
    // Nothing granted: no percentage to watch.
    expect(evaluateTenant(facts({ granted: { gpuSeconds: 0n, tokens: 0n, apiCalls: 0n }, used: { gpuSeconds: 5n, tokens: 5n, apiCalls: 5n } }))).toEqual([]);
  });

  it('a spike is a day above factor × the mean of the 7 days before; no baseline, no spike', () => {
    const spike = (cost: string, before: string[], factor = '2') =>
      keys(facts({ spike: { day: '2026-10-20', period: '2026-10', cost: d(cost), before: before.map(d), factor: d(factor) } }));
    const week = ['1.00', '1.00', '1.00', '1.00', '1.00', '1.00', '1.00'];
    expect(spike('2.00', week)).toEqual([]);
    expect(spike('2.01', week)).toEqual(['spike:2026-10-20']);
    expect(spike('2.01', week, '2.5')).toEqual([]);
    expect(spike('9.00', ['0', '0', '0', '0', '0', '0', '0'])).toEqual([]);
    expect(spike('0.15', ['0.07', '0', '0', '0', '0', '0', '0'])).toEqual(['spike:2026-10-20']); // mean 0.01
  });
});

interface AlertJson { tenant_id: string; period: string; kind: string; threshold: string; text: string; [k: string]: unknown }
interface CheckJson {
  checked: number;
  new_alerts: AlertJson[];
  webhook: { target: string; sent: number; failed: number; errors: string[]; expired: number } | null;
  failures: unknown[];
}

const NOW = { BILLCTL_NOW: '2026-10-21T12:00:00Z' };

function gpuDays(tenant: string, gpu: string, days: [number, number][]): ReceiptInput[] {
  return days.map(([day, seconds]) => ({
    id: `${tenant}-${day}`, tenant, ts: `2026-10-${String(day).padStart(2, '0')}T10:00:00Z`, gpu, gpuSeconds: seconds,
  }));
}

describeEachBackend('alerts check', (backend) => {
  let s: TestStore;
  const check = async (extra: string[] = [], expected = 0) =>
    parseJson<CheckJson>((await s.run(['alerts', 'check', '--format', 'json', ...extra], expected, NOW)).stdout);

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro');
    await addTenant(s, 'spiky', 'pro');
    await addTenant(s, 'tiny', 'free');
    await s.run(['budget', 'set', 'acme', '--monthly', '200']);
    await importReceipts(s, [
      // acme: 100 h included, 20 h billed at 4.00 = 80.00; subtotal 179.00 of 200.00 (89 %); GPU 120 % of the allowance.
      ...gpuDays('acme', 'a100-80gb', [[2, 360_000], [5, 72_000]]),
      // spiky: 0.90 a day for a week, then 2.70 on the 20th (3 × the mean).
      ...gpuDays('spiky', 'rtx-4090', [[13, 3600], [14, 3600], [15, 3600], [16, 3600], [17, 3600], [18, 3600], [19, 3600], [20, 10_800]]),
      // tiny: 11 GPU hours on a free plan with a hard cap of 10.
      ...gpuDays('tiny', 'rtx-3090', [[3, 39_600]]),
    ]);
  });

  it('raises each alert once, and only what is new on the next runs', async () => {
    // A higher spike factor: no spike (and nothing recorded for it).
    const calm = await check(['--tenant', 'spiky', '--spike-factor', '4']);
    expect(calm.new_alerts).toEqual([]);

    const first = await check();
    expect(first.checked).toBe(3);
    expect(first.failures).toEqual([]);
    expect(first.webhook).toBeNull();
    // One alert per budget and per allowance: the highest threshold crossed.
    expect(first.new_alerts.map((a) => `${a.tenant_id} ${a.kind} ${a.threshold}`)).toEqual([
      'acme budget 80', 'acme budget_projected 100', 'acme allowance_gpu_hours 120',
      'spiky spike 2026-10-20',
      'tiny allowance_gpu_hours 100',
    ]);
    const byKey = (k: string) => first.new_alerts.find((a) => `${a.tenant_id} ${a.kind} ${a.threshold}` === k)!;
    expect(byKey('acme budget 80')).toMatchObject({ period: '2026-10', value: '179.00', limit: '200.00', unit: 'USD', percent: 89 });
    expect(byKey('acme budget 80').text).toBe('acme has spent 179.00 USD of its 200.00 USD monthly budget in 2026-10 (89 %), past the 80 % threshold.');
    // The projection is the usage report's.
    const usage = parseJson<{ tenant_id: string; projected_month_end: string }[]>((await s.run(['usage', '--period', '2026-10', '--format', 'json'], 0, NOW)).stdout);
    expect(byKey('acme budget_projected 100').value).toBe(usage.find((u) => u.tenant_id === 'acme')!.projected_month_end);
    expect(byKey('acme allowance_gpu_hours 120')).toMatchObject({ hard_cap: false, over_hard_cap: false, value: '120', limit: '100' });
    expect(byKey('tiny allowance_gpu_hours 100')).toMatchObject({ hard_cap: true, over_hard_cap: true, value: '11', limit: '10', percent: 110 });
    expect(byKey('tiny allowance_gpu_hours 100').text).toContain('over its hard cap');
    expect(byKey('spiky spike 2026-10-20')).toMatchObject({ day: '2026-10-20', value: '2.70', mean: '0.90', factor: '2' });

    // The next cron run stays quiet.
    const second = await check();
    expect(second.new_alerts).toEqual([]);
    const table = await s.run(['alerts', 'check'], 0, NOW);
    expect(table.stderr).toContain('no new alerts');

    // Something new: acme passes its budget (6 more GPU hours = 24.00, subtotal 203.00).
    await importReceipts(s, [{ id: 'acme-21', tenant: 'acme', ts: '2026-10-21T06:00:00Z', gpu: 'a100-80gb', gpuSeconds: 21_600 }]);
    const third = await check();
    expect(third.new_alerts.map((a) => `${a.tenant_id} ${a.kind} ${a.threshold}`)).toEqual(['acme budget 100']);
    expect(third.new_alerts[0]).toMatchObject({ value: '203.00', percent: 101 });
    expect((await check()).new_alerts).toEqual([]);

    const listed = parseJson<AlertJson[]>((await s.run(['alerts', 'list', '--tenant', 'acme', '--format', 'json'])).stdout);
    expect(listed.map((a) => `${a.kind} ${a.threshold}`)).toEqual(['budget 80', 'budget_projected 100', 'allowance_gpu_hours 120', 'budget 100']);
  });

  it('checks a closed period with --period (its last day for spikes)', async () => {
    const r = await check(['--period', '2026-09']);
    expect(r.new_alerts).toEqual([]);
    await s.run(['alerts', 'check', '--period', 'nope'], 2, NOW);
    await s.run(['alerts', 'check', '--spike-factor', '-1'], 2, NOW);
  });
});

// ---------------------------------------------------------------------------------------------
// Webhooks

interface Hook {
  url: string;
  bodies: { text: string; alert: AlertJson }[];
  /** The Authorization header of each post. */
  auth: (string | undefined)[];
  attempts: number;
  failing: boolean;
  close(): Promise<void>;
}

async function startHook(): Promise<Hook> {
  const hook = { bodies: [], auth: [], attempts: 0, failing: false } as unknown as Hook;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      hook.attempts++;
      if (hook.failing || req.headers['content-type'] !== 'application/json') {
        res.writeHead(500).end('no');
        return;
      }
      hook.bodies.push(JSON.parse(body) as Hook['bodies'][number]);
      hook.auth.push(req.headers.authorization);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/SECRETTOKEN`;
  hook.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return hook;
}

const TENANTS = ['a1', 'a2', 'a3', 'a4', 'a5'];

describeEachBackend('alerts check --webhook', (backend) => {
  let s: TestStore;
  let hook: Hook;

  beforeAll(async () => {
    hook = await startHook();
    s = await opsStore(await backend.fresh());
    // Each tenant: the Pro fee, 99.00 of a 120.00 budget (82 %): one alert each, "budget 80".
    for (const t of TENANTS) {
      await addTenant(s, t, 'pro');
      await s.run(['budget', 'set', t, '--monthly', '120', '--thresholds', '50,80']);
    }
  });
  afterAll(() => hook.close());

  it('posts each new alert; a failed post stays queued and goes out on the next run', async () => {
    hook.failing = true;
    const failed = await s.run(['alerts', 'check', '--webhook', hook.url, '--format', 'json'], 3, NOW);
    const out = parseJson<CheckJson>(failed.stdout);
    expect(out.new_alerts.map((a) => `${a.tenant_id} ${a.threshold}`)).toEqual(TENANTS.map((t) => `${t} 80`));
    expect(out.webhook).toMatchObject({ sent: 0, failed: 5, expired: 0 });
    expect(out.webhook!.target).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/…$/);
    expect(out.webhook!.errors[0]).toBe('a1 budget 80: HTTP 500 (after 3 attempts; retried next run)');
    // Three attempts each for the first three; after three failures in a row the rest wait for the next run.
    expect(hook.attempts).toBe(9);
    expect(out.webhook!.errors[3]).toContain('not tried');
    expect(hook.bodies).toEqual([]);
    // The webhook URL is a secret: never printed, never stored.
    expect(failed.stdout + failed.stderr).not.toContain('SECRETTOKEN');
    const store = await openStore(s.db);
    try {
      const rows = await (store as unknown as { db: { all(sql: string): Promise<Record<string, unknown>[]> } }).db.all('SELECT * FROM alert_outbox');
      expect(rows).toHaveLength(5);
      expect(JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('SECRETTOKEN');
    } finally {
      await store.close();
    }

    // Next run, webhook from billctl.yaml this time: no new alert, the queued ones are posted.
    hook.failing = false;
    s.file('billctl.yaml', `alerts:\n  webhook: ${JSON.stringify(hook.url)}\n`);
    const retried = parseJson<CheckJson>((await s.run(['alerts', 'check', '--format', 'json'], 0, NOW)).stdout);
    expect(retried.new_alerts).toEqual([]);
    expect(retried.webhook).toMatchObject({ sent: 5, failed: 0 });
    expect(hook.bodies.map((b) => b.alert.tenant_id)).toEqual(TENANTS);
    expect(hook.bodies[4]!.text).toBe('a5 has spent 99.00 USD of its 120.00 USD monthly budget in 2026-10 (82 %), past the 80 % threshold.');
    expect(hook.bodies[4]!.alert).toMatchObject({ tenant_id: 'a5', period: '2026-10', kind: 'budget', threshold: '80', value: '99.00', limit: '120.00', percent: 82 });
    expect(hook.auth).toEqual(TENANTS.map(() => undefined));

    // And nothing twice.
    const quiet = parseJson<CheckJson>((await s.run(['alerts', 'check', '--format', 'json'], 0, NOW)).stdout);
    expect(quiet.webhook).toMatchObject({ sent: 0, failed: 0 });
    expect(hook.bodies).toHaveLength(5);
    fs.rmSync(path.join(s.dir, 'billctl.yaml'));
  });

  it('one crossing of several thresholds (to 116 %) posts the highest alert, once', async () => {
    const t = await opsStore(await backend.fresh());
    await addTenant(t, 'jump', 'pro');
    await t.run(['budget', 'set', 'jump', '--monthly', '85.35']); // 50, 80, 100; the 99.00 fee is 116 % of it
    const before = hook.bodies.length;
    const r = parseJson<CheckJson>((await t.run(['alerts', 'check', '--webhook', hook.url, '--format', 'json'], 0, NOW)).stdout);
    expect(r.new_alerts.map((a) => `${a.kind} ${a.threshold} ${String(a.percent)}`)).toEqual(['budget 100 115']);
    const again = parseJson<CheckJson>((await t.run(['alerts', 'check', '--webhook', hook.url, '--format', 'json'], 0, NOW)).stdout);
    expect(again.new_alerts).toEqual([]);
    expect(hook.bodies.slice(before).map((b) => `${b.alert.tenant_id} ${b.alert.threshold}`)).toEqual(['jump 100']);
  });

  it('a URL with credentials is posted with Basic authorization; the credentials are never shown', async () => {
    const t = await opsStore(await backend.fresh());
    await addTenant(t, 'cred', 'pro');
    await t.run(['budget', 'set', 'cred', '--monthly', '120']);
    const url = hook.url.replace('http://', 'http://hook-user:S3cret%2Fpw@');
    const before = hook.bodies.length;
    const r = await t.run(['alerts', 'check', '--webhook', url, '--format', 'json'], 0, NOW);
    expect(parseJson<CheckJson>(r.stdout).webhook).toMatchObject({ sent: 1, failed: 0 });
    expect(hook.bodies.slice(before).map((b) => b.alert.tenant_id)).toEqual(['cred']);
    expect(hook.auth.at(-1)).toBe(`Basic ${Buffer.from('hook-user:S3cret/pw').toString('base64')}`);
    expect(r.stdout + r.stderr).not.toMatch(/hook-user|S3cret/);
  });

  it('a refused connection names its cause (ECONNREFUSED and the address), on any port', async () => {
    const t = await opsStore(await backend.fresh());
    await addTenant(t, 'down', 'pro');
    await t.run(['budget', 'set', 'down', '--monthly', '120']);
    // Port 9 (discard): nothing listens, and fetch would refuse it as a "bad port" without trying.
    const r = await t.run(['alerts', 'check', '--webhook', 'http://user:pw-Secret@127.0.0.1:9/hook'], 3, NOW);
    expect(r.stderr).toContain('warning: webhook http://127.0.0.1:9/…: down budget 80: ECONNREFUSED 127.0.0.1:9 (after 3 attempts; retried next run)');
    expect(r.stdout + r.stderr).not.toContain('pw-Secret');
  });

  it('a post still failing 7 days after its alert fired is given up, said once (exit 3), and no longer pending', async () => {
    const t = await opsStore(await backend.fresh());
    await addTenant(t, 'old', 'pro');
    await t.run(['budget', 'set', 'old', '--monthly', '120']);
    hook.failing = true;
    const url = `${hook.url}/other`;
    await t.run(['alerts', 'check', '--webhook', url], 3, NOW);
    const sixDays = parseJson<CheckJson>((await t.run(['alerts', 'check', '--webhook', url, '--format', 'json'], 3, { BILLCTL_NOW: '2026-10-27T12:00:00Z' })).stdout);
    expect(sixDays.webhook).toMatchObject({ failed: 1, expired: 0 });
    hook.failing = false;
    const late = await t.run(['alerts', 'check', '--webhook', url, '--format', 'json'], 3, { BILLCTL_NOW: '2026-10-28T12:00:01Z' });
    expect(parseJson<CheckJson>(late.stdout).webhook).toMatchObject({ sent: 0, failed: 0, expired: 1 });
    expect(late.stderr).toContain('1 alert post(s) given up: still not posted 7 days after the alert fired');
    const metrics = await t.run(['metrics'], 0, { BILLCTL_NOW: '2026-10-28T12:00:01Z' });
    expect(metrics.stdout).toContain('\nbillctl_alert_webhook_pending 0\n');
    const next = parseJson<CheckJson>((await t.run(['alerts', 'check', '--webhook', url, '--format', 'json'], 0, { BILLCTL_NOW: '2026-10-28T13:00:00Z' })).stdout);
    expect(next.webhook).toMatchObject({ sent: 0, failed: 0, expired: 0 });
  });
  it('one run at a time: a second one exits 5 and does nothing', async () => {
    const store = await openStore(s.db);
    try {
      const owner = { id: 'other-run', host: os.hostname(), pid: process.pid };
      expect((await store.locks.tryAcquire(ALERTS_LOCK, owner, Date.now(), 60_000)).acquired).toBe(true);
      const r = await s.run(['alerts', 'check'], 5, NOW);
      expect(r.stderr).toContain('another alerts check holds the lock');
      await store.locks.release(ALERTS_LOCK, owner.id);
    } finally {
      await store.close();
    }
    await s.run(['alerts', 'check'], 0, NOW);
  });
});
