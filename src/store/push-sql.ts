/**
 * What the Stripe push reads from receipts: a tenant's billable usage summed per UTC bucket, split
 * at `until` (receipts before it are pushed now; the rest wait for a later run). One scan of the
 * tenant's receipts through the (tenant_id, ts, id) index; the SQL runs unchanged on SQLite and
 * Postgres (integer division truncates on both; the bucket size is a literal from a closed set).
 */
import { meterColumn } from '../config.js';
import { METER_KEYS, type MeterKey } from '../stripe/client.js';
import { quantitySum } from './receipts-sql.js';
import { toBigInt, toNumber, type Row, type SqlDriver } from './sql.js';

export type MeterAmounts = Record<MeterKey, bigint>;

export interface BucketUsage {
  /** Start of the UTC bucket, ms. */
  bucketStart: number;
  /** Billable usage of receipts with ts < until. */
  due: MeterAmounts;
  /** Billable usage of receipts with ts >= until: left for a later run. */
  later: MeterAmounts;
}

export const zeroAmounts = (): MeterAmounts => Object.fromEntries(METER_KEYS.map((m) => [m, 0n])) as MeterAmounts;

/**
 * One row per bucket that holds a billable receipt of the tenant, oldest first. Receipts before
 * `since` (when the tenant moved from invoices to Stripe) were invoiced and are never pushed.
 */
export async function bucketUsage(db: SqlDriver, tenantId: string, bucketMs: number, until: number, since: number | null): Promise<BucketUsage[]> {
  if (!Number.isSafeInteger(bucketMs) || bucketMs <= 0) throw new RangeError(`bad bucket size ${bucketMs}`);
  const bucket = `ts / ${bucketMs} * ${bucketMs}`;
  // Every receipt is one API call, so api_calls counts rows.
  // Quantity sums are exact at any size (a bucket of receipts of 2^53 − 1 tokens passes 64 bits).
  const sum = (expr: string) => quantitySum(db.dialect, expr);
  // A due and a later sum per meter, in METER_KEYS order (the field table's meters, then API calls).
  const cols: string[] = [];
  for (const m of METER_KEYS) {
    const c = meterColumn(m);
    cols.push(c === null ? `SUM(CASE WHEN ts < ? THEN 1 ELSE 0 END) AS ${m}` : `${sum(`CASE WHEN ts < ? THEN ${c} ELSE 0 END`)} AS ${m}`);
    cols.push(c === null ? `SUM(CASE WHEN ts < ? THEN 0 ELSE 1 END) AS later_${m}` : `${sum(`CASE WHEN ts < ? THEN 0 ELSE ${c} END`)} AS later_${m}`);
  }
  const rows = await db.all<Row>(
    `SELECT ${bucket} AS bucket_start, ${cols.join(', ')}
     FROM receipts WHERE tenant_id = ? AND billable = 1 AND ts >= ?
     GROUP BY ${bucket} ORDER BY ${bucket}`,
    [...cols.map(() => until), tenantId, since ?? Number.MIN_SAFE_INTEGER],
  );
  return rows.map((r) => {
    const due = zeroAmounts();
    const later = zeroAmounts();
    for (const m of METER_KEYS) {
      due[m] = toBigInt(r[m]);
      later[m] = toBigInt(r[`later_${m}`]);
    }
    return { bucketStart: toNumber(r.bucket_start), due, later };
  });
}

/**
 * Which of `columns` (receipt quantity columns, from the field table) some receipt holds above 0:
 * one probe per column, stopping at the first such receipt.
 */
export async function seenColumns(db: SqlDriver, columns: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const c of columns) {
    if (!/^[a-z_]+$/.test(c)) throw new Error(`bad column ${c}`);
    const row = await db.get<Row>(`SELECT 1 AS seen FROM receipts WHERE ${c} > 0 LIMIT 1`);
    if (row !== undefined) out.add(c);
  }
  return out;
}
