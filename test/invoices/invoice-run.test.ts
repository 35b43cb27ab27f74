/**
 * The invoice run as a use case (src/app/invoice-run.ts), called without the CLI: a result per
 * tenant, failures reported beside the others, PDFs drawn, audit entries and notices through the
 * seams it is given.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { finalizeRun, generateRun, type InvoiceRunDeps } from '../../src/app/invoice-run.js';
import { StoreRating } from '../../src/app/rating-service.js';
import { loadConfig } from '../../src/config.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { csvOf, makeStore, type TestStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

async function withRunStore<T>(s: TestStore, fn: (store: Store, deps: InvoiceRunDeps, log: { audit: string[]; notices: string[] }) => Promise<T>): Promise<T> {
  const store = await openStore(s.db);
  const log = { audit: [] as string[], notices: [] as string[] };
  try {
    const deps: InvoiceRunDeps = {
      store, config: await loadConfig(undefined, s.dir), cwd: s.dir, issueDate: '2026-11-02', nowIso: () => '2026-11-02T09:00:00.000Z',
      audit: async (command, details) => {
        log.audit.push(`${command} ${JSON.stringify(details)}`);
      },
      notice: (text) => log.notices.push(text),
    };
    return await fn(store, deps, log);
  } finally {
    await store.close();
  }
}

describeEachBackend('invoice run use case', (backend) => {
  it('generates per tenant (created, skipped, failed side by side), then finalizes with PDFs', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'acme', '--name', 'Acme GmbH', '--address', 'Main St 1', '--plan', 'pro']);
    await s.run(['tenant', 'add', 'idle', '--name', 'Idle Ltd', '--address', 'Side St 2', '--plan', 'free']);
    await s.run(['tenant', 'add', 'odd', '--name', 'Odd Inc', '--address', 'Back St 3', '--plan', 'pro']);
    await s.run(['import', s.file('r.csv', csvOf([
      ['a1', 'acme', '2026-10-10T00:00:00Z', 'completed', 'qwen-70b', '', 0, 10, 0],
      ['o1', 'odd', '2026-10-11T00:00:00Z', 'completed', 'mystery-1', '', 0, 10, 0],
    ]))]);
    const drafts = await withRunStore(s, async (store, deps, log) => {
      const rating = await StoreRating.load(store, false);
      const tenants = await store.listTenants();
      const report = await generateRun(deps, rating, tenants, '2026-10');
      expect(report.outcomes.map((o) => [o.tenantId, o.status, o.reason ?? null])).toEqual([
        ['acme', 'created', null],
        ['idle', 'skipped', 'nothing to bill (no usage, no fee, no adjustment)'],
      ]);
      expect(report.failed.map((f) => f.tenantId)).toEqual(['odd']);
      expect(report.failed[0]!.error).toContain('mystery-1');
      expect(report.finalized).toEqual([]);
      expect(report.pdfs).toEqual([]);
      const acme = report.outcomes[0]!.invoice!;
      expect(log.audit).toEqual([`invoice generate {"tenant":"acme","period":"2026-10","invoice":"${acme.id}","created":1}`]);
      return [acme];
    });
    await withRunStore(s, async (store, deps) => {
      const rating = await StoreRating.load(store, false);
      const report = await finalizeRun(deps, drafts, () => rating, 'invoices', ['2026-10']);
      expect(report.failed).toEqual([]);
      expect(report.finalized.map((i) => [i.tenantId, i.number, i.status, i.issueDate, i.pdf])).toEqual([
        ['acme', 'INV-2026-000001', 'finalized', '2026-11-02', path.join('invoices', '2026-10', 'INV-2026-000001.pdf')],
      ]);
      expect(report.pdfs).toEqual([path.join('invoices', '2026-10', 'INV-2026-000001.pdf')]);
      expect(fs.readFileSync(path.join(s.dir, 'invoices', '2026-10', 'INV-2026-000001.pdf')).subarray(0, 5).toString()).toBe('%PDF-');
      expect((await store.invoices.list({ period: '2026-10' })).map((i) => [i.number, i.pdf])).toEqual([
        ['INV-2026-000001', path.join('invoices', '2026-10', 'INV-2026-000001.pdf')],
      ]);
    });
  });
});
