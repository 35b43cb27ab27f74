/**
 * Rating corners through the CLI on both stores, and the two stores against each other: the same
 * generated month of 50,000 receipts rates to identical invoices on SQLite and Postgres, and the
 * same receipts imported in any split or order rate to the same invoice.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 as prng } from '../../src/prng.js';
import { BACKENDS, describeEachBackend, dropSchemas, postgresBackend, sqliteBackend } from '../helpers/backends.js';
import { csvOf, jsonOf, makeStore } from '../helpers/store-setup.js';

afterAll(dropSchemas);

interface Line { kind: string; key: string; used: number; included: number; billed: number; amount: string }
interface Inv { subtotal: string; tax: string; total: string; lines: Line[] }

describeEachBackend('rating corners through the CLI', (backend) => {
  it('an allowance that runs out between two receipts of the same instant goes by id in code point order', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'z', '--plan', 'free']);
    // Free: 1,000,000 tokens. Three receipts at one instant; ids "B" < "a" < "é" by code point.
    // "B" (gemma) and "a" (qwen-70b) fit; "é" (qwen-30b) gets only what is left.
    await s.run(['import', s.file('same.csv', csvOf([
      ['é', 'z', '2026-10-10T12:00:00Z', 'completed', 'qwen-30b', '', 0, 400000, 0],
      ['a', 'z', '2026-10-10T12:00:00Z', 'completed', 'qwen-70b', '', 0, 500000, 0],
      ['B', 'z', '2026-10-10T12:00:00Z', 'completed', 'gemma-2b', '', 0, 300000, 0],
    ]))]);
    const inv = jsonOf<Inv>(await s.run(['invoice', 'preview', '--tenant', 'z', '--period', '2026-10', '--format', 'json']));
    expect(inv.lines.map((l) => [l.key, l.used, l.included, l.billed, l.amount])).toEqual([
      ['gemma-2b', 300000, 300000, 0, '0.00'],
      ['qwen-30b', 400000, 200000, 200000, '0.20'],
      ['qwen-70b', 500000, 500000, 0, '0.00'],
    ]);
  });

  it('puts receipts at -1 ms and 0 ms of a Kolkata, St. John\'s and Chatham period on the right side', async () => {
    const s = await makeStore(await backend.fresh());
    const zones = [
      ['kol', 'Asia/Kolkata', '2026-09-30T18:30:00.000Z'],
      ['stj', 'America/St_Johns', '2026-10-01T02:30:00.000Z'],
      ['cha', 'Pacific/Chatham', '2026-09-30T10:15:00.000Z'],
    ] as const;
    const rows: (string | number)[][] = [];
    for (const [id, tz, start] of zones) {
      await s.run(['tenant', 'add', id, '--plan', 'free', '--timezone', tz]);
      const t = Date.parse(start);
      rows.push([`${id}-before`, id, new Date(t - 1).toISOString(), 'completed', 'gemma-2b', '', 0, 7, 0]);
      rows.push([`${id}-at`, id, new Date(t).toISOString(), 'completed', 'gemma-2b', '', 0, 11, 0]);
    }
    await s.run(['import', s.file('edges.csv', csvOf(rows))]);
    const usage = jsonOf<{ tenant_id: string; input_tokens: number }[]>(await s.run(['usage', '--period', '2026-10', '--format', 'json']));
    expect(usage.map((u) => [u.tenant_id, u.input_tokens])).toEqual([['cha', 11], ['kol', 11], ['stj', 11]]);
    const sept = jsonOf<{ tenant_id: string; input_tokens: number }[]>(await s.run(['usage', '--period', '2026-09', '--format', 'json']));
    expect(sept.map((u) => [u.tenant_id, u.input_tokens])).toEqual([['cha', 7], ['kol', 7], ['stj', 7]]);
  });
});

/** A deterministic month of receipts for `tenants` tenants. */
function month(n: number, tenants: number, seed: number): (string | number)[][] {
  const rnd = prng(seed);
  const models = ['qwen-70b', 'qwen-30b', 'gemma-2b'];
  const gpus = ['a100-80gb', 'a100-40gb', 'rtx-4090', 'rtx-3090'];
  const start = Date.parse('2026-10-01T00:00:00Z');
  const span = 31 * 86_400_000;
  const rows: (string | number)[][] = [];
  for (let i = 0; i < n; i++) {
    // Coarse timestamps make many ties, so the id order matters.
    const ts = start + Math.floor(rnd() * (span / 60_000)) * 60_000;
    rows.push([
      `r${i}`, `t${i % tenants}`, new Date(ts).toISOString(), rnd() < 0.03 ? 'failed' : 'completed',
      models[Math.floor(rnd() * 3)]!, gpus[Math.floor(rnd() * 4)]!, Math.floor(rnd() * 2000),
      Math.floor(rnd() * 400_000), Math.floor(rnd() * 100_000),
    ]);
  }
  return rows;
}

