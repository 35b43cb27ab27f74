/**
 * Request logs on stderr: one line per request, or one JSON object per line with `--format json`.
 * Never the Authorization header, cookies, or a token in the query: the path is logged with
 * secret query values replaced, and a request is named by its token's id alone.
 */
import type { Writable } from 'node:stream';
import { toJson } from '../json.js';

export interface RequestLog {
  time: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  bytes: number;
  token: number | null;
}

const SECRET_PARAMS = /^(token|access_token|api_key|key|secret|password)$/i;

/** The path and query as they may be logged. */
export function loggablePath(url: URL): string {
  const q = [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${SECRET_PARAMS.test(k) ? '[redacted]' : encodeURIComponent(v)}`);
  return q.length === 0 ? url.pathname : `${url.pathname}?${q.join('&')}`;
}

export interface Logger {
  request(entry: RequestLog): void;
  /** A notice about the server itself (started, stopping, an error in the background). */
  info(text: string, fields?: Record<string, unknown>): void;
}

export function makeLogger(out: Writable, json: boolean, quiet: boolean): Logger {
  return {
    request(e) {
      if (quiet) return;
      if (json) out.write(`${toJson(e, 0)}\n`);
      else out.write(`${e.time} ${e.method} ${e.path} ${e.status} ${e.ms.toFixed(1)}ms ${e.bytes}B${e.token === null ? '' : ` token ${e.token}`}\n`);
    },
    info(text, fields = {}) {
      if (json) out.write(`${toJson({ time: new Date().toISOString(), message: text, ...fields }, 0)}\n`);
      else out.write(`${text}\n`);
    },
  };
}
