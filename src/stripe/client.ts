/**
 * The Stripe port: the only module that talks to Stripe. It builds the official `stripe` SDK
 * client from the environment (STRIPE_API_KEY, never the config file; STRIPE_API_BASE for a
 * local fake or mock), and offers the few typed calls billctl needs: meters, customers, meter
 * events, event summaries and error reports, products, prices, subscriptions, invoices and events. Every failure becomes a StripeCallError whose message never holds
 * the key, classified as retryable, already-sent or permanent.
 *
 * The SDK is imported on first use, so `billctl --help` never loads it. Its own retries are off:
 * this port retries (jittered exponential backoff) where a caller asks for it, and the push runs
 * its own loop around sendMeterEvent with the same classification.
 *
 * Idempotency keys. Stripe saves the first answer of a request that began executing under its
 * Idempotency-Key — a 500 included — and replays it to every request with that key for 24 hours.
 * A retry under the same key after a 500 therefore gets the same 500, so no retry here reuses a
 * key that met a 5xx or a lost answer: a meter event's attempts each carry their own key (the
 * event's `identifier`, which Stripe dedups, is what makes it exactly-once), and a create
 * (customer, meter) looks again for what an unanswered request may have made before it sends
 * under a new key. The one reuse left is the SDK's: it resends a request whose connection closed
 * before any answer once, by itself, with the same key (and so gets the saved answer, if any).
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type Stripe from 'stripe';
import { METER_KEYS, type MeterKey, type MeterNames } from '../config.js';
import { BillctlError, ExitCode, UsageError } from '../errors.js';

export { METER_KEYS, type MeterKey };

/** The payload keys of billctl's meters: customer mapped by id, value under `value`. */
export const CUSTOMER_PAYLOAD_KEY = 'stripe_customer_id';
export const VALUE_PAYLOAD_KEY = 'value';

/** Stripe refuses meter event timestamps older than this, or further ahead than MAX_FUTURE. */
export const METER_EVENT_MAX_AGE_MS = 35 * 86_400_000;
export const METER_EVENT_MAX_FUTURE_MS = 5 * 60_000;
/** Stripe's limit on a meter event identifier. */
export const METER_EVENT_IDENTIFIER_MAX = 100;

// ---------------------------------------------------------------------------------------------
// Configuration from the environment

export interface StripeEndpoint {
  protocol: 'http' | 'https';
  host: string;
  port: number;
}

export interface StripeEnv {
  apiKey: string;
  /** Undefined: api.stripe.com. */
  endpoint?: StripeEndpoint;
  /** A live-mode key (sk_live_ / rk_live_): real money. */
  livemode: boolean;
}

const KEY_SHAPE = /^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/;

/**
 * Reads STRIPE_API_KEY and STRIPE_API_BASE. Missing or malformed values are usage errors
 * (exit 2) that say what to do, and never repeat the key.
 */
export function stripeEnv(env: NodeJS.ProcessEnv): StripeEnv {
  const apiKey = env.STRIPE_API_KEY?.trim();
  if (!apiKey) {
    throw new UsageError(
      'STRIPE_API_KEY is not set',
      'Export your Stripe secret key (sk_test_… or sk_live_…, or a restricted rk_… key) in the environment: ' +
        'export STRIPE_API_KEY=sk_test_…  It is read only from the environment, never from billctl.yaml.',
    );
  }
  if (/^pk_/.test(apiKey)) {
    throw new UsageError('STRIPE_API_KEY holds a publishable key (pk_…)', 'billctl needs a secret key: sk_… or a restricted rk_… key.');
  }
  if (!KEY_SHAPE.test(apiKey)) {
    throw new UsageError(
      'STRIPE_API_KEY does not look like a Stripe secret key',
      'It should start with sk_test_, sk_live_, rk_test_ or rk_live_ (check for quotes or spaces).',
    );
  }
  const base = env.STRIPE_API_BASE?.trim();
  const out: StripeEnv = { apiKey, livemode: /_live_/.test(apiKey.slice(0, 8)) };
  if (base) out.endpoint = parseStripeApiBase(base);
  return out;
}

/** `http://127.0.0.1:12111` -> {protocol, host, port} for the SDK's host/port/protocol options. */
export function parseStripeApiBase(text: string): StripeEndpoint {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`STRIPE_API_BASE "${text}" is not a URL`, 'Write it like http://127.0.0.1:12111 or https://api.stripe.com.');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`STRIPE_API_BASE must be an http:// or https:// URL, not ${u.protocol}`);
  }
  if (u.username || u.password) {
    throw new UsageError('STRIPE_API_BASE must not carry credentials', 'The key goes in STRIPE_API_KEY only.');
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    throw new UsageError(`STRIPE_API_BASE must be a bare origin like http://127.0.0.1:12111 (no path)`);
  }
  const protocol = u.protocol === 'http:' ? 'http' : 'https';
  return { protocol, host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : protocol === 'http' ? 80 : 443 };
}

