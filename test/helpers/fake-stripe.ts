/**
 * A fake Stripe for tests: a local HTTP server speaking Stripe's wire format (form-encoded bodies
 * with bracket notation, Stripe's JSON objects, lists, search results and error shapes) for the
 * endpoints billctl uses. The real `stripe` package is pointed at it through STRIPE_API_BASE, so
 * the only thing replaced in a test is the network (architecture.md #11).
 *
 * It keeps state (customers, meters, meter events with identifier dedup and the 35-day / 5-minute
 * timestamp window, event summaries) and honours Idempotency-Key as Stripe documents
 * (docs.stripe.com/api/idempotent_requests): the first answer of a request that began executing
 * is saved for 24 hours — 2xx, 4xx and 500s alike — and replayed (Idempotent-Replayed: true) to
 * every request with that key and the same parameters; the same key with other parameters is a
 * 400 idempotency_error; a key still in flight is a 409; validation errors, 429s and failures in
 * front of the API save nothing. It injects faults on demand: 500s, 429s with and without
 * Stripe-Should-Retry, connection resets before or after the request took effect, slow answers
 * and a fixed latency, by rule or as `weather` (rates). Fault draws are seeded and keyed by
 * request (idempotency key + how often that key was seen), so a failing run reproduces even
 * when requests interleave differently.
 *
 * Objects start from Stripe's published examples (fixtures3.json) with fields overridden.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../../src/prng.js';
import { EMBEDDED_FIXTURES } from './fake-stripe-fixtures.js';
import { FakeBilling } from './fake-stripe-billing.js';
import { ApiError, int, invalid, metadataOf, onlyKnown, page, refused, str } from './fake-stripe-wire.js';

// ---------------------------------------------------------------------------------------------
// Public API

export interface FakeStripeOptions {
  /** The secret key requests must carry (`Authorization: Bearer …`); default FAKE_STRIPE_KEY. */
  apiKey?: string;
  /** Fake "now" at start (ms, Date or RFC 3339). Default: the real time. */
  now?: number | string | Date;
  /** Keep the fake clock still instead of letting it advance with real time. */
  frozenClock?: boolean;
  /** Added to every answer (the benchmark uses 20). */
  latencyMs?: number;
  /** Seed for ids and fault draws. Default 1. */
  seed?: number;
  /** How long Stripe remembers an Idempotency-Key (fake clock). Default 24 h. */
  idempotencyWindowMs?: number;
  /** How long a meter event identifier is remembered for dedup (fake clock). Default 24 h, Stripe's minimum. */
  identifierWindowMs?: number;
  /** Real milliseconds before a new customer shows up in /v1/customers/search (Stripe's index lag). Default 0. */
  searchIndexDelayMs?: number;
  /** Real milliseconds before a meter event counts in event summaries (Stripe aggregates asynchronously). Default 0. */
  summaryDelayMs?: number;
  /** Refuse meter events for customers the fake does not know (real Stripe reports those asynchronously). Default true. */
  requireKnownCustomer?: boolean;
  /**
   * As Stripe does: take a meter event for a customer that does not exist (or was deleted) with a
   * 200, leave it out of every total, and report it later in a meter error report (a v2 event
   * `v1.billing.meter.error_report_triggered`, GET /v2/core/events). Default false.
   */
  asyncCustomerErrors?: boolean;
  /**
   * Meter events Stripe takes per second for one customer and meter (real time); more are
   * answered 429 `rate_limited`, nothing stored or saved. Default: no limit.
   */
  meterEventsPerSecondPerCustomerMeter?: number;
}

export const FAKE_STRIPE_KEY = 'sk_test_51FakeBillctlKey0000000000000000';

export type FaultKind = 'error500' | 'rateLimit' | 'reset' | 'slow';

export interface FaultRule {
  kind: FaultKind;
  /** Only requests with this method (default: any). */
  method?: string;
  /** Only requests to this path (exact string, or a RegExp on the path; default: any). */
  path?: string | RegExp;
  /** Only requests this returns true for (e.g. one customer: `(r) => r.params.payload?.…`). */
  when?: (r: RecordedRequest) => boolean;
  /** Chance that a matching request gets the fault (default 1). */
  probability?: number;
  /** Fire at most this many times. */
  times?: number;
  /** Let the first N matching requests through untouched. */
  skip?: number;
  /**
   * error500 and reset: `before` the request takes effect (nothing stored), or `after` it was
   * stored. Defaults: error500 before, reset after.
   *
   * What Stripe saves under the Idempotency-Key, as its docs say (a result is saved once the
   * endpoint began executing, "including 500 errors"): a 500 is saved whatever its stage, so a
   * retry with the same key gets the same 500 for 24 hours (unless `saved: false`); a reset after
   * storing keeps the real answer (it was lost on the way back), which a retry with the same key
   * replays; a reset before storing never reached the API and saves nothing.
   */
  stage?: 'before' | 'after';
  /** error500: whether Stripe saved the 500 under the Idempotency-Key (default true); false: a 500 from in front of the API (nothing ran, nothing saved). */
  saved?: boolean;
  /** error500 / rateLimit: send `Stripe-Should-Retry: true|false`; leave out for no header. */
  shouldRetry?: boolean;
  /** slow: extra delay in ms. */
  delayMs?: number;
}

export interface FaultHandle {
  readonly id: number;
  readonly rule: FaultRule;
  /** How many times it fired. */
  readonly fired: number;
  remove(): void;
}

export interface FiredFault {
  seq: number;
  ruleId: number;
  kind: FaultKind;
  stage?: 'before' | 'after';
  method: string;
  path: string;
  idempotencyKey?: string;
}

export interface RecordedRequest {
  seq: number;
  method: string;
  /** Path without the query. */
  path: string;
  /** The raw query string (without `?`). */
  query: string;
  /** Lower-cased header names, as Node gives them. */
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  /** Body (POST) or query (GET) parsed with Stripe's bracket notation. */
  params: Record<string, unknown>;
  /** Fake clock when it arrived. */
  at: number;
  /** Real clock when it arrived and when it ended. */
  startedAt: number;
  endedAt?: number;
  status?: number;
  /** What happened: answered, replayed (idempotency), reset (connection destroyed). */
  outcome?: 'answered' | 'replayed' | 'reset';
  fault?: FaultKind;
  requestId: string;
}

export interface FakeStripe {
  /** Like http://127.0.0.1:54321 */
  readonly url: string;
  readonly port: number;
  readonly apiKey: string;
  /** STRIPE_API_KEY and STRIPE_API_BASE for the CLI under test. */
  readonly env: { STRIPE_API_KEY: string; STRIPE_API_BASE: string };
  readonly state: FakeStripeState;
  /** Products, prices, subscriptions, invoices and events, and what a test does with them (renew, pay). */
  readonly billing: FakeBilling;
  readonly faults: FaultInjector;
  readonly clock: FakeClock;
  /** Every request, in arrival order. */
  readonly requests: RecordedRequest[];
  setLatency(ms: number): void;
  /**
   * Where `secret` occurs in any request other than its Authorization header (path, query,
   * body, other headers); empty when it never leaked.
   */
  leaksOf(secret: string): string[];
  close(): Promise<void>;
}

