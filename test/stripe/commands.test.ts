/**
 * `stripe setup`, `stripe link` and `stripe customers sync` end to end: the CLI in-process, the
 * real `stripe` package, the fake Stripe, on SQLite and Postgres.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { LIVEMODE_SETTING, meterEventNameSetting, meterIdSetting, storedMeters } from '../../src/app/stripe-setup.js';
import { defaultConfig } from '../../src/config.js';
import { UsageError } from '../../src/errors.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { customerIdempotencyKey, METER_KEYS, openStripe } from '../../src/stripe/client.js';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { cli, json, type CliResult } from '../helpers/cli.js';
import { startFakeStripe, type FakeStripe, type FakeStripeOptions } from '../helpers/fake-stripe.js';

afterAll(dropSchemas);

interface SetupJson {
  livemode: boolean;
  created: number;
  found: number;
  reactivated: number;
  conflicts: number;
  meters: { meter: string; event_name: string; id: string | null; action: string; problem: string | null }[];
}

interface SyncJson {
  created: number;
  found: number;
  failed: number;
  already_linked: number;
  tenants: { tenant_id: string; stripe_customer_id: string | null; action: string; note: string | null }[];
}

describeEachBackend('stripe setup, link and customers sync', (backend) => {
  let fake: FakeStripe;
  let db: string;
  let dir: string;
  let outputs: CliResult[];

  async function startFake(options: FakeStripeOptions = {}): Promise<void> {
    await fake?.close();
    fake = await startFakeStripe(options);
  }

  async function run(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
    const r = await cli(args, { env: { ...fake.env, BILLCTL_DB: db, ...env }, cwd: dir });
    outputs.push(r);
    return r;
  }

  async function withStore<T>(fn: (s: Store) => Promise<T>): Promise<T> {
    const s = await openStore(db);
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  }

  const tenantOf = (id: string) => withStore(async (s) => (await s.getTenant(id))!);
  const posts = (p: string) => fake.requests.filter((r) => r.method === 'POST' && r.path === p);

  beforeEach(async () => {
    outputs = [];
    dir = tempDir('stripe');
    db = await backend.fresh();
    await startFake();
    const init = await run(['init', '--yes', '--sample-catalog']);
    expect(init.code, init.stderr).toBe(0);
  });

  afterEach(async () => {
    // The key never leaves through the wire (but in Authorization) or any output.
    expect(fake.leaksOf(fake.apiKey)).toEqual([]);
    for (const o of outputs) {
      expect(o.stdout).not.toContain(fake.apiKey);
      expect(o.stderr).not.toContain(fake.apiKey);
    }
    await fake.close();
  });

  // -- setup -----------------------------------------------------------------------------------

  it('setup creates the four meters, stores their ids, and a second run creates nothing', async () => {
    const first = await run(['stripe', 'setup', '--format', 'json']);
    expect(first.code, first.stderr).toBe(0);
    const j1 = json<SetupJson>(first);
    expect(j1).toMatchObject({ livemode: false, created: 4, found: 0, conflicts: 0 });
    expect(j1.meters.map((m) => [m.meter, m.event_name, m.action])).toEqual([
      ['gpu_seconds', 'billctl_gpu_seconds', 'created'],
      ['input_tokens', 'billctl_input_tokens', 'created'],
      ['output_tokens', 'billctl_output_tokens', 'created'],
      ['api_calls', 'billctl_api_calls', 'created'],
    ]);
    expect(fake.state.meters.size).toBe(4);
    for (const m of fake.state.meters.values()) {
      expect(m.object).toMatchObject({
        status: 'active',
        default_aggregation: { formula: 'sum' },
        customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
        value_settings: { event_payload_key: 'value' },
      });
    }
    await withStore(async (s) => {
      for (const m of j1.meters) {
        expect(await s.getSetting(meterIdSetting(m.meter as (typeof METER_KEYS)[number]))).toBe(m.id);
        expect(await s.getSetting(meterEventNameSetting(m.meter as (typeof METER_KEYS)[number]))).toBe(m.event_name);
      }
      expect(await s.getSetting(LIVEMODE_SETTING)).toBe('false');
      const stored = await storedMeters(s, defaultConfig().stripe.meters, false);
      expect(stored.gpu_seconds).toEqual({ id: j1.meters[0]!.id, eventName: 'billctl_gpu_seconds' });
    });

    const second = await run(['stripe', 'setup', '--format', 'json']);
    expect(second.code, second.stderr).toBe(0);
    const j2 = json<SetupJson>(second);
    expect(j2).toMatchObject({ created: 0, found: 4 });
    expect(j2.meters.map((m) => m.id)).toEqual(j1.meters.map((m) => m.id));
    expect(fake.state.meters.size).toBe(4);
    expect(posts('/v1/billing/meters')).toHaveLength(4);

    const table = await run(['stripe', 'setup']);
    expect(table.stdout).toMatch(/gpu_seconds\s+│\s+billctl_gpu_seconds\s+│\s+mtr_test_\w+\s+│\s+found/);
    const audit = json<{ command: string; details: Record<string, unknown> }[]>(await run(['audit', '--format', 'json']));
    const setups = audit.filter((a) => a.command === 'stripe setup');
    expect(setups.map((a) => [a.details.created, a.details.found])).toEqual([
      [4, 0],
      [0, 4],
      [0, 4],
    ]);
  });

  it('setup uses the event names of billctl.yaml; a renamed meter sends the push back to setup', async () => {
    fs.writeFileSync(path.join(dir, 'billctl.yaml'), 'stripe:\n  meters:\n    gpu_seconds: acme_gpu_seconds\n');
    const r = await run(['stripe', 'setup', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json<SetupJson>(r).meters[0]).toMatchObject({ event_name: 'acme_gpu_seconds', action: 'created' });
    expect([...fake.state.meters.values()].map((m) => m.object.event_name).sort()).toEqual([
      'acme_gpu_seconds',
      'billctl_api_calls',
      'billctl_input_tokens',
      'billctl_output_tokens',
    ]);
    await withStore(async (s) => {
      const err = await storedMeters(s, defaultConfig().stripe.meters, false).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).message).toMatch(/gpu_seconds: the stored meter is for acme_gpu_seconds, the config says billctl_gpu_seconds/);
      expect((err as UsageError).hint).toBe('Run: billctl stripe setup');
      await expect(storedMeters(s, { ...defaultConfig().stripe.meters, gpu_seconds: 'acme_gpu_seconds' }, true)).rejects.toThrow(/set up in test mode/);
    });
  });

  it('setup finds, reactivates, and refuses a meter of another shape (exit 3)', async () => {
    const found = fake.state.addMeter({ event_name: 'billctl_gpu_seconds' });
    const inactive = fake.state.addMeter({ event_name: 'billctl_input_tokens', status: 'inactive' });
    const counted = fake.state.addMeter({ event_name: 'billctl_output_tokens', formula: 'count' });
    const r = await run(['stripe', 'setup', '--format', 'json']);
    expect(r.code).toBe(3);
    const j = json<SetupJson>(r);
    expect(j.meters.map((m) => [m.meter, m.action, m.id])).toEqual([
      ['gpu_seconds', 'found', found.id],
      ['input_tokens', 'reactivated', inactive.id],
      ['output_tokens', 'conflict', null],
      ['api_calls', 'created', expect.stringMatching(/^mtr_test_/)],
    ]);
    expect(j.meters[2]!.problem).toBe(`meter ${counted.id} for billctl_output_tokens aggregates by count, not sum`);
    expect(r.stderr).toMatch(/warning: 1 meter\(s\) exist in Stripe with another shape/);
    expect(fake.state.meters.get(inactive.id)!.object.status).toBe('active');
    await withStore(async (s) => {
      expect(await s.getSetting(meterIdSetting('gpu_seconds'))).toBe(found.id);
      expect(await s.getSetting(meterIdSetting('output_tokens'))).toBeUndefined();
    });
  });

  it('setup --dry-run creates and stores nothing', async () => {
    const r = await run(['stripe', 'setup', '--dry-run', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json<SetupJson>(r).meters.map((m) => m.action)).toEqual(['would_create', 'would_create', 'would_create', 'would_create']);
    expect(fake.state.meters.size).toBe(0);
    await withStore(async (s) => expect(await s.getSetting(meterIdSetting('gpu_seconds'))).toBeUndefined());
  });

  it('setup without STRIPE_API_KEY, or with a wrong one, is exit 2 and says what to do', async () => {
    const none = await run(['stripe', 'setup'], { STRIPE_API_KEY: undefined });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/STRIPE_API_KEY is not set\nExport your Stripe secret key/);
    const wrongKey = 'sk_test_NotTheRightKey000111222';
    const wrong = await run(['stripe', 'setup'], { STRIPE_API_KEY: wrongKey });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/Stripe refused the API key \(401\).*check STRIPE_API_KEY/);
    expect(wrong.stderr + wrong.stdout).not.toContain('NotTheRightKey');
    expect(fake.leaksOf(wrongKey)).toEqual([]);
  });

  // -- customers sync --------------------------------------------------------------------------

  async function addTenants(): Promise<void> {
    for (const args of [
      ['acme', '--name', 'Acme GmbH', '--billing-mode', 'stripe', '--email', 'billing@acme.example'],
      ['beta', '--name', 'Beta Ltd', '--billing-mode', 'stripe'],
      ['gamma', '--name', 'Gamma', '--billing-mode', 'invoice'],
      ['delta', '--billing-mode', 'stripe', '--stripe-customer', 'cus_Delta0001'],
    ]) {
      const r = await run(['tenant', 'add', ...args]);
      expect(r.code, r.stderr).toBe(0);
    }
  }

  it('customers sync creates a customer for each stripe tenant without one, once', async () => {
    await addTenants();
    const r = await run(['stripe', 'customers', 'sync', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const j = json<SyncJson>(r);
    expect(j).toMatchObject({ created: 2, found: 0, failed: 0, already_linked: 1 });
    expect(j.tenants.map((t) => [t.tenant_id, t.action])).toEqual([
      ['acme', 'created'],
      ['beta', 'created'],
    ]);
    const acme = await tenantOf('acme');
    const beta = await tenantOf('beta');
    expect(acme.stripeCustomerId).toBe(j.tenants[0]!.stripe_customer_id);
    expect(beta.stripeCustomerId).toBe(j.tenants[1]!.stripe_customer_id);
    expect((await tenantOf('gamma')).stripeCustomerId).toBeNull();
    expect((await tenantOf('delta')).stripeCustomerId).toBe('cus_Delta0001');
    expect(fake.state.customers.get(acme.stripeCustomerId!)!.object).toMatchObject({
      name: 'Acme GmbH',
      email: 'billing@acme.example',
      metadata: { tenant_id: 'acme' },
    });
    expect(fake.state.customers.get(beta.stripeCustomerId!)!.object).toMatchObject({ name: 'Beta Ltd', email: null, metadata: { tenant_id: 'beta' } });
    expect(posts('/v1/customers').map((p) => p.headers['idempotency-key']).sort()).toEqual(
      [customerIdempotencyKey('acme'), customerIdempotencyKey('beta')].sort(),
    );

    const again = await run(['stripe', 'customers', 'sync']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/Every stripe-mode tenant has a Stripe customer \(3\)/);
    expect(fake.state.customers.size).toBe(2);
    const audit = json<{ command: string; details: Record<string, unknown> }[]>(await run(['audit', '--format', 'json']));
    expect(audit.filter((a) => a.command === 'stripe customers sync').map((a) => a.details)).toEqual([
      { created: 2, found: 0, failed: 0, livemode: false, linked: { acme: acme.stripeCustomerId, beta: beta.stripeCustomerId }, failed_tenants: [] },
    ]);
  });

  it('customers sync after a crash: a customer Stripe has for the tenant is linked, not duplicated', async () => {
    await addTenants();
    const made = fake.state.addCustomer({ name: 'Acme GmbH', metadata: { tenant_id: 'acme' } });
    const r = await run(['stripe', 'customers', 'sync', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json<SyncJson>(r).tenants.map((t) => [t.tenant_id, t.action, t.stripe_customer_id])).toEqual([
      ['acme', 'found', made.id],
      ['beta', 'created', expect.stringMatching(/^cus_/)],
    ]);
    expect((await tenantOf('acme')).stripeCustomerId).toBe(made.id);
    expect(posts('/v1/customers').map((p) => (p.params.metadata as Record<string, string>).tenant_id)).toEqual(['beta']);
  });

  it("customers sync after a crash, while Stripe's search has not indexed the customer yet", async () => {
    await startFake({ searchIndexDelayMs: 600_000 });
    await addTenants();
    // The crashed run: Stripe made both customers, the store recorded neither.
    const acme = fake.state.addCustomer({ name: 'Acme GmbH', email: 'billing@acme.example', metadata: { tenant_id: 'acme' } });
    const client = await openStripe(fake.env);
    const beta = await client.createCustomer({ tenantId: 'beta', name: 'Beta Ltd', email: null }, async () => undefined);
    client.close();
    const r = await run(['stripe', 'customers', 'sync', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    // acme through the list by email; beta through the idempotency key Stripe still remembers.
    expect(json<SyncJson>(r).tenants.map((t) => [t.tenant_id, t.action, t.stripe_customer_id])).toEqual([
      ['acme', 'found', acme.id],
      ['beta', 'created', beta.id],
    ]);
    expect(fake.state.customers.size).toBe(2);
    expect((await tenantOf('beta')).stripeCustomerId).toBe(beta.id);
  });

  it('customers sync reports a tenant that failed (exit 3), links the others, and a re-run finishes', async () => {
    await addTenants();
    fake.faults.add({
      kind: 'error500',
      method: 'POST',
      path: '/v1/customers',
      shouldRetry: false,
      when: (req) => (req.params.metadata as Record<string, string> | undefined)?.tenant_id === 'beta',
    });
    const r = await run(['stripe', 'customers', 'sync', '--format', 'json']);
    expect(r.code).toBe(3);
    const j = json<SyncJson>(r);
    expect(j).toMatchObject({ created: 1, failed: 1 });
    expect(j.tenants.find((t) => t.tenant_id === 'beta')).toMatchObject({ action: 'failed', stripe_customer_id: null, note: expect.stringMatching(/Stripe answered 500/) });
    expect(r.stderr).toMatch(/1 tenant\(s\) failed/);
    expect((await tenantOf('acme')).stripeCustomerId).toMatch(/^cus_/);
    expect((await tenantOf('beta')).stripeCustomerId).toBeNull();
    fake.faults.clear();
    const again = await run(['stripe', 'customers', 'sync', '--format', 'json']);
    expect(again.code, again.stderr).toBe(0);
    expect(json<SyncJson>(again)).toMatchObject({ created: 1, failed: 0, already_linked: 2 });
    expect(fake.state.customers.size).toBe(2);
  });

  it('customers sync rides out rate limits and says so on stderr', async () => {
    await addTenants();
    fake.faults.once({ kind: 'rateLimit', path: '/v1/customers/search' }, 2);
    const r = await run(['stripe', 'customers', 'sync', '--tenant', 'beta']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Stripe: Stripe answered 429 rate_limit: .*; retry 1 in \d+ ms/);
    expect((await tenantOf('beta')).stripeCustomerId).toMatch(/^cus_/);
    expect((await tenantOf('acme')).stripeCustomerId).toBeNull();
  });

  it('customers sync --dry-run looks, but creates and stores nothing; --tenant refuses an invoice tenant', async () => {
    await addTenants();
    fake.state.addCustomer({ metadata: { tenant_id: 'acme' } });
    const r = await run(['stripe', 'customers', 'sync', '--dry-run', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json<SyncJson>(r).tenants.map((t) => [t.tenant_id, t.action])).toEqual([
      ['acme', 'would_link'],
      ['beta', 'would_create'],
    ]);
    expect(fake.state.customers.size).toBe(1);
    expect((await tenantOf('acme')).stripeCustomerId).toBeNull();
    const invoice = await run(['stripe', 'customers', 'sync', '--tenant', 'gamma']);
    expect(invoice.code).toBe(2);
    expect(invoice.stderr).toMatch(/billed by invoice/);
  });

  // -- link ------------------------------------------------------------------------------------

  it('link checks the customer in Stripe, tags it with the tenant, and keeps the billing mode', async () => {
    await addTenants();
    const c = fake.state.addCustomer({ name: 'Gamma' });
    const r = await run(['stripe', 'link', 'gamma', c.id, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toEqual({
      tenant_id: 'gamma',
      stripe_customer_id: c.id,
      previous_customer_id: null,
      action: 'linked',
      verified: true,
      tagged: true,
      billing_mode: 'invoice',
    });
    expect(r.stderr).toMatch(/tenant gamma is billed by invoice, so its usage is not pushed to Stripe/);
    expect(fake.state.customers.get(c.id)!.object.metadata).toEqual({ tenant_id: 'gamma' });
    expect((await tenantOf('gamma')).billingMode).toBe('invoice');
    const same = await run(['stripe', 'link', 'gamma', c.id, '--format', 'json']);
    expect(same.code).toBe(0);
    expect(json<{ action: string }>(same).action).toBe('unchanged');
    const audit = json<{ command: string; details: Record<string, unknown> }[]>(await run(['audit', '--format', 'json']));
    expect(audit.filter((a) => a.command === 'stripe link').map((a) => a.details)).toEqual([
      { tenant: 'gamma', customer: c.id, previous: null, verified: true, tagged: true },
    ]);
  });

  it('link refuses what would bill the wrong customer (exit 2), and replaces only with --replace', async () => {
    await addTenants();
    const mine = fake.state.addCustomer({ metadata: { tenant_id: 'beta' } });
    const other = fake.state.addCustomer({ metadata: { tenant_id: 'someone-else' } });
    const cases: [string[], RegExp][] = [
      [['beta', 'cus_Delta0001'], /cus_Delta0001 is already linked to tenant "delta"/],
      [['beta', 'not-a-customer'], /"not-a-customer" is not a Stripe customer id/],
      [['beta', 'cus_Missing000'], /Stripe has no customer cus_Missing000 \(test mode\)/],
      [['beta', other.id], new RegExp(`${other.id} belongs to tenant "someone-else"`)],
      [['nobody', mine.id], /no tenant "nobody"/],
    ];
    for (const [args, message] of cases) {
      const r = await run(['stripe', 'link', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
    fake.state.customers.get(mine.id)!.deleted = true;
    expect((await run(['stripe', 'link', 'beta', mine.id])).stderr).toMatch(/was deleted/);
    const fresh = fake.state.addCustomer({});
    expect((await run(['stripe', 'link', 'delta', fresh.id])).stderr).toMatch(/already linked to cus_Delta0001[\s\S]*--replace/);
    const replaced = await run(['stripe', 'link', 'delta', fresh.id, '--replace', '--format', 'json']);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(json(replaced)).toMatchObject({ action: 'relinked', previous_customer_id: 'cus_Delta0001', stripe_customer_id: fresh.id });
    expect((await tenantOf('beta')).stripeCustomerId).toBeNull();
  });

  it('link --offline needs no key and calls nothing', async () => {
    await addTenants();
    const before = fake.requests.length;
    const r = await run(['stripe', 'link', 'beta', 'cus_Offline0001', '--offline'], { STRIPE_API_KEY: undefined });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/was not checked in Stripe \(--offline\)/);
    expect(fake.requests.length).toBe(before);
    expect((await tenantOf('beta')).stripeCustomerId).toBe('cus_Offline0001');
    expect((await run(['stripe', 'link', 'acme', 'cus_X1'], { STRIPE_API_KEY: undefined })).code).toBe(2);
  });
});