describe('SQLite and Postgres rate alike', () => {
  it.runIf(BACKENDS.includes(postgresBackend))('a generated month of 50,000 receipts gives identical invoices', async () => {
    const rows = month(50_000, 20, 7);
    const outs: string[] = [];
    for (const backend of [sqliteBackend, postgresBackend]) {
      const s = await makeStore(await backend.fresh());
      const tenants = ['id,plan,timezone', ...Array.from({ length: 20 }, (_, i) => `t${i},${['free', 'pro', 'enterprise'][i % 3]},${['UTC', 'Europe/Berlin', 'Asia/Kolkata', 'America/New_York'][i % 4]}`)];
      await s.run(['tenant', 'import', s.file('t.csv', `${tenants.join('\n')}\n`)]);
      await s.run(['import', s.file('m.csv', csvOf(rows))]);
      const invoices: unknown[] = [];
      for (let i = 0; i < 20; i++) {
        invoices.push(jsonOf(await s.run(['invoice', 'preview', '--tenant', `t${i}`, '--period', '2026-10', '--format', 'json'])));
      }
      outs.push(JSON.stringify(invoices));
    }
    expect(outs[1]).toBe(outs[0]);
    expect(outs[0]).toContain('"billed"');
  }, 240_000);
});

describeEachBackend('imports in any split or order rate alike (property)', (backend) => {
  it('random splits and orders of the same receipts give the same invoice', async () => {
    const rows = month(400, 2, 11);
    const reference = await (async () => {
      const s = await makeStore(await backend.fresh());
      await s.run(['tenant', 'add', 't0', '--plan', 'free']);
      await s.run(['tenant', 'add', 't1', '--plan', 'pro', '--timezone', 'Asia/Kolkata']);
      await s.run(['import', s.file('all.csv', csvOf(rows))]);
      return Promise.all(['t0', 't1'].map(async (t) => (await s.run(['invoice', 'preview', '--tenant', t, '--period', '2026-10', '--format', 'json'])).stdout));
    })();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: rows.length, maxLength: rows.length }), fc.integer(), async (parts, seed) => {
        const s = await makeStore(await backend.fresh());
        await s.run(['tenant', 'add', 't0', '--plan', 'free']);
        await s.run(['tenant', 'add', 't1', '--plan', 'pro', '--timezone', 'Asia/Kolkata']);
        const files: (string | number)[][][] = [[], [], [], []];
        rows.forEach((r, i) => files[parts[i]!]!.push(r));
        const rnd = prng(seed);
        const order = [0, 1, 2, 3].sort(() => rnd() - 0.5);
        for (const f of order) {
          const shuffled = [...files[f]!].sort(() => rnd() - 0.5);
          // Some receipts twice: duplicates change nothing.
          await s.run(['import', s.file(`part${f}.csv`, csvOf([...shuffled, ...shuffled.slice(0, 3)]))]);
        }
        for (const [i, t] of ['t0', 't1'].entries()) {
          const got = (await s.run(['invoice', 'preview', '--tenant', t, '--period', '2026-10', '--format', 'json'])).stdout;
          expect(got).toBe(reference[i]);
        }
      }),
      { numRuns: backend.name === 'sqlite' ? 8 : 4 },
    );
  }, 240_000);
});

describeEachBackend('a tenant that moves timezone', (backend) => {
  it('regroups its rollups by the new local days, so periods and rating follow', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'm', '--plan', 'free']);
    // 2026-10-31T23:30Z is October in UTC and November in Berlin.
    await s.run(['import', s.file('m.csv', csvOf([['m1', 'm', '2026-10-31T23:30:00Z', 'completed', 'gemma-2b', '', 0, 42, 0]]))]);
    const oct = () => s.run(['usage', '--period', '2026-10', '--format', 'json']).then((r) => jsonOf<{ input_tokens: number }[]>(r));
    expect((await oct()).map((u) => u.input_tokens)).toEqual([42]);
    await s.run(['tenant', 'update', 'm', '--timezone', 'Europe/Berlin']);
    expect((await oct()).map((u) => u.input_tokens)).toEqual([0]);
    const nov = jsonOf<{ input_tokens: number }[]>(await s.run(['usage', '--period', '2026-11', '--format', 'json']));
    expect(nov.map((u) => u.input_tokens)).toEqual([42]);
  });
});

describeEachBackend('the usage cache', (backend) => {
  it('never serves a stale amount: new receipts, a plan change and a replaced catalog all show at once', async () => {
    const s = await makeStore(await backend.fresh());
    await s.run(['tenant', 'add', 'c', '--plan', 'free']);
    const amount = async () => jsonOf<{ rated_amount: string }[]>(await s.run(['usage', '--period', '2026-10', '--format', 'json']))[0]!.rated_amount;
    await s.run(['import', s.file('a.csv', csvOf([['a', 'c', '2026-10-02T00:00:00Z', 'completed', 'qwen-70b', '', 0, 1_500_000, 0]]))]);
    expect(await amount()).toBe('1.50'); // 500,000 tokens past the free million at 0.003
    expect(await amount()).toBe('1.50'); // from the cache
    await s.run(['import', s.file('b.csv', csvOf([['b', 'c', '2026-10-01T00:00:00Z', 'completed', 'qwen-70b', '', 0, 1000, 0]]))]);
    expect(await amount()).toBe('1.50'); // earlier receipt, same total billed tokens: 501,000 × 0.003 rounds the same
    await s.run(['import', s.file('c.csv', csvOf([['c', 'c', '2026-10-03T00:00:00Z', 'completed', 'qwen-70b', '', 0, 100_000, 0]]))]);
    expect(await amount()).toBe('1.80');
    await s.run(['tenant', 'set-plan', 'c', 'pro', '--from', '2026-10']);
    expect(await amount()).toBe('99.00');
    const doc = (await import('../helpers/fixtures.js')).sampleCatalogDoc() as Record<string, any>;
    doc.plans.pro.monthly_fee = '120';
    await s.run(['catalog', 'import', s.file('cat.json', JSON.stringify(doc)), '--replace']);
    expect(await amount()).toBe('120.00');
  });
});
