import { toJson } from '../../src/json.js';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { invoiceLineJson, invoiceTotals } from '../../src/domain/invoice.js';
import { Decimal } from '../../src/domain/money.js';
import { periodInterval, periodOf } from '../../src/domain/period.js';
import {
  CurrencyMismatchError, NoCatalogError, PlanTermsError, type RatedPeriod, RatingInputError, UnpricedUsageError,
  ratePeriod,
} from '../../src/domain/rating.js';
import { catalog, ms, plans, rateAll, receipt, row, SAMPLE, sorted, tenant } from './rating-builders.js';

const d = (s: string) => Decimal.parse(s);
const totals = (r: RatedPeriod) => ({
  fee: r.totals.fee.toString(), usage: r.totals.usage.toString(), discount: r.totals.discount.toString(),
  subtotal: r.totals.subtotal.toString(), tax: r.totals.tax.toString(), total: r.totals.total.toString(),
});

/** A plan with no allowances at all, so every unit is billed. */
const NONE = { name: 'Metered', monthly_fee: '0' };
function meteredCatalog(patch: Record<string, unknown> = {}, planPatch: Record<string, unknown> = {}) {
  return catalog({ plans: { metered: { ...NONE, ...planPatch } }, default_plan: 'metered', ...patch });
}
const metered = (t: Parameters<typeof tenant>[0] = {}) => tenant({ plans: plans(['metered', null]), ...t });

describe('worked example (billing-rules.md)', () => {
  const acme = tenant({ id: 'acme', timezone: 'Europe/Berlin', taxRate: '0.19', plans: plans(['pro', '2026-10']) });
  const receipts = [
    receipt({ id: 'r1', ts: '2026-09-30T22:30:00Z', model: 'qwen-70b', input: 9_000_000, output: 500_000, gpu: 'a100-80gb', gs: 360_000 }),
    receipt({ id: 'r2', ts: '2026-10-15T08:00:00Z', model: 'qwen-70b', input: 400_000, output: 1_200_000, gpu: 'a100-80gb', gs: 3_600 }),
    receipt({ id: 'r3', ts: '2026-10-31T23:30:00Z', model: 'gemma-2b', input: 1_000, output: 1_000, gpu: 'rtx-4090', gs: 1_800 }),
  ];

  it('October runs from 2026-09-30T22:00Z to 2026-10-31T23:00Z in Berlin: r3 is November', () => {
    expect(periodInterval('Europe/Berlin', '2026-10')).toEqual({ start: ms('2026-09-30T22:00:00Z'), end: ms('2026-10-31T23:00:00Z') });
    expect(receipts.map((r) => periodOf('Europe/Berlin', r.ts))).toEqual(['2026-10', '2026-10', '2026-11']);
  });

  it('rates every line, subtotal 109.60, tax 20.82, total 130.42', () => {
    const rated = rateAll({ tenant: acme, period: '2026-10', versions: [SAMPLE()], receipts });
    expect(rated.currency).toBe('USD');
    expect(rated.plan).toEqual({ id: 'pro', name: 'Pro', catalogVersion: '2026-01' });
    expect(rated.lines.map((l) => [l.description, l.used, l.included, l.billed, l.amount.toString()])).toEqual([
      ['Pro plan fee', 0n, 0n, 0n, '99.00'],
      ['A100 80GB GPU hours', 363_600n, 360_000n, 3_600n, '4.00'],
      ['Qwen-70B input tokens', 9_400_000n, 9_400_000n, 0n, '0.00'],
      ['Qwen-70B output tokens', 1_700_000n, 600_000n, 1_100_000n, '6.60'],
    ]);
    expect(totals(rated)).toEqual({ fee: '99.00', usage: '10.60', discount: '0.00', subtotal: '109.60', tax: '20.82', total: '130.42' });
    expect(rated.discount).toBeNull();
    expect(rated.unpriced).toEqual([]);
    expect(rated.receipts).toBe(2n);
    expect(rated.allowances.gpuSeconds).toEqual({ granted: 360_000n, consumed: 360_000n });
    expect(rated.allowances.tokens).toEqual({ granted: 10_000_000n, consumed: 10_000_000n });
    expect(rated.allowances.apiCalls).toEqual({ granted: 100_000n, consumed: 2n });
  });

  it('writes the JSON line shape of cli.md', () => {
    const rated = rateAll({ tenant: acme, period: '2026-10', versions: [SAMPLE()], receipts });
    // As printed: quantities are JSON numbers.
    expect(JSON.parse(toJson(rated.lines.map((l) => invoiceLineJson(l, '2026-10', 'USD', rated.plan.id))))).toEqual([
      {
        kind: 'fee', key: 'pro', catalog_version: '2026-01', period: '2026-10', description: 'Pro plan fee',
        used: 0, included: 0, billed: 0, unit: null, unit_price: null, unit_size: null, plan: 'pro', amount: '99.00',
      },
      {
        kind: 'gpu', key: 'a100-80gb', catalog_version: '2026-01', period: '2026-10', description: 'A100 80GB GPU hours',
        used: 363600, included: 360000, billed: 3600, unit: 'second', unit_price: '4.00', unit_size: 3600, plan: 'pro', amount: '4.00',
      },
      {
        kind: 'input_tokens', key: 'qwen-70b', catalog_version: '2026-01', period: '2026-10', description: 'Qwen-70B input tokens',
        used: 9400000, included: 9400000, billed: 0, unit: 'token', unit_price: '0.003', unit_size: 1000, plan: 'pro', amount: '0.00',
      },
      {
        kind: 'output_tokens', key: 'qwen-70b', catalog_version: '2026-01', period: '2026-10', description: 'Qwen-70B output tokens',
        used: 1700000, included: 600000, billed: 1100000, unit: 'token', unit_price: '0.006', unit_size: 1000, plan: 'pro', amount: '6.60',
      },
    ]);
    const t = invoiceTotals(rated.lines, rated.taxRate, rated.currency);
    expect([t.subtotal.toString(), t.tax.toString(), t.total.toString()]).toEqual(['109.60', '20.82', '130.42']);
  });

  it('refuses a receipt outside the period (the store must not pass it)', () => {
    expect(() => ratePeriod({ tenant: acme, period: '2026-10', versions: [SAMPLE()], allowUnpriced: false, receipts }))
      .toThrow(RatingInputError);
  });
});

