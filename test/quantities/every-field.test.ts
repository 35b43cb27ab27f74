/**
 * A table-driven test over every quantity of the field table (src/domain/quantities.ts), on every
 * backend: for each row, a receipt carrying that quantity alone (under its canonical name) is
 * imported and comes out where the row says it goes: stored in its column, summed in its rollup
 * column, compared as billing content (changing it is a conflict naming it), billed on its line
 * kind by rating, and written in the exports. Nothing here names a quantity: a new row of the
 * table is tested by this file without an edit.
 */
import { parse } from 'csv-parse/sync';
import { afterAll, expect, it } from 'vitest';
import { QUANTITIES, REPORTED_QUANTITIES } from '../../src/domain/quantities.js';
import { openStore } from '../../src/store/open.js';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { freshStore, write } from '../ingest/helpers.js';

afterAll(dropSchemas);

/** A catalog pricing every token class of qwen-70b and the GPU, so each line has a price. */
const CATALOG = `version: "2026-02"
effective_from: 2026-02-01T00:00:00Z
currency: USD
default_plan: payg
gpu_rates:
  a100-80gb: { price: "3.60", name: "A100 80GB" }
token_unit: 1000
token_rates:
  qwen-70b: { input: "0.003", output: "0.006", cached_input: "0.0003", cache_write: "0.00375", reasoning: "0.009", name: "Qwen-70B" }
request_rate: "0"
plans:
  payg: { name: "Pay as you go", monthly_fee: "0" }
`;

const N = 7200;

describeEachBackend('every quantity of the field table', (backend) => {
  it.each(QUANTITIES.map((q) => [q.name, q] as const))('%s: stored, summed, compared, rated and exported', async (_name, q) => {
    const s = await freshStore(backend);
    const dir = tempDir(`field-${q.name}`);
    expect((await s.run(['catalog', 'import', write(dir, 'c.yaml', CATALOG)])).code).toBe(0);
    const receipt: Record<string, unknown> = { id: 'r1', tenant_id: 't', timestamp: '2026-10-05T10:00:00Z', [q.name]: N };
    if (q.pool === 'tokens') receipt.model = 'qwen-70b';
    if (q.pool === 'gpu') receipt.gpu_type = 'a100-80gb';
    const imported = await s.run(['import', write(dir, 'r.jsonl', `${JSON.stringify(receipt)}\n`), '--format', 'json']);
    expect(imported.code, imported.stderr).toBe(0);

    // Stored in its column and summed in its rollup column; every other quantity 0.
    const store = await openStore(s.db);
    try {
      const [r] = await (async () => { const out = []; for await (const x of store.receipts('t', 0, 2e12)) out.push(x); return out; })();
      for (const o of QUANTITIES) expect([o.name, Number(r![o.prop])]).toEqual([o.name, o === q ? N : 0]);
      const roll = await store.rollups('t', 0, 100_000);
      for (const o of QUANTITIES) expect([o.name, roll.reduce((n, x) => n + x[o.prop], 0n)]).toEqual([o.name, o === q ? BigInt(N) : 0n]);
    } finally {
      await store.close();
    }

    // Billing content: the same again is a duplicate, the quantity changed a conflict naming it.
    const again = await s.run(['import', write(dir, 'r2.jsonl', `${JSON.stringify(receipt)}\n${JSON.stringify({ ...receipt, [q.name]: N + 1 })}\n`), '--format', 'json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ imported: 0, duplicates: 1, conflicts: 1 });
    expect(again.stderr).toContain(`(${q.name} ${N} -> ${N + 1})`);

    // Rating: a quantity with a line kind is billed on a line of that kind (GPU: kind gpu); one without (quantity) makes none.
    // (A period with no line at all has no invoice: its preview is null.)
    const inv = (JSON.parse((await s.run(['invoice', 'preview', '--tenant', 't', '--period', '2026-10', '--format', 'json'])).stdout) as { lines: { kind: string; used: number }[] } | null) ?? { lines: [] };
    const kind = q.line?.kind ?? (q.pool === 'gpu' ? 'gpu' : undefined);
    expect(inv.lines.filter((l) => l.kind !== 'requests').map((l) => [l.kind, l.used])).toEqual(kind === undefined ? [] : [[kind, N]]);

    // Exports: the receipts export has a column per quantity; the usage export one per reported quantity.
    const receipts = parse((await s.run(['export', 'receipts'])).stdout, { columns: true, bom: true }) as Record<string, string>[];
    for (const o of QUANTITIES) expect([o.name, receipts[0]![o.name]]).toEqual([o.name, String(o === q ? N : 0)]);
    const usage = parse((await s.run(['export', 'usage', '--period', '2026-10'])).stdout, { columns: true, bom: true }) as Record<string, string>[];
    for (const o of REPORTED_QUANTITIES) expect([o.name, usage[0]![o.name]]).toEqual([o.name, String(o === q ? N : 0)]);
  });
});
