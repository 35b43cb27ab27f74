/**
 * billctl serve over a real socket, on both stores: every endpoint answers the JSON the matching
 * command prints with --format json (compared whole), tokens see their own tenant alone, and the
 * quota check follows receipts another process imports.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { spawnCli } from '../helpers/cli.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, importReceipts, opsStore, parseJson, receiptsCsv } from '../ops/helpers.js';
import { eventually, makeToken, startHarness, type Harness } from './helpers.js';

afterAll(dropSchemas);

const NOW_ISO = '2026-10-20T12:00:00Z';
const NOW = { BILLCTL_NOW: NOW_ISO };
const EVIL_NAME = '<script>alert("x")</script> & Co';

describeEachBackend('billctl serve API', (backend) => {
  let s: TestStore;
  let h: Harness;
  let op: string;
  let acme: string;
  let beta: string;
  const cliJson = async (args: string[], expected = 0) => parseJson<unknown>((await s.run([...args, '--format', 'json'], expected, NOW)).stdout);

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro', ['--name', 'Acme AI']);
    await addTenant(s, 'beta', 'free', ['--name', EVIL_NAME]);
    await addTenant(s, 'gamma', 'pro');
    await importReceipts(s, [
      { id: 's1', tenant: 'acme', ts: '2026-09-10T10:00:00Z', model: 'qwen-70b', input: 9_000_000, output: 3_000_000, user: 'alice' },
      { id: 'o1', tenant: 'acme', ts: '2026-10-02T10:00:00Z', model: 'qwen-70b', input: 8_000_000, output: 4_000_000, user: 'alice' },
      { id: 'o2', tenant: 'acme', ts: '2026-10-05T10:00:00Z', model: 'qwen-70b', input: 1000, output: 2000, user: 'bob' },
      { id: 'o3', tenant: 'acme', ts: '2026-10-06T10:00:00Z', gpu: 'a100-80gb', gpuSeconds: 7200, user: 'bob' },
      { id: 'b1', tenant: 'beta', ts: '2026-10-03T10:00:00Z', model: 'gemma-2b', input: 999_000 },
      { id: 'g1', tenant: 'gamma', ts: '2026-10-03T10:00:00Z', model: 'qwen-70b', input: 9_990_000 },
    ]);
    await s.run(['invoice', 'generate', '--period', '2026-09', '--tenant', 'acme', '--finalize', '--issue-date', '2026-10-01', '--yes'], 0, NOW);
    await s.run(['budget', 'set', 'acme', '--monthly', '5', '--user', 'alice']);
    op = await makeToken(s, ['--name', 'ops']);
    acme = await makeToken(s, ['--tenant', 'acme']);
    beta = await makeToken(s, ['--tenant', 'beta']);
    h = await startHarness(s.db, { now: NOW_ISO });
  });
  afterAll(async () => h?.close());

  it('answers /healthz without a token, and 401 without a valid one', async () => {
    expect((await h.get('/healthz')).json()).toEqual({ ok: true });
    for (const t of [undefined, 'bct_nonsense', `${acme}x`]) {
      const r = await h.get('/v1/tenants/acme/quota', t);
      expect(r.status).toBe(401);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('unauthorized');
    }
    expect((await h.get('/v1/tenants/acme/quota', acme, { authorization: `Basic ${acme}` })).status).toBe(401);
  });

  it('quota: the decision of quota check, 402 with the reason when refused', async () => {
    for (const [metric, units] of [['api_calls', '1'], ['tokens', '20000'], ['gpu_hours', '0.5'], ['cost', '2.50']] as const) {
      const r = await h.get(`/v1/tenants/acme/quota?metric=${metric}&units=${units}`, acme);
      expect(r.status).toBe(200);
      expect(r.json()).toEqual(await cliJson(['quota', 'check', '--tenant', 'acme', '--metric', metric, '--amount', units]));
    }
    const refused = await h.get('/v1/tenants/beta/quota?metric=tokens&units=1001', beta);
    expect(refused.status).toBe(402);
    expect(refused.json()).toEqual(await cliJson(['quota', 'check', '--tenant', 'beta', '--metric', 'tokens', '--amount', '1001'], 4));
    expect(refused.json()).toMatchObject({ allowed: false, reason: 'hard cap reached', remaining: 1000 });
  });

  it("quota with user=: a user's own budget (spent as usage --by user rates it)", async () => {
    const alice = await h.get('/v1/tenants/acme/quota?user=alice', acme);
    expect(alice.status).toBe(402);
    expect(alice.json()).toEqual(await cliJson(['quota', 'check', '--tenant', 'acme', '--user', 'alice'], 4));
    const byUser = (await cliJson(['usage', '--period', '2026-10', '--tenant', 'acme', '--by', 'user'])) as { user_id: string; rated_amount: string }[];
    expect(alice.json()).toMatchObject({ reason: 'user budget exhausted', user_id: 'alice', user_limit: '5.00', user_used: byUser.find((u) => u.user_id === 'alice')!.rated_amount });
    const bob = await h.get('/v1/tenants/acme/quota?user=bob', acme);
    expect(bob.status).toBe(200);
    expect(bob.json()).toEqual(await cliJson(['quota', 'check', '--tenant', 'acme', '--user', 'bob']));
    expect(bob.json()).toMatchObject({ allowed: true, user_id: 'bob' });
  });

  it('usage: usage --format json of one tenant, for each --by', async () => {
    for (const by of [undefined, 'model', 'gpu', 'day', 'user', 'provider']) {
      const q = by ? `&by=${by}` : '';
      const r = await h.get(`/v1/tenants/acme/usage?period=2026-10${q}`, acme);
      expect(r.status).toBe(200);
      expect(r.json()).toEqual(await cliJson(['usage', '--period', '2026-10', '--tenant', 'acme', ...(by ? ['--by', by] : [])]));
    }
    // No period: the tenant's period under way.
    expect((await h.get('/v1/tenants/acme/usage', acme)).json()).toEqual(await cliJson(['usage', '--period', '2026-10', '--tenant', 'acme']));
    expect((await h.get('/v1/tenants/acme/usage?period=2026-13', acme)).status).toBe(400);
    expect((await h.get('/v1/tenants/acme/usage?by=colour', acme)).status).toBe(400);
  });

  it('invoice-preview: invoice preview --format json with projected_total (usage projected_month_end)', async () => {
    const r = await h.get('/v1/tenants/acme/invoice-preview?period=2026-10', acme);
    const cli = (await cliJson(['invoice', 'preview', '--tenant', 'acme', '--period', '2026-10'])) as Record<string, unknown>;
    expect(r.json()).toEqual(cli);
    const usage = (await cliJson(['usage', '--period', '2026-10', '--tenant', 'acme'])) as Record<string, unknown>[];
    expect(cli.projected_total).toBe(usage[0]!.projected_month_end);
    // A period that is over has no projection.
    const sep = await h.get('/v1/tenants/acme/invoice-preview?period=2026-09', acme);
    expect(sep.json()).toEqual(await cliJson(['invoice', 'preview', '--tenant', 'acme', '--period', '2026-09']));
    expect((await h.get('/v1/tenants/beta/invoice-preview?period=2026-08', beta)).json()).toEqual(
      await cliJson(['invoice', 'preview', '--tenant', 'beta', '--period', '2026-08']),
    );
  });

  it('invoices and their PDFs: invoice list --format json, and the bytes invoice pdf writes', async () => {
    const list = await h.get('/v1/tenants/acme/invoices', acme);
    const cli = (await cliJson(['invoice', 'list', '--tenant', 'acme'])) as { number: string }[];
    expect(list.json()).toEqual(cli);
    expect(cli).toHaveLength(1);
    const number = cli[0]!.number;
    const pdf = await h.get(`/v1/tenants/acme/invoices/${number}.pdf`, acme);
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    const out = path.join(s.dir, 'pdf-out');
    const written = (await cliJson(['invoice', 'pdf', number, '--out', out])) as { pdf: string };
    expect(pdf.bytes.equals(fs.readFileSync(path.resolve(s.dir, written.pdf)))).toBe(true);
    expect((await h.get('/v1/tenants/acme/invoices/INV-2026-999999.pdf', acme)).status).toBe(404);
    // Another tenant's invoice through one's own path: as absent as one that never was.
    expect((await h.get(`/v1/tenants/beta/invoices/${number}.pdf`, beta)).status).toBe(404);
  });

  it('estimate: billctl estimate --format json; the amount is what importing the request then adds', async () => {
    const q = 'model=qwen-70b&input_tokens=150000&output_tokens=250000';
    const r = await h.get(`/v1/tenants/acme/estimate?${q}`, acme);
    expect(r.status).toBe(200);
    const cli = await cliJson(['estimate', '--tenant', 'acme', '--model', 'qwen-70b', '--input-tokens', '150000', '--output-tokens', '250000']);
    expect(r.json()).toEqual(cli);
    // The rating engine decides: 10,000 tokens of allowance left cover part of the request, the rest is billed.
    const g = (await h.get('/v1/tenants/gamma/estimate?model=qwen-70b&output_tokens=100000', op)).json<Record<string, unknown>>();
    expect(g).toMatchObject({
      amount: '0.54', subtotal_before: '99.00', subtotal_after: '99.54',
      lines: [{ kind: 'output_tokens', key: 'qwen-70b', used: 100000, included: 10000, billed: 90000, amount: '0.54' }],
    });
    // Importing that request adds exactly the estimate to the period.
    const before = (await cliJson(['invoice', 'preview', '--tenant', 'gamma', '--period', '2026-10'])) as { subtotal: string };
    await importReceipts(s, [{ id: 'g2', tenant: 'gamma', ts: NOW_ISO, model: 'qwen-70b', output: 100_000 }]);
    const after = (await cliJson(['invoice', 'preview', '--tenant', 'gamma', '--period', '2026-10'])) as { subtotal: string };
    expect([before.subtotal, after.subtotal]).toEqual(['99.00', '99.54']);
    expect((await h.get('/v1/tenants/acme/estimate?model=no-such-model&input_tokens=5', acme)).status).toBe(400);
    expect((await h.get('/v1/tenants/acme/estimate?input_tokens=5', acme)).status).toBe(400);
    // A parameter per token class, the same as the CLI's flags: reasoning at the output price (no price of its own).
    const rq = 'model=qwen-70b&reasoning_tokens=20000&output_tokens=5000';
    const rr = await h.get(`/v1/tenants/gamma/estimate?${rq}`, op);
    expect(rr.json()).toEqual(await cliJson(['estimate', '--tenant', 'gamma', '--model', 'qwen-70b', '--reasoning-tokens', '20000', '--output-tokens', '5000']));
    expect(rr.json()).toMatchObject({ reasoning_tokens: 20000, output_tokens: 5000, cached_input_tokens: 0 });
    expect((await h.get('/v1/tenants/gamma/estimate?model=qwen-70b&cached_input_tokens=x', op)).status).toBe(400);
  });

  it('metrics: billctl metrics for an operator token; 403 for a tenant token', async () => {
    const strip = (t: string) => t.split('\n').filter((l) => !l.startsWith('billctl_metrics_generated_timestamp_seconds ')).join('\n');
    const r = await h.get('/metrics', op);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    expect(strip(r.text)).toBe(strip((await s.run(['metrics'], 0, NOW)).stdout));
    expect((await h.get('/metrics', acme)).status).toBe(403);
  });

  describe('a tenant token sees its tenant alone', () => {
    const paths = (t: string) => [
      `/v1/tenants/${t}/quota`, `/v1/tenants/${t}/estimate?model=gemma-2b&input_tokens=10`, `/v1/tenants/${t}/usage?period=2026-10`,
      `/v1/tenants/${t}/invoice-preview?period=2026-10`, `/v1/tenants/${t}/invoices`, `/v1/tenants/${t}/invoices/INV-2026-000001.pdf`,
      `/v1/tenants/${t}/credits`,
    ];
    it('403 for another tenant (and for one that does not exist), with no data', async () => {
      for (const p of [...paths('acme'), ...paths('nobody')]) {
        const r = await h.get(p, beta);
        expect(r.status, p).toBe(403);
        expect(r.json(), p).toEqual({ error: { code: 'forbidden', message: 'this token is for another tenant' } });
      }
      const page = await h.get('/tenants/acme', beta);
      expect(page.status).toBe(403);
      expect(page.text).not.toContain('Acme');
    });
    it('an operator token sees every tenant; 404 for a tenant that does not exist', async () => {
      for (const p of paths('acme')) expect((await h.get(p, op)).status, p).toBe(200);
      expect((await h.get('/v1/tenants/nobody/usage', op)).json()).toEqual({ error: { code: 'not_found', message: 'no tenant "nobody"' } });
      expect((await h.get('/v1/nothing', op)).status).toBe(404);
    });
  });

  it('follows the store: receipts another process imports count within a second', async () => {
    const before = (await h.get('/v1/tenants/beta/quota?metric=tokens', beta)).json<{ used: number }>().used;
    const file = s.file('late.csv', receiptsCsv([{ id: 'b2', tenant: 'beta', ts: '2026-10-19T10:00:00Z', model: 'gemma-2b', input: 500 }]));
    const started = Date.now();
    const r = await spawnCli(['import', file, '--db', s.db, '--quiet'], { cwd: s.dir, env: NOW });
    expect(r.code, r.stderr).toBe(0);
    const committed = Date.now();
    await eventually(async () => (await h.get('/v1/tenants/beta/quota?metric=tokens', beta)).json<{ used: number }>().used === before + 500, 1000, 'the import seen');
    expect(Date.now() - committed).toBeLessThan(1000);
    expect(committed).toBeGreaterThan(started);
  });

  it('a revoked token is refused within a second; the log names tokens by id, never by value', async () => {
    const t = await makeToken(s, ['--tenant', 'beta', '--name', 'short-lived']);
    await eventually(async () => (await h.get('/v1/tenants/beta/quota', t)).status === 200, 1000, 'the new token accepted');
    const list = (await cliJson(['serve', 'token', 'list'])) as { id: number; name: string }[];
    await s.run(['serve', 'token', 'revoke', String(list.find((x) => x.name === 'short-lived')!.id)]);
    await eventually(async () => (await h.get('/v1/tenants/beta/quota', t)).status === 401, 1000, 'the revoked token refused');
    await h.get(`/v1/tenants/beta/quota?token=${t}`);
    const logs = h.logs.join('');
    for (const secret of [t, op, acme, beta]) expect(logs).not.toContain(secret);
    expect(logs).toContain('token=[redacted]');
    expect(logs).toMatch(/GET \/v1\/tenants\/beta\/quota 200 [\d.]+ms \d+B token \d+/);
  });

  it('the dashboard: sign-in form, HttpOnly SameSite=Strict cookie, escaped names', async () => {
    expect((await h.get('/')).headers.get('location')).toBe('/login');
    const bad = await h.post('/login', 'token=nope', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(bad.status).toBe(401);
    const ok = await h.post('/login', `token=${encodeURIComponent(beta)}`, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(ok.status).toBe(303);
    const cookie = ok.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^billctl_token=.+; Path=\/; HttpOnly; SameSite=Strict$/);
    const jar = cookie.split(';')[0]!;
    const home = await h.get('/', undefined, { cookie: jar });
    expect(home.headers.get('location')).toBe('/tenants/beta');
    const page = await h.get('/tenants/beta', undefined, { cookie: jar });
    expect(page.status).toBe(200);
    expect(page.text).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co');
    expect(page.text).not.toContain('<script>');
    expect(page.text).not.toMatch(/UNPRICED|fingerprint|catalog_version/);
    // The cookie opens GET pages only; the operator page lists every tenant with its month to date.
    const opPage = await h.get('/', op);
    expect(opPage.status).toBe(200);
    expect(opPage.text).toContain('data-tenant="acme"');
    expect(opPage.text).toContain('&lt;script&gt;');
  });
});