/** The event names, from the config (`stripe.meters`). */
export function meterEventNames(meters: MeterNames): Record<MeterKey, string> {
  return { ...meters };
}

// ---------------------------------------------------------------------------------------------
// Errors

export type StripeFailureKind =
  /**
   * 5xx, network errors and timeouts (the outcome is unknown: try again, under a new key), and
   * 409 and 429 (unless Stripe-Should-Retry: false): nothing ran, try again later.
   */
  | 'retryable'
  /** Stripe already holds a meter event with this identifier: it was sent before. */
  | 'already_sent'
  /** Anything else: a retry would get the same answer. */
  | 'permanent';

export interface StripeFailure {
  kind: StripeFailureKind;
  /** HTTP status; undefined for network errors. */
  status?: number;
  /** Stripe's error code (rate_limit, resource_missing, timestamp_too_far_in_past, ...). */
  code?: string;
  /** Stripe's error type (invalid_request_error, api_error, idempotency_error, ...). */
  type?: string;
  /** Stripe-Should-Retry, when Stripe sent it. */
  shouldRetry?: boolean;
  /** Retry-After in ms, when Stripe sent it. */
  retryAfterMs?: number;
  /** The key was refused (401/403): every further call fails the same way, so stop. */
  fatal: boolean;
  requestId?: string;
  /** Safe to print: never holds the key. */
  message: string;
}

/** A failed Stripe call; exit 1 unless the key itself is wrong (exit 2). */
export class StripeCallError extends BillctlError {
  constructor(readonly failure: StripeFailure, hint?: string) {
    super(failure.message, failure.fatal ? ExitCode.usage : ExitCode.failed, hint);
  }
  get kind(): StripeFailureKind {
    return this.failure.kind;
  }
  get retryable(): boolean {
    return this.failure.kind === 'retryable';
  }
}

/** Removes the key and anything shaped like a Stripe secret from a text. */
export function redactSecrets(text: string, apiKey?: string): string {
  let t = text;
  if (apiKey && apiKey.length >= 4) t = t.split(apiKey).join('***');
  return t.replace(/\b(sk|rk)_(test|live)_[A-Za-z0-9*_]+/g, '$1_$2_***');
}

interface SdkErrorShape {
  type?: unknown;
  rawType?: unknown;
  statusCode?: unknown;
  code?: unknown;
  message?: unknown;
  headers?: unknown;
  requestId?: unknown;
  detail?: unknown;
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const v = (headers as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
}

const ALREADY_EXISTS = /an event already exists with identifier/i;

/**
 * Classifies anything a Stripe call threw. A 5xx is always retryable: its outcome is unknown, and
 * its Stripe-Should-Retry: false only says that a retry under the same key would get the saved
 * 500 again. Otherwise Stripe-Should-Retry wins when present; 429 and 409 are retryable, as are
 * network errors (no status); "an event already exists with identifier" means the meter event was
 * sent before; everything else is permanent.
 */
export function classifyStripeError(err: unknown, apiKey?: string): StripeFailure {
  if (err instanceof StripeCallError) return err.failure;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  const sdkType = typeof e.type === 'string' ? e.type : undefined;
  const isSdkError = sdkType !== undefined && sdkType.startsWith('Stripe');
  const rawMessage = typeof e.message === 'string' ? e.message : String(err);
  const base: StripeFailure = { kind: 'permanent', fatal: false, message: '' };
  if (!isSdkError) {
    // Not from the SDK: a socket error thrown below it, or a bug. Socket errors are retryable.
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH)$/.test(code)) {
      return { ...base, kind: 'retryable', code, message: `cannot reach Stripe (${code})` };
    }
    return { ...base, message: redactSecrets(`Stripe call failed: ${rawMessage}`, apiKey) };
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const type = typeof e.rawType === 'string' ? e.rawType : undefined;
  const requestId = typeof e.requestId === 'string' ? e.requestId : undefined;
  const should = headerOf(e.headers, 'stripe-should-retry');
  const retryAfter = headerOf(e.headers, 'retry-after');
  const f: StripeFailure = { ...base, message: '' };
  if (status !== undefined) f.status = status;
  if (code !== undefined) f.code = code;
  if (type !== undefined) f.type = type;
  if (requestId !== undefined) f.requestId = requestId;
  if (should === 'true' || should === 'false') f.shouldRetry = should === 'true';
  if (retryAfter !== undefined && /^\d+(\.\d+)?$/.test(retryAfter)) f.retryAfterMs = Math.round(Number(retryAfter) * 1000);
  const where = requestId ? ` (request ${requestId})` : '';

