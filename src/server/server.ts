/**
 * `billctl serve`: the HTTP API and dashboard over one store, on Node's own http module (no
 * framework: a dozen fixed routes need no router, and every dependency less is one less thing
 * between a quota check and its answer; see docs/internals.md).
 *
 * Requests are authenticated from memory (token hashes), quota checks are answered from memory
 * (LiveMemory), and everything that reads or writes the store goes through the StoreGate one at
 * a time. Shutdown (SIGTERM) stops accepting, lets requests under way finish, then closes the store.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webhookTarget } from '../app/alerts.js';
import type { Config } from '../config.js';
import { BillctlError, UsageError, errorMessage } from '../errors.js';
import { RatingError } from '../domain/rating.js';
import type { Store } from '../store/store.js';
import type { ApiToken } from '../store/token-repo.js';
import { apiRoutes } from './api.js';
import { dashboardRoutes, dashboardErrorPage } from './dashboard.js';
import { StoreGate } from './gate.js';
import { authenticate, presentedToken } from './auth.js';
import { HttpError, notFound, sendError } from './http.js';
import { loggablePath, type Logger } from './log.js';
import { LiveMemory } from './memory.js';

export interface ServerOptions {
  store: Store;
  config: Config;
  host: string;
  port: number;
  now: () => number;
  log: Logger;
  /** STRIPE_WEBHOOK_SECRET; without it the webhook answers 500 (and says so at start). */
  webhookSecret: string | undefined;
  /** How often the store's change marker is read (default 250 ms). */
  pollMs?: number;
  /** Grace for requests under way at shutdown before their connections are cut (default 10 s). */
  shutdownGraceMs?: number;
}

/** What a route handler gets. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The token of the request (Authorization: Bearer, or the dashboard's cookie), when valid. */
  token: ApiToken | undefined;
  params: string[];
}

export interface Services {
  store: Store;
  config: Config;
  gate: StoreGate;
  memory: LiveMemory;
  now: () => number;
  log: Logger;
  webhookSecret: string | undefined;
  alertTarget: { target: string; display: string } | undefined;
}

export interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  /** Without a token: 401 (API) or the login page (dashboard). */
  auth: boolean;
  /** A page for people (errors as HTML), not the JSON API. */
  page?: boolean;
  handle(ctx: RequestContext, s: Services): Promise<void>;
}

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  /** Stops accepting, waits for requests under way, closes the store. */
  close(): Promise<void>;
}

/** A route's failure as the answer's status and code (never a stack or a secret). */
function asHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof RatingError) return new HttpError(500, 'rating_failed', errorMessage(err));
  if (err instanceof UsageError) return new HttpError(400, 'bad_request', errorMessage(err));
  if (err instanceof BillctlError) return new HttpError(500, 'failed', errorMessage(err));
  return new HttpError(500, 'internal', 'an unexpected error; the server log has more');
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const gate = new StoreGate();
  const memory = new LiveMemory(o.store, gate, o.now, (err) => o.log.info(`store poll failed: ${errorMessage(err)}`));
  await memory.start(o.pollMs ?? 250);
  const services: Services = {
    store: o.store, config: o.config, gate, memory, now: o.now, log: o.log, webhookSecret: o.webhookSecret,
    alertTarget: o.config.alerts.webhook ? webhookTarget(o.config.alerts.webhook) : undefined,
  };
  const routes: Route[] = [...apiRoutes(), ...dashboardRoutes()];
  let inFlight = 0;
  let idle: (() => void) | undefined;

  const server = http.createServer({ noDelay: true }, (req, res) => {
    inFlight++;
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://billctl.invalid');
    let token: ApiToken | undefined;
    res.on('finish', () => {
      o.log.request({
        time: new Date().toISOString(), method: req.method ?? '', path: loggablePath(url), status: res.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10, bytes: Number(res.getHeader('content-length') ?? 0), token: token?.id ?? null,
      });
    });
    res.on('close', () => {
      inFlight--;
      if (inFlight === 0) idle?.();
    });
    void (async () => {
      let route: Route | undefined;
      let params: string[] = [];
      for (const r of routes) {
        const m = r.pattern.exec(url.pathname);
        if (!m) continue;
        if (r.method !== req.method) continue;
        route = r;
        params = m.slice(1).map((p) => decodeURIComponent(p));
        break;
      }
      try {
        if (!route) throw notFound(`no such endpoint: ${req.method} ${url.pathname}`);
        token = authenticate(memory, presentedToken(req, route.method));
        if (route.auth && !token) {
          throw new HttpError(401, 'unauthorized', 'a valid token is needed: Authorization: Bearer <token> (billctl serve token create)', {
            'www-authenticate': 'Bearer realm="billctl"',
          });
        }
        await route.handle({ req, res, url, token, params }, services);
      } catch (err) {
        const e = asHttpError(err);
        if (e.status === 500 && e.code === 'internal') o.log.info(`error in ${req.method} ${url.pathname}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (route?.page) dashboardErrorPage(res, e);
        else sendError(res, e);
      }
    })();
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        const grace = new Promise<void>((resolve) => setTimeout(resolve, o.shutdownGraceMs ?? 10_000).unref());
        await Promise.race([new Promise<void>((resolve) => (idle = resolve)), grace]);
      }
      server.closeAllConnections();
      await stopped;
      await memory.stop();
      // Work already queued for the store finishes before it closes: nothing is left half-written.
      await gate.drain();
      await o.store.close();
    })();
    return closing;
  };
  return { url: `http://${host}:${address.port}`, port: address.port, services, close };
}
