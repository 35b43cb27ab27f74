/** Store locations: a SQLite file path or a postgres:// URL, and how to print them safely. */
import path from 'node:path';
import { UsageError } from '../errors.js';

/** Anything that starts like `scheme://` is a URL, never a file name. */
const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** Why `text` cannot name a store (a URL of a scheme other than postgres), else undefined. Never quotes the URL. */
export function storeLocationProblem(text: string): string | undefined {
  const m = URL_SCHEME.exec(text);
  if (!m || isPostgresUrl(text)) return undefined;
  return `${m[1]}:// is not a store billctl can open: a store is a SQLite file path (like billing.db) or a postgres:// URL`;
}

/** A postgres URL as it is, else a SQLite file path resolved against `base`; other URLs are refused (exit 2). */
export function resolveStoreLocation(text: string, base: string, source: string): string {
  const problem = storeLocationProblem(text);
  if (problem) throw new UsageError(`${source}: ${problem}`);
  return isPostgresUrl(text) ? text : path.resolve(base, text);
}

/** The URL with its password replaced by `***`; anything unparsable is hidden after the scheme. */
export function redactUrl(location: string): string {
  if (!isPostgresUrl(location)) return location;
  try {
    const url = new URL(location);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return location.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** The password of a postgres URL, so error texts can be scrubbed of it. */
export function urlPassword(location: string): string | undefined {
  if (!isPostgresUrl(location)) return undefined;
  try {
    const pw = new URL(location).password;
    return pw ? decodeURIComponent(pw) : undefined;
  } catch {
    return undefined;
  }
}