describe('period edges: a receipt at start − 1 ms is the previous period, at start it is this one', () => {
  const cases: [tz: string, period: string, start: string, end: string][] = [
    ['UTC', '2026-10', '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z'],
    ['UTC', '2026-12', '2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z'],
    ['Europe/Berlin', '2026-03', '2026-02-28T23:00:00Z', '2026-03-31T22:00:00Z'], // DST starts Mar 29
    ['Europe/Berlin', '2026-10', '2026-09-30T22:00:00Z', '2026-10-31T23:00:00Z'], // DST ends Oct 25
    ['Asia/Kolkata', '2026-10', '2026-09-30T18:30:00Z', '2026-10-31T18:30:00Z'],
    ['America/St_Johns', '2026-03', '2026-03-01T03:30:00Z', '2026-04-01T02:30:00Z'], // DST starts Mar 8
    ['America/St_Johns', '2026-11', '2026-11-01T02:30:00Z', '2026-12-01T03:30:00Z'], // DST ends Nov 1, 02:00 local
    ['Pacific/Chatham', '2026-04', '2026-03-31T10:15:00Z', '2026-04-30T11:15:00Z'], // DST ends Apr 5
    ['Pacific/Chatham', '2026-09', '2026-08-31T11:15:00Z', '2026-09-30T10:15:00Z'], // DST starts Sep 27
  ];
  it.each(cases)('%s %s', (tz, period, start, end) => {
    const t = tenant({ timezone: tz, plans: plans(['metered', null]) });
    const versions = [meteredCatalog()];
    const inside = [
      receipt({ id: 'first', ts: ms(start), gpu: 'a100-80gb', gs: 3600 }),
      receipt({ id: 'last', ts: ms(end) - 1, gpu: 'a100-80gb', gs: 3600 }),
    ];
    const rated = ratePeriod({ tenant: t, period, versions, allowUnpriced: false, receipts: inside });
    expect(rated.lines.map(row)).toEqual(['gpu a100-80gb@2026-01 7200/0/7200 8.00']);
    for (const outside of [ms(start) - 1, ms(end)]) {
      expect(() => ratePeriod({
        tenant: t, period, versions, allowUnpriced: false, receipts: [receipt({ ts: outside, gs: 1 })],
      })).toThrow(RatingInputError);
    }
  });
});

