/**
 * Budgets: per tenant, a monthly amount in the tenant's currency and the whole percentages at
 * which `alerts check` raises an alert. The amount is exact decimal text, never a float.
 */
import { Decimal } from '../domain/money.js';
import { toStringOrNull, type Row, type SqlDriver } from './sql.js';

export interface Budget {
  tenantId: string;
  /** The monthly amount, compared with the month-to-date rated amount before tax. */
  monthly: Decimal;
  currency: string;
  /** Whole percentages, ascending, no repeats (default 50, 80, 100). */
  thresholds: number[];
  createdAt: string;
  updatedAt: string;
}

/** A budget for one user of a tenant (`budget set <tenant> --user U`). */
export interface UserBudget extends Budget {
  userId: string;
}

export interface BudgetRepo {
  get(tenantId: string): Promise<Budget | undefined>;
  /** Every budget, by tenant id (code point order). */
  list(): Promise<Budget[]>;
  /** Creates or replaces a tenant's budget. */
  put(b: Omit<Budget, 'createdAt' | 'updatedAt'>, at: string): Promise<void>;
  /** True when there was one. */
  remove(tenantId: string): Promise<boolean>;
  getUser(tenantId: string, userId: string): Promise<UserBudget | undefined>;
  /** Every user budget (of one tenant), by tenant then user (code point order). */
  listUsers(tenantId?: string): Promise<UserBudget[]>;
  putUser(b: Omit<UserBudget, 'createdAt' | 'updatedAt'>, at: string): Promise<void>;
  removeUser(tenantId: string, userId: string): Promise<boolean>;
}

export const BUDGET_MIGRATION_SQL = `
  CREATE TABLE budgets (
    tenant_id {key} PRIMARY KEY REFERENCES tenants(id),
    monthly_amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    thresholds TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
`;

export const USER_BUDGET_MIGRATION_SQL = `
  CREATE TABLE user_budgets (
    tenant_id {key} NOT NULL REFERENCES tenants(id),
    user_id {key} NOT NULL,
    monthly_amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    thresholds TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
  );
`;

function budgetRow(r: Row): Budget {
  const thresholds = String(r.thresholds);
  return {
    tenantId: String(r.tenant_id),
    monthly: Decimal.parse(String(r.monthly_amount)),
    currency: String(r.currency),
    thresholds: thresholds === '' ? [] : thresholds.split(',').map(Number),
    createdAt: String(r.created_at),
    updatedAt: toStringOrNull(r.updated_at) ?? String(r.created_at),
  };
}

export class SqlBudgetRepo implements BudgetRepo {
  constructor(private readonly db: SqlDriver) {}

  async get(tenantId: string): Promise<Budget | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM budgets WHERE tenant_id = ?', [tenantId]);
    return r ? budgetRow(r) : undefined;
  }

  async list(): Promise<Budget[]> {
    return (await this.db.all<Row>('SELECT * FROM budgets ORDER BY tenant_id')).map(budgetRow);
  }

  async put(b: Omit<Budget, 'createdAt' | 'updatedAt'>, at: string): Promise<void> {
    await this.db.run(
      `INSERT INTO budgets (tenant_id, monthly_amount, currency, thresholds, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id) DO UPDATE SET monthly_amount = excluded.monthly_amount, currency = excluded.currency,
         thresholds = excluded.thresholds, updated_at = excluded.updated_at`,
      [b.tenantId, b.monthly.toString(), b.currency, b.thresholds.join(','), at, at],
    );
  }

  async remove(tenantId: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM budgets WHERE tenant_id = ?', [tenantId])) > 0;
  }

  async getUser(tenantId: string, userId: string): Promise<UserBudget | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM user_budgets WHERE tenant_id = ? AND user_id = ?', [tenantId, userId]);
    return r ? { ...budgetRow(r), userId: String(r.user_id) } : undefined;
  }

  async listUsers(tenantId?: string): Promise<UserBudget[]> {
    const rows = tenantId === undefined
      ? await this.db.all<Row>('SELECT * FROM user_budgets ORDER BY tenant_id, user_id')
      : await this.db.all<Row>('SELECT * FROM user_budgets WHERE tenant_id = ? ORDER BY user_id', [tenantId]);
    return rows.map((r) => ({ ...budgetRow(r), userId: String(r.user_id) }));
  }

  async putUser(b: Omit<UserBudget, 'createdAt' | 'updatedAt'>, at: string): Promise<void> {
    await this.db.run(
      `INSERT INTO user_budgets (tenant_id, user_id, monthly_amount, currency, thresholds, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET monthly_amount = excluded.monthly_amount, currency = excluded.currency,
         thresholds = excluded.thresholds, updated_at = excluded.updated_at`,
      [b.tenantId, b.userId, b.monthly.toString(), b.currency, b.thresholds.join(','), at, at],
    );
  }

  async removeUser(tenantId: string, userId: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM user_budgets WHERE tenant_id = ? AND user_id = ?', [tenantId, userId])) > 0;
  }
}