  if (sdkType === 'StripeConnectionError' || status === undefined) {
    f.kind = 'retryable';
    f.message = redactSecrets(`cannot reach Stripe: ${rawMessage}`, apiKey);
    return f;
  }
  if (status === 401 || status === 403) {
    f.fatal = true;
    f.message =
      status === 401
        ? `Stripe refused the API key (401)${where}: check STRIPE_API_KEY`
        : `the API key may not do this (403)${where}: a restricted key needs write access to customers and billing meters`;
    return f;
  }
  f.message = redactSecrets(`Stripe answered ${status}${code ? ` ${code}` : ''}: ${rawMessage}${where}`, apiKey);
  if (status === 400 && ALREADY_EXISTS.test(rawMessage)) {
    f.kind = 'already_sent';
    return f;
  }
  if (status >= 500) f.kind = 'retryable';
  else if (f.shouldRetry !== undefined) f.kind = f.shouldRetry ? 'retryable' : 'permanent';
  else f.kind = status === 429 || status === 409 ? 'retryable' : 'permanent';
  return f;
}

// ---------------------------------------------------------------------------------------------
// Backoff

export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number;
  baseMs: number;
  maxMs: number;
  /** [0, 1); Math.random unless a test seeds it. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseMs: 500, maxMs: 8000 };

/**
 * Delay before retry number `attempt` (1-based): exponential with jitter in [half, full], never
 * below Stripe's Retry-After.
 */
