/** What rating reads from imports: receipts in (ts, id) byte order, daily rollups, rebuilt on a timezone change. */
import { addSums, zeroSums } from '../../src/domain/quantities.js';
import { afterAll, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.js';
import { dayNumberOf, localDayNumber } from '../../src/domain/period.js';
import { compareReceipts, type Receipt } from '../../src/domain/receipt.js';
import { openStore } from '../../src/store/open.js';
import type { RollupRow } from '../../src/store/ingest.js';
import { describeEachBackend, dropSchemas, tempDir } from '../helpers/backends.js';
import { freshStore, write } from '../ingest/helpers.js';
import { spawnCli } from '../helpers/cli.js';
import type { SqlStore } from '../../src/store/sql-store.js';

afterAll(dropSchemas);

const line = (o: Record<string, unknown>) => `${JSON.stringify(o)}\n`;

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Rollups recomputed by hand from receipts, as the store should hold them. */
function expectedRollups(receipts: Receipt[], tz: string): Omit<RollupRow, 'reportedCost'> & { reportedCost: string }[] {
  const m = new Map<string, RollupRow>();
  for (const r of receipts) {
    const day = localDayNumber(tz, r.ts);
    const key = `${day}|${r.modelKey ?? ''}|${r.gpuKey ?? ''}`;
    let a = m.get(key);
    if (!a) {
      a = { day, modelKey: r.modelKey, gpuKey: r.gpuKey, receipts: 0n, requests: 0n, ...zeroSums(), reportedCost: Decimal.ZERO, unsplit: 0n };
      m.set(key, a);
    }
    a.receipts++;
    if (r.unsplit) a.unsplit++;
    if (r.billable) {
      a.requests++;
      addSums(a, r);
      if (r.reportedCost) a.reportedCost = a.reportedCost.add(Decimal.parse(r.reportedCost));
    }
  }
  return [...m.values()]
    .sort((x, y) => x.day - y.day || (x.modelKey ?? '').localeCompare(y.modelKey ?? '') || (x.gpuKey ?? '').localeCompare(y.gpuKey ?? ''))
    .map((r) => ({ ...r, reportedCost: r.reportedCost.normalize().toString() })) as never;
}

const plain = (rows: RollupRow[]) => rows.map((r) => ({ ...r, reportedCost: r.reportedCost.toString() }));

describeEachBackend('receipts and rollups for rating', (backend) => {
  it('reads a tenant\'s receipts between two instants by timestamp, then id in byte order, a page at a time', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('order');
    const ids = ['b', 'B', 'a', 'é', 'z', 'Z', '10', '9', 'ä', '😀', 'ｚ', 'a-1', 'a_1'];
    let text = '';
    ids.forEach((id, k) => {
      for (const ts of ['2026-10-01T00:00:00Z', '2026-10-01T00:00:00.001Z', '2026-09-30T23:59:59.999Z', '2026-11-01T00:00:00Z']) {
        text += line({ id: `${id}@${ts}`, tenant_id: 't', timestamp: ts, model: 'm', input_tokens: k, status: k % 3 === 0 ? 'failed' : 'ok' });
      }
    });
    text += line({ id: 'other', tenant_id: 'u', timestamp: '2026-10-05T00:00:00Z' });
    expect((await s.run(['import', write(dir, 'r.jsonl', text)])).code).toBe(0);
    const store = await openStore(s.db);
    try {
      const from = Date.UTC(2026, 9, 1);
      const to = Date.UTC(2026, 10, 1);
      for (const pageSize of [1, 3, 5000]) {
        const got = await all(store.receipts('t', from, to, { pageSize }));
        expect(got).toHaveLength(ids.length * 2);
        const sorted = [...got].sort(compareReceipts);
        expect(got.map((r) => r.id)).toEqual(sorted.map((r) => r.id));
        expect(got.every((r) => r.ts >= from && r.ts < to && r.tenantId === 't')).toBe(true);
        // byte order of the whole id ("a-1@…" < "a@…" < "a_1@…"): 'B' < 'Z' < 'a' < 'z' < 'ä' < 'é' < 'ｚ' < '😀'
        const firstInstant = got.filter((r) => r.ts === from).map((r) => r.id.split('@')[0]);
        expect(firstInstant).toEqual(['10', '9', 'B', 'Z', 'a-1', 'a', 'a_1', 'b', 'z', 'ä', 'é', 'ｚ', '😀']);
      }
      const billable = await all(store.receipts('t', from, to, { billableOnly: true, pageSize: 2 }));
      expect(billable.every((r) => r.billable)).toBe(true);
      expect(billable).toHaveLength(16);
    } finally {
      await store.close();
    }
  });

  it('keeps rollups per tenant, local day and key, exact, and rebuilds them for a new timezone', async () => {
    const s = await freshStore(backend);
    const dir = tempDir('rollups');
    let text = '';
    const costs = ['0.10', '0.2', '1e-3', '0.30', '7'];
    for (let k = 0; k < 40; k++) {
      const ts = Date.UTC(2026, 2, 28, 20) + k * 47 * 60_000; // across the Berlin DST change and midnights
      text += line({
        id: `r${k}`, tenant_id: 'acme', timestamp: new Date(ts).toISOString(), status: k % 7 === 0 ? 'error' : 'completed',
        cost_data: { inference: { model: k % 2 ? 'Qwen-70B' : 'gemma-2b', input_tokens: 1000 + k, output_tokens: k }, total_usd: costs[k % 5] },
        ...(k % 3 === 0 ? { gpu_type: 'A100 80GB', gpu_seconds: 60 * k } : {}),
        ...(k % 11 === 0 ? { tokens_processed: 5, cost_data: undefined, model: 'gemma-2b' } : {}),
      });
    }
    expect((await s.run(['import', write(dir, 'r.jsonl', text)])).code).toBe(0);
    const store = await openStore(s.db);
    try {
      const receipts = await all(store.receipts('acme', 0, Date.UTC(2100, 0, 1)));
      const first = dayNumberOf('2026-03-01');
      const last = dayNumberOf('2026-04-30');
      expect(plain(await store.rollups('acme', first, last))).toEqual(expectedRollups(receipts, 'UTC'));
      await store.transaction(async () => {
        await store.updateTenant('acme', { timezone: 'Europe/Berlin' }, '2026-11-01T00:00:00.000Z');
        await store.rebuildRollups('acme', 'Europe/Berlin');
      });
      expect(plain(await store.rollups('acme', first, last))).toEqual(expectedRollups(receipts, 'Europe/Berlin'));
      await store.rebuildRollups('acme', 'Asia/Kathmandu');
      expect(plain(await store.rollups('acme', first, last))).toEqual(expectedRollups(receipts, 'Asia/Kathmandu'));
      const oneDay = await store.rollups('acme', dayNumberOf('2026-03-29'), dayNumberOf('2026-03-29'));
      expect(oneDay.every((r) => r.day === dayNumberOf('2026-03-29'))).toBe(true);
      expect(await store.rollups('nobody', first, last)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('imports into a tenant in its own timezone: rollup days are its local days', async () => {
    const s = await freshStore(backend);
    expect((await s.run(['tenant', 'add', 'berlin', '--timezone', 'Europe/Berlin'])).code).toBe(0);
    const dir = tempDir('tz');
    const text = line({ id: 'late', tenant_id: 'berlin', timestamp: '2026-10-31T23:30:00Z', model: 'm', input_tokens: 3 });
    expect((await s.run(['import', write(dir, 'r.jsonl', text)])).code).toBe(0);
    const store = await openStore(s.db);
    try {
      const rows = await store.rollups('berlin', 0, 100_000);
      expect(rows.map((r) => [r.day, r.inputTokens])).toEqual([[dayNumberOf('2026-11-01'), 3n]]);
    } finally {
      await store.close();
    }
  });
});

describeEachBackend('a timezone that changes while receipts are imported', (backend) => {
  it('gives later units the new local days (the rollups match the receipts either way)', async () => {
    const s = await freshStore(backend);
    expect((await s.run(['tenant', 'add', 'mover'])).code).toBe(0);
    const dir = tempDir('tzmove');
    let text = '';
    for (let k = 0; k < 400; k++) {
      text += line({ id: `m${k}`, tenant_id: 'mover', timestamp: new Date(Date.UTC(2026, 9, 31, 20) + k * 60_000).toISOString(), model: 'm', input_tokens: 1 });
    }
    const file = write(dir, 'r.jsonl', text);
    // A real process imports in small units; once some are committed, this one moves the tenant to
    // Berlin the way `tenant update --timezone` does (update, then rebuild, in one transaction).
    const importing = spawnCli(['import', file, '--db', s.db, '--format', 'json'], { env: { BILLCTL_IMPORT_UNIT: '7', BILLCTL_IMPORT_PARCEL: '7' } });
    const other = (await openStore(s.db)) as SqlStore;
    let during = false;
    for (let i = 0; i < 2000; i++) {
      const [row] = await other.db.all<{ n: unknown }>('SELECT COUNT(*) AS n FROM receipts');
      const n = Number(row?.n ?? 0);
      if (n > 0) {
        during = n < 400;
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await other.transaction(async () => {
      await other.updateTenant('mover', { timezone: 'Europe/Berlin' }, '2026-11-01T00:00:00.000Z');
      await other.rebuildRollups('mover', 'Europe/Berlin');
    });
    await other.close();
    const r = await importing;
    expect(r.code, r.stderr).toBe(0);
    const store = await openStore(s.db);
    try {
      const receipts = await all(store.receipts('mover', 0, Date.UTC(2100, 0, 1)));
      expect(receipts).toHaveLength(400);
      expect(plain(await store.rollups('mover', 0, 100_000))).toEqual(expectedRollups(receipts, 'Europe/Berlin'));
      if (!during) process.stderr.write('[notice] the import finished before the timezone moved; the race was not exercised\n');
    } finally {
      await store.close();
    }
  });
});
