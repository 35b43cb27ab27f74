/**
 * API tokens for `billctl serve`: `serve token create|list|revoke`. A token is 32 random bytes
 * (base64url) after a `bct_` prefix; it is printed once and only its SHA-256 is stored. Requests
 * are matched by that hash (a lookup, then a constant-time comparison of the digests), so the
 * token itself is never compared character by character, kept, or logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { UsageError } from '../errors.js';
import type { ApiToken } from '../store/token-repo.js';
import type { Store } from '../store/store.js';
import { requireTenant } from './tenants.js';

export const TOKEN_PREFIX = 'bct_';
const HINT_LENGTH = 10;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time equality of two hex digests of the same length. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export async function createToken(
  store: Store, options: { tenantId?: string; name?: string }, at: string,
): Promise<{ token: string; record: ApiToken }> {
  const tenantId = options.tenantId === undefined ? null : (await requireTenant(store, options.tenantId)).id;
  const name = options.name?.trim() || (tenantId === null ? 'operator' : tenantId);
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const record = await store.tokens.create({ name, tenantId, hash: tokenHash(token), hint: token.slice(0, HINT_LENGTH), createdAt: at });
  return { token, record };
}

export async function revokeToken(store: Store, idText: string, at: string): Promise<{ record: ApiToken; revoked: boolean }> {
  if (!/^\d{1,15}$/.test(idText)) throw new UsageError(`"${idText}" is not a token id`, 'See the ids with: billctl serve token list');
  const record = await store.tokens.get(Number(idText));
  if (!record) throw new UsageError(`no token ${idText}`, 'See the tokens with: billctl serve token list');
  const revoked = await store.tokens.revoke(record.id, at);
  return { record: (await store.tokens.get(record.id))!, revoked };
}

export function tokenJson(t: ApiToken): Record<string, unknown> {
  return {
    id: t.id, name: t.name, tenant_id: t.tenantId, scope: t.tenantId === null ? 'operator' : 'tenant',
    hint: `${t.hint}…`, created_at: t.createdAt, revoked_at: t.revokedAt,
  };
}
