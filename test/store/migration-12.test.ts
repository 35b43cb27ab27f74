/**
 * Migration 12 on a store that already holds data: catalog rates move out of the version's body
 * into catalog_rates (the digest and every price unchanged), and rollup sums keep their values in
 * columns that hold any size.
 */
import { afterAll, expect, it } from 'vitest';
import { catalogDigest, catalogToDocument, parseCatalog } from '../../src/domain/catalog.js';
import { openStore } from '../../src/store/open.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { sampleCatalogDoc } from '../helpers/fixtures.js';

afterAll(dropSchemas);

describeEachBackend('migration 12 on a store with data', (backend) => {
  it('moves catalog rates to catalog_rates and keeps rollups', async () => {
    const store = (await openStore(await backend.fresh(), { create: true, skipSchemaCheck: true })) as SqlStore;
    try {
      await store.migrate({ to: 11 });
      const c = parseCatalog(sampleCatalogDoc()).catalog!;
      // A version as migration 11's billctl stored it: the whole document in its body.
      await store.db.run(
        'INSERT INTO catalog_versions (version, effective_from, currency, digest, body, source, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [c.version, c.effectiveFrom, c.currency, catalogDigest(c), JSON.stringify(catalogToDocument(c)), null, '2026-11-01T00:00:00.000Z'],
      );
      await store.db.run(
        `INSERT INTO receipt_rollups (tenant_id, day, model_key, gpu_key, receipts, requests, gpu_seconds, input_tokens, output_tokens,
           reported_cost, unsplit) VALUES ('acme', 20000, 'qwen-70b', '', 3, 2, 0, ?, 7, '1.5', 0)`,
        [9_007_199_254_740_991],
      );
      await store.migrate();

      const stored = (await store.getCatalog(c.version))!;
      expect(stored.digest).toBe(catalogDigest(c));
      await store.loadRates(stored.catalog, 'all');
      expect(catalogToDocument(stored.catalog)).toEqual(catalogToDocument(c));
      const rates = await store.db.all<{ kind: string; n: unknown }>('SELECT kind, COUNT(*) AS n FROM catalog_rates GROUP BY kind ORDER BY kind');
      expect(rates.map((r) => [r.kind, Number(r.n)])).toEqual([['gpu', 4], ['token', 3]]);
      const body = JSON.parse(String((await store.db.get<{ body: string }>('SELECT body FROM catalog_versions'))!.body)) as Record<string, unknown>;
      expect(body.gpu_rates).toBeUndefined();
      expect(body.token_rates).toBeUndefined();
      expect(Object.keys(body.plans as object).sort()).toEqual(['enterprise', 'free', 'pro']);

      const rollups = await store.rollups('acme', 0, 30000);
      expect(rollups.map((r) => [r.receipts, r.requests, r.inputTokens, r.outputTokens, r.reportedCost.toString()])).toEqual([
        [3n, 2n, 9_007_199_254_740_991n, 7n, '1.5'],
      ]);
    } finally {
      await store.close();
    }
  });
});
