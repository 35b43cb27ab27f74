/**
 * SQLite has no exact decimal type, so sums of decimal text (reported costs in rollups) go
 * through these functions, computed with the project's own exact Decimal; and its integers stop
 * at 2^63 − 1 (`+` then turns to an inexact float, SUM() fails), so sums of quantities, which
 * can pass that (1,025 receipts of 2^53 − 1 tokens), go through exact integer ones. Registered on
 * every connection when it opens.
 *   billctl_dec_add(a, b): exact sum of two decimal texts, without trailing zeros (like Postgres
 *     trim_scale), so rollups read the same whatever order receipts came in; null + x = x.
 *   billctl_dec_sum(x): the aggregate, '0' over no values.
 *   billctl_int_add(a, b), billctl_int_sum(x): exact sums of whole numbers (integers, or decimal
 *     text beyond 64 bits), as an integer while it fits in 64 bits, else as its decimal text (the
 *     quantity columns of rollups have no type, so SQLite keeps either as it is); 0 over no values.
 */
import type Database from 'better-sqlite3';
import { Decimal } from '../../domain/money.js';

export function decimalSqlFunctions(db: Database.Database): void {
  const dec = (v: unknown) => Decimal.parse(String(v));
  db.function('billctl_dec_add', { deterministic: true }, (a: unknown, b: unknown) => {
    if (a === null || a === undefined) return b === null || b === undefined ? null : dec(b).normalize().toString();
    if (b === null || b === undefined) return dec(a).normalize().toString();
    return dec(a).add(dec(b)).normalize().toString();
  });
  db.function('billctl_int_add', { deterministic: true, safeIntegers: true }, (a: unknown, b: unknown) =>
    sqliteInteger(wholeOf(a) + wholeOf(b)),
  );
  db.aggregate('billctl_int_sum', {
    safeIntegers: true,
    start: () => 0n,
    step: (total: bigint, v: unknown) => (v === null || v === undefined ? total : total + wholeOf(v)),
    result: (total: bigint) => sqliteInteger(total),
  });
  db.aggregate('billctl_dec_sum', {
    start: () => Decimal.ZERO,
    step: (total: Decimal, v: unknown) => (v === null || v === undefined ? total : total.add(dec(v))),
    result: (total: Decimal) => total.normalize().toString(),
  });
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

function wholeOf(v: unknown): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  throw new TypeError(`not a whole number: ${String(v)}`);
}

/** A whole number as SQLite keeps it: an integer while it fits in 64 bits, else its decimal text. */
export function sqliteInteger(n: bigint): bigint | string {
  return n >= INT64_MIN && n <= INT64_MAX ? n : n.toString();
}
