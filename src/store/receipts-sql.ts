/**
 * Reading receipts and rollups back (what rating needs), and rebuilding a tenant's rollups when
 * its timezone changes. SQL shared by both databases; the few differences are marked.
 */
import { Decimal } from '../domain/money.js';
import { localDayNumber, tzOffset } from '../domain/period.js';
import type { Receipt } from '../domain/receipt.js';
import { formatInstant } from '../domain/time.js';
import { QUANTITIES, QUANTITY_COUNT } from '../domain/quantities.js';
import { DELTA, ROLLUP_COLUMNS, ROW, rowQuantity, type ReceiptRow, type RollupDelta } from '../ingest/types.js';
import type { ReceiptQuery, ReceiptVersion, RollupRow } from './ingest.js';
import type { DialectAdapter } from './dialect-adapter.js';
import { toBigInt, toNumber, toStringOrNull, type Row, type SqlDriver, type SqlValue } from './sql.js';

export function receiptFromRow(r: Row): Receipt {
  const x: Receipt = {
    tenantId: String(r.tenant_id),
    id: String(r.id),
    ts: toNumber(r.ts),
    billable: toNumber(r.billable) === 1,
    status: toStringOrNull(r.status),
    userId: toStringOrNull(r.user_id),
    projectId: toStringOrNull(r.project_id),
    provider: toStringOrNull(r.provider),
    model: toStringOrNull(r.model),
    modelKey: toStringOrNull(r.model_key),
    gpuType: toStringOrNull(r.gpu_type),
    gpuKey: toStringOrNull(r.gpu_key),
    eventType: toStringOrNull(r.event_type),
    reportedCost: toStringOrNull(r.reported_cost),
    unsplit: toNumber(r.unsplit) === 1,
    gpuSeconds: 0,
    inputTokens: 0,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
    quantity: 0,
  };
  for (const q of QUANTITIES) x[q.prop] = toNumber(r[q.column]);
  return x;
}

export function versionFromRow(r: Row): ReceiptVersion {
  const v = {
    timestamp: formatInstant(toNumber(r.ts)),
    billable: toNumber(r.billable) === 1,
    status: toStringOrNull(r.status),
    model: toStringOrNull(r.model),
    model_key: toStringOrNull(r.model_key),
    gpu_type: toStringOrNull(r.gpu_type),
    gpu_key: toStringOrNull(r.gpu_key),
    event_type: toStringOrNull(r.event_type),
  } as ReceiptVersion;
  for (const q of QUANTITIES) v[q.name] = toNumber(r[q.column]);
  v.user_id = toStringOrNull(r.user_id);
  v.reported_cost = toStringOrNull(r.reported_cost);
  v.batch_id = toNumber(r.batch_id);
  return v;
}

export function versionFromReceiptRow(x: ReceiptRow): ReceiptVersion {
  const v = {
    timestamp: formatInstant(x[ROW.ts]),
    billable: x[ROW.billable] === 1,
    status: x[ROW.status],
    model: x[ROW.model],
    model_key: x[ROW.modelKey],
    gpu_type: x[ROW.gpuType],
    gpu_key: x[ROW.gpuKey],
    event_type: x[ROW.eventType],
  } as ReceiptVersion;
  QUANTITIES.forEach((q, i) => (v[q.name] = rowQuantity(x, i)));
  v.user_id = x[ROW.userId];
  v.reported_cost = x[ROW.reportedCost];
  v.batch_id = x[ROW.batchId];
  return v;
}

/** The billing content's fields (receipts.md): two versions with equal values here are duplicates. */
const CONTENT_FIELDS: readonly (keyof ReceiptVersion)[] = [
  'timestamp', 'billable', 'model_key', 'gpu_key', ...QUANTITIES.map((q) => q.name), 'event_type',
];

/** Which parts of the billing content differ, in words: `input_tokens 1800 -> 1900`. */
export function contentDifference(stored: ReceiptVersion, incoming: ReceiptVersion): string {
  const parts: string[] = [];
  for (const f of CONTENT_FIELDS) {
    if (stored[f] !== incoming[f]) parts.push(`${f} ${String(stored[f] ?? 'none')} -> ${String(incoming[f] ?? 'none')}`);
  }
  return parts.join(', ');
}

/** The billing content of a stored receipt and of a row, comparable as text (same text: duplicates). */
export function storedContent(r: Row): string {
  let t = `${toNumber(r.ts)}|${toNumber(r.billable)}|${String(r.model_key ?? '')}|${String(r.gpu_key ?? '')}|${String(r.event_type ?? '')}`;
  for (const q of QUANTITIES) t += `|${toNumber(r[q.column])}`;
  return t;
}

export function rowContent(x: ReceiptRow): string {
  let t = `${x[ROW.ts]}|${x[ROW.billable]}|${x[ROW.modelKey] ?? ''}|${x[ROW.gpuKey] ?? ''}|${x[ROW.eventType] ?? ''}`;
  for (let i = 0; i < QUANTITY_COUNT; i++) t += `|${rowQuantity(x, i)}`;
  return t;
}

