/**
 * What the Stripe push reads from receipts: a tenant's billable usage summed per UTC bucket, split
 * at `until` (receipts before it are pushed now; the rest wait for a later run). One scan of the
 * tenant's receipts through the (tenant_id, ts, id) index; the SQL runs unchanged on SQLite and
 * Postgres (integer division truncates on both; the bucket size is a literal from a closed set).
 */
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

export const zeroAmounts = (): MeterAmounts => ({ gpu_seconds: 0n, input_tokens: 0n, output_tokens: 0n, api_calls: 0n });

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
  const rows = await db.all<Row>(
    `SELECT ${bucket} AS bucket_start,
       ${sum('CASE WHEN ts < ? THEN gpu_seconds ELSE 0 END')} AS gpu_seconds,
       ${sum('CASE WHEN ts < ? THEN input_tokens ELSE 0 END')} AS input_tokens,
       ${sum('CASE WHEN ts < ? THEN output_tokens ELSE 0 END')} AS output_tokens,
       SUM(CASE WHEN ts < ? THEN 1 ELSE 0 END) AS api_calls,
       ${sum('CASE WHEN ts < ? THEN 0 ELSE gpu_seconds END')} AS later_gpu_seconds,
       ${sum('CASE WHEN ts < ? THEN 0 ELSE input_tokens END')} AS later_input_tokens,
       ${sum('CASE WHEN ts < ? THEN 0 ELSE output_tokens END')} AS later_output_tokens,
       SUM(CASE WHEN ts < ? THEN 0 ELSE 1 END) AS later_api_calls
     FROM receipts WHERE tenant_id = ? AND billable = 1 AND ts >= ?
     GROUP BY ${bucket} ORDER BY ${bucket}`,
    [until, until, until, until, until, until, until, until, tenantId, since ?? Number.MIN_SAFE_INTEGER],
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