export async function startFakeStripe(options: FakeStripeOptions = {}): Promise<FakeStripe> {
  const server = new FakeStripeServer(options);
  await server.listen();
  return server;
}

// ---------------------------------------------------------------------------------------------
// Fixtures: Stripe's published example objects

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHARED_FIXTURES = path.resolve(HERE, '../../../shared/stripe/fixtures3.json');

let fixtureCache: Record<string, Record<string, unknown>> | undefined;

/** The example object of a resource (`customer`, `billing.meter`, ...), from the shared file when present. */
export function stripeFixture(resource: string): Record<string, unknown> {
  if (!fixtureCache) {
    const file = process.env.STRIPE_FIXTURES ?? SHARED_FIXTURES;
    let resources: Record<string, Record<string, unknown>> | undefined;
    try {
      resources = (JSON.parse(fs.readFileSync(file, 'utf8')) as { resources: Record<string, Record<string, unknown>> }).resources;
    } catch {
      resources = undefined;
    }
    fixtureCache = resources ?? EMBEDDED_FIXTURES;
  }
  const f = fixtureCache[resource] ?? EMBEDDED_FIXTURES[resource];
  if (!f) throw new Error(`fake Stripe: no fixture for ${resource}`);
  return structuredClone(f);
}

// ---------------------------------------------------------------------------------------------
// Wire format helpers

/**
 * Parses Stripe's form encoding: `a[b][c]=v`, `expand[0]=x`, `metadata[k]=`. Indexed or empty
 * brackets build arrays.
 */
export function parseStripeForm(text: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  if (text === '') return root;
  for (const [fullKey, value] of new URLSearchParams(text)) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(fullKey);
    const keys = m ? [m[1]!, ...[...m[2]!.matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1]!)] : [fullKey];
    let node: Record<string, unknown> = root;
    for (let i = 0; i < keys.length; i++) {
      let k = keys[i]!;
      const last = i === keys.length - 1;
      if (k === '') k = String(Object.keys(node).length);
      if (last) node[k] = value;
      else {
        const next = node[k];
        if (typeof next === 'object' && next !== null) node = next as Record<string, unknown>;
        else {
          const created: Record<string, unknown> = {};
          node[k] = created;
          node = created;
        }
      }
    }
  }
  return arrayify(root) as Record<string, unknown>;
}

function arrayify(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  for (const k of keys) o[k] = arrayify(o[k]);
  if (keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => o[k]);
  return o;
}

/** Stable text of parsed params, to compare two requests under one idempotency key. */
function fingerprint(method: string, p: string, params: unknown): string {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return `${method} ${p} ${JSON.stringify(canon(params))}`;
}

const DAY_MS = 86_400_000;
const MAX_PAST_S = 35 * 86_400;
const MAX_FUTURE_S = 5 * 60;
/** Meter values are kept exactly, scaled by 10^12. */
const SCALE = 10n ** 12n;

function parseValue(text: string): bigint | undefined {
  const m = /^(\d{1,20})(?:\.(\d{1,12}))?$/.exec(text.trim());
  if (!m) return undefined;
  return BigInt(m[1]!) * SCALE + BigInt((m[2] ?? '').padEnd(12, '0') || '0');
}