describe('catalog versions', () => {
  const t = metered();
  const versions = [meteredCatalog(), meteredCatalog({
    version: '2026-10b', effective_from: '2026-10-15T12:00:00Z',
    gpu_rates: { 'a100-80gb': { price: '5.00', name: 'A100 80GB (new)' } },
  })];

  it('a receipt at the exact instant a version starts goes to the new version; 1 ms before to the old', () => {
    const rated = rateAll({
      tenant: t, period: '2026-10', versions, receipts: [
        receipt({ id: 'a', ts: ms('2026-10-15T12:00:00Z') - 1, gs: 3600 }),
        receipt({ id: 'b', ts: '2026-10-15T12:00:00Z', gs: 1800 }),
      ],
    });
    expect(rated.lines.map((l) => [l.description, l.catalogVersion, l.used, l.amount.toString(), l.unitPrice?.toString()])).toEqual([
      ['A100 80GB GPU hours', '2026-01', 3600n, '4.00', '4.00'],
      ['A100 80GB (new) GPU hours', '2026-10b', 1800n, '2.50', '5.00'],
    ]);
  });

  it('splits lines by version and takes the plan terms from the version in effect at the period start', () => {
    const fee1 = catalog({ plans: { p: { name: 'P', monthly_fee: '10', included: { gpu_hours: 1 } } }, default_plan: 'p' });
    const fee2 = catalog({
      version: 'v2', effective_from: '2026-10-10T00:00:00Z',
      plans: { p: { name: 'P2', monthly_fee: '20', included: { gpu_hours: 100 } } }, default_plan: 'p',
    });
    const rated = rateAll({
      tenant: tenant({ plans: plans(['p', null]) }), period: '2026-10', versions: [fee2, fee1], receipts: [
        receipt({ ts: '2026-10-02T00:00:00Z', gs: 3000 }),
        receipt({ ts: '2026-10-12T00:00:00Z', gs: 1200 }),
      ],
    });
    expect(rated.plan).toEqual({ id: 'p', name: 'P', catalogVersion: '2026-01' });
    expect(rated.lines.map(row)).toEqual([
      'fee p@2026-01 0/0/0 10.00',
      'gpu a100-80gb@2026-01 3000/3000/0 0.00',
      'gpu a100-80gb@v2 1200/600/600 0.67', // 1 h allowance of the 2026-01 terms, 600 s × 4.00 / 3600
    ]);
  });

  it('with no version in effect at the period start, takes the plan terms from the first version that starts in the period', () => {
    const late = catalog({ effective_from: '2026-10-10T00:00:00Z' });
    const later = catalog({ version: 'later', effective_from: '2026-10-20T00:00:00Z', plans: { free: { name: 'Gratis', monthly_fee: '1' } } });
    const rated = rateAll({
      tenant: tenant(), period: '2026-10', versions: [later, late], allowUnpriced: true,
      receipts: [receipt({ ts: '2026-10-05T00:00:00Z', model: 'qwen-70b', input: 10 })],
    });
    expect(rated.plan).toEqual({ id: 'free', name: 'Free', catalogVersion: '2026-01' });
    expect(rated.fee).toBeNull();
  });

  it('refuses a period with no version in effect at all, and a plan the terms version lacks', () => {
    expect(() => rateAll({ tenant: tenant(), period: '2025-12', versions: [SAMPLE()], receipts: [] })).toThrow(NoCatalogError);
    const err = (() => {
      try {
        rateAll({ tenant: tenant({ plans: plans(['gold', null]) }), period: '2026-10', versions: [SAMPLE()], receipts: [] });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(PlanTermsError);
    expect((err as PlanTermsError).exitCode).toBe(ExitCode.usage);
    expect(() => rateAll({ tenant: tenant({ plans: [] }), period: '2026-10', versions: [SAMPLE()], receipts: [] })).toThrow(PlanTermsError);
  });

  it('refuses versions of different currencies in one period, and a tenant currency that differs', () => {
    const eur = catalog({ version: 'eur', effective_from: '2026-10-15T00:00:00Z', currency: 'EUR' });
    const receipts = [receipt({ ts: '2026-10-02T00:00:00Z', gs: 1 }), receipt({ ts: '2026-10-16T00:00:00Z', gs: 1 })];
    expect(() => rateAll({ tenant: tenant(), period: '2026-10', versions: [SAMPLE(), eur], receipts })).toThrow(CurrencyMismatchError);
    // A version that starts in the period but has no usage in it does not count.
    expect(rateAll({ tenant: tenant(), period: '2026-10', versions: [SAMPLE(), eur], receipts: receipts.slice(0, 1) }).currency).toBe('USD');
    expect(() => rateAll({ tenant: tenant({ currency: 'EUR' }), period: '2026-10', versions: [SAMPLE()], receipts: [] }))
      .toThrow(CurrencyMismatchError);
  });
});

describe('allowances are consumed receipt by receipt, in order', () => {
  it('runs out in the middle of a receipt (GPU: 10 h free)', () => {
    const rated = rateAll({
      tenant: tenant(), period: '2026-10', versions: [SAMPLE()], receipts: [
        receipt({ ts: '2026-10-01T00:00:00Z', gpu: 'a100-40gb', gs: 30_000 }),
        receipt({ ts: '2026-10-02T00:00:00Z', gpu: 'a100-40gb', gs: 10_000 }),
      ],
    });
    // 4,000 s × 2.50 / 3600 = 2.7777… -> 2.78
    expect(rated.lines.map(row)).toEqual(['gpu a100-40gb@2026-01 40000/36000/4000 2.78']);
  });

  it('runs out between a receipt\'s input and its output tokens', () => {
    const rated = rateAll({
      tenant: tenant(), period: '2026-10', versions: [SAMPLE()], receipts: [
        receipt({ ts: '2026-10-01T00:00:00Z', model: 'qwen-30b', input: 999_000 }),
        receipt({ ts: '2026-10-02T00:00:00Z', model: 'qwen-70b', input: 1_000, output: 500_000 }),
      ],
    });
    expect(rated.lines.map(row)).toEqual([
      'input_tokens qwen-30b@2026-01 999000/999000/0 0.00',
      'input_tokens qwen-70b@2026-01 1000/1000/0 0.00',
      'output_tokens qwen-70b@2026-01 500000/0/500000 3.00',
    ]);
  });

  it('one token pool for all models; input before output within a receipt', () => {
    const rated = rateAll({
      tenant: tenant(), period: '2026-10', versions: [SAMPLE()], receipts: [
        receipt({ ts: '2026-10-01T00:00:00Z', model: 'gemma-2b', input: 400_000, output: 400_000 }),
        receipt({ ts: '2026-10-02T00:00:00Z', model: 'qwen-70b', input: 150_000, output: 100_000 }),
      ],
    });
    expect(rated.lines.map(row)).toEqual([
      'input_tokens gemma-2b@2026-01 400000/400000/0 0.00',
      'input_tokens qwen-70b@2026-01 150000/150000/0 0.00',
      'output_tokens gemma-2b@2026-01 400000/400000/0 0.00',
      'output_tokens qwen-70b@2026-01 100000/50000/50000 0.30',
    ]);
  });

  it('between two receipts with the same timestamp, the id in code point order decides (B < a < é)', () => {
    const ts = '2026-10-03T12:00:00Z';
    const rated = rateAll({
      tenant: tenant(), period: '2026-10', versions: [SAMPLE()], receipts: [
        receipt({ id: 'é', ts, model: 'gemma-2b', input: 100_000 }),
        receipt({ id: 'a', ts, model: 'qwen-70b', input: 600_000 }),
        receipt({ id: 'B', ts, model: 'qwen-30b', input: 600_000 }),
      ],
    });
    expect(rated.lines.map(row)).toEqual([
      'input_tokens gemma-2b@2026-01 100000/0/100000 0.01',
      'input_tokens qwen-30b@2026-01 600000/600000/0 0.00',
      'input_tokens qwen-70b@2026-01 600000/400000/200000 0.60',
    ]);
  });

  it('code point order, not UTF-16 order: U+FFFF comes before U+1F600', () => {
    const ts = '2026-10-03T12:00:00Z';
    const rated = rateAll({
      tenant: tenant(), period: '2026-10', versions: [SAMPLE()], receipts: [
        receipt({ id: '\u{1F600}', ts, model: 'qwen-70b', input: 1_000_000 }),
        receipt({ id: '\uFFFF', ts, model: 'qwen-30b', input: 1_000_000 }),
      ],
    });
    expect(rated.lines.map(row)).toEqual([
      'input_tokens qwen-30b@2026-01 1000000/1000000/0 0.00',
      'input_tokens qwen-70b@2026-01 1000000/0/1000000 3.00',
    ]);
  });

  it('API calls: one per receipt, a request line per version when its request_rate > 0', () => {
    const v1 = catalog({ request_rate: '0.01', plans: { free: { name: 'Free', monthly_fee: '0', included: { api_calls: 2 } } } });
    const v2 = catalog({ version: 'v2', effective_from: '2026-10-20T00:00:00Z', request_rate: '0' });
    const v3 = catalog({ version: 'v3', effective_from: '2026-10-25T00:00:00Z', request_rate: '0.02' });
    const rated = rateAll({
      tenant: tenant(), period: '2026-10', versions: [v1, v2, v3], receipts: [
        receipt({ ts: '2026-10-01T00:00:00Z' }),
        receipt({ ts: '2026-10-02T00:00:00Z', gs: 10 }),
        receipt({ ts: '2026-10-03T00:00:00Z' }),
        receipt({ ts: '2026-10-21T00:00:00Z' }),
        receipt({ ts: '2026-10-26T00:00:00Z' }),
        receipt({ ts: '2026-10-27T00:00:00Z' }),
      ],
    });
    expect(rated.lines.filter((l) => l.kind === 'requests').map((l) => [row(l), l.description, l.unit, l.unitPrice?.toString(), l.unitSize]))
      .toEqual([
        ['requests requests@2026-01 3/2/1 0.01', 'API requests', 'request', '0.01', 1n],
        ['requests requests@v3 2/0/2 0.04', 'API requests', 'request', '0.02', 1n],
      ]);
    expect(rated.allowances.apiCalls).toEqual({ granted: 2n, consumed: 2n });
  });
});

describe('lines', () => {
  it('a line with used 0 is left out; a fully covered line stays at 0.00; non-billable receipts are skipped', () => {
    const rated = rateAll({
      tenant: tenant(), period: '2026-10', versions: [SAMPLE()], receipts: [
        receipt({ ts: '2026-10-01T00:00:00Z', model: 'qwen-70b', gpu: 'rtx-4090', input: 10, output: 0, gs: 0 }),
        receipt({ ts: '2026-10-02T00:00:00Z', model: 'gemma-2b', input: 5, billable: false }),
      ],
    });
    expect(rated.lines.map(row)).toEqual(['input_tokens qwen-70b@2026-01 10/10/0 0.00']);
    expect(rated.receipts).toBe(1n);
  });

  it('come in a fixed order: fee, gpu, input, output, requests (each by key, then version), discount', () => {
    const plan = { ent: { name: 'Ent', monthly_fee: '5', usage_discount_percent: '10' } };
    const v1 = catalog({ request_rate: '0.001', plans: plan, default_plan: 'ent' });
    const v2 = catalog({ version: 'v2', effective_from: '2026-10-10T00:00:00Z', request_rate: '0.001', plans: plan, default_plan: 'ent' });
    const all = [
      { model: 'qwen-70b', gpu: 'rtx-4090' }, { model: 'gemma-2b', gpu: 'a100-80gb' }, { model: 'qwen-30b', gpu: 'rtx-3090' },
    ];
    const receipts = ['2026-10-20T00:00:00Z', '2026-10-01T00:00:00Z'].flatMap((ts) =>
      all.map((k) => receipt({ ts, ...k, input: 1000, output: 1000, gs: 3600 })));
    const rated = rateAll({ tenant: tenant({ plans: plans(['ent', null]) }), period: '2026-10', versions: [v1, v2], receipts: sorted(receipts) });
    expect(rated.lines.map((l) => `${l.kind} ${l.key}@${l.catalogVersion}`)).toEqual([
      'fee ent@2026-01',
      'gpu a100-80gb@2026-01', 'gpu a100-80gb@v2', 'gpu rtx-3090@2026-01', 'gpu rtx-3090@v2', 'gpu rtx-4090@2026-01', 'gpu rtx-4090@v2',
      'input_tokens gemma-2b@2026-01', 'input_tokens gemma-2b@v2', 'input_tokens qwen-30b@2026-01', 'input_tokens qwen-30b@v2',
      'input_tokens qwen-70b@2026-01', 'input_tokens qwen-70b@v2',
      'output_tokens gemma-2b@2026-01', 'output_tokens gemma-2b@v2', 'output_tokens qwen-30b@2026-01', 'output_tokens qwen-30b@v2',
      'output_tokens qwen-70b@2026-01', 'output_tokens qwen-70b@v2',
      'requests requests@2026-01', 'requests requests@v2',
      'discount ent@2026-01',
    ]);
    expect(rated.discount?.description).toBe('Usage discount 10%');
    expect(rated.fee?.description).toBe('Ent plan fee');
  });
});

describe('unpriced usage', () => {
  const receipts = [
    receipt({ id: 'u1', ts: '2026-10-01T00:00:00Z', model: 'mystery-1', input: 500_000, output: 500_000 }),
    receipt({ id: 'u2', ts: '2026-10-02T00:00:00Z', model: 'mystery-1', input: 10, gpu: 'h100', gs: 60 }),
    receipt({ id: 'u3', ts: '2026-10-03T00:00:00Z', model: 'mystery-1', gpu: 'h100', gs: 0 }), // no quantity of either: not unpriced
    receipt({ id: 'p1', ts: '2026-10-04T00:00:00Z', model: 'qwen-70b', input: 1_000 }),
  ];

  it('is refused by default, naming every (kind, key, version, receipt count), exit 2', () => {
    let err: unknown;
    try {
      rateAll({ tenant: tenant({ id: 'acme' }), period: '2026-10', versions: [SAMPLE()], receipts });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnpricedUsageError);
    const u = err as UnpricedUsageError;
    expect(u.exitCode).toBe(ExitCode.usage);
    expect(u.unpriced).toEqual([
      { kind: 'gpu', key: 'h100', catalogVersion: '2026-01', receipts: 1n },
      { kind: 'model', key: 'mystery-1', catalogVersion: '2026-01', receipts: 2n },
    ]);
    expect(u.message).toContain('GPU "h100" has no rate in catalog 2026-01: 1 receipt');
    expect(u.message).toContain('model "mystery-1" has no rate in catalog 2026-01: 2 receipts');
    expect(u.hint).toContain('--allow-unpriced');
  });

  it('with allowUnpriced, bills those lines at 0.00 marked UNPRICED, and they still consume allowance in order', () => {
    const rated = rateAll({ tenant: tenant(), period: '2026-10', versions: [SAMPLE()], receipts, allowUnpriced: true });
    expect(rated.lines.map(row)).toEqual([
      'gpu h100@2026-01 60/60/0 0.00 UNPRICED',
      'input_tokens mystery-1@2026-01 500010/500000/10 0.00 UNPRICED',
      'input_tokens qwen-70b@2026-01 1000/0/1000 0.00', // 1,000 × 0.003 / 1000 = 0.003 -> 0.00
      'output_tokens mystery-1@2026-01 500000/500000/0 0.00 UNPRICED',
    ]);
    expect(rated.lines[0]!.description).toBe('h100 GPU hours (UNPRICED)');
    expect(rated.lines[0]!.unitPrice).toBeNull();
    expect(rated.unpriced.map((u) => `${u.kind} ${u.key} ${u.receipts}`)).toEqual(['gpu h100 1', 'model mystery-1 2']);
  });

  it('receipts before every version are unpriced with no version (their requests too, with no request line)', () => {
    const late = catalog({ effective_from: '2026-10-10T00:00:00Z' });
    const rs = [
      receipt({ ts: '2026-10-01T00:00:00Z', model: 'qwen-70b', input: 10, gpu: 'a100-80gb', gs: 5 }),
      receipt({ ts: '2026-10-02T00:00:00Z' }),
      receipt({ ts: '2026-10-10T00:00:00Z', model: 'qwen-70b', input: 10 }),
    ];
    let err: unknown;
    try {
      rateAll({ tenant: tenant(), period: '2026-10', versions: [late], receipts: rs });
    } catch (e) {
      err = e;
    }
    expect((err as UnpricedUsageError).unpriced).toEqual([
      { kind: 'gpu', key: 'a100-80gb', catalogVersion: null, receipts: 1n },
      { kind: 'model', key: 'qwen-70b', catalogVersion: null, receipts: 1n },
      { kind: 'requests', key: 'requests', catalogVersion: null, receipts: 2n },
    ]);
    expect((err as Error).message).toContain('API requests before the first catalog version: 2 receipts');
    const rated = rateAll({ tenant: tenant(), period: '2026-10', versions: [late], receipts: rs, allowUnpriced: true });
    expect(rated.lines.map(row)).toEqual([
      'gpu a100-80gb@- 5/5/0 0.00 UNPRICED',
      'input_tokens qwen-70b@- 10/10/0 0.00 UNPRICED',
      'input_tokens qwen-70b@2026-01 10/10/0 0.00',
    ]);
    expect(rated.lines.map((l) => l.description)).toEqual([
      'a100-80gb GPU hours (UNPRICED)', 'qwen-70b input tokens (UNPRICED)', 'Qwen-70B input tokens',
    ]);
  });
});

describe('rounding is half up, once per line, where half-even would differ', () => {
  it('a line amount of exactly half a cent rounds up', () => {
    // 20 s × 0.90 / 3600 = 0.005 -> 0.01 (half-even: 0.00)
    const rated = rateAll({ tenant: metered(), period: '2026-10', versions: [meteredCatalog()], receipts: [receipt({ ts: '2026-10-01T00:00:00Z', gpu: 'rtx-4090', gs: 20 })] });
    expect(rated.lines.map(row)).toEqual(['gpu rtx-4090@2026-01 20/0/20 0.01']);
  });

  it('rounds the line, not each receipt', () => {
    // three receipts of 10 s each at 0.90/h: 0.0025 each (0.00 rounded), 0.0075 together -> 0.01
    const rated = rateAll({
      tenant: metered(), period: '2026-10', versions: [meteredCatalog()],
      receipts: [1, 2, 3].map((i) => receipt({ ts: `2026-10-0${i}T00:00:00Z`, gpu: 'rtx-4090', gs: 10 })),
    });
    expect(rated.totals.usage.toString()).toBe('0.01');
  });

  it('discount D = round(U × pct / 100) half up: 0.25 × 10 % = 0.025 -> 0.03', () => {
    const cat = meteredCatalog({}, { usage_discount_percent: '10' });
    // 125,000 output tokens × 0.002 / 1000 = 0.25
    const rated = rateAll({ tenant: metered(), period: '2026-10', versions: [cat], receipts: [receipt({ ts: '2026-10-01T00:00:00Z', model: 'qwen-30b', output: 125_000 })] });
    expect(rated.discount?.amount.toString()).toBe('-0.03');
    expect(totals(rated)).toMatchObject({ usage: '0.25', discount: '0.03', subtotal: '0.22' });
  });

  it('a fractional discount percent: 2.5 % of 1.00 = 0.025 -> 0.03', () => {
    const cat = meteredCatalog({}, { usage_discount_percent: '2.5' });
    const rated = rateAll({ tenant: metered(), period: '2026-10', versions: [cat], receipts: [receipt({ ts: '2026-10-01T00:00:00Z', gpu: 'a100-80gb', gs: 900 })] });
    expect(rated.discount?.description).toBe('Usage discount 2.5%');
    expect(totals(rated)).toMatchObject({ usage: '1.00', discount: '0.03', subtotal: '0.97' });
  });

  it('tax T = round(S × rate) half up: 1.05 × 0.5 = 0.525 -> 0.53, total 1.58', () => {
    const cat = meteredCatalog({}, { monthly_fee: '1.05' });
    const rated = rateAll({ tenant: metered({ taxRate: '0.5' }), period: '2026-10', versions: [cat], receipts: [] });
    expect(rated.lines.map(row)).toEqual(['fee metered@2026-01 0/0/0 1.05']);
    expect(totals(rated)).toEqual({ fee: '1.05', usage: '0.00', discount: '0.00', subtotal: '1.05', tax: '0.53', total: '1.58' });
  });

  it('a fee of 0 makes no fee line; a fee with more digits than the currency is rounded once', () => {
    expect(rateAll({ tenant: metered(), period: '2026-10', versions: [meteredCatalog()], receipts: [] }).lines).toEqual([]);
    const cat = meteredCatalog({}, { monthly_fee: '9.995' });
    expect(rateAll({ tenant: metered(), period: '2026-10', versions: [cat], receipts: [] }).fee?.amount.toString()).toBe('10.00');
  });
});

describe('plans by period', () => {
  it('a plan change from one month on: free in October, pro from November', () => {
    const t = tenant({ plans: plans(['free', null], ['pro', '2026-11']) });
    const oct = rateAll({ tenant: t, period: '2026-10', versions: [SAMPLE()], receipts: [receipt({ ts: '2026-10-05T00:00:00Z', gs: 40_000 })] });
    const nov = rateAll({ tenant: t, period: '2026-11', versions: [SAMPLE()], receipts: [receipt({ ts: '2026-11-05T00:00:00Z', gs: 40_000 })] });
    expect(oct.plan.id).toBe('free');
    expect(oct.lines.map(row)).toEqual(['gpu a100-80gb@2026-01 40000/36000/4000 4.44']);
    expect(nov.plan.id).toBe('pro');
    expect(nov.lines.map(row)).toEqual(['fee pro@2026-01 0/0/0 99.00', 'gpu a100-80gb@2026-01 40000/40000/0 0.00']);
  });

  it('the last recorded entry wins among those that hold', () => {
    const t = tenant({ plans: plans(['pro', '2026-09'], ['free', null]) });
    expect(rateAll({ tenant: t, period: '2026-10', versions: [SAMPLE()], receipts: [] }).plan.id).toBe('free');
  });
});

describe('currencies with other minor units', () => {
  it('JPY (0 digits)', () => {
    const jpy = meteredCatalog({
      currency: 'JPY',
      gpu_rates: { 'a100-80gb': { price: '500', name: 'A100 80GB' } },
      token_rates: { 'qwen-70b': { input: '0.1', output: '0.3', name: 'Qwen-70B' } },
    }, { monthly_fee: '1000', usage_discount_percent: '5' });
    const rated = rateAll({
      tenant: metered({ taxRate: '0.1' }), period: '2026-10', versions: [jpy], receipts: [
        receipt({ ts: '2026-10-01T00:00:00Z', model: 'qwen-70b', gpu: 'a100-80gb', gs: 1800, input: 25_000, output: 5_000 }),
      ],
    });
    // GPU 1800 × 500 / 3600 = 250; input 25,000 × 0.1 / 1000 = 2.5 -> 3; output 5,000 × 0.3 / 1000 = 1.5 -> 2
    expect(rated.lines.map(row)).toEqual([
      'fee metered@2026-01 0/0/0 1000',
      'gpu a100-80gb@2026-01 1800/0/1800 250',
      'input_tokens qwen-70b@2026-01 25000/0/25000 3',
      'output_tokens qwen-70b@2026-01 5000/0/5000 2',
      'discount metered@2026-01 0/0/0 -13', // 255 × 5 % = 12.75 -> 13
    ]);
    // S = 1000 + 255 − 13 = 1242; T = 124.2 -> 124
    expect(totals(rated)).toEqual({ fee: '1000', usage: '255', discount: '13', subtotal: '1242', tax: '124', total: '1366' });
    expect(invoiceLineJson(rated.lines[1]!, '2026-10', 'JPY').amount).toBe('250');
  });

  it('KWD (3 digits)', () => {
    const kwd = meteredCatalog({
      currency: 'KWD', gpu_rates: { 'a100-80gb': { price: '1.235', name: 'A100 80GB' } },
    }, { monthly_fee: '10' });
    const rated = rateAll({
      tenant: metered({ taxRate: '0.05' }), period: '2026-10', versions: [kwd],
      receipts: [receipt({ ts: '2026-10-01T00:00:00Z', gpu: 'a100-80gb', gs: 1800 })],
    });
    // 1800 × 1.235 / 3600 = 0.6175 -> 0.618; S = 10.618; T = 0.5309 -> 0.531
    expect(rated.lines.map(row)).toEqual(['fee metered@2026-01 0/0/0 10.000', 'gpu a100-80gb@2026-01 1800/0/1800 0.618']);
    expect(totals(rated)).toMatchObject({ subtotal: '10.618', tax: '0.531', total: '11.149' });
    expect(invoiceLineJson(rated.lines[0]!, '2026-10', 'KWD').amount).toBe('10.000');
  });
});

describe('input contract', () => {
  const base = { tenant: tenant(), period: '2026-10', versions: [SAMPLE()], allowUnpriced: false };
  it('refuses receipts out of order, and duplicates', () => {
    const a = receipt({ id: 'a', ts: '2026-10-02T00:00:00Z', gs: 1 });
    const b = receipt({ id: 'b', ts: '2026-10-01T00:00:00Z', gs: 1 });
    expect(() => ratePeriod({ ...base, receipts: [a, b] })).toThrow(/not sorted/);
    expect(() => ratePeriod({ ...base, receipts: [a, a] })).toThrow(RatingInputError);
  });

  it('takes receipts as a stream (any iterable)', () => {
    function* stream() {
      for (let i = 0; i < 3; i++) yield receipt({ ts: ms('2026-10-01T00:00:00Z') + i, gs: 12_000 });
    }
    expect(ratePeriod({ ...base, receipts: stream() }).lines.map(row)).toEqual(['gpu a100-80gb@2026-01 36000/36000/0 0.00']);
  });

  it('amounts are exact decimals with the currency scale', () => {
    const rated = rateAll({ ...base, receipts: [receipt({ ts: '2026-10-01T00:00:00Z', gs: 50_000 })] });
    expect(rated.lines[0]!.amount.scale).toBe(2);
    expect(rated.lines[0]!.amount.eq(d('15.56'))).toBe(true); // 14,000 s × 4.00 / 3600 = 15.555… -> 15.56
  });
});
