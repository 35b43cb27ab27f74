/** Small helpers over Node's http: JSON and error answers, bodies read with a limit, cookies. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toJson } from '../json.js';

/** An answer other than 200, with the error code and message of cli.md's error object. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const notFound = (what = 'no such endpoint') => new HttpError(404, 'not_found', what);
export const badRequest = (message: string) => new HttpError(400, 'bad_request', message);

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  // Set one by one (not through writeHead) so the request log can read content-length back.
  for (const [k, v] of Object.entries({ ...SECURITY_HEADERS, 'content-type': contentType, 'content-length': String(bytes.length), ...headers })) res.setHeader(k, v);
  res.writeHead(status);
  res.end(bytes);
}

/** JSON the way the CLI prints it (bigints exact, Decimals as text), so answers compare equal. */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', `${toJson(value)}\n`, headers);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
}

/** The request body as bytes, as received (the webhook signature is over these bytes). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(400, 'too_large', `the body is larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    try {
      out.set(k, decodeURIComponent(v));
    } catch {
      // a cookie that is not ours
    }
  }
  return out;
}

/** True when the browser reached us over HTTPS (directly, or through a proxy that says so). */
export function overHttps(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true || req.headers['x-forwarded-proto'] === 'https';
}
