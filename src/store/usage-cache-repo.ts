/**
 * A cache of rated amounts per tenant-period, so `billctl usage` for every tenant reads one
 * aggregate of the rollups instead of rating each tenant again. An entry is valid for one token:
 * a digest of everything its rating read (the period's rollup sums, the tenant's terms and plan
 * history, the catalog versions). Receipts are never deleted or changed, so any import that adds
 * to a tenant-period changes its sums and with them the token.
 */
import { Decimal } from '../domain/money.js';
import type { Period } from '../domain/period.js';
import { QUANTITIES, type QuantitySums } from '../domain/quantities.js';
import { quantitySum, ROLLUP_QUANTITIES } from './receipts-sql.js';
import { placeholders, toBigInt, type Row, type SqlDriver } from './sql.js';

export const USAGE_CACHE_MIGRATION_SQL = `
  CREATE TABLE usage_cache (
    tenant_id {key} NOT NULL,
    period TEXT NOT NULL,
    token TEXT NOT NULL,
    currency TEXT NOT NULL,
    fee TEXT NOT NULL,
    subtotal TEXT NOT NULL,
    PRIMARY KEY (tenant_id, period)
  );
`;

export interface CachedRating {
  token: string;
  currency: string;
  fee: Decimal;
  subtotal: Decimal;
}

/** The period's rollup sums of one tenant (local days first..last). */
export interface PeriodTotals extends QuantitySums {
  rows: bigint;
  receipts: bigint;
  requests: bigint;
  /** 0 unless asked for. */
  reportedCost: Decimal;
}

export interface UsageCacheRepo {
  /** Rollup sums per tenant for local days first..last, in one query (reported costs only when asked: they cost a decimal sum per row). */
  periodTotals(firstDay: number, lastDay: number, withReportedCost: boolean, tenantIds?: readonly string[]): Promise<Map<string, PeriodTotals>>;
  read(period: Period): Promise<Map<string, CachedRating>>;
  write(tenantId: string, period: Period, entry: CachedRating): Promise<void>;
}

export class SqlUsageCacheRepo implements UsageCacheRepo {
  constructor(private readonly db: SqlDriver) {}

  async periodTotals(firstDay: number, lastDay: number, withReportedCost: boolean, tenantIds?: readonly string[]): Promise<Map<string, PeriodTotals>> {
    const sum = !withReportedCost ? "'0'" : this.db.dialect.decimalSum('reported_cost');
    const rows = await this.db.all<Row>(
      `SELECT tenant_id, COUNT(*) AS n, SUM(receipts) AS receipts, SUM(requests) AS requests,
         ${ROLLUP_QUANTITIES.map((c) => `${quantitySum(this.db.dialect, c)} AS ${c}`).join(', ')}, ${sum} AS reported_cost
       FROM receipt_rollups WHERE day >= ? AND day <= ?${tenantIds ? ` AND tenant_id IN (${placeholders(tenantIds.length)})` : ''} GROUP BY tenant_id`,
      [firstDay, lastDay, ...(tenantIds ?? [])],
    );
    const out = new Map<string, PeriodTotals>();
    for (const r of rows) {
      const t = {
        rows: toBigInt(r.n), receipts: toBigInt(r.receipts), requests: toBigInt(r.requests),
        reportedCost: Decimal.parse(r.reported_cost === null ? '0' : String(r.reported_cost)),
      } as PeriodTotals;
      for (const q of QUANTITIES) t[q.prop] = toBigInt(r[q.column]);
      out.set(String(r.tenant_id), t);
    }
    return out;
  }

  async read(period: Period): Promise<Map<string, CachedRating>> {
    const rows = await this.db.all<Row>('SELECT * FROM usage_cache WHERE period = ?', [period]);
    return new Map(rows.map((r) => [String(r.tenant_id), {
      token: String(r.token), currency: String(r.currency), fee: Decimal.parse(String(r.fee)), subtotal: Decimal.parse(String(r.subtotal)),
    }]));
  }

  async write(tenantId: string, period: Period, e: CachedRating): Promise<void> {
    await this.db.run(
      `INSERT INTO usage_cache (tenant_id, period, token, currency, fee, subtotal) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, period) DO UPDATE SET token = excluded.token, currency = excluded.currency, fee = excluded.fee,
         subtotal = excluded.subtotal`,
      [tenantId, period, e.token, e.currency, e.fee.toString(), e.subtotal.toString()],
    );
  }
}