export function backoffMs(attempt: number, policy: RetryPolicy, retryAfterMs?: number): number {
  const random = policy.random ?? Math.random;
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(cap / 2 + (random() * cap) / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` and retries it while it fails with a retryable Stripe failure. */
export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (failure: StripeFailure, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof StripeCallError) || !err.retryable || attempt >= policy.retries) throw err;
      const delay = backoffMs(attempt + 1, policy, err.failure.retryAfterMs);
      onRetry?.(err.failure, attempt + 1, delay);
      await (policy.sleep ?? realSleep)(delay);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The client

export interface StripeClientOptions {
  /** Per-request timeout; default 30 s. */
  timeoutMs?: number;
  /** Retries for meters, customers and summaries (default DEFAULT_RETRY). sendMeterEvent never retries on its own. */
  retry?: RetryPolicy;
  /** Sockets kept open to Stripe (the push sets it to its concurrency). */
  maxSockets?: number;
  /** Told about every retry (for a notice on stderr). */
  onRetry?: (failure: StripeFailure, attempt: number, delayMs: number) => void;
}

export type StripeMeter = Stripe.Billing.Meter;
export type StripeCustomer = Stripe.Customer;
export type StripeProduct = Stripe.Product;
export type StripePrice = Stripe.Price;
export type StripeSubscription = Stripe.Subscription;
export type StripeInvoice = Stripe.Invoice;
export type StripeEventObject = Stripe.Event;

/** A price to create, with decimal amounts as text (the client turns them into the SDK's decimals). */
export interface PriceSpec {
  product: string;
  currency: string;
  lookupKey: string;
  nickname: string;
  metadata: Record<string, string>;
  recurring: { usageType: 'metered'; meter: string } | { usageType: 'licensed' };
  amounts:
    | { scheme: 'per_unit'; unitAmountDecimal: string; transformQuantity: { divideBy: string; round: 'up' | 'down' } | null }
    | { scheme: 'tiered'; tiersMode: 'graduated' | 'volume'; tiers: { upTo: string | null; unitAmountDecimal: string; flatAmountDecimal: string }[] };
}

/** What a subscription is made of: its items' prices (quantity 1 for licensed ones). */
export interface SubscriptionSpec {
  customer: string;
  prices: { price: string; licensed: boolean }[];
  metadata: Record<string, string>;
  /** Seconds: the start in the past (the period's start), and the first renewal. */
  backdateStartDate: number;
  billingCycleAnchor: number;
}

/** A change of a subscription's items: keep, swap price, add, remove; prorated as of `prorationDate`. */
export interface SubscriptionItemChange {
  id?: string;
  price?: string;
  deleted?: boolean;
}

/** What a billctl meter looks like: sum of `value`, customer mapped by id. */
export interface MeterSpec {
  eventName: string;
  displayName: string;
}

/** Whether an existing meter aggregates the way billctl pushes (sum of `value`, customer by id). */
export function meterMismatches(m: StripeMeter): string[] {
  const out: string[] = [];
  if (m.default_aggregation.formula !== 'sum') out.push(`aggregates by ${m.default_aggregation.formula}, not sum`);
  if (m.customer_mapping.type !== 'by_id' || m.customer_mapping.event_payload_key !== CUSTOMER_PAYLOAD_KEY) {
    out.push(`maps customers by ${m.customer_mapping.type}:${m.customer_mapping.event_payload_key}, not by_id:${CUSTOMER_PAYLOAD_KEY}`);
  }
  if (m.value_settings.event_payload_key !== VALUE_PAYLOAD_KEY) out.push(`reads the value from "${m.value_settings.event_payload_key}", not "${VALUE_PAYLOAD_KEY}"`);
  if (m.event_time_window) out.push(`expects events pre-aggregated by ${m.event_time_window}`);
  return out;
}

export interface NewCustomer {
  tenantId: string;
  name: string;
  email: string | null;
}

export interface MeterEventInput {
  eventName: string;
  customerId: string;
  /** A whole number of units. */
  value: bigint | number | string;
  /** Seconds since the epoch. */
  timestamp: number;
  /** Deterministic, at most 100 characters: Stripe keeps one event per identifier (for at least 24 hours). */
  identifier: string;
  /**
   * This attempt's own Idempotency-Key (see attemptKey); default a new random one. Never the
   * identifier of every attempt: Stripe would replay a saved 500 to each of them.
   */
  idempotencyKey?: string;
}

export interface MeterEventSent {
  /** `sent`: Stripe stored it now; `already_sent`: Stripe held this identifier already. */
  outcome: 'sent' | 'already_sent';
  requestId?: string;
  /** True when Stripe replayed an earlier answer for the same Idempotency-Key. */
  replayed: boolean;
}

/** A meter error report: meter events Stripe took and then rejected (`v1.billing.meter.error_report_triggered`). */
export interface MeterErrorReport {
  id: string;
  /** When Stripe made the report (ms). */
  created: number;
  meterId: string;
  errors: { code: string; count: number; samples: { message: string; identifier: string }[] }[];
}

export interface EventSummary {
  start: number;
  end: number;
  value: number;
}

/**
 * The Idempotency-Key of attempt `attempt` (1-based, counted over every run) at sending the meter
 * event `identifier`: each attempt its own, so a 500 Stripe saved for one attempt is not what the
 * next one gets; the identifier still makes Stripe keep the event once.
 */
export function attemptKey(identifier: string, attempt: number): string {
  return `${identifier}-a${attempt}`;
}

/** Idempotency key for creating a billctl object (customer, meter, product, price, subscription) named by `what`. */
export function idempotencyKey(kind: string, what: string): string {
  return `billctl-${kind}-${createHash('sha256').update(what, 'utf8').digest('hex').slice(0, 40)}`;
}

/** Idempotency key for creating the customer of a tenant: the same tenant always gets the same key. */
export function customerIdempotencyKey(tenantId: string): string {
  return idempotencyKey('customer', tenantId);
}

/** Idempotency key for creating a meter for an event name. */
export function meterIdempotencyKey(eventName: string): string {
  return idempotencyKey('meter', eventName);
}

/** A value in Stripe's search language: quoted, with quotes and backslashes escaped. */
export function searchString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export class StripeClient {
  readonly livemode: boolean;
  private readonly retry: RetryPolicy;

  constructor(
    private readonly sdk: Stripe,
    private readonly env: StripeEnv,
    private readonly agent: http.Agent,
    private readonly options: StripeClientOptions,
  ) {
    this.livemode = env.livemode;
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  /** Where requests go, safe to print. */
  get endpoint(): string {
    const e = this.env.endpoint;
    return e ? `${e.protocol}://${e.host}:${e.port}` : 'https://api.stripe.com';
  }

  /** Runs one SDK call; failures become StripeCallError (with the key scrubbed). */
  private async once<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StripeCallError) throw err;
      const f = classifyStripeError(err, this.env.apiKey);
      if (f.kind === 'permanent' && f.status === undefined && !(typeof err === 'object' && err !== null && 'type' in err)) {
        // Not a Stripe answer at all: a bug, not something to classify away.
        throw err;
      }
      throw new StripeCallError(f, f.fatal ? 'Set STRIPE_API_KEY to a valid secret key for this Stripe account.' : undefined);
    }
  }

  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withRetries(() => this.once(fn), this.retry, this.options.onRetry);
  }

  /**
   * A create that must not happen twice. The first request carries `key`, derived from what is
   * created, so a re-run within Stripe's 24 hours gets back what an earlier run made. A failed
   * request may have created it all the same (a 5xx, a lost answer), and Stripe replays a saved
   * 500 to that key; so each retry first looks again (`recheck`) and only then sends under a new
   * key.
   */
  private createOnce<T>(key: string, create: (key: string) => Promise<T>, recheck: () => Promise<T | undefined>): Promise<T> {
    return withRetries(
      async (attempt) => {
        if (attempt === 0) return this.once(() => create(key));
        const found = await recheck();
        return found ?? (await this.once(() => create(`${key}-retry-${randomBytes(8).toString('hex')}`)));
      },
      this.retry,
      this.options.onRetry,
    );
  }

  /** Every meter, active and inactive. */
  listMeters(): Promise<StripeMeter[]> {
    return this.call(async () => {
      const out: StripeMeter[] = [];
      for await (const m of this.sdk.billing.meters.list({ limit: 100 })) out.push(m);
      return out;
    });
  }

  /**
   * Creates a billctl meter; the idempotency key makes a repeated create return the same meter,
   * and a retry first looks for a meter with the event name (see createOnce).
   */
  createMeter(spec: MeterSpec): Promise<StripeMeter> {
    const params: Stripe.Billing.MeterCreateParams = {
      display_name: spec.displayName,
      event_name: spec.eventName,
      default_aggregation: { formula: 'sum' },
      customer_mapping: { type: 'by_id', event_payload_key: CUSTOMER_PAYLOAD_KEY },
      value_settings: { event_payload_key: VALUE_PAYLOAD_KEY },
    };
    return this.createOnce(
      meterIdempotencyKey(spec.eventName),
      (idempotencyKey) => this.sdk.billing.meters.create(params, { idempotencyKey }),
      async () => (await this.listMeters()).find((m) => m.event_name === spec.eventName && m.status === 'active'),
    );
  }

  reactivateMeter(id: string): Promise<StripeMeter> {
    return this.call(() => this.sdk.billing.meters.reactivate(id));
  }

  /** Customers whose metadata names this tenant (Stripe's search: eventually consistent, about a minute). */
  findCustomersByTenant(tenantId: string): Promise<StripeCustomer[]> {
    return this.call(async () => {
      const out: StripeCustomer[] = [];
      const params: Stripe.CustomerSearchParams = { query: `metadata['tenant_id']:${searchString(tenantId)}`, limit: 100 };
      for await (const c of this.sdk.customers.search(params)) out.push(c);
      return out;
    });
  }

  /** Customers with this exact email (the list endpoint: strongly consistent, unlike search). */
  listCustomersByEmail(email: string): Promise<StripeCustomer[]> {
    return this.call(async () => {
      const out: StripeCustomer[] = [];
      for await (const c of this.sdk.customers.list({ email, limit: 100 })) out.push(c);
      return out;
    });
  }

  /** The customer, or `deleted`, or `missing`. */
  retrieveCustomer(id: string): Promise<StripeCustomer | 'deleted' | 'missing'> {
    return this.call(async () => {
      try {
        const c = await this.sdk.customers.retrieve(id);
        return c.deleted ? 'deleted' : c;
      } catch (err) {
        if (classifyStripeError(err).status === 404) return 'missing';
        throw err;
      }
    });
  }

  /**
   * Creates the customer of a tenant: name, email, metadata tenant_id, and an idempotency key
   * derived from the tenant, so a re-run within Stripe's 24 hours returns the customer made
   * before instead of a second one. Before a retry, `recheck` looks for the tenant's customer (an
   * unanswered request may have made it); see createOnce.
   */
  createCustomer(c: NewCustomer, recheck: () => Promise<StripeCustomer | undefined>): Promise<StripeCustomer> {
    const params: Stripe.CustomerCreateParams = { name: c.name, metadata: { tenant_id: c.tenantId } };
    if (c.email) params.email = c.email;
    return this.createOnce(customerIdempotencyKey(c.tenantId), (idempotencyKey) => this.sdk.customers.create(params, { idempotencyKey }), recheck);
  }

  /** Records the tenant in a customer's metadata (other keys are kept). */
  tagCustomer(id: string, tenantId: string): Promise<StripeCustomer> {
    const params: Stripe.CustomerUpdateParams = { metadata: { tenant_id: tenantId } };
    return this.call(() => this.sdk.customers.update(id, params));
  }

  /**
   * Sends one attempt at a meter event, under the attempt's own Idempotency-Key. Resolves `sent`,
   * or `already_sent` when Stripe already holds the identifier; rejects with a StripeCallError
   * (check `.retryable`). No retries here: the caller's loop owns them.
   */
  async sendMeterEvent(e: MeterEventInput, opts: { timeoutMs?: number } = {}): Promise<MeterEventSent> {
    if (e.identifier.length === 0 || e.identifier.length > METER_EVENT_IDENTIFIER_MAX) {
      throw new Error(`meter event identifier must be 1..${METER_EVENT_IDENTIFIER_MAX} characters: ${e.identifier}`);
    }
    const value = typeof e.value === 'bigint' ? e.value.toString() : String(e.value);
    if (!/^\d+$/.test(value)) throw new Error(`meter event value must be a whole number: ${value}`);
    const params: Stripe.Billing.MeterEventCreateParams = {
      event_name: e.eventName,
      identifier: e.identifier,
      timestamp: e.timestamp,
      payload: { [CUSTOMER_PAYLOAD_KEY]: e.customerId, [VALUE_PAYLOAD_KEY]: value },
    };
    const options: Stripe.RequestOptions = { idempotencyKey: e.idempotencyKey ?? `${e.identifier}-${randomBytes(8).toString('hex')}` };
    if (opts.timeoutMs !== undefined) options.timeout = opts.timeoutMs;
    try {
      const res = await this.once(() => this.sdk.billing.meterEvents.create(params, options));
      const out: MeterEventSent = { outcome: 'sent', replayed: res.lastResponse.headers['idempotent-replayed'] === 'true' };
      if (res.lastResponse.requestId) out.requestId = res.lastResponse.requestId;
      return out;
    } catch (err) {
      if (err instanceof StripeCallError && err.kind === 'already_sent') {
        const out: MeterEventSent = { outcome: 'already_sent', replayed: false };
        if (err.failure.requestId) out.requestId = err.failure.requestId;
        return out;
      }
      throw err;
    }
  }

  /**
   * Stripe's aggregated usage of one customer on one meter in [startS, endS) (minute-aligned;
   * hour/day aligned with a grouping window). Aggregation is asynchronous at Stripe: recent
   * events may not be counted yet.
   */
  listEventSummaries(meterId: string, customerId: string, startS: number, endS: number, window?: 'hour' | 'day'): Promise<EventSummary[]> {
    const params: Stripe.Billing.MeterListEventSummariesParams = { customer: customerId, start_time: startS, end_time: endS, limit: 100 };
    if (window) params.value_grouping_window = window;
    return this.call(async () => {
      const out: EventSummary[] = [];
      for await (const s of this.sdk.billing.meters.listEventSummaries(meterId, params)) {
        out.push({ start: s.start_time, end: s.end_time, value: s.aggregated_value });
      }
      return out.sort((a, b) => a.start - b.start);
    });
  }

  // -- products, prices, subscriptions, invoices, events ------------------------------------------

  /** A product by id, or `missing`. */
  retrieveProduct(id: string): Promise<StripeProduct | 'missing'> {
    return this.call(async () => {
      try {
        return await this.sdk.products.retrieve(id);
      } catch (err) {
        if (classifyStripeError(err).status === 404) return 'missing';
        throw err;
      }
    });
  }

  /**
   * Creates a product under billctl's own id (Stripe takes an id once: a second create of it is
   * refused, and then the product is read instead).
   */
  async createProduct(p: { id: string; name: string; unitLabel: string | null }): Promise<{ product: StripeProduct; created: boolean }> {
    const params: Stripe.ProductCreateParams = { id: p.id, name: p.name, metadata: { billctl: 'true' } };
    if (p.unitLabel) params.unit_label = p.unitLabel;
    const found = async () => {
      const r = await this.retrieveProduct(p.id);
      return r === 'missing' ? undefined : r;
    };
    try {
      const product = await this.createOnce(idempotencyKey('product', p.id), (idempotencyKey) => this.sdk.products.create(params, { idempotencyKey }), found);
      return { product, created: true };
    } catch (err) {
      if (err instanceof StripeCallError && err.failure.code === 'resource_already_exists') {
        const product = await found();
        if (product) return { product, created: false };
      }
      throw err;
    }
  }

  updateProduct(id: string, fields: { name?: string; unitLabel?: string | null; active?: boolean }): Promise<StripeProduct> {
    const params: Stripe.ProductUpdateParams = {};
    if (fields.name !== undefined) params.name = fields.name;
    if (fields.unitLabel !== undefined) params.unit_label = fields.unitLabel ?? '';
    if (fields.active !== undefined) params.active = fields.active;
    return this.call(() => this.sdk.products.update(id, params));
  }

  /** The prices holding these lookup keys (active or not), with their tiers. */
  pricesByLookupKeys(keys: readonly string[]): Promise<StripePrice[]> {
    return this.call(async () => {
      const out: StripePrice[] = [];
      for (let i = 0; i < keys.length; i += 10) {
        const params: Stripe.PriceListParams = { lookup_keys: keys.slice(i, i + 10), limit: 100, expand: ['data.tiers'] };
        for await (const p of this.sdk.prices.list(params)) out.push(p);
      }
      return out;
    });
  }

  /**
   * Creates a price under its lookup_key (`transfer`: taking the key from the price that holds
   * it). The key derived from what is created makes a re-run within 24 hours get the same price;
   * before a retry, the price is looked for by its lookup key (see createOnce). A create refused
   * because another price holds the key is answered by that price, which the caller compares.
   */
  async createPrice(spec: PriceSpec, options: { transfer: boolean; digest: string }): Promise<{ price: StripePrice; created: boolean }> {
    const D = (text: string) => this.sdk.Decimal.from(text);
    const params: Stripe.PriceCreateParams = {
      product: spec.product,
      currency: spec.currency,
      lookup_key: spec.lookupKey,
      nickname: spec.nickname,
      metadata: spec.metadata,
      // The answer is compared with what was asked: it must hold the tiers.
      expand: ['tiers'],
      recurring: spec.recurring.usageType === 'metered'
        ? { interval: 'month', interval_count: 1, usage_type: 'metered', meter: spec.recurring.meter }
        : { interval: 'month', interval_count: 1, usage_type: 'licensed' },
    };
    if (options.transfer) params.transfer_lookup_key = true;
    const a = spec.amounts;
    if (a.scheme === 'per_unit') {
      params.billing_scheme = 'per_unit';
      if (/^\d+$/.test(a.unitAmountDecimal)) params.unit_amount = Number(a.unitAmountDecimal);
      else params.unit_amount_decimal = D(a.unitAmountDecimal);
      if (a.transformQuantity) params.transform_quantity = { divide_by: Number(a.transformQuantity.divideBy), round: a.transformQuantity.round };
    } else {
      params.billing_scheme = 'tiered';
      params.tiers_mode = a.tiersMode;
      params.tiers = a.tiers.map((t) => ({
        up_to: t.upTo === null ? 'inf' : Number(t.upTo),
        unit_amount_decimal: D(t.unitAmountDecimal),
        flat_amount_decimal: D(t.flatAmountDecimal),
      }));
    }
    const holder = async () => (await this.pricesByLookupKeys([spec.lookupKey]))[0];
    try {
      const price = await this.createOnce(
        idempotencyKey('price', `${spec.lookupKey}\u0000${options.digest}\u0000${options.transfer}`),
        (idempotencyKey) => this.sdk.prices.create(params, { idempotencyKey }),
        async () => {
          const p = await holder();
          return p && p.metadata.billctl_digest === options.digest ? p : undefined;
        },
      );
      return { price, created: true };
    } catch (err) {
      if (err instanceof StripeCallError && /already uses that lookup key/i.test(err.failure.message)) {
        const price = await holder();
        if (price) return { price, created: false };
      }
      throw err;
    }
  }

  /** Archives (or restores) a price: `active` is one of the few things of a price that change. */
  setPriceActive(id: string, active: boolean): Promise<StripePrice> {
    return this.call(() => this.sdk.prices.update(id, { active }));
  }

  /** A subscription, or `missing`. */
  retrieveSubscription(id: string): Promise<StripeSubscription | 'missing'> {
    return this.call(async () => {
      try {
        return await this.sdk.subscriptions.retrieve(id);
      } catch (err) {
        if (classifyStripeError(err).status === 404) return 'missing';
        throw err;
      }
    });
  }

  /** Every subscription of a customer, canceled ones included (the list is strongly consistent). */
  subscriptionsOf(customer: string): Promise<StripeSubscription[]> {
    return this.call(async () => {
      const out: StripeSubscription[] = [];
      for await (const s of this.sdk.subscriptions.list({ customer, status: 'all', limit: 100 })) out.push(s);
      return out;
    });
  }

  /**
   * Creates a subscription, once: the first request's key is derived from `key`, and before a
   * retry `recheck` looks for the subscription an unanswered request may have made.
   */
  createSubscription(spec: SubscriptionSpec, key: string, recheck: () => Promise<StripeSubscription | undefined>): Promise<StripeSubscription> {
    const params: Stripe.SubscriptionCreateParams = {
      customer: spec.customer,
      items: spec.prices.map((p) => (p.licensed ? { price: p.price, quantity: 1 } : { price: p.price })),
      metadata: spec.metadata,
      backdate_start_date: spec.backdateStartDate,
      billing_cycle_anchor: spec.billingCycleAnchor,
      proration_behavior: 'create_prorations',
    };
    return this.createOnce(idempotencyKey('subscription', key), (idempotencyKey) => this.sdk.subscriptions.create(params, { idempotencyKey }), recheck);
  }

  /**
   * Changes a subscription's items as of `prorationDate` (Stripe prorates licensed items from
   * it) and its metadata. Not retried here: a change is read back and redone by the caller,
   * since a 500 saved under a key would come back to a retry with it.
   */
  updateSubscription(id: string, change: { items?: SubscriptionItemChange[]; prorationDate?: number; metadata?: Record<string, string>; cancelAtPeriodEnd?: boolean }): Promise<StripeSubscription> {
    const params: Stripe.SubscriptionUpdateParams = {};
    if (change.items) {
      params.items = change.items.map((i) => {
        const item: Stripe.SubscriptionUpdateParams.Item = {};
        if (i.id !== undefined) item.id = i.id;
        if (i.price !== undefined) item.price = i.price;
        if (i.deleted) item.deleted = true;
        return item;
      });
      params.proration_behavior = 'create_prorations';
    }
    if (change.prorationDate !== undefined) params.proration_date = change.prorationDate;
    if (change.metadata) params.metadata = change.metadata;
    if (change.cancelAtPeriodEnd !== undefined) params.cancel_at_period_end = change.cancelAtPeriodEnd;
    return this.once(() => this.sdk.subscriptions.update(id, params, { idempotencyKey: `billctl-subscription-update-${randomBytes(12).toString('hex')}` }));
  }

  /** Ends a subscription now; `invoiceNow`: Stripe invoices the usage so far at once. */
  cancelSubscription(id: string, invoiceNow: boolean): Promise<StripeSubscription> {
    return this.once(() => this.sdk.subscriptions.cancel(id, { invoice_now: invoiceNow, prorate: false }));
  }

  /** Events created at or after `createdGte` (seconds) of the given types, as Stripe lists them (newest first). */
  listEvents(createdGte: number, types: readonly string[]): Promise<StripeEventObject[]> {
    return this.call(async () => {
      const out: StripeEventObject[] = [];
      for await (const e of this.sdk.events.list({ created: { gte: createdGte }, types: [...types], limit: 100 })) out.push(e);
      return out;
    });
  }

  /** A customer's invoices created in [fromS, toS). */
  invoicesOf(customer: string, fromS: number, toS: number): Promise<StripeInvoice[]> {
    return this.call(async () => {
      const out: StripeInvoice[] = [];
      for await (const i of this.sdk.invoices.list({ customer, created: { gte: fromS, lt: toS }, limit: 100 })) out.push(i);
      return out;
    });
  }

  /**
   * The meter error reports of a meter (Stripe's v2 events about it), newest first: events it
   * answered 200 and then rejected (say, for a customer that does not exist), with sample
   * identifiers.
   */
  meterErrorReports(meterId: string): Promise<MeterErrorReport[]> {
    return this.call(async () => {
      const out: MeterErrorReport[] = [];
      const list = this.sdk.v2.core.events.list({ object_id: meterId, types: ['v1.billing.meter.error_report_triggered'], limit: 100 });
      for await (const e of list) {
        if (e.type !== 'v1.billing.meter.error_report_triggered') continue;
        const data = (e as unknown as { data?: { reason?: { error_types?: { code: string; error_count: number; sample_errors?: { error_message: string; request?: { identifier?: string } }[] }[] } } }).data;
        out.push({
          id: e.id,
          created: Date.parse(e.created),
          meterId,
          errors: (data?.reason?.error_types ?? []).map((t) => ({
            code: t.code,
            count: t.error_count,
            samples: (t.sample_errors ?? []).flatMap((x) => (x.request?.identifier ? [{ message: x.error_message, identifier: x.request.identifier }] : [])),
          })),
        });
      }
      return out;
    });
  }

  /** Every line of an invoice (the invoice holds the first ones; more are listed). */
  invoiceLines(inv: StripeInvoice): Promise<Stripe.InvoiceLineItem[]> {
    if (!inv.lines.has_more) return Promise.resolve(inv.lines.data);
    return this.call(async () => {
      const out: Stripe.InvoiceLineItem[] = [];
      for await (const l of this.sdk.invoices.listLineItems(inv.id!, { limit: 100 })) out.push(l);
      return out;
    });
  }

  /** Closes the sockets kept open to Stripe. */
  close(): void {
    this.agent.destroy();
  }
}

