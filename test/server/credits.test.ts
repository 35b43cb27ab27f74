/**
 * Credits over HTTP, on both stores: GET /v1/tenants/{id}/credits answers what `credit list
 * --tenant ID --format json` prints, a token of another tenant gets 403 and nothing of it, and the
 * dashboard's tenant page shows the credits and the amount still due on each invoice.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, opsStore, parseJson } from '../ops/helpers.js';
import { makeToken, startHarness, type Harness } from './helpers.js';

afterAll(dropSchemas);

const NOW_ISO = '2026-11-20T12:00:00Z';
const NOW = { BILLCTL_NOW: NOW_ISO };

describeEachBackend('billctl serve: credits', (backend) => {
  let s: TestStore;
  let h: Harness;
  let op: string;
  let acme: string;
  let beta: string;

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro', ['--name', 'Acme AI', '--tax-rate', '0.19']);
    await addTenant(s, 'beta', 'pro', ['--name', 'Beta Labs']);
    await s.run(['credit', 'grant', 'acme', '--amount', '30', '--name', 'Launch promotion', '--start', '2026-10-01', '--expires', '2027-01-01'], 0, NOW);
    await s.run(['credit', 'grant', 'acme', '--amount', '500', '--kind', 'prepaid', '--name', 'Paid in advance', '--start', '2026-10-01'], 0, NOW);
    await s.run(['credit', 'grant', 'beta', '--amount', '7', '--name', 'Secret beta deal', '--start', '2026-10-01'], 0, NOW);
    await s.run(['invoice', 'generate', '--period', '2026-10', '--tenant', 'acme', '--finalize', '--issue-date', '2026-11-02', '--yes'], 0, NOW);
    op = await makeToken(s, ['--name', 'ops']);
    acme = await makeToken(s, ['--tenant', 'acme']);
    beta = await makeToken(s, ['--tenant', 'beta']);
    h = await startHarness(s.db, { now: NOW_ISO });
  });
  afterAll(async () => h?.close());

  it('answers credit list --tenant ID --format json, whole', async () => {
    const r = await h.get('/v1/tenants/acme/credits', acme);
    expect(r.status).toBe(200);
    const cli = parseJson<unknown>((await s.run(['credit', 'list', '--tenant', 'acme', '--format', 'json'], 0, NOW)).stdout);
    expect(r.json()).toEqual(cli);
    // 99.00 − 30.00 = 69.00, 13.11 tax: 82.11 of the prepaid 500.00 drawn.
    expect(r.json<{ name: string; balance: string; status: string }[]>().map((g) => [g.name, g.balance, g.status])).toEqual([
      ['Launch promotion', '0.00', 'used'], ['Paid in advance', '417.89', 'active'],
    ]);
    expect((await h.get('/v1/tenants/acme/credits', op)).json()).toEqual(cli);
  });

  it("another tenant's token gets 403 and no data", async () => {
    const r = await h.get('/v1/tenants/acme/credits', beta);
    expect(r.status).toBe(403);
    expect(r.json()).toEqual({ error: { code: 'forbidden', message: 'this token is for another tenant' } });
    expect(r.text).not.toMatch(/Launch promotion|Paid in advance|417/);
    const own = await h.get('/v1/tenants/beta/credits', beta);
    expect(own.json<{ name: string }[]>().map((g) => g.name)).toEqual(['Secret beta deal']);
    expect((await h.get('/v1/tenants/acme/credits', acme)).text).not.toContain('Secret beta deal');
    expect((await h.get('/v1/tenants/nobody/credits', op)).status).toBe(404);
  });

  it("the tenant page shows its credits and what is still due on each invoice; another tenant's is refused", async () => {
    const page = await h.get('/tenants/acme', acme);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<h2>Credits</h2>');
    expect(page.text).toMatch(/data-grant="2"><td>Paid in advance<div class="muted">Prepaid, after tax<\/div><\/td><td class="num">500\.00 USD<\/td><td class="num" data-field="balance">417\.89 USD<\/td>/);
    expect(page.text).toContain('<td>INV-2026-000001</td><td>2026-10</td><td><span class="status">finalized</span></td><td class="num">82.11 USD</td><td class="num" data-field="amount_due">0.00 USD</td>');
    expect(page.text).not.toContain('Secret beta deal');
    const other = await h.get('/tenants/acme', beta);
    expect(other.status).toBe(403);
    expect(other.text).not.toMatch(/Paid in advance|Launch promotion/);
  });
});
