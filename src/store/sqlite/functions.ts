/**
 * SQLite has no exact decimal type, so sums of decimal text (reported costs in rollups) go
 * through these functions, computed with the project's own exact Decimal. Registered on every
 * connection when it opens.
 *   billctl_dec_add(a, b): exact sum of two decimal texts, without trailing zeros (like Postgres
 *     trim_scale), so rollups read the same whatever order receipts came in; null + x = x.
 *   billctl_dec_sum(x): the aggregate, '0' over no values.
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
  db.aggregate('billctl_dec_sum', {
    start: () => Decimal.ZERO,
    step: (total: Decimal, v: unknown) => (v === null || v === undefined ? total : total.add(dec(v))),
    result: (total: Decimal) => total.normalize().toString(),
  });
}
