/** Budgets of single users: budget set/list/remove --user, alerts check watching them, quota check --user enforcing them. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, importReceipts, opsStore, parseJson } from './helpers.js';

afterAll(dropSchemas);

const NOW = { BILLCTL_NOW: '2026-10-21T12:00:00Z' };

describeEachBackend('user budgets', (backend) => {
  let s: TestStore;
  const json = async <T>(args: string[], expected = 0) => parseJson<T>((await s.run([...args, '--format', 'json'], expected, NOW)).stdout);

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro');
    // 10,000,000 tokens are included: alice's first receipt uses them up, then every token is billed.
    await importReceipts(s, [
      { id: 'a1', tenant: 'acme', ts: '2026-10-02T10:00:00Z', model: 'qwen-70b', input: 10_000_000, user: 'alice' },
      { id: 'a2', tenant: 'acme', ts: '2026-10-03T10:00:00Z', model: 'qwen-70b', output: 1_000_000, user: 'alice' }, // 6.00
      { id: 'b1', tenant: 'acme', ts: '2026-10-04T10:00:00Z', model: 'qwen-70b', output: 500_000, user: 'bob' }, // 3.00
    ]);
  });

  it('sets, lists and removes a user budget beside the tenant budget; spent is usage --by user', async () => {
    expect(await json(['budget', 'set', 'acme', '--monthly', '7.50', '--user', 'alice', '--thresholds', '50,80'])).toEqual({
      tenant_id: 'acme', user_id: 'alice', monthly: '7.50', currency: 'USD', thresholds: [50, 80], replaced: false,
    });
    await s.run(['budget', 'set', 'acme', '--monthly', '5', '--user', 'bob']);
    await s.run(['budget', 'set', 'acme', '--monthly', '500']);
    const byUser = await json<{ user_id: string; rated_amount: string }[]>(['usage', '--period', '2026-10', '--tenant', 'acme', '--by', 'user']);
    expect(byUser.map((u) => [u.user_id, u.rated_amount])).toEqual([['alice', '6.00'], ['bob', '3.00']]);
    expect(await json(['budget', 'list'])).toEqual([
      { tenant_id: 'acme', monthly: '500.00', currency: 'USD', thresholds: [50, 80, 100], period: '2026-10', spent: '108.00', percent: 21, projected_month_end: '112.61' },
      { tenant_id: 'acme', user_id: 'alice', monthly: '7.50', currency: 'USD', thresholds: [50, 80], period: '2026-10', spent: '6.00', percent: 80, projected_month_end: null },
      { tenant_id: 'acme', user_id: 'bob', monthly: '5.00', currency: 'USD', thresholds: [50, 80, 100], period: '2026-10', spent: '3.00', percent: 60, projected_month_end: null },
    ]);
    await s.run(['budget', 'set', 'acme', '--monthly', '5', '--user', ' '], 2);
    await s.run(['budget', 'set', 'nobody', '--monthly', '5', '--user', 'x'], 2);
  });

  it('alerts check raises the highest threshold each user reached, once', async () => {
    const r = await json<{ new_alerts: Record<string, unknown>[] }>(['alerts', 'check', '--period', '2026-10']);
    const users = r.new_alerts.filter((a) => a.kind === 'user_budget');
    expect(users).toEqual([
      expect.objectContaining({
        tenant_id: 'acme', period: '2026-10', threshold: '80 alice', user_id: 'alice', value: '6.00', limit: '7.50', percent: 80,
        text: 'User alice of acme has spent 6.00 USD of their 7.50 USD monthly budget in 2026-10 (80 %), past the 80 % threshold.',
      }),
      expect.objectContaining({ threshold: '50 bob', user_id: 'bob', percent: 60 }),
    ]);
    const again = await json<{ new_alerts: unknown[] }>(['alerts', 'check', '--period', '2026-10']);
    expect(again.new_alerts).toEqual([]);
  });

  it('quota check --user: refused once the user budget is spent, cost against what is left', async () => {
    expect(await json(['quota', 'check', '--tenant', 'acme', '--user', 'alice', '--metric', 'cost', '--amount', '1.50'])).toMatchObject({
      allowed: true, user_id: 'alice', user_limit: '7.50', user_used: '6.00', user_remaining: '1.50',
    });
    expect(await json(['quota', 'check', '--tenant', 'acme', '--user', 'alice', '--metric', 'cost', '--amount', '1.51'], 4)).toMatchObject({
      allowed: false, reason: 'user budget exhausted', user_remaining: '1.50',
    });
    await s.run(['budget', 'set', 'acme', '--monthly', '6', '--user', 'alice']);
    expect(await json(['quota', 'check', '--tenant', 'acme', '--user', 'alice'], 4)).toMatchObject({ allowed: false, reason: 'user budget exhausted' });
    // Someone without a budget of their own, and the tenant as a whole, are not held back by it.
    expect(await json(['quota', 'check', '--tenant', 'acme', '--user', 'carol'])).toMatchObject({ allowed: true, user_id: 'carol' });
    expect(await json(['quota', 'check', '--tenant', 'acme'])).toMatchObject({ allowed: true });
    expect(await json(['budget', 'remove', 'acme', '--user', 'alice'])).toEqual({ tenant_id: 'acme', user_id: 'alice', removed: true });
    expect(await json(['quota', 'check', '--tenant', 'acme', '--user', 'alice'])).toMatchObject({ allowed: true });
  });
});