/** Exact decimal text of a scaled value ("12", "1.5"). */
export function formatScaled(v: bigint): string {
  const neg = v < 0n;
  const a = neg ? -v : v;
  const whole = a / SCALE;
  const frac = (a % SCALE).toString().padStart(12, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness


/** A uniform draw in [0, 1) fixed by its inputs. */
function keyedDraw(...parts: (string | number)[]): number {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  return h.readUIntBE(0, 6) / 2 ** 48;
}

// ---------------------------------------------------------------------------------------------
// The clock

export class FakeClock {
  private base: number | undefined;
  private setAtReal = Date.now();
  private frozen: boolean;

  constructor(start: number | string | Date | undefined, frozen = false) {
    this.frozen = frozen;
    if (start !== undefined) this.set(start, { frozen });
  }

  /** Milliseconds since the epoch, as the fake Stripe sees it. */
  now(): number {
    if (this.base === undefined) return Date.now();
    return this.frozen ? this.base : this.base + (Date.now() - this.setAtReal);
  }

  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** Sets "now"; it then advances with real time unless frozen. */
  set(t: number | string | Date, options: { frozen?: boolean } = {}): void {
    const ms = typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : t.getTime();
    if (!Number.isFinite(ms)) throw new Error(`fake Stripe clock: not a time: ${String(t)}`);
    this.base = ms;
    this.setAtReal = Date.now();
    if (options.frozen !== undefined) this.frozen = options.frozen;
  }

  advance(ms: number): void {
    this.set(this.now() + ms);
  }

  /** Back to the real time. */
  reset(): void {
    this.base = undefined;
    this.frozen = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Faults

interface ActiveRule {
  id: number;
  rule: FaultRule;
  fired: number;
  seen: number;
}

export interface FaultDecision {
  delayMs: number;
  action?: { kind: 'error500' | 'rateLimit' | 'reset'; stage: 'before' | 'after'; rule: FaultRule; ruleId: number };
}

export class FaultInjector {
  private rules: ActiveRule[] = [];
  private nextId = 1;
  /** Every fault that fired, in order. */
  readonly fired: FiredFault[] = [];
  private attempts = new Map<string, number>();

  constructor(private readonly seed: number) {}

  /** Adds a rule; rules are tried in the order added and the first 500/429/reset that fires wins. */
  add(rule: FaultRule): FaultHandle {
    if (rule.probability !== undefined && (rule.probability < 0 || rule.probability > 1)) {
      throw new Error('fake Stripe: probability must be in [0, 1]');
    }
    const active: ActiveRule = { id: this.nextId++, rule, fired: 0, seen: 0 };
    this.rules.push(active);
    const remove = () => {
      this.rules = this.rules.filter((r) => r !== active);
    };
    return {
      id: active.id,
      rule,
      get fired() {
        return active.fired;
      },
      remove,
    };
  }

  /** The next `times` matching requests get this fault (probability 1). */
  once(rule: FaultRule, times = 1): FaultHandle {
    return this.add({ ...rule, probability: 1, times });
  }

  clear(): void {
    this.rules = [];
  }

  /**
   * Bad weather on one endpoint (default: meter events): `error500` of the requests get a 500
   * before anything is stored, saved under their Idempotency-Key (a retry with the same key gets
   * it again, as from Stripe); `rateLimit` a 429 (half with Stripe-Should-Retry: true, half
   * without the header); `reset` a connection reset after the event was stored (a retry with
   * the same key replays the lost answer). Defaults: 10 %, 5 %, 5 %.
   */
  weather(rates: { error500?: number; rateLimit?: number; reset?: number; path?: string | RegExp } = {}): FaultHandle[] {
    const path = rates.path ?? '/v1/billing/meter_events';
    const e = rates.error500 ?? 0.1;
    const r = rates.rateLimit ?? 0.05;
    const z = rates.reset ?? 0.05;
    if (e + r + z > 1) throw new Error('fake Stripe: the fault rates add up to more than 1');
    // Rules are tried in order and the first that fires wins, so each later one is conditional
    // on the earlier ones not firing: the marginal rates come out as asked.
    const cond = (p: number, taken: number) => (taken >= 1 ? 0 : Math.min(1, p / (1 - taken)));
    return [
      this.add({ kind: 'error500', path, probability: e }),
      this.add({ kind: 'rateLimit', path, probability: cond(r / 2, e), shouldRetry: true }),
      this.add({ kind: 'rateLimit', path, probability: cond(r / 2, e + r / 2) }),
      this.add({ kind: 'reset', path, probability: cond(z, e + r), stage: 'after' }),
    ];
  }

  /** How many faults of each kind fired. */
  counts(): Record<FaultKind, number> {
    const out: Record<FaultKind, number> = { error500: 0, rateLimit: 0, reset: 0, slow: 0 };
    for (const f of this.fired) out[f.kind]++;
    return out;
  }

  /** @internal Decides what happens to one request. */
  decide(r: RecordedRequest): FaultDecision {
    const key = headerText(r.headers['idempotency-key']) ?? `${r.method} ${r.path} ${r.rawBody}`;
    const attempt = this.attempts.get(key) ?? 0;
    this.attempts.set(key, attempt + 1);
    const decision: FaultDecision = { delayMs: 0 };
    for (const a of this.rules) {
      const { rule } = a;
      if (rule.method && rule.method.toUpperCase() !== r.method) continue;
      if (rule.path !== undefined && !(typeof rule.path === 'string' ? rule.path === r.path : rule.path.test(r.path))) continue;
      if (rule.when && !rule.when(r)) continue;
      if (rule.kind !== 'slow' && decision.action) continue;
      a.seen++;
      if (rule.skip !== undefined && a.seen <= rule.skip) continue;
      if (rule.times !== undefined && a.fired >= rule.times) continue;
      const p = rule.probability ?? 1;
      if (p < 1 && keyedDraw(this.seed, a.id, key, attempt) >= p) continue;
      a.fired++;
      const fired: FiredFault = { seq: r.seq, ruleId: a.id, kind: rule.kind, method: r.method, path: r.path };
      const idem = headerText(r.headers['idempotency-key']);
      if (idem !== undefined) fired.idempotencyKey = idem;
      if (rule.kind === 'slow') decision.delayMs += rule.delayMs ?? 1000;
      else {
        const stage = rule.stage ?? (rule.kind === 'reset' ? 'after' : 'before');
        fired.stage = stage;
        decision.action = { kind: rule.kind, stage: rule.kind === 'rateLimit' ? 'before' : stage, rule, ruleId: a.id };
      }
      this.fired.push(fired);
    }
    return decision;
  }
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

// ---------------------------------------------------------------------------------------------
// State

export interface StoredCustomer {
  object: Record<string, unknown> & { id: string; email: string | null; name: string | null; metadata: Record<string, string> };
  deleted: boolean;
  /** Real time it was created (for the search index lag). */
  realCreatedAt: number;
  seq: number;
}

export interface StoredMeter {
  object: Record<string, unknown> & {
    id: string;
    event_name: string;
    status: string;
    default_aggregation: { formula: string };
    customer_mapping: { event_payload_key: string; type: string };
    value_settings: { event_payload_key: string };
  };
  seq: number;
}

export interface StoredMeterEvent {
  object: Record<string, unknown> & { identifier: string; event_name: string; timestamp: number; payload: Record<string, string> };
  meterId: string;
  customer: string;
  /** Exact value, scaled by 10^12. */
  value: bigint;
  realStoredAt: number;
  seq: number;
}

export interface MeterTotal {
  customer: string;
  event_name: string;
  /** Exact decimal text of the sum. */
  total: string;
  events: number;
}

/** A meter event Stripe took and then rejected (asyncCustomerErrors), not yet in an error report. */
export interface AsyncMeterError {
  meterId: string;
  code: string;
  message: string;
  identifier: string;
  at: number;
}

export class FakeStripeState {
  /** Rejections waiting for their error report (made when /v2/core/events is read). */
  readonly meterErrors: AsyncMeterError[] = [];
  /** The v2 events made so far (meter error reports). */
  readonly v2Events: Record<string, unknown>[] = [];
  /** Real times of the meter events taken per customer + event name, in the last second. */
  readonly recentMeterEvents = new Map<string, number[]>();
  readonly customers = new Map<string, StoredCustomer>();
  readonly meters = new Map<string, StoredMeter>();
  readonly meterEvents: StoredMeterEvent[] = [];
  /** identifier -> fake ms it was stored */
  readonly identifiers = new Map<string, number>();
  /** Requests in flight now, and the most seen at once (overall and per customer + event name). */
  readonly inFlight = new Map<string, number>();
  maxInFlight = 0;
  maxInFlightSameCustomerMeter = 0;
  private seq = 0;
  private inFlightTotal = 0;

  constructor(
    private readonly rng: () => number,
    private readonly clock: FakeClock,
    readonly livemode: boolean,
  ) {}

  id(prefix: string, length = 14): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (let i = 0; i < length; i++) s += alphabet[Math.floor(this.rng() * alphabet.length)];
    return `${prefix}${s}`;
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** Adds a customer directly (a test's "it already exists in Stripe"). */
  addCustomer(fields: { id?: string; name?: string | null; email?: string | null; metadata?: Record<string, string>; description?: string | null }): StoredCustomer['object'] {
    const o = stripeFixture('customer');
    const id = fields.id ?? this.id('cus_');
    Object.assign(o, {
      id,
      created: this.clock.nowSeconds(),
      livemode: this.livemode,
      name: fields.name ?? null,
      email: fields.email ?? null,
      description: fields.description ?? null,
      metadata: { ...(fields.metadata ?? {}) },
      // A new customer has no discount, currency or shipping yet.
      discount: null,
      currency: null,
      shipping: null,
      invoice_prefix: this.id('', 8).toUpperCase(),
    });
    const stored: StoredCustomer = { object: o as StoredCustomer['object'], deleted: false, realCreatedAt: Date.now(), seq: this.nextSeq() };
    this.customers.set(id, stored);
    return stored.object;
  }

  /** Adds a meter directly. */
  addMeter(fields: {
    event_name: string;
    display_name?: string;
    formula?: string;
    customerKey?: string;
    valueKey?: string;
    status?: 'active' | 'inactive';
  }): StoredMeter['object'] {
    const o = stripeFixture('billing.meter');
    const now = this.clock.nowSeconds();
    const status = fields.status ?? 'active';
    Object.assign(o, {
      id: this.id(this.livemode ? 'mtr_' : 'mtr_test_', 24),
      created: now,
      updated: now,
      livemode: this.livemode,
      display_name: fields.display_name ?? fields.event_name,
      event_name: fields.event_name,
      event_time_window: null,
      status,
      status_transitions: { deactivated_at: status === 'inactive' ? now : null },
      default_aggregation: { formula: fields.formula ?? 'sum' },
      customer_mapping: { event_payload_key: fields.customerKey ?? 'stripe_customer_id', type: 'by_id' },
      value_settings: { event_payload_key: fields.valueKey ?? 'value' },
    });
    const stored: StoredMeter = { object: o as StoredMeter['object'], seq: this.nextSeq() };
    this.meters.set(stored.object.id, stored);
    return stored.object;
  }

  meterByEventName(eventName: string): StoredMeter | undefined {
    return [...this.meters.values()].find((m) => m.object.event_name === eventName);
  }

  /** Exact sum of the values of every stored event for a customer and event name ("0" when none). */
  total(customer: string, eventName: string): string {
    let sum = 0n;
    for (const e of this.meterEvents) if (e.customer === customer && e.object.event_name === eventName) sum += e.value;
    return formatScaled(sum);
  }

  /** Sums per (customer, event name), sorted. */
  totals(): MeterTotal[] {
    const map = new Map<string, MeterTotal & { sum: bigint }>();
    for (const e of this.meterEvents) {
      const k = `${e.customer}\u0000${e.object.event_name}`;
      const t = map.get(k) ?? { customer: e.customer, event_name: e.object.event_name, total: '0', events: 0, sum: 0n };
      t.sum += e.value;
      t.events++;
      map.set(k, t);
    }
    return [...map.values()]
      .map(({ sum, ...t }) => ({ ...t, total: formatScaled(sum) }))
      .sort((a, b) => (a.customer === b.customer ? a.event_name.localeCompare(b.event_name) : a.customer.localeCompare(b.customer)));
  }

  /** The stored meter events, optionally of one customer and/or event name. */
  events(filter: { customer?: string; eventName?: string } = {}): StoredMeterEvent[] {
    return this.meterEvents.filter(
      (e) => (filter.customer === undefined || e.customer === filter.customer) && (filter.eventName === undefined || e.object.event_name === filter.eventName),
    );
  }

  /** @internal */
  enter(key: string): void {
    const n = (this.inFlight.get(key) ?? 0) + 1;
    this.inFlight.set(key, n);
    this.inFlightTotal++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlightTotal);
    if (!key.startsWith('\u0000')) this.maxInFlightSameCustomerMeter = Math.max(this.maxInFlightSameCustomerMeter, n);
  }

  /** @internal */
  leave(key: string): void {
    const n = (this.inFlight.get(key) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(key);
    else this.inFlight.set(key, n);
    this.inFlightTotal--;
  }
}

// ---------------------------------------------------------------------------------------------
// The server

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** False: nothing ran (a validation error), so nothing is saved under the Idempotency-Key. */
  saved?: boolean;
}

interface IdempotencyEntry {
  fingerprint: string;
  at: number;
  inFlight: boolean;
  answer?: { status: number; body: string; headers: Record<string, string>; requestId: string };
}

const KNOWN_CUSTOMER_PARAMS = ['name', 'email', 'description', 'phone', 'metadata', 'address', 'preferred_locales', 'expand'];

class FakeStripeServer implements FakeStripe {
  readonly state: FakeStripeState;
  readonly billing: FakeBilling;
  readonly faults: FaultInjector;
  readonly clock: FakeClock;
  readonly requests: RecordedRequest[] = [];
  readonly apiKey: string;
  private server: http.Server;
  private sockets = new Set<Socket>();
  private idempotency = new Map<string, IdempotencyEntry>();
  private latencyMs: number;
  private readonly rng: () => number;
  private readonly o: Required<Omit<FakeStripeOptions, 'now' | 'apiKey' | 'frozenClock'>>;
  private requestSeq = 0;
  port = 0;
  url = '';

  constructor(options: FakeStripeOptions) {
    this.apiKey = options.apiKey ?? FAKE_STRIPE_KEY;
    this.o = {
      latencyMs: options.latencyMs ?? 0,
      seed: options.seed ?? 1,
      idempotencyWindowMs: options.idempotencyWindowMs ?? DAY_MS,
      identifierWindowMs: options.identifierWindowMs ?? DAY_MS,
      searchIndexDelayMs: options.searchIndexDelayMs ?? 0,
      summaryDelayMs: options.summaryDelayMs ?? 0,
      requireKnownCustomer: options.requireKnownCustomer ?? true,
      asyncCustomerErrors: options.asyncCustomerErrors ?? false,
      meterEventsPerSecondPerCustomerMeter: options.meterEventsPerSecondPerCustomerMeter ?? 0,
    };
    this.latencyMs = this.o.latencyMs;
    this.rng = mulberry32(this.o.seed);
    this.clock = new FakeClock(options.now, options.frozenClock ?? false);
    this.state = new FakeStripeState(this.rng, this.clock, /^(sk|rk)_live_/.test(this.apiKey));
    this.billing = new FakeBilling(this.state, this.clock);
    this.faults = new FaultInjector(this.o.seed);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // A bug in the fake: answer like Stripe's 500 so the test sees it, and say why.
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: { type: 'api_error', message: `fake Stripe bug: ${String(err)}` } }));
        }
      });
    });
    this.server.keepAliveTimeout = 5000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  get env(): { STRIPE_API_KEY: string; STRIPE_API_BASE: string } {
    return { STRIPE_API_KEY: this.apiKey, STRIPE_API_BASE: this.url };
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        this.url = `http://127.0.0.1:${this.port}`;
        resolve();
      });
    });
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  leaksOf(secret: string): string[] {
    const out: string[] = [];
    for (const r of this.requests) {
      const where = `#${r.seq} ${r.method} ${r.path}`;
      if (r.path.includes(secret) || decodeURIComponent(r.path).includes(secret)) out.push(`${where}: path`);
      if (r.query.includes(secret) || safeDecode(r.query).includes(secret)) out.push(`${where}: query`);
      if (r.rawBody.includes(secret) || safeDecode(r.rawBody).includes(secret)) out.push(`${where}: body`);
      for (const [name, value] of Object.entries(r.headers)) {
        if (name === 'authorization') {
          if (value !== `Bearer ${secret}` && String(value).includes(secret)) out.push(`${where}: authorization header is not "Bearer <key>"`);
          continue;
        }
        if (String(value).includes(secret)) out.push(`${where}: header ${name}`);
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      for (const s of this.sockets) s.destroy();
    });
  }

  // -- request handling ------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', 'http://fake.stripe');
    const method = (req.method ?? 'GET').toUpperCase();
    const query = u.search.replace(/^\?/, '');
    const params = method === 'POST' ? parseStripeForm(rawBody) : parseStripeForm(query);
    const rec: RecordedRequest = {
      seq: ++this.requestSeq,
      method,
      path: u.pathname,
      query,
      headers: req.headers,
      rawBody,
      params,
      at: this.clock.now(),
      startedAt: Date.now(),
      requestId: this.state.id('req_'),
    };
    this.requests.push(rec);

    // Concurrency as Stripe sees it: meter events in flight per customer + event name.
    const payload = params.payload as Record<string, unknown> | undefined;
    const flightKey =
      method === 'POST' && rec.path === '/v1/billing/meter_events'
        ? `${String(payload?.stripe_customer_id ?? '')}\u0001${String(params.event_name ?? '')}`
        : `\u0000${rec.seq}`;
    this.state.enter(flightKey);
    let left = false;
    const leave = () => {
      if (!left) {
        left = true;
        rec.endedAt = Date.now();
        this.state.leave(flightKey);
      }
    };
    res.on('close', leave);
    res.on('finish', leave);

    const decision = this.faults.decide(rec);
    const delay = this.latencyMs + decision.delayMs;
    const wait = () => (delay > 0 ? sleep(delay) : Promise.resolve());
    const send = (a: Answer) => this.send(res, rec, a);
    const action = decision.action;

    // Authentication first, as Stripe does.
    const auth = headerText(req.headers.authorization);
    if (auth !== `Bearer ${this.apiKey}`) {
      const given = auth?.replace(/^Bearer\s+/i, '') ?? '';
      const masked = given.length > 12 ? `${given.slice(0, 8)}${'*'.repeat(given.length - 12)}${given.slice(-4)}` : '***';
      await wait();
      send({
        status: 401,
        body: {
          error: {
            type: 'invalid_request_error',
            message: given
              ? `Invalid API Key provided: ${masked}`
              : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
          },
        },
      });
      return;
    }

    // Faults in front of the API: nothing runs, nothing is stored, nothing is saved under the key.
    const inFront =
      action !== undefined &&
      (action.kind === 'rateLimit' || (action.stage === 'before' && (action.kind === 'reset' || action.rule.saved === false)));
    if (action && inFront) {
      rec.fault = action.kind;
      await wait();
      if (action.kind === 'reset') return this.reset(req, res, rec);
      return send(this.faultAnswer(action.kind, action.rule));
    }

    const idemKey = method === 'POST' ? headerText(req.headers['idempotency-key']) : undefined;
    let early: Answer | undefined;
    let replay: IdempotencyEntry['answer'] | undefined;
    let fresh: IdempotencyEntry | undefined;
    if (idemKey !== undefined) {
      const fp = fingerprint(method, rec.path, params);
      let entry = this.idempotency.get(idemKey);
      // Stripe forgets a key after its window (fake clock).
      if (entry && !entry.inFlight && entry.at < this.clock.now() - this.o.idempotencyWindowMs) {
        this.idempotency.delete(idemKey);
        entry = undefined;
      }
      if (entry?.inFlight) {
        early = this.errorAnswer(
          new ApiError(409, {
            type: 'idempotency_error',
            code: 'idempotency_key_in_use',
            message: `There is currently another in-progress request using this idempotent key (that probably means you submitted twice, and the other request is still going through): ${idemKey}. Please try again later.`,
          }),
        );
      } else if (entry && entry.fingerprint !== fp) {
        early = this.errorAnswer(
          new ApiError(400, {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`,
          }),
        );
      } else if (entry?.answer) {
        replay = entry.answer;
      } else {
        // The key is "in progress" from now until the request has run (a slow answer included).
        fresh = { fingerprint: fp, at: this.clock.now(), inFlight: true };
        this.idempotency.set(idemKey, fresh);
      }
    }

    await wait();
    if (early) return send(early);
    const error500 = action?.kind === 'error500' ? action : undefined;
    let answer: Answer | undefined;
    if (!replay) {
      // The endpoint runs (and stores) unless a 500 struck before it stored anything.
      answer = error500?.stage === 'before' ? this.faultAnswer('error500', error500.rule) : this.dispatch(method, rec.path, params);
      if (error500?.stage === 'after') answer = this.faultAnswer('error500', error500.rule);
      if (fresh && idemKey !== undefined) {
        fresh.inFlight = false;
        // Saved: whatever the endpoint answered once it began executing (a 500 included);
        // not saved: validation errors (nothing ran) and 500s from in front of the API.
        if (answer.saved === false || error500?.rule.saved === false) this.idempotency.delete(idemKey);
        else fresh.answer = { status: answer.status, body: JSON.stringify(answer.body, null, 2), headers: answer.headers ?? {}, requestId: rec.requestId };
      }
    }

    // A 500 on a replayed key is not saved (the key holds its first answer); a reset after the
    // request ran loses the answer on the way back.
    if (error500) {
      rec.fault = 'error500';
      if (replay) return send(this.faultAnswer('error500', error500.rule));
    }
    if (action?.kind === 'reset') {
      rec.fault = 'reset';
      return this.reset(req, res, rec);
    }
    if (replay) {
      rec.outcome = 'replayed';
      rec.status = replay.status;
      res.writeHead(replay.status, {
        ...this.commonHeaders(rec, req),
        ...replay.headers,
        'Idempotent-Replayed': 'true',
        'Original-Request': replay.requestId,
      });
      res.end(replay.body);
      return;
    }
    send(answer!);
  }

  private commonHeaders(rec: RecordedRequest, req: http.IncomingMessage): Record<string, string> {
    const h: Record<string, string> = {
      'Content-Type': 'application/json',
      'Request-Id': rec.requestId,
      'Stripe-Version': headerText(req.headers['stripe-version']) ?? '2026-10-28.endive',
    };
    const idem = headerText(req.headers['idempotency-key']);
    if (idem !== undefined && rec.method === 'POST') h['Idempotency-Key'] = idem;
    return h;
  }

  private send(res: http.ServerResponse, rec: RecordedRequest, a: Answer): void {
    rec.status = a.status;
    rec.outcome = 'answered';
    const body = JSON.stringify(a.body, null, 2);
    res.writeHead(a.status, { ...this.commonHeaders(rec, res.req), ...(a.headers ?? {}) });
    res.end(body);
  }

  private reset(req: http.IncomingMessage, res: http.ServerResponse, rec: RecordedRequest): void {
    rec.outcome = 'reset';
    // No answer at all: the client sees ECONNRESET ("socket hang up").
    req.socket.destroy();
    res.destroy();
  }

  private faultAnswer(kind: 'error500' | 'rateLimit' | 'reset', rule: FaultRule): Answer {
    const headers: Record<string, string> = {};
    if (rule.shouldRetry !== undefined) headers['Stripe-Should-Retry'] = String(rule.shouldRetry);
    if (kind === 'rateLimit') {
      return {
        status: 429,
        headers,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'rate_limit',
            message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
            doc_url: 'https://stripe.com/docs/error-codes/rate-limit',
          },
        },
      };
    }
    return { status: 500, headers, body: { error: { type: 'api_error', message: 'An unknown error occurred' } } };
  }

  private errorAnswer(e: ApiError): Answer {
    return { status: e.status, body: { error: e.body }, headers: e.headers, saved: e.executed };
  }

  private dispatch(method: string, p: string, params: Record<string, unknown>): Answer {
    try {
      return { status: 200, body: this.route(method, p, params) };
    } catch (err) {
      if (err instanceof ApiError) return this.errorAnswer(err);
      throw err;
    }
  }

  private route(method: string, p: string, params: Record<string, unknown>): unknown {
    let m: RegExpExecArray | null;
    if (p === '/v1/customers') {
      if (method === 'POST') return this.createCustomer(params);
      if (method === 'GET') return this.listCustomers(params);
    }
    if (p === '/v1/customers/search' && method === 'GET') return this.searchCustomers(params);
    if ((m = /^\/v1\/customers\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1]!);
      if (method === 'GET') return this.retrieveCustomer(id);
      if (method === 'POST') return this.updateCustomer(id, params);
      if (method === 'DELETE') return this.deleteCustomer(id);
    }
    if (p === '/v1/billing/meters') {
      if (method === 'POST') return this.createMeter(params);
      if (method === 'GET') return this.listMeters(params);
    }
    if ((m = /^\/v1\/billing\/meters\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1]!);
      if (method === 'GET') return this.requireMeter(id).object;
      if (method === 'POST') return this.updateMeter(id, params);
    }
    if ((m = /^\/v1\/billing\/meters\/([^/]+)\/(deactivate|reactivate)$/.exec(p)) && method === 'POST') {
      onlyKnown(params, ['expand']);
      return this.setMeterStatus(decodeURIComponent(m[1]!), m[2] === 'deactivate' ? 'inactive' : 'active');
    }
    if ((m = /^\/v1\/billing\/meters\/([^/]+)\/event_summaries$/.exec(p)) && method === 'GET') {
      return this.eventSummaries(decodeURIComponent(m[1]!), params);
    }
    if (p === '/v1/billing/meter_events' && method === 'POST') return this.createMeterEvent(params);
    if (p === '/v2/core/events' && method === 'GET') return this.v2Events(params);
    const billing = this.billing.route(method, p, params);
    if (billing !== undefined) return billing;
    throw invalid(
      `Unrecognized request URL (${method}: ${p}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      {},
      404,
    );
  }

  // -- customers -------------------------------------------------------------------------------

  private createCustomer(params: Record<string, unknown>): unknown {
    onlyKnown(params, KNOWN_CUSTOMER_PARAMS);
    const name = str(params, 'name', false, 256);
    const email = str(params, 'email', false, 512);
    const description = str(params, 'description', false);
    const c = this.state.addCustomer({ name: name ?? null, email: email ?? null, description: description ?? null, metadata: metadataOf(params) ?? {} });
    const phone = str(params, 'phone', false);
    if (phone !== undefined) c.phone = phone;
    return c;
  }

  private liveCustomers(): StoredCustomer[] {
    return [...this.state.customers.values()].filter((c) => !c.deleted).sort((a, b) => b.seq - a.seq);
  }

  private listCustomers(params: Record<string, unknown>): unknown {
    onlyKnown(params, ['email', 'limit', 'starting_after', 'ending_before', 'expand', 'created', 'test_clock']);
    const email = str(params, 'email', false, 512);
    const items = this.liveCustomers()
      .filter((c) => email === undefined || c.object.email === email)
      .map((c) => c.object);
    return page(items, params, '/v1/customers');
  }

  private searchCustomers(params: Record<string, unknown>): unknown {
    onlyKnown(params, ['query', 'limit', 'page', 'expand']);
    const query = str(params, 'query', true)!;
    const test = parseSearchQuery(query);
    const limit = int(params, 'limit', false) ?? 10;
    if (limit < 1 || limit > 100) throw invalid('Invalid limit: must be between 1 and 100', { param: 'limit' });
    const pageToken = str(params, 'page', false);
    const offset = pageToken === undefined ? 0 : Number(Buffer.from(pageToken, 'base64url').toString('utf8'));
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalid('Invalid page token', { param: 'page' });
    const indexedBefore = Date.now() - this.o.searchIndexDelayMs;
    const hits = this.liveCustomers()
      .filter((c) => c.realCreatedAt <= indexedBefore)
      .map((c) => c.object)
      .filter(test);
    const data = hits.slice(offset, offset + limit);
    const more = offset + limit < hits.length;
    return {
      object: 'search_result',
      data,
      has_more: more,
      next_page: more ? Buffer.from(String(offset + limit)).toString('base64url') : null,
      url: '/v1/customers/search',
    };
  }

  private requireCustomer(id: string): StoredCustomer {
    const c = this.state.customers.get(id);
    if (!c) throw refused(`No such customer: '${id}'`, { code: 'resource_missing', param: 'id', doc_url: 'https://stripe.com/docs/error-codes/resource-missing' }, 404);
    return c;
  }

  private retrieveCustomer(id: string): unknown {
    const c = this.requireCustomer(id);
    return c.deleted ? { id, object: 'customer', deleted: true } : c.object;
  }

  private updateCustomer(id: string, params: Record<string, unknown>): unknown {
    onlyKnown(params, KNOWN_CUSTOMER_PARAMS);
    const c = this.requireCustomer(id);
    if (c.deleted) throw refused(`No such customer: '${id}'`, { code: 'resource_missing', param: 'id' }, 404);
    const name = str(params, 'name', false, 256);
    const email = str(params, 'email', false, 512);
    if (name !== undefined) c.object.name = name === '' ? null : name;
    if (email !== undefined) c.object.email = email === '' ? null : email;
    const md = metadataOf(params);
    if (md !== undefined) {
      const merged = params.metadata === '' ? {} : { ...c.object.metadata };
      // An empty value removes a key, as in Stripe.
      for (const [k, v] of Object.entries(md)) {
        if (v === '') delete merged[k];
        else merged[k] = v;
      }
      c.object.metadata = merged;
    }
    return c.object;
  }

  private deleteCustomer(id: string): unknown {
    const c = this.requireCustomer(id);
    c.deleted = true;
    return { id, object: 'customer', deleted: true };
  }

  // -- meters ----------------------------------------------------------------------------------

  private createMeter(params: Record<string, unknown>): unknown {
    onlyKnown(params, ['display_name', 'event_name', 'default_aggregation', 'customer_mapping', 'value_settings', 'event_time_window', 'expand']);
    const displayName = str(params, 'display_name', true, 250)!;
    const eventName = str(params, 'event_name', true, 100)!;
    const agg = params.default_aggregation as Record<string, unknown> | undefined;
    if (!agg || typeof agg !== 'object') throw invalid('Missing required param: default_aggregation.', { code: 'parameter_missing', param: 'default_aggregation' });
    const formula = agg.formula;
    if (formula !== 'sum' && formula !== 'count' && formula !== 'last') {
      throw invalid(`Invalid default_aggregation[formula]: must be one of count, last, or sum`, { code: 'parameter_invalid', param: 'default_aggregation[formula]' });
    }
    const cm = (params.customer_mapping ?? {}) as Record<string, unknown>;
    if (cm.type !== undefined && cm.type !== 'by_id') throw invalid('Invalid customer_mapping[type]: must be by_id', { param: 'customer_mapping[type]' });
    const vs = (params.value_settings ?? {}) as Record<string, unknown>;
    const existing = this.state.meterByEventName(eventName);
    if (existing) {
      throw refused(`A meter with event_name '${eventName}' already exists (${existing.object.id}).`, { code: 'resource_already_exists', param: 'event_name' });
    }
    const meter = this.state.addMeter({
      event_name: eventName,
      display_name: displayName,
      formula,
      customerKey: typeof cm.event_payload_key === 'string' ? cm.event_payload_key : 'stripe_customer_id',
      valueKey: typeof vs.event_payload_key === 'string' ? vs.event_payload_key : 'value',
    });
    if (params.event_time_window === 'hour' || params.event_time_window === 'day') meter.event_time_window = params.event_time_window;
    return meter;
  }

  private listMeters(params: Record<string, unknown>): unknown {
    onlyKnown(params, ['status', 'limit', 'starting_after', 'ending_before', 'expand']);
    const status = str(params, 'status', false);
    if (status !== undefined && status !== 'active' && status !== 'inactive') throw invalid('Invalid status: must be one of active or inactive', { param: 'status' });
    const items = [...this.state.meters.values()]
      .sort((a, b) => b.seq - a.seq)
      .map((m) => m.object)
      .filter((m) => status === undefined || m.status === status);
    return page(items, params, '/v1/billing/meters');
  }

  private requireMeter(id: string): StoredMeter {
    const m = this.state.meters.get(id);
    if (!m) throw refused(`No such billing.meter: '${id}'`, { code: 'resource_missing', param: 'id' }, 404);
    return m;
  }

  private updateMeter(id: string, params: Record<string, unknown>): unknown {
    onlyKnown(params, ['display_name', 'expand']);
    const m = this.requireMeter(id);
    const name = str(params, 'display_name', false, 250);
    if (name !== undefined) m.object.display_name = name;
    m.object.updated = this.clock.nowSeconds();
    return m.object;
  }

  private setMeterStatus(id: string, status: 'active' | 'inactive'): unknown {
    const m = this.requireMeter(id);
    if (m.object.status === status) {
      throw refused(`The meter is already ${status === 'active' ? 'active' : 'inactive'}.`, { param: 'id' });
    }
    m.object.status = status;
    m.object.status_transitions = { deactivated_at: status === 'inactive' ? this.clock.nowSeconds() : null };
    m.object.updated = this.clock.nowSeconds();
    return m.object;
  }

  // -- meter events ----------------------------------------------------------------------------

  private createMeterEvent(params: Record<string, unknown>): unknown {
    onlyKnown(params, ['event_name', 'payload', 'identifier', 'timestamp', 'expand']);
    const eventName = str(params, 'event_name', true, 100)!;
    const payload = params.payload;
    if (payload === undefined) throw invalid('Missing required param: payload.', { code: 'parameter_missing', param: 'payload' });
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw invalid('Invalid hash', { param: 'payload' });
    const pl = payload as Record<string, unknown>;
    for (const [k, v] of Object.entries(pl)) if (typeof v !== 'string') throw invalid('Invalid hash', { param: `payload[${k}]` });
    const identifier = str(params, 'identifier', false, 100);
    const nowS = this.clock.nowSeconds();
    const timestamp = int(params, 'timestamp', false) ?? nowS;
    if (timestamp < nowS - MAX_PAST_S) {
      throw invalid('Timestamp must be within the past 35 calendar days.', { code: 'timestamp_too_far_in_past', param: 'timestamp' });
    }
    if (timestamp > nowS + MAX_FUTURE_S) {
      throw invalid('Timestamp must not be more than 5 minutes in the future.', { code: 'timestamp_in_future', param: 'timestamp' });
    }
    const meter = this.state.meterByEventName(eventName);
    if (!meter || meter.object.status !== 'active') {
      throw refused(`Invalid event_name: ${eventName}. No active meter found with this event name.`, { code: 'no_meter', param: 'event_name' });
    }
    const customerKey = meter.object.customer_mapping.event_payload_key;
    const customer = pl[customerKey];
    if (typeof customer !== 'string' || customer === '') {
      throw invalid(`Missing customer mapping in payload: payload[${customerKey}] is required.`, { code: 'meter_event_no_customer_defined', param: `payload[${customerKey}]` });
    }
    const limit = this.o.meterEventsPerSecondPerCustomerMeter;
    if (limit > 0) {
      // Throttled per customer and meter: turned away before anything runs (nothing saved).
      const key = `${customer}\u0000${eventName}`;
      const recent = (this.state.recentMeterEvents.get(key) ?? []).filter((t) => t > Date.now() - 1000);
      if (recent.length >= limit) {
        throw new ApiError(429, {
          type: 'invalid_request_error', code: 'rate_limited',
          message: `Too many meter events for customer ${customer} and meter ${eventName}: at most ${limit} per second.`,
        });
      }
      recent.push(Date.now());
      this.state.recentMeterEvents.set(key, recent);
    }
    if (this.o.asyncCustomerErrors) {
      const c = this.state.customers.get(customer);
      if (!c || c.deleted) {
        // Taken now, rejected later: in no total, reported in a meter error report.
        const id = identifier ?? this.state.id('', 24);
        this.state.meterErrors.push({ meterId: meter.object.id, code: 'meter_event_customer_not_found', message: `Customer ${customer} not found.`, identifier: id, at: nowS });
        const o = stripeFixture('billing.meter_event');
        Object.assign(o, { created: nowS, event_name: eventName, identifier: id, livemode: this.state.livemode, payload: { ...(pl as Record<string, string>) }, timestamp });
        return o;
      }
    }
    if (this.o.requireKnownCustomer) {
      const c = this.state.customers.get(customer);
      if (!c || c.deleted) {
        throw refused(`No such customer: '${customer}'`, { code: 'meter_event_customer_not_found', param: `payload[${customerKey}]` });
      }
    }
    const valueKey = meter.object.value_settings.event_payload_key;
    let value = 1n * SCALE;
    if (meter.object.default_aggregation.formula !== 'count') {
      const text = pl[valueKey];
      const parsed = typeof text === 'string' ? parseValue(text) : undefined;
      if (parsed === undefined) {
        throw invalid(`Invalid value in payload[${valueKey}]: must be a non-negative number.`, { code: 'meter_event_invalid_value', param: `payload[${valueKey}]` });
      }
      value = parsed;
    }
    const id = identifier ?? this.state.id('', 24);
    const seenAt = this.state.identifiers.get(id);
    if (seenAt !== undefined && seenAt >= this.clock.now() - this.o.identifierWindowMs) {
      throw refused(`An event already exists with identifier ${id}.`, {}, 400, { 'Stripe-Should-Retry': 'false' });
    }
    this.state.identifiers.set(id, this.clock.now());
    const o = stripeFixture('billing.meter_event');
    Object.assign(o, {
      created: nowS,
      event_name: eventName,
      identifier: id,
      livemode: this.state.livemode,
      payload: { ...(pl as Record<string, string>) },
      timestamp,
    });
    this.state.meterEvents.push({
      object: o as StoredMeterEvent['object'],
      meterId: meter.object.id,
      customer,
      value,
      realStoredAt: Date.now(),
      seq: this.state.nextSeq(),
    });
    return o;
  }

  /**
   * Stripe's v2 events, the meter error reports among them: the rejections taken since the last
   * read become one report per meter (every rejected identifier a sample).
   */
  private v2Events(params: Record<string, unknown>): unknown {
    onlyKnown(params, ['object_id', 'types', 'limit', 'page', 'created']);
    const byMeter = new Map<string, AsyncMeterError[]>();
    for (const e of this.state.meterErrors.splice(0)) byMeter.set(e.meterId, [...(byMeter.get(e.meterId) ?? []), e]);
    for (const [meterId, errors] of byMeter) {
      const codes = new Map<string, AsyncMeterError[]>();
      for (const e of errors) codes.set(e.code, [...(codes.get(e.code) ?? []), e]);
      const iso = (t: number) => new Date(t * 1000).toISOString();
      this.state.v2Events.push({
        id: this.state.id('evt_test_', 40), object: 'v2.core.event', context: null, created: new Date(this.clock.now()).toISOString(),
        data: {
          developer_message_summary: `There ${errors.length === 1 ? 'is 1 invalid event' : `are ${errors.length} invalid events`}`,
          reason: {
            error_count: errors.length,
            error_types: [...codes].map(([code, es]) => ({
              code, error_count: es.length, sample_errors: es.map((e) => ({ error_message: e.message, request: { identifier: e.identifier } })),
            })),
          },
          validation_start: iso(Math.min(...errors.map((e) => e.at))),
          validation_end: iso(Math.max(...errors.map((e) => e.at)) + 1),
        },
        livemode: this.state.livemode, reason: null,
        related_object: { id: meterId, type: 'billing.meter', url: `/v1/billing/meters/${meterId}` },
        type: 'v1.billing.meter.error_report_triggered',
      });
    }
    const objectId = str(params, 'object_id', false);
    const types = params.types === undefined ? undefined : ([] as string[]).concat(params.types as string | string[]);
    const data = this.state.v2Events
      .filter((e) => (objectId === undefined || (e.related_object as { id: string }).id === objectId) && (types === undefined || types.includes(String(e.type))))
      .reverse();
    return { data, next_page_url: null, previous_page_url: null };
  }

  private eventSummaries(meterId: string, params: Record<string, unknown>): unknown {
    onlyKnown(params, ['customer', 'start_time', 'end_time', 'value_grouping_window', 'limit', 'starting_after', 'ending_before', 'expand']);
    const meter = this.requireMeter(meterId);
    const customer = str(params, 'customer', true)!;
    const start = int(params, 'start_time', true)!;
    const end = int(params, 'end_time', true)!;
    const grouping = str(params, 'value_grouping_window', false);
    if (start % 60 !== 0) throw invalid('start_time must be aligned with minute boundaries.', { param: 'start_time' });
    if (end % 60 !== 0) throw invalid('end_time must be aligned with minute boundaries.', { param: 'end_time' });
    if (end <= start) throw invalid('end_time must be after start_time.', { param: 'end_time' });
    let windowS: number | undefined;
    if (grouping !== undefined) {
      if (grouping === 'hour') windowS = 3600;
      else if (grouping === 'day') windowS = 86_400;
      else throw invalid('Invalid value_grouping_window: must be one of day or hour', { param: 'value_grouping_window' });
      if (start % windowS !== 0 || end % windowS !== 0) {
        throw invalid(`For ${grouping}ly granularity, start_time and end_time must align with ${grouping} boundaries.`, { param: 'start_time' });
      }
    }
    const visibleBefore = Date.now() - this.o.summaryDelayMs;
    const events = this.state.meterEvents
      .filter((e) => e.meterId === meterId && e.customer === customer && e.object.timestamp >= start && e.object.timestamp < end)
      .filter((e) => e.realStoredAt <= visibleBefore);
    const aggregate = (es: StoredMeterEvent[]): number => {
      switch (meter.object.default_aggregation.formula) {
        case 'count':
          return es.length;
        case 'last': {
          const last = [...es].sort((a, b) => a.object.timestamp - b.object.timestamp || a.seq - b.seq).pop();
          return last ? Number(formatScaled(last.value)) : 0;
        }
        default:
          return Number(formatScaled(es.reduce((s, e) => s + e.value, 0n)));
      }
    };
    const summary = (s: number, e: number, es: StoredMeterEvent[]) => {
      const o = stripeFixture('billing.meter_event_summary');
      const id = `mtrusg_${createHash('sha256').update(`${meterId} ${customer} ${s} ${e}`).digest('hex').slice(0, 24)}`;
      Object.assign(o, { id, aggregated_value: aggregate(es), start_time: s, end_time: e, livemode: this.state.livemode, meter: meterId });
      return o as Record<string, unknown> & { id: string };
    };
    let items: (Record<string, unknown> & { id: string })[];
    if (windowS === undefined) items = [summary(start, end, events)];
    else {
      // One summary per window with events, newest first.
      const byWindow = new Map<number, StoredMeterEvent[]>();
      for (const e of events) {
        const w = e.object.timestamp - (e.object.timestamp % windowS);
        byWindow.set(w, [...(byWindow.get(w) ?? []), e]);
      }
      items = [...byWindow.keys()].sort((a, b) => b - a).map((w) => summary(w, w + windowS, byWindow.get(w)!));
    }
    return page(items, params, `/v1/billing/meters/${meterId}/event_summaries`);
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------
// Stripe's search query language, the part customers use: field:'value', field~'sub',
// metadata['key']:'value', joined by AND or by OR (not both).

type CustomerObject = StoredCustomer['object'];

export function parseSearchQuery(query: string): (c: CustomerObject) => boolean {
  const clauses: ((c: CustomerObject) => boolean)[] = [];
  const joins: string[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw invalid(`Invalid search query: ${why}`, { param: 'query' });
  };
  const ws = () => {
    while (query[i] === ' ') i++;
  };
  const quoted = (): string => {
    const q = query[i];
    if (q !== "'" && q !== '"') return fail(`expected a quoted value at ${i}`);
    i++;
    let out = '';
    while (i < query.length && query[i] !== q) {
      if (query[i] === '\\' && i + 1 < query.length) i++;
      out += query[i];
      i++;
    }
    if (query[i] !== q) fail('unterminated string');
    i++;
    return out;
  };
  while (true) {
    ws();
    const negate = query[i] === '-';
    if (negate) i++;
    let field: string;
    let metaKey: string | undefined;
    const word = /^[a-z_]+/.exec(query.slice(i));
    if (!word) return fail(`expected a field at ${i}`);
    field = word[0];
    i += field.length;
    if (field === 'metadata') {
      if (query[i] !== '[') fail('metadata needs a key: metadata[\'key\']');
      i++;
      metaKey = quoted();
      if (query[i] !== ']') fail('expected ]');
      i++;
    } else if (!['email', 'name', 'phone'].includes(field)) {
      fail(`Field \`${field}\` is an unsupported search field for resource \`customers\``);
    }
    const op = query[i];
    if (op !== ':' && op !== '~') return fail(`expected : or ~ after ${field}`);
    i++;
    const value = quoted();
    const get = (c: CustomerObject): string | null | undefined =>
      metaKey !== undefined ? c.metadata[metaKey] : (c as Record<string, unknown>)[field] as string | null | undefined;
    const test = (c: CustomerObject) => {
      const v = get(c);
      if (v === null || v === undefined) return false;
      return op === ':' ? (field === 'email' ? v.toLowerCase() === value.toLowerCase() : v === value) : v.toLowerCase().includes(value.toLowerCase());
    };
    clauses.push(negate ? (c) => !test(c) : test);
    ws();
    if (i >= query.length) break;
    const j = /^(AND|OR)\b/.exec(query.slice(i));
    if (!j) return fail(`expected AND or OR at ${i}`);
    joins.push(j[1]!);
    i += j[1]!.length;
  }
  if (new Set(joins).size > 1) fail('AND and OR cannot be mixed in one query');
  return joins[0] === 'OR' ? (c) => clauses.some((t) => t(c)) : (c) => clauses.every((t) => t(c));
}