/** 1 when the stored receipt has the same billing content, 0 when it differs; parameters from sameContentParams. */
export const SAME_CONTENT_SQL = `SELECT ts = ? AND billable = ? AND model_key IS ? AND gpu_key IS ? AND event_type IS ?
  AND ${QUANTITIES.map((q) => `${q.column} = ?`).join(' AND ')} FROM receipts WHERE tenant_id = ? AND id = ?`;

export function sameContentParams(x: ReceiptRow): SqlValue[] {
  const p: SqlValue[] = [x[ROW.ts], x[ROW.billable], x[ROW.modelKey], x[ROW.gpuKey], x[ROW.eventType]];
  for (let i = 0; i < QUANTITY_COUNT; i++) p.push(rowQuantity(x, i));
  p.push(x[ROW.tenantId], x[ROW.id]);
  return p;
}

/** The reason recorded for a conflict. */
export function conflictReason(tenantId: string, id: string, stored: ReceiptVersion, incoming: ReceiptVersion): string {
  return (
    `conflict: receipt ${JSON.stringify(id)} of tenant ${JSON.stringify(tenantId)} is already stored (batch ${stored.batch_id}) ` +
    `with other billing content (${contentDifference(stored, incoming)}); the stored one stays`
  );
}

/**
 * A tenant's receipts with from <= ts < to, ordered by timestamp then id in byte order, fetched
 * a page at a time (keyset pagination on the (tenant_id, ts, id) index), so memory stays flat.
 */
export async function* receiptsInRange(
  db: SqlDriver,
  tenantId: string,
  from: number,
  to: number,
  q: ReceiptQuery = {},
): AsyncGenerator<Receipt> {
  const page = q.pageSize ?? 5000;
  const billable = q.billableOnly ? ' AND billable = 1' : '';
  let after: { ts: number; id: string } | undefined;
  for (;;) {
    const rows = after
      ? await db.all<Row>(
          `SELECT * FROM receipts WHERE tenant_id = ? AND ts < ?${billable} AND (ts > ? OR (ts = ? AND id > ?))
           ORDER BY ts, id LIMIT ?`,
          [tenantId, to, after.ts, after.ts, after.id, page],
        )
      : await db.all<Row>(
          `SELECT * FROM receipts WHERE tenant_id = ? AND ts >= ? AND ts < ?${billable} ORDER BY ts, id LIMIT ?`,
          [tenantId, from, to, page],
        );
    for (const r of rows) yield receiptFromRow(r);
    if (rows.length < page) return;
    const last = rows[rows.length - 1]!;
    after = { ts: toNumber(last.ts), id: String(last.id) };
  }
}

export async function rollupRows(db: SqlDriver, tenantId: string, firstDay: number, lastDay: number): Promise<RollupRow[]> {
  const rows = await db.all<Row>(
    `SELECT * FROM receipt_rollups WHERE tenant_id = ? AND day >= ? AND day <= ? ORDER BY day, model_key, gpu_key`,
    [tenantId, firstDay, lastDay],
  );
  return rows.map((r) => {
    const x = {
      day: toNumber(r.day),
      modelKey: r.model_key === '' ? null : String(r.model_key),
      gpuKey: r.gpu_key === '' ? null : String(r.gpu_key),
      receipts: toBigInt(r.receipts),
      requests: toBigInt(r.requests),
      reportedCost: Decimal.parse(String(r.reported_cost)),
      unsplit: toBigInt(r.unsplit),
    } as RollupRow;
    for (const q of QUANTITIES) x[q.prop] = toBigInt(r[q.column]);
    return x;
  });
}

/**
 * The sum of a quantity over rows, exact at any size: Postgres sums bigints as numeric; SQLite's
 * SUM() fails past 2^63 − 1, so its sums go through billctl_int_sum (sqlite/functions.ts).
 */
export function quantitySum(dialect: DialectAdapter, expr: string): string {
  return dialect.quantitySum(expr);
}

/** a + b of two quantity sums, exact at any size (SQLite's `+` turns to an inexact float past 2^63 − 1). */
function quantityAdd(dialect: DialectAdapter, a: string, b: string): string {
  return dialect.quantityAdd(a, b);
}

/** The rollup columns that sum quantities: exact at any size (migrations 12 and 16). */
export const ROLLUP_QUANTITIES: readonly string[] = QUANTITIES.map((q) => q.column);

/**
 * Drops rollups that came to no receipts (an import writes the sums of what it read and then
 * takes out what it did not import; every sum of a rollup without receipts is 0). The partial
 * index receipt_rollups_empty finds them.
 */
export const DELETE_EMPTY_ROLLUPS = 'DELETE FROM receipt_rollups WHERE receipts = 0';

