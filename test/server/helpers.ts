/** A billctl server in this process over a real store and a real socket, and clients for it. */
import { Writable } from 'node:stream';
import { defaultConfig, type Config } from '../../src/config.js';
import { parseRfc3339 } from '../../src/domain/time.js';
import { makeLogger } from '../../src/server/log.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import type { TestStore } from '../helpers/store-setup.js';

export interface Harness {
  url: string;
  server: RunningServer;
  store: Store;
  /** What the server logged. */
  logs: string[];
  get(path: string, token?: string, headers?: Record<string, string>): Promise<Answer>;
  post(path: string, body: string | Buffer, headers?: Record<string, string>): Promise<Answer>;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  bytes: Buffer;
  json<T = unknown>(): T;
}

/** The instant BILLCTL_NOW names, advancing with real time as the CLI's clock does. */
export function clockAt(iso: string): () => number {
  const t = parseRfc3339(iso);
  if (!t.ok) throw new Error(iso);
  const start = Date.now();
  return () => t.ms + (Date.now() - start);
}

async function answer(res: Response): Promise<Answer> {
  const bytes = Buffer.from(await res.arrayBuffer());
  const text = bytes.toString('utf8');
  return {
    status: res.status, headers: res.headers, text, bytes,
    json<T>() {
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new Error(`not JSON (${res.status}): ${text.slice(0, 500)}`);
      }
    },
  };
}

export async function startHarness(db: string, o: { now: string; secret?: string; config?: Config; pollMs?: number }): Promise<Harness> {
  const store = await openStore(db);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const server = await startServer({
    store, config: o.config ?? defaultConfig(), host: '127.0.0.1', port: 0, now: clockAt(o.now), log: makeLogger(sink, false, false),
    webhookSecret: o.secret, pollMs: o.pollMs ?? 100,
  });
  return {
    url: server.url, server, store, logs,
    async get(path, token, headers = {}) {
      return answer(await fetch(`${server.url}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers }, redirect: 'manual' }));
    },
    async post(path, body, headers = {}) {
      return answer(await fetch(`${server.url}${path}`, { method: 'POST', body, headers, redirect: 'manual' }));
    },
    close: () => server.close(),
  };
}

/** A token made by `billctl serve token create` (printed once). */
export async function makeToken(s: TestStore, args: string[] = []): Promise<string> {
  const r = await s.run(['serve', 'token', 'create', ...args, '--format', 'json']);
  return (JSON.parse(r.stdout) as { token: string }).token;
}

/** Waits until `check` holds, polling; fails after `ms`. */
export async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A Stripe event's JSON, as Stripe sends it. */
export function stripeEvent(id: string, type: string, object: Record<string, unknown>, created: number): string {
  return JSON.stringify({ id, object: 'event', api_version: '2024-06-20', created, livemode: false, type, data: { object } });
}
