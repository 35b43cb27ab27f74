/** budget set | list | remove: exact amounts, thresholds, validation, audit. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { divide, parseBudgetAmount, parseThresholds, reachedPercent, wholePercent } from '../../src/app/budgets.js';
import { Decimal } from '../../src/domain/money.js';
import { describeEachBackend, dropSchemas } from '../helpers/backends.js';
import type { TestStore } from '../helpers/store-setup.js';
import { addTenant, importReceipts, opsStore, parseJson } from './helpers.js';

afterAll(dropSchemas);

describe('budget arithmetic', () => {
  it('compares percentages exactly', () => {
    expect(reachedPercent(Decimal.parse('33.33'), Decimal.parse('100'), 33)).toBe(true);
    expect(reachedPercent(Decimal.parse('0.1'), Decimal.parse('0.3'), 34)).toBe(false);
    expect(reachedPercent(Decimal.parse('0.1'), Decimal.parse('0.3'), 33)).toBe(true);
    expect(wholePercent(Decimal.parse('0.2'), Decimal.parse('0.3'))).toBe(66n);
    expect(wholePercent(288_000n, 360_000n)).toBe(80n);
    expect(divide(Decimal.parse('10'), Decimal.parse('3'), 2).toString()).toBe('3.33');
  });

  it('reads amounts and thresholds strictly', () => {
    expect(parseBudgetAmount('1000', 'USD').toString()).toBe('1000.00');
    expect(parseBudgetAmount('5000', 'JPY').toString()).toBe('5000');
    expect(() => parseBudgetAmount('10.005', 'USD')).toThrow(/more decimals/);
    expect(() => parseBudgetAmount('0', 'USD')).toThrow(/more than 0/);
    expect(() => parseBudgetAmount('1e3', 'USD')).toThrow(/not an amount/);
    expect(parseThresholds('100, 50,80,50')).toEqual([50, 80, 100]);
    expect(() => parseThresholds('50,eighty')).toThrow(/whole percentage/);
    expect(() => parseThresholds('0')).toThrow(/whole percentage/);
  });
});

describeEachBackend('budget commands', (backend) => {
  let s: TestStore;
  const NOW = { BILLCTL_NOW: '2026-10-16T12:00:00Z' };

  beforeAll(async () => {
    s = await opsStore(await backend.fresh());
    await addTenant(s, 'acme', 'pro');
    await addTenant(s, 'zeta', 'free');
    await importReceipts(s, [{ id: 'a1', tenant: 'acme', ts: '2026-10-02T00:00:00Z', gpu: 'a100-80gb', gpuSeconds: 367_200 }]); // 2 h billed: 8.00
  });

  it('sets, replaces, lists and removes budgets', async () => {
    const set = parseJson((await s.run(['budget', 'set', 'acme', '--monthly', '500', '--format', 'json'])).stdout);
    expect(set).toEqual({ tenant_id: 'acme', monthly: '500.00', currency: 'USD', thresholds: [50, 80, 100], replaced: false });
    const replaced = parseJson((await s.run(['budget', 'set', 'acme', '--monthly', '250.5', '--thresholds', '90,75', '--format', 'json'])).stdout);
    expect(replaced).toEqual({ tenant_id: 'acme', monthly: '250.50', currency: 'USD', thresholds: [75, 90], replaced: true });
    // Thresholds are kept when only the amount changes.
    await s.run(['budget', 'set', 'acme', '--monthly', '214']);
    await s.run(['budget', 'set', 'zeta', '--monthly', '10']);

    const list = parseJson<Record<string, unknown>[]>((await s.run(['budget', 'list', '--format', 'json'], 0, NOW)).stdout);
    // 99 + 8 = 107.00 of 214.00 = 50 %; half the month gone: projected 99 + 8 × 2 = 115.00.
    expect(list).toEqual([
      { tenant_id: 'acme', monthly: '214.00', currency: 'USD', thresholds: [75, 90], period: '2026-10', spent: '107.00', percent: 50, projected_month_end: '115.00' },
      { tenant_id: 'zeta', monthly: '10.00', currency: 'USD', thresholds: [50, 80, 100], period: '2026-10', spent: '0.00', percent: 0, projected_month_end: '0.00' },
    ]);
    const closed = parseJson<Record<string, unknown>[]>((await s.run(['budget', 'list', '--period', '2026-09', '--format', 'json'], 0, NOW)).stdout);
    expect(closed[0]).toMatchObject({ period: '2026-09', spent: '99.00', projected_month_end: null });

    expect(parseJson((await s.run(['budget', 'remove', 'zeta', '--format', 'json'])).stdout)).toEqual({ tenant_id: 'zeta', removed: true });
    expect(parseJson((await s.run(['budget', 'remove', 'zeta', '--format', 'json'])).stdout)).toEqual({ tenant_id: 'zeta', removed: false });
    const audit = parseJson<{ command: string }[]>((await s.run(['audit', '--format', 'json'])).stdout);
    expect(audit.filter((a) => a.command.startsWith('budget ')).map((a) => a.command)).toEqual([
      'budget set', 'budget set', 'budget set', 'budget set', 'budget remove',
    ]);
  });

  it('refuses bad input with exit 2', async () => {
    await s.run(['budget', 'set', 'nobody', '--monthly', '5'], 2);
    await s.run(['budget', 'set', 'acme', '--monthly', 'lots'], 2);
    await s.run(['budget', 'set', 'acme', '--monthly', '5', '--thresholds', '50,x'], 2);
    await s.run(['budget', 'set', 'acme'], 2);
    await s.run(['budget', 'remove', 'nobody'], 2);
  });
});