/** Adds rollup sums to what is stored (a key not yet there is inserted). */
export function rollupUpsertSql(dialect: DialectAdapter): string {
  const cost = dialect.decimalAdd('receipt_rollups.reported_cost', 'excluded.reported_cost');
  const quantities = ROLLUP_QUANTITIES.map((c) => `${c} = ${quantityAdd(dialect, `receipt_rollups.${c}`, `excluded.${c}`)}`);
  return `INSERT INTO receipt_rollups (${ROLLUP_COLUMNS.join(', ')})
    VALUES (${ROLLUP_COLUMNS.map(() => '?').join(', ')})
    ON CONFLICT (tenant_id, day, model_key, gpu_key) DO UPDATE SET
      receipts = receipt_rollups.receipts + excluded.receipts,
      requests = receipt_rollups.requests + excluded.requests,
      ${quantities.join(',\n      ')},
      reported_cost = ${cost},
      unsplit = receipt_rollups.unsplit + excluded.unsplit`;
}

const BUCKET = 15 * 60_000;
const WINDOW = 31 * 86_400_000;

/**
 * Recomputes a tenant's rollups from its receipts, with local days in `timezone`. Receipts are
 * summed in SQL per quarter hour of UTC (a zone's offset is constant within one; a quarter hour
 * where it is not is summed receipt by receipt), and each quarter hour goes to its local day.
 */
export async function rebuildTenantRollups(db: SqlDriver, tenantId: string, timezone: string): Promise<void> {
  const cost = db.dialect.decimalSum('CASE WHEN billable = 1 THEN reported_cost END');
  const quantities = ROLLUP_QUANTITIES.map((c) => `${quantitySum(db.dialect, `CASE WHEN billable = 1 THEN ${c} ELSE 0 END`)} AS ${c}`);
  const sums = `count(*) AS receipts, sum(billable) AS requests, ${quantities.join(', ')},
      ${cost} AS reported_cost, sum(unsplit) AS unsplit`;
  const upsert = rollupUpsertSql(db.dialect);
  await db.transaction(async () => {
    await db.run('DELETE FROM receipt_rollups WHERE tenant_id = ?', [tenantId]);
    const span = await db.get<Row>('SELECT MIN(ts) AS lo, MAX(ts) AS hi FROM receipts WHERE tenant_id = ?', [tenantId]);
    if (!span || span.lo === null || span.lo === undefined) return;
    const lo = toNumber(span.lo);
    const hi = toNumber(span.hi);
    for (let start = lo - (lo % BUCKET); start <= hi; start += WINDOW) {
      const acc = new Map<string, RollupDelta>();
      const addTo = (day: number, r: Row) => {
        const mk = String(r.model_key ?? '');
        const gk = String(r.gpu_key ?? '');
        const key = `${day}\u0000${mk}\u0000${gk}`;
        const prev = acc.get(key);
        const cur: RollupDelta = [
          tenantId, day, mk, gk, toBigInt(r.receipts), toBigInt(r.requests), String(r.reported_cost ?? '0'), toBigInt(r.unsplit),
          ...QUANTITIES.map((q) => toBigInt(r[q.column])),
        ];
        if (!prev) {
          acc.set(key, cur);
          return;
        }
        for (let i: number = DELTA.receipts; i < cur.length; i++) {
          if (i !== DELTA.reportedCost) prev[i] = BigInt(prev[i] as number | bigint) + BigInt(cur[i] as number | bigint);
        }
        prev[DELTA.reportedCost] = Decimal.parse(prev[DELTA.reportedCost]).add(Decimal.parse(cur[DELTA.reportedCost])).normalize().toString();
      };
      const grouped = await db.all<Row>(
        `SELECT ts - ((ts % ${BUCKET}) + ${BUCKET}) % ${BUCKET} AS bucket, model_key, gpu_key, ${sums}
         FROM receipts WHERE tenant_id = ? AND ts >= ? AND ts < ?
         GROUP BY ts - ((ts % ${BUCKET}) + ${BUCKET}) % ${BUCKET}, model_key, gpu_key`,
        [tenantId, start, start + WINDOW],
      );
      const uneven = new Set<number>();
      for (const r of grouped) {
        const b = toNumber(r.bucket);
        if (tzOffset(timezone, b) === tzOffset(timezone, b + BUCKET - 1)) addTo(localDayNumber(timezone, b), r);
        else uneven.add(b);
      }
      for (const b of uneven) {
        const single = await db.all<Row>(
          `SELECT ts, model_key, gpu_key, 1 AS receipts, billable AS requests,
             ${ROLLUP_QUANTITIES.map((c) => `CASE WHEN billable = 1 THEN ${c} ELSE 0 END AS ${c}`).join(',\n             ')},
             CASE WHEN billable = 1 THEN reported_cost END AS reported_cost, unsplit
           FROM receipts WHERE tenant_id = ? AND ts >= ? AND ts < ?`,
          [tenantId, b, b + BUCKET],
        );
        for (const r of single) addTo(localDayNumber(timezone, toNumber(r.ts)), r);
      }
      for (const d of acc.values()) await db.run(upsert, rollupParams(d, db.dialect));
    }
  });
}

/**
 * A rollup delta as statement parameters: sums as numbers while exact, beyond 2^53 as SQLite
 * keeps them (an integer up to 64 bits, then decimal text) or as text for Postgres's numeric.
 */
export function rollupParams(d: RollupDelta, dialect: DialectAdapter): SqlValue[] {
  return d.map((v) => (typeof v !== 'bigint' ? v : dialect.quantityParam(v)));
}
