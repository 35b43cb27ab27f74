/**
 * SQLite has no exact decimal type, so sums of decimal text (reported costs in rollups) go
 * through this function, computed with the project's own exact Decimal.
 */
import type Database from 'better-sqlite3';
import { Decimal } from '../../domain/money.js';

export function decimalSqlFunctions(db: Database.Database): void {
  db.function('dec_add', { deterministic: true }, (a: unknown, b: unknown) => {
    if (a === null || a === undefined) return b === null || b === undefined ? null : String(b);
    if (b === null || b === undefined) return String(a);
    return Decimal.parse(String(a)).add(Decimal.parse(String(b))).toString();
  });
}
