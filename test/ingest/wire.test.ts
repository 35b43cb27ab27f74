/**
 * Parcels on the wire: what the reading side codes (dictionary codes, numbers, ids and costs) comes
 * back as the same rows, and the COPY text written from the codes as bytes is exactly the COPY text
 * of those rows, escapes, non-ASCII, negative and large numbers included. Rollup sums found by
 * codes equal the sums found by names, across dictionary resets.
 */
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { runPipeline } from '../../src/ingest/pipeline.js';
import { RollupAccumulator } from '../../src/ingest/rollups.js';
import { copyLine, DELTA, ParcelDecoder, type PipelineJob, type RollupDelta, type WireParcel } from '../../src/ingest/types.js';

const text = fc.oneof(
  fc.constantFrom('plain', 'a\tb', 'back\\slash', 'line\nbreak', 'cr\rx', 'ünïcödé', 'emoji😀', 'del\u007f', 'ctl\u0001x', '\\N'),
  fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }),
);

const record = fc.record({
  id: text,
  tenant_id: fc.constantFrom('t1', 't2', 'tenant-ü'),
  timestamp: fc.oneof(
    fc.integer({ min: -2_000_000_000, max: 4_000_000_000 }),
    fc.constantFrom('1969-12-31T23:59:59.5Z', '2026-10-03T10:00:00Z', '0001-01-01T00:00:00Z'),
  ),
  model: text,
  gpu_type: fc.option(text, { nil: undefined }),
  gpu_seconds: fc.nat(10_000),
  input_tokens: fc.oneof(fc.nat(1000), fc.constant(9_007_199_254_740_991)),
  output_tokens: fc.nat(1000),
  status: fc.option(text, { nil: undefined }),
  user_id: fc.option(text, { nil: undefined }),
  cost: fc.option(fc.constantFrom('0.1', '1.25e-7', '123456789012345678901.5', '0'), { nil: undefined }),
});

function job(parcelRecords: number, rollupKeys: number): PipelineJob {
  return {
    source: { path: '-', display: '-', format: 'jsonl', gzip: false }, batchId: 42, resume: { records: 0, line: 0, byte: 0 },
    seek: false, options: { assumeUtc: false, covenants: null, since: null, until: null }, tenants: [], emitRows: true,
    aggregates: true, sumFirstUnit: true, hash: false, unitRecords: 1_000_000, parcelRecords, rollupKeys, queue: 1_000_000,
  };
}

async function parcels(lines: string[], parcelRecords: number, rollupKeys = 16_384): Promise<WireParcel[]> {
  const out: WireParcel[] = [];
  await runPipeline(job(parcelRecords, rollupKeys), Readable.from([Buffer.from(lines.join('\n'))]), (p) => {
    out.push(p);
  });
  return out;
}

const byKey = (ds: RollupDelta[]) => new Map(ds.map((d) => [`${d[0]}|${d[1]}|${d[2]}|${d[3]}`, d.slice(4).map(String)]));

it('COPY text written from codes is exactly the COPY text of the decoded rows', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 7 }), async (recs, size) => {
      const wire = await parcels(recs.map((r) => JSON.stringify(r)), size);
      const decoder = new ParcelDecoder(42);
      let rows = 0;
      for (const w of wire) {
        const p = decoder.decode(w);
        const want = p.rows.map(copyLine).join('');
        expect(p.copyText().toString('utf8')).toBe(want);
        expect(p.copyText()).toBe(p.copyText()); // made once
        rows += p.rows.length;
      }
      expect(rows + wire.reduce((n, w) => n + w.rejects.length, 0)).toBe(recs.length);
    }),
    { numRuns: 300 },
  );
});

it('rollup sums found by codes equal the sums by names, also across a dictionary reset and sent in pieces', async () => {
  // Enough distinct user ids to pass the dictionary's limit (65,536 entries) within one unit.
  const lines: string[] = [];
  for (let i = 0; i < 70_000; i++) {
    lines.push(JSON.stringify({
      id: `r${i}`, tenant_id: `t${i % 7}`, timestamp: 1_780_000_000 + i * 97, model: `m${i % 5}`, gpu_type: i % 3 ? 'A100' : undefined,
      gpu_seconds: i % 3 ? i % 50 : 0, input_tokens: i % 11, output_tokens: i % 13, user_id: `user-${i}`, cost: `${i % 9}.${i % 100}`,
    }));
  }
  // At most 1,000 keys summed before they are sent on: many parcels carry a piece.
  const wire = await parcels(lines, 2048, 1000);
  expect(wire.some((w, i) => i > 0 && w.dictReset)).toBe(true);
  expect(wire.filter((w) => w.rollups).length).toBeGreaterThan(3);
  const pieces = new RollupAccumulator();
  for (const w of wire) for (const d of w.rollups ?? []) pieces.addDelta(d);
  const sums = pieces.deltas();
  const decoder = new ParcelDecoder(1);
  const byNames = new RollupAccumulator();
  for (const w of wire) {
    const p = decoder.decode(w);
    p.rows.forEach((row, i) => byNames.add(row, p.days[i]!));
  }
  expect(byKey(sums)).toEqual(byKey(byNames.deltas()));
  expect(sums.reduce((n, d) => n + Number(d[DELTA.receipts]), 0)).toBe(70_000);
});
