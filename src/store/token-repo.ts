/**
 * API tokens of `billctl serve`: only the SHA-256 of a token is kept, never the token. A token
 * with a tenant sees that tenant alone; one without is an operator token. Revoked tokens stay
 * listed (who had access, and until when).
 */
import { toNumber, toStringOrNull, type Row, type SqlDriver } from './sql.js';

export interface ApiToken {
  id: number;
  name: string;
  /** Null: an operator token. */
  tenantId: string | null;
  /** SHA-256 of the token, hex. */
  hash: string;
  /** The token's first characters, to recognise it in a list (not enough to use it). */
  hint: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface TokenRepo {
  create(t: Omit<ApiToken, 'id' | 'revokedAt'>): Promise<ApiToken>;
  /** Every token, revoked ones too, oldest first. */
  list(): Promise<ApiToken[]>;
  /** True when the token was live and is now revoked. */
  revoke(id: number, at: string): Promise<boolean>;
  get(id: number): Promise<ApiToken | undefined>;
}

export const TOKEN_MIGRATION_SQL = `
  CREATE TABLE api_tokens (
    id {serial},
    name TEXT NOT NULL,
    tenant_id {key} REFERENCES tenants(id),
    hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );
`;

function tokenRow(r: Row): ApiToken {
  return {
    id: toNumber(r.id),
    name: String(r.name),
    tenantId: toStringOrNull(r.tenant_id),
    hash: String(r.hash),
    hint: String(r.hint),
    createdAt: String(r.created_at),
    revokedAt: toStringOrNull(r.revoked_at),
  };
}

export class SqlTokenRepo implements TokenRepo {
  constructor(private readonly db: SqlDriver) {}

  async create(t: Omit<ApiToken, 'id' | 'revokedAt'>): Promise<ApiToken> {
    return this.db.transaction(async () => {
      await this.db.run('INSERT INTO api_tokens (name, tenant_id, hash, hint, created_at) VALUES (?, ?, ?, ?, ?)', [
        t.name, t.tenantId, t.hash, t.hint, t.createdAt,
      ]);
      return tokenRow((await this.db.get<Row>('SELECT * FROM api_tokens WHERE hash = ?', [t.hash]))!);
    });
  }

  async list(): Promise<ApiToken[]> {
    return (await this.db.all<Row>('SELECT * FROM api_tokens ORDER BY id')).map(tokenRow);
  }

  async get(id: number): Promise<ApiToken | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM api_tokens WHERE id = ?', [id]);
    return r ? tokenRow(r) : undefined;
  }

  async revoke(id: number, at: string): Promise<boolean> {
    return (await this.db.run('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [at, id])) > 0;
  }
}
