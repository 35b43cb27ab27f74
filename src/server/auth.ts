/**
 * Who is asking: `Authorization: Bearer <token>`, or for GET requests the dashboard's session
 * cookie (set by the sign-in form). A token is looked up by its SHA-256 among the live tokens the
 * server keeps in memory, and the digests are then compared in constant time.
 */
import type { IncomingMessage } from 'node:http';
import { sameDigest, tokenHash } from '../app/api-tokens.js';
import type { ApiToken } from '../store/token-repo.js';
import { cookies } from './http.js';
import type { LiveMemory } from './memory.js';

export const SESSION_COOKIE = 'billctl_token';

export function presentedToken(req: IncomingMessage, method: string): string | undefined {
  const h = req.headers.authorization;
  if (h !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    return m ? m[1] : undefined;
  }
  // The cookie counts for GET requests only (pages, PDFs): nothing it reaches changes anything.
  return method === 'GET' ? cookies(req).get(SESSION_COOKIE) : undefined;
}

export function authenticate(memory: LiveMemory, token: string | undefined): ApiToken | undefined {
  if (token === undefined || token.length > 200) return undefined;
  const hash = tokenHash(token);
  const record = memory.token(hash);
  return record && sameDigest(hash, record.hash) ? record : undefined;
}
