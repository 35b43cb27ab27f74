/**
 * Property: random receipts (with duplicates and conflicts), split into random files, imported in
 * random order over one or more runs, leave the store a model says: the first version of each
 * identity, rollups summed from exactly those, and the right counts. Without conflicts, every split
 * and order leaves the very same store as one file.
 */
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { dumpStore, freshStore, summaryOf, write, type StoreDump } from './helpers.js';

afterAll(dropSchemas);

interface Rec {
  id: string;
  tenant_id: string;
  timestamp: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  status: string;
  user_id: string;
  cost: string;
}

const content = (r: Rec) =>
  [Date.parse(r.timestamp), ['failed', 'Error'].includes(r.status) ? 0 : 1, r.model.toLowerCase(), r.input_tokens, r.output_tokens].join('|');

const recArb: fc.Arbitrary<Rec> = fc.record({
  id: fc.constantFrom('r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'é7', 'R8'),
  tenant_id: fc.constantFrom('t1', 't2'),
  timestamp: fc.constantFrom('2026-10-03T10:00:00Z', '2026-10-03T23:59:59.999Z', '2026-10-04T00:00:00Z'),
  model: fc.constantFrom('Qwen-70B', 'qwen-70b', 'gemma-2b'),
  input_tokens: fc.integer({ min: 0, max: 3 }),
  output_tokens: fc.integer({ min: 0, max: 2 }),
  status: fc.constantFrom('completed', 'COMPLETED', 'failed', 'Error'),
  user_id: fc.constantFrom('u1', 'u2'),
  cost: fc.constantFrom('0.1', '0.10', '2', '0.005'),
});

/** What the store should hold after importing `order` (records in import order). */
function model(order: Rec[]) {
  const stored = new Map<string, Rec>();
  let duplicates = 0;
  let conflicts = 0;
  for (const r of order) {
    const key = `${r.tenant_id}\u0000${r.id}`;
    const s = stored.get(key);
    if (!s) stored.set(key, r);
    else if (content(s) === content(r)) duplicates++;
    else conflicts++;
  }
  return { stored, duplicates, conflicts, imported: stored.size };
}

function expectedDump(stored: Map<string, Rec>, actual: StoreDump): void {
  const want = [...stored.values()]
    .map((r) => ({ tenant_id: r.tenant_id, id: r.id, ts: Date.parse(r.timestamp), model_key: r.model.toLowerCase(), input_tokens: r.input_tokens, output_tokens: r.output_tokens, user_id: r.user_id, reported_cost: r.cost }))
    .sort((a, b) => (a.tenant_id === b.tenant_id ? Buffer.compare(Buffer.from(a.id), Buffer.from(b.id)) : a.tenant_id < b.tenant_id ? -1 : 1));
  expect(actual.receipts.map((r) => ({ tenant_id: r.tenant_id, id: r.id, ts: r.ts, model_key: r.model_key, input_tokens: r.input_tokens, output_tokens: r.output_tokens, user_id: r.user_id, reported_cost: r.reported_cost }))).toEqual(want);
  // rollups: sums over the stored receipts (billable quantities only), by UTC day and model key
  const sums = new Map<string, { receipts: number; requests: number; input: number; output: number; cost: number }>();
  for (const r of stored.values()) {
    const day = Math.floor(Date.parse(r.timestamp) / 86_400_000);
    const key = `${r.tenant_id}|${day}|${r.model.toLowerCase()}`;
    const a = sums.get(key) ?? { receipts: 0, requests: 0, input: 0, output: 0, cost: 0 };
    const billable = !['failed', 'error'].includes(r.status.toLowerCase());
    a.receipts++;
    if (billable) {
      a.requests++;
      a.input += r.input_tokens;
      a.output += r.output_tokens;
      a.cost += Math.round(Number(r.cost) * 1000); // test-side check in thousandths, exact for these values
    }
    sums.set(key, a);
  }
  const got = new Map(
    actual.rollups.map((r) => [
      `${r.tenant_id}|${r.day}|${r.model_key}`,
      { receipts: r.receipts, requests: r.requests, input: r.input_tokens, output: r.output_tokens, cost: Math.round(Number(r.reported_cost) * 1000) },
    ]),
  );
  expect(Object.fromEntries(got)).toEqual(Object.fromEntries(sums));
  for (const r of actual.rollups) expect(String(r.reported_cost)).not.toMatch(/\.\d*0$/); // canonical: no trailing zeros
}

describeEachBackend('imports in any split and order (property)', (backend) => {
  it('leave the store the model says, with the right counts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(recArb, { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { minLength: 30, maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        async (recs, cuts, nFiles, nRuns, shuffle, unit, parcel, rollupKeys) => {
          // Rollup sums travel and are written in pieces of at most rollupKeys keys (many tenants).
          const env = { BILLCTL_IMPORT_UNIT: String(unit), BILLCTL_IMPORT_PARCEL: String(parcel), BILLCTL_ROLLUP_KEYS: String(rollupKeys) };
          // split into files (each file's bytes unique: k blank lines first), then order the files
          const files: Rec[][] = Array.from({ length: nFiles }, () => []);
          recs.forEach((r, i) => files[cuts[i]! % nFiles]!.push(r));
          const order = files.map((_, k) => k).sort((a, b) => (shuffle[a]! % 7) - (shuffle[b]! % 7) || a - b);
          const s = await freshStore(backend);
          const dir = tempDir('prop');
          const paths = order.map((k) =>
            write(dir, `f${k}.jsonl`, '\n'.repeat(k) + files[k]!.map((r) => `${JSON.stringify(r)}\n`).join('')),
          );
          const totals = { imported: 0, duplicates: 0, conflicts: 0, lines: 0 };
          const perRun = Math.ceil(paths.length / nRuns);
          for (let i = 0; i < paths.length; i += perRun) {
            const r = await s.run(['import', ...paths.slice(i, i + perRun), '--format', 'json'], { env });
            const sum = summaryOf(r);
            expect(r.code).toBe(sum.conflicts > 0 ? 3 : 0);
            for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += sum[k];
          }
          const m = model(order.flatMap((k) => files[k]!));
          expect(totals).toEqual({ imported: m.imported, duplicates: m.duplicates, conflicts: m.conflicts, lines: recs.length });
          expectedDump(m.stored, await dumpStore(s.db));
        },
      ),
      { numRuns: backend.name === 'sqlite' ? 25 : 8 },
    );
  }, 300_000);

  it('without conflicts: any split and order gives the very same store as one file', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(recArb, { minLength: 1, maxLength: 25, selector: (r) => `${r.tenant_id}|${r.id}` }),
        fc.array(fc.nat({ max: 2 }), { minLength: 25, maxLength: 25 }),
        fc.array(fc.nat(), { minLength: 25, maxLength: 25 }),
        async (unique, dupMask, cuts) => {
          // duplicates: some records again, with a different status case or user (not billing content)
          const recs = [...unique];
          unique.forEach((r, i) => {
            for (let d = 0; d < dupMask[i]!; d++) recs.push({ ...r, user_id: d ? 'other' : r.user_id, status: d ? r.status.toUpperCase() : r.status });
          });
          const one = await freshStore(backend);
          const dir = tempDir('prop1');
          await one.run(['import', write(dir, 'all.jsonl', recs.map((r) => JSON.stringify(r)).join('\n'))]);
          const split = await freshStore(backend);
          const parts: string[][] = [[], [], []];
          recs.forEach((r, i) => parts[(cuts[i % cuts.length]! + i) % 3]!.push(JSON.stringify(r)));
          const files = parts.map((p, k) => write(dir, `p${k}.jsonl`, `${'\n'.repeat(k)}${p.reverse().join('\n')}`));
          const r = await split.run(['import', files[2]!, files[0]!, files[1]!, '--format', 'json']);
          expect(summaryOf(r)).toMatchObject({ imported: unique.length, duplicates: recs.length - unique.length, conflicts: 0 });
          const a = await dumpStore(one.db);
          const b = await dumpStore(split.db);
          // the first-seen copy of a duplicate may differ in status case and user; billing content is equal
          const strip = (d: StoreDump) => ({ ...d, receipts: d.receipts.map(({ status: _s, user_id: _u, ...rest }) => rest) });
          expect(strip(b)).toEqual(strip(a));
        },
      ),
      { numRuns: backend.name === 'sqlite' ? 15 : 6 },
    );
  }, 300_000);
});
