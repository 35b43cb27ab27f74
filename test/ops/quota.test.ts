/** quota check: allowed (exit 0) and refused (exit 4) answers, hard caps, overage, budgets. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, importReceipts, opsStore, parseJson } from './helpers.js';

afterAll(dropSchemas);

const NOW = { BILLCTL_NOW: '2026-10-21T12:00:00Z' };

describeEachBackend('quota check', (backend) => {
  let s: TestStore;
  const quota = async (args: string[], expected: number) =>
    parseJson<Record<string, unknown>>((await s.run(['quota', 'check', '--format', 'json', ...args], expected, NOW)).stdout);

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'free1', 'free');
    await addTenant(s, 'pro1', 'pro');
    await addTenant(s, 'pro2', 'pro');
    await importReceipts(s, [
      { id: 'f1', tenant: 'free1', ts: '2026-10-02T10:00:00Z', gpu: 'rtx-3090', gpuSeconds: 30_000 },
      { id: 'f2', tenant: 'free1', ts: '2026-10-03T10:00:00Z', model: 'gemma-2b', input: 999_000 },
      { id: 'f0', tenant: 'free1', ts: '2026-09-30T10:00:00Z', model: 'gemma-2b', input: 5_000_000 }, // last period: not counted
      { id: 'p1', tenant: 'pro1', ts: '2026-10-04T10:00:00Z', model: 'qwen-70b', input: 6_000_000, output: 4_000_000 },
    ]);
  });

  it('allows an API call on a free plan with room left', async () => {
    expect(await quota(['--tenant', 'free1'], 0)).toEqual({
      allowed: true, tenant_id: 'free1', metric: 'api_calls', period: '2026-10', unit: 'request',
      limit: 10000, used: 2, remaining: 9998, requested: 1, hard_cap: true,
    });
  });

  it('refuses past a hard cap with the remaining amount, and allows up to it exactly', async () => {
    expect(await quota(['--tenant', 'free1', '--metric', 'tokens', '--amount', '1000'], 0)).toMatchObject({ allowed: true, remaining: 1000 });
    expect(await quota(['--tenant', 'free1', '--metric', 'tokens', '--amount', '1001'], 4)).toEqual({
      allowed: false, tenant_id: 'free1', metric: 'tokens', period: '2026-10', reason: 'hard cap reached', unit: 'token',
      limit: 1000000, used: 999000, remaining: 1000, requested: 1001, hard_cap: true,
    });
    // GPU hours, compared exactly in seconds: 30,000 s used of 36,000.
    expect(await quota(['--tenant', 'free1', '--metric', 'gpu_hours', '--amount', '1.6666'], 0)).toMatchObject({
      allowed: true, unit: 'hour', limit: '10', used: '8.3333', remaining: '1.6667', requested: '1.6666',
    });
    expect(await quota(['--tenant', 'free1', '--metric', 'gpu_hours', '--amount', '1.6667'], 4)).toMatchObject({
      allowed: false, reason: 'hard cap reached',
    });
    const table = await s.run(['quota', 'check', '--tenant', 'free1', '--metric', 'tokens', '--amount', '5000'], 4, NOW);
    expect(table.stdout).toContain('hard cap reached');
  });

  it('allows overage on a plan without a hard cap, and says so', async () => {
    const a = await quota(['--tenant', 'pro1', '--metric', 'tokens', '--amount', '1'], 0);
    expect(a).toMatchObject({ allowed: true, used: 10000000, limit: 10000000, remaining: 0, hard_cap: false, overage: true });
    expect(String(a.note)).toContain('billed as overage');
  });

  it('checks the budget: cost against what is left, other metrics once it is spent', async () => {
    expect(await quota(['--tenant', 'pro2', '--metric', 'cost', '--amount', '5'], 0)).toMatchObject({
      allowed: true, unit: 'USD', limit: null, note: 'no budget is set for this tenant',
    });
    await s.run(['budget', 'set', 'pro2', '--monthly', '100']);
    // Month to date: the 99.00 fee.
    expect(await quota(['--tenant', 'pro2', '--metric', 'cost', '--amount', '1'], 0)).toEqual({
      allowed: true, tenant_id: 'pro2', metric: 'cost', period: '2026-10', unit: 'USD',
      limit: '100.00', used: '99.00', remaining: '1.00', requested: '1.00', hard_cap: false,
    });
    expect(await quota(['--tenant', 'pro2', '--metric', 'cost', '--amount', '1.01'], 4)).toMatchObject({
      allowed: false, reason: 'budget exhausted', limit: '100.00', used: '99.00', remaining: '1.00', requested: '1.01',
    });
    expect(await quota(['--tenant', 'pro2'], 0)).toMatchObject({ allowed: true, metric: 'api_calls' });
    await s.run(['budget', 'set', 'pro2', '--monthly', '99']);
    expect(await quota(['--tenant', 'pro2'], 4)).toMatchObject({
      allowed: false, metric: 'api_calls', reason: 'budget exhausted', unit: 'USD', limit: '99.00', used: '99.00', remaining: '0.00',
    });
  });

  it('refuses bad input with exit 2', async () => {
    await s.run(['quota', 'check', '--tenant', 'nobody'], 2, NOW);
    await s.run(['quota', 'check', '--tenant', 'free1', '--metric', 'bananas'], 2, NOW);
    await s.run(['quota', 'check', '--tenant', 'free1', '--metric', 'tokens', '--amount', '1.5'], 2, NOW);
    await s.run(['quota', 'check', '--tenant', 'free1', '--metric', 'cost', '--amount', '-1'], 2, NOW);
  });
});
