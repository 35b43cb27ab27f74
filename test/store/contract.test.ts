/** The store contract: one suite, run on a fresh SQLite file and a fresh Postgres schema. */
import { afterAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { parseCatalog, catalogDigest, catalogToDocument } from '../../src/domain/catalog.js';
import { Decimal } from '../../src/domain/money.js';
import { LATEST_VERSION, MIGRATIONS } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { sampleCatalogDoc } from '../helpers/fixtures.js';

afterAll(dropSchemas);

describeEachBackend('store contract', (backend) => {
  let store: Store;
  let location: string;

  beforeEach(async () => {
    location = await backend.fresh();
    store = await openStore(location, { create: true, skipSchemaCheck: true });
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
  });

  it('migrates once; a second migrate is a no-op', async () => {
    expect(await store.schemaVersion()).toBe(LATEST_VERSION);
    const again = await store.migrate();
    expect(again).toEqual({ from: LATEST_VERSION, to: LATEST_VERSION, applied: [] });
  });

  it('refuses to open an uninitialised store for normal work', async () => {
    const other = await backend.fresh();
    const raw = await openStore(other, { create: true, skipSchemaCheck: true });
    await raw.close();
    await expect(openStore(other)).rejects.toThrow(/not initialised|no store at/);
  });

  it('stores catalogs, ordered by effective_from, and reads them back exactly', async () => {
    const later = parseCatalog({ ...sampleCatalogDoc(), version: '2026-07', effective_from: '2026-07-01T00:00:00Z' }).catalog!;
    const first = parseCatalog(sampleCatalogDoc()).catalog!;
    await store.putCatalog(later, catalogDigest(later), null, '2026-11-01T00:00:00.000Z');
    await store.putCatalog(first, catalogDigest(first), 'x.yaml', '2026-11-01T00:00:00.000Z');
    const all = await store.listCatalogs();
    expect(all.map((c) => c.catalog.version)).toEqual(['2026-01', '2026-07']);
    const back = (await store.getCatalog('2026-01'))!;
    expect(back.digest).toBe(catalogDigest(first));
    // Rates are read as they are needed: a key never asked for is a bug, not "no price".
    expect(() => back.catalog.gpuRates.get('a100-80gb')).toThrow(/was not loaded/);
    await store.loadRates(back.catalog, { models: ['qwen-70b'], gpus: ['a100-80gb', 'no-such-gpu'] });
    expect(back.catalog.gpuRates.get('a100-80gb')!.price.toString()).toBe('4.00');
    expect(back.catalog.gpuRates.has('no-such-gpu')).toBe(false);
    expect(back.catalog.tokenRates.get('qwen-70b')!.output.toString()).toBe('0.006');
    expect(() => back.catalog.tokenRates.get('gemma-2b')).toThrow(/was not loaded/);
    await store.loadRates(back.catalog, 'all');
    expect(catalogToDocument(back.catalog)).toEqual(catalogToDocument(first));
    expect(back.catalog.plans.get('enterprise')!.usageDiscountPercent.toString()).toBe('10');
    expect(back.catalog.plans.get('free')!.hardCap).toBe(true);
    expect(back.source).toBe('x.yaml');
    expect(await store.catalogUsedByFinalizedInvoice('2026-01')).toBe(false);
  });

  it('keeps tenants and every plan-history entry in order', async () => {
    const at = '2026-11-01T00:00:00.000Z';
    await store.insertTenant(
      {
        id: 'acme', name: 'Acme GmbH', timezone: 'Europe/Berlin', taxRate: Decimal.parse('0.19'), taxLabel: 'VAT',
        netDays: 14, currency: null, email: 'a@acme.example', address: 'Hauptstr. 1\n10115 Berlin', taxId: 'DE123456789',
        billingMode: 'invoice', stripeCustomerId: null, autoCreated: false, plan: 'free', planFrom: null,
      },
      at,
    );
    await store.addPlanEntry('acme', 'pro', '2026-10', at);
    await store.addPlanEntry('acme', 'enterprise', '2027-01', at);
    await store.updateTenant('acme', { taxRate: Decimal.parse('0.2'), name: 'Acme AG', poNumber: 'PO-4711' }, '2026-11-02T00:00:00.000Z');
    const t = (await store.getTenant('acme'))!;
    expect([t.taxId, t.poNumber]).toEqual(['DE123456789', 'PO-4711']);
    expect(t.name).toBe('Acme AG');
    expect(t.taxRate.toString()).toBe('0.2');
    expect(t.address).toBe('Hauptstr. 1\n10115 Berlin');
    expect(t.plans.map((p) => [p.plan, p.from, p.seq])).toEqual([
      ['free', null, 1],
      ['pro', '2026-10', 2],
      ['enterprise', '2027-01', 3],
    ]);
    expect(t.updatedAt).toBe('2026-11-02T00:00:00.000Z');
    expect((await store.listTenants()).map((x) => x.id)).toEqual(['acme']);
    expect(await store.getTenant('nobody')).toBeUndefined();
  });

  it('inserts only the tenants that are absent, many to a statement, each with its first plan entry', async () => {
    const at = '2026-11-01T00:00:00.000Z';
    const tenant = (id: string, timezone = 'UTC') => ({
      id, name: id, timezone, taxRate: Decimal.ZERO, taxLabel: 'Tax', netDays: 30, currency: null, email: null, address: null,
      billingMode: 'invoice' as const, stripeCustomerId: null, autoCreated: true, plan: 'free', planFrom: null,
    });
    await store.insertTenant(tenant('kept', 'Asia/Tokyo'), at);
    // More than one statement's worth (200), with one that exists already.
    const ids = Array.from({ length: 450 }, (_, i) => `t-${String(i).padStart(3, '0')}`);
    const created = await store.insertTenantsIfAbsent([...ids.slice(0, 300).map((id) => tenant(id)), tenant('kept'), ...ids.slice(300).map((id) => tenant(id))], at);
    expect([...created].sort()).toEqual(ids);
    const all = await store.listTenants();
    expect(all.map((t) => t.id)).toEqual([...ids.slice().sort(), 'kept'].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(all.find((t) => t.id === 'kept')!.timezone).toBe('Asia/Tokyo');
    expect(all.find((t) => t.id === 't-449')!.plans.map((p) => [p.plan, p.from, p.seq])).toEqual([['free', null, 1]]);
    expect(all.every((t) => t.plans.length === 1)).toBe(true);
    expect(await store.insertTenantsIfAbsent([tenant('t-000'), tenant('kept')], at)).toEqual(new Set());
  });

  it('orders tenant ids by code point, the same on both stores', async () => {
    const at = '2026-11-01T00:00:00.000Z';
    const ids = ['b', 'B', 'a', 'é', 'Z', '_x', 'a-1', 'a1', '株式会社'];
    for (const id of ids) {
      await store.insertTenant(
        {
          id, name: id, timezone: 'UTC', taxRate: Decimal.ZERO, taxLabel: 'Tax', netDays: 30, currency: null,
          email: null, address: null, billingMode: 'invoice', stripeCustomerId: null, autoCreated: true, plan: 'free', planFrom: null,
        },
        at,
      );
    }
    const byCodePoint = [...ids].sort((x, y) => (Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect((await store.listTenants()).map((t) => t.id)).toEqual(byCodePoint);
  });

  it('rolls a failed transaction back completely', async () => {
    await expect(
      store.transaction(async () => {
        await store.setSetting('k', 'v');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.getSetting('k')).toBeUndefined();
    await store.setSetting('k', 'v1');
    await store.setSetting('k', 'v2');
    expect(await store.getSetting('k')).toBe('v2');
  });

  it('appends audit entries and filters them by time', async () => {
    await store.appendAudit({ at: '2026-10-01T00:00:00.000Z', actor: 'ann', command: 'tenant add', details: { created: 1 } });
    await store.appendAudit({ at: '2026-11-01T00:00:00.000Z', actor: 'bob', command: 'import', details: { imported: 5 } });
    expect((await store.listAudit()).map((e) => e.actor)).toEqual(['ann', 'bob']);
    const since = await store.listAudit('2026-10-15T00:00:00.000Z');
    expect(since).toHaveLength(1);
    expect(since[0]).toMatchObject({ actor: 'bob', command: 'import', details: { imported: 5 } });
  });
});

describe('migrations', () => {
  it('are numbered 1..n without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });
});
