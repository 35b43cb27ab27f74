/** recommend: each plan's cost from the rating engine, advice when it saves 10 %, top models. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, importReceipts, opsStore, parseJson } from './helpers.js';

afterAll(dropSchemas);

interface Advice {
  tenant_id: string;
  period: string;
  current_plan: string;
  current_amount: string;
  recommended_plan: string | null;
  saving: string | null;
  saving_percent: string | null;
  plans: { plan: string; amount: string; fits: boolean; current: boolean }[];
  top_models: { model: string; amount: string; share_percent: string }[];
}

const NOW = { BILLCTL_NOW: '2026-11-10T09:00:00Z' };

describeEachBackend('recommend', (backend) => {
  let s: TestStore;
  let advice: Advice[];
  const of = (t: string) => advice.find((a) => a.tenant_id === t)!;

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    for (const t of ['small', 'big', 'mid', 'close', 'idle', 'failed-only']) await addTenant(s, t, 'pro');
    const at = '2026-10-12T10:00:00Z';
    await importReceipts(s, [
      { id: 's1', tenant: 'small', ts: at, model: 'gemma-2b', input: 2000, output: 1000 },
      // Enterprise-size: 1,000 GPU hours and 100M tokens in a month.
      { id: 'g1', tenant: 'big', ts: at, gpu: 'a100-80gb', gpuSeconds: 3_600_000 },
      { id: 'g2', tenant: 'big', ts: '2026-10-13T10:00:00Z', model: 'qwen-70b', input: 60_000_000, output: 40_000_000 },
      { id: 'g3', tenant: 'big', ts: '2026-10-14T10:00:00Z', model: 'gemma-2b', input: 1_000_000, output: 1_000_000 },
      // 50 GPU hours: over the free plan's hard cap, pro is cheapest.
      { id: 'm1', tenant: 'mid', ts: at, gpu: 'a100-80gb', gpuSeconds: 180_000 },
      // 750 GPU hours: enterprise (2,500.00) saves only 7.4 % against pro (2,699.00).
      { id: 'c1', tenant: 'close', ts: at, gpu: 'a100-80gb', gpuSeconds: 2_700_000 },
      // No usage: only a failed call (idle has none at all).
      { id: 'f1', tenant: 'failed-only', ts: at, status: 'failed', model: 'gemma-2b', input: 10 },
    ]);
    advice = parseJson<Advice[]>((await s.run(['recommend', '--format', 'json'], 0, NOW)).stdout);
  });

  it('advises free to a pro tenant with tiny usage', () => {
    expect(of('small')).toMatchObject({
      period: '2026-10', current_plan: 'pro', current_amount: '99.00', recommended_plan: 'free', saving: '99.00', saving_percent: '100.0',
    });
    // (team: its minimum commitment of 1,500 is the least it costs)
    expect(of('small').plans.map((p) => [p.plan, p.amount, p.fits])).toEqual([['free', '0.00', true], ['pro', '99.00', true], ['team', '1500.00', true], ['enterprise', '2500.00', true]]);
    expect(of('small').top_models).toEqual([{ model: 'gemma-2b', name: 'Gemma-2B', amount: '0.00', share_percent: '100.0' }]);
  });

  it('advises an enterprise-size tenant on pro to move up', () => {
    // Pro: 99 + 900 h × 4.00 + 50M input × 0.003/1k + 40M output × 0.006/1k + Gemma 0.10 + 0.20 = 4,089.30.
    // Enterprise: 2,500 + Gemma's 0.30 less the 10 % discount (0.03) = 2,500.27.
    expect(of('big')).toMatchObject({ current_plan: 'pro', recommended_plan: 'enterprise', current_amount: '4089.30' });
    expect(of('big').plans.map((p) => [p.plan, p.amount, p.fits])).toEqual([
      // Team (the example catalog's plan with its own rates): its minimum commitment does not bind here.
      ['enterprise', '2500.27', true], ['pro', '4089.30', true], ['team', '4185.30', true], ['free', '4377.30', false],
    ]);
    expect(of('big').saving).toBe('1589.03');
    expect(of('big').saving_percent).toBe('38.9');
    // Top models at list price: Qwen-70B (420.00) alone covers 80 % of the models' cost; its share is of all usage (GPU 4,000.00 too).
    expect(of('big').top_models).toEqual([{ model: 'qwen-70b', name: 'Qwen-70B', amount: '420.00', share_percent: '9.5' }]);
  });

  it('gives no advice when the current plan is cheapest, or the saving is under 10 %', () => {
    expect(of('mid')).toMatchObject({ recommended_plan: null, saving: null, current_amount: '99.00' });
    expect(of('mid').plans.find((p) => p.plan === 'free')).toMatchObject({ amount: '160.00', fits: false });
    expect(of('close')).toMatchObject({ recommended_plan: null, current_amount: '2699.00' });
  });

  it('tenants without usage in the period are left out', async () => {
    expect(advice.map((a) => a.tenant_id)).toEqual(['big', 'close', 'mid', 'small']);
    const idle = await s.run(['recommend', '--tenant', 'idle', '--format', 'json'], 0, NOW);
    expect(parseJson<Advice[]>(idle.stdout)).toEqual([]);
    expect(idle.stderr).toBe('left out, no usage in the period: idle\n');
  });

  it('the current plan\'s amount is the invoice subtotal; output is deterministic', async () => {
    const preview = parseJson<{ subtotal: string }>((await s.run(['invoice', 'preview', '--tenant', 'big', '--period', '2026-10', '--format', 'json'])).stdout);
    expect(preview.subtotal).toBe(of('big').current_amount);
    const again = (await s.run(['recommend', '--period', '2026-10', '--format', 'json'], 0, NOW)).stdout;
    expect(parseJson<Advice[]>(again)).toEqual(advice);
    const one = parseJson<Advice[]>((await s.run(['recommend', '--tenant', 'small', '--period', '2026-10', '--format', 'json'])).stdout);
    expect(one).toEqual([of('small')]);
    const table = await s.run(['recommend', '--period', '2026-10'], 0, NOW);
    expect(table.stdout).toContain('free (saves 99.00, 100.0 %)');
  });
});