/**
 * Builds the client from the environment. Throws a usage error (exit 2) when STRIPE_API_KEY or
 * STRIPE_API_BASE is missing or malformed.
 */
export async function openStripe(env: NodeJS.ProcessEnv, options: StripeClientOptions = {}): Promise<StripeClient> {
  const se = stripeEnv(env);
  const { default: StripeSdk } = await import('stripe');
  const secure = (se.endpoint?.protocol ?? 'https') === 'https';
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16 };
  const agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const config: Stripe.StripeConfig = {
    // The SDK would retry 409/5xx and Stripe-Should-Retry on its own, under the same key (which
    // after a 500 only fetches the saved 500 again); retries are ours. It still resends once, by
    // itself, a request whose connection closed before any answer (ECONNRESET, EPIPE), with the
    // same key: harmless, since Stripe then replays whatever that attempt's request got.
    maxNetworkRetries: 0,
    timeout: options.timeoutMs ?? 30_000,
    httpAgent: agent,
    telemetry: false,
    appInfo: { name: 'billctl' },
  };
  if (se.endpoint) {
    config.host = se.endpoint.host;
    config.port = se.endpoint.port;
    config.protocol = se.endpoint.protocol;
  }
  const sdk = new StripeSdk(se.apiKey, config);
  return new StripeClient(sdk, se, agent, options);
}
