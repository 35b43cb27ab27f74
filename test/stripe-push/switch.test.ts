/**
 * A tenant moving from invoices to Stripe: usage before the switch period is invoiced, usage from
 * it on is pushed; nothing is billed twice and nothing falls between the two.
 */
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import { json } from '../helpers/cli.js';
import fs from 'node:fs';
import path from 'node:path';
import { csvOf } from '../helpers/store-setup.js';
import { pushWorld, serverTotals } from './helpers.js';

afterAll(dropSchemas);

describeEachBackend('moving a tenant from invoices to Stripe', (backend) => {
  it('invoices the periods before the switch and pushes only the usage after it', async () => {
    const w = await pushWorld(backend, { tenants: [], invoiceTenant: true });
    try {
      const file = path.join(w.dir, 'gamma.csv');
      fs.writeFileSync(file, csvOf([
        ['oct', 'gamma', '2026-10-20T10:00:00Z', 'completed', 'qwen-70b', '', 0, 1000, 0],
        ['nov', 'gamma', '2026-11-10T10:00:00Z', 'completed', 'qwen-70b', '', 0, 2000, 0],
        ['nov2', 'gamma', '2026-11-20T10:00:00Z', 'completed', 'qwen-70b', '', 0, 30, 0],
      ]));
      const imp = await w.run(['import', file]);
      expect(imp.code, imp.stderr).toBe(0);
      // The clock is 2026-11-21: the switch takes effect from November, gamma's current period.
      const upd = await w.run(['tenant', 'update', 'gamma', '--billing-mode', 'stripe', '--format', 'json']);
      expect(upd.code, upd.stderr).toBe(0);
      expect(json<{ stripe_since: string }>(upd).stripe_since).toBe('2026-11-01T00:00:00.000Z');
      const { r: pushed } = await w.push();
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(serverTotals(w.fake, w.customers.gamma!)).toMatchObject({ input_tokens: '2030', api_calls: '2' });
      // October is still invoiced; November is not (Stripe bills it).
      const oct = await w.run(['invoice', 'generate', '--period', '2026-10', '--all', '--format', 'json']);
      expect(json<{ results: { tenant_id: string; status: string }[] }>(oct).results).toEqual([
        expect.objectContaining({ tenant_id: 'gamma', status: 'created' }),
      ]);
      const nov = await w.run(['invoice', 'generate', '--period', '2026-11', '--all', '--format', 'json']);
      expect(json<{ results: unknown[] }>(nov).results).toEqual([]);
      const refused = await w.run(['invoice', 'generate', '--period', '2026-11', '--tenant', 'gamma']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('is billed through Stripe');
    } finally {
      await w.close();
    }
  });
});
