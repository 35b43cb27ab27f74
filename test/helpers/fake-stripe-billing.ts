/**
 * The fake Stripe's Billing objects: products, prices, subscriptions and their items, invoices
 * and events, keeping Stripe's rules where billctl depends on them:
 *
 * - a price is immutable: only `active`, `metadata`, `nickname`, `lookup_key` (with
 *   `transfer_lookup_key`) and `tax_behavior` change; anything else is an unknown parameter;
 * - a lookup_key belongs to one price: another create with it is refused unless it transfers it;
 * - a tiered price (`billing_scheme=tiered`) needs `tiers_mode` (graduated or volume) and `tiers`,
 *   each with a unit or a flat amount and a whole `up_to` above the one before, the last `inf`;
 *   `tiers` are in a price only when expanded (`expand[]=tiers`, `expand[]=data.tiers` in lists);
 *   a quantity of 0 falls in the first tier, whose flat amount Stripe bills;
 * - a metered price bills a meter (`recurring[meter]`), has no quantity on its subscription item,
 *   and one subscription holds a price once;
 * - products may be created with their own id, once;
 * - every change records an event (`GET /v1/events`, newest first); events can be held back and
 *   released later with their old `created`, as Stripe does not promise their order.
 *
 * Invoices are issued by the test (`renew`, at a period's end: the usage of the period that ends
 * at each metered item's price, exact and rounded half up once per line, and the fee of the next
 * period in advance; `cancel` with invoice_now: the usage so far) and paid or failed by it.
 * Amounts are kept exactly: meter values and decimal prices are scaled by 10^12.
 */
import type { FakeClock, FakeStripeState } from './fake-stripe.js';
import { stripeFixture } from './fake-stripe.js';
import { int, invalid, metadataOf, onlyKnown, page, refused, str } from './fake-stripe-wire.js';

const SCALE = 10n ** 12n;

/** Decimal text with at most 12 decimals, scaled by 10^12; undefined when it is not one. */
function scaled(text: string): bigint | undefined {
  const m = /^(\d{1,20})(?:\.(\d{1,12}))?$/.exec(text);
  if (!m) return undefined;
  return BigInt(m[1]!) * SCALE + BigInt((m[2] ?? '').padEnd(12, '0'));
}

function unscale(v: bigint): string {
  const whole = v / SCALE;
  const frac = (v % SCALE).toString().padStart(12, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole.toString();
}

/** x / SCALE², rounded half up to a whole minor unit. */
function roundAmount(x: bigint): bigint {
  const d = SCALE * SCALE;
  return x >= 0n ? (x + d / 2n) / d : -((-x + d / 2n) / d);
}

function expands(params: Record<string, unknown>, path: string): boolean {
  const e = params.expand;
  return Array.isArray(e) ? e.includes(path) : e === path;
}

/** The UTC instant `months` months after `anchorS` on the anchor's day (clamped to the month's last day) and time. */
export function addMonthsUtc(anchorS: number, months: number): number {
  const d = new Date(anchorS * 1000);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + months;
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return Date.UTC(y, m, Math.min(d.getUTCDate(), last), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()) / 1000;
}

type Obj = Record<string, unknown>;

export interface StoredProduct {
  object: Obj & { id: string; name: string; active: boolean };
  seq: number;
}

export interface StoredTier {
  upTo: bigint | null;
  unit: bigint;
  flat: bigint;
}

export interface StoredPrice {
  object: Obj & {
    id: string;
    active: boolean;
    currency: string;
    lookup_key: string | null;
    product: string;
    billing_scheme: 'per_unit' | 'tiered';
    tiers_mode: 'graduated' | 'volume' | null;
    transform_quantity: { divide_by: number; round: 'up' | 'down' } | null;
    recurring: { interval: string; interval_count: number; meter: string | null; usage_type: 'licensed' | 'metered'; trial_period_days: null } | null;
    unit_amount: number | null;
    unit_amount_decimal: string | null;
  };
  tiers: StoredTier[] | null;
  seq: number;
}

export interface StoredItem {
  id: string;
  priceId: string;
  quantity: number | null;
  metadata: Record<string, string>;
  created: number;
  /** Seconds; null while on the subscription. */
  deletedAt: number | null;
  /** The price's usage since this instant (s) is the item's (a swap starts a new span). */
  since: number;
}

interface PendingLine {
  description: string;
  amount: bigint;
  priceId: string;
  itemId: string;
  start: number;
  end: number;
  proration: boolean;
}

export interface StoredSubscription {
  id: string;
  customer: string;
  items: StoredItem[];
  metadata: Record<string, string>;
  status: 'active' | 'canceled';
  created: number;
  startDate: number;
  anchor: number;
  periodStart: number;
  periodEnd: number;
  cancelAtPeriodEnd: boolean;
  canceledAt: number | null;
  endedAt: number | null;
  pending: PendingLine[];
  latestInvoice: string | null;
  seq: number;
}

export interface StoredInvoice {
  object: Obj & { id: string; status: string; customer: string; amount_due: number; amount_paid: number; attempt_count: number };
  seq: number;
}

export interface StoredEvent {
  object: Obj & { id: string; type: string; created: number };
  seq: number;
  /** Held back from the list until released (Stripe does not promise the order events show up in). */
  held: boolean;
}

const PRICE_CREATE = [
  'currency', 'product', 'unit_amount', 'unit_amount_decimal', 'billing_scheme', 'tiers_mode', 'tiers', 'recurring', 'lookup_key',
  'transfer_lookup_key', 'nickname', 'metadata', 'transform_quantity', 'active', 'tax_behavior', 'expand',
];
const PRICE_UPDATE = ['active', 'metadata', 'nickname', 'lookup_key', 'transfer_lookup_key', 'tax_behavior', 'currency_options', 'expand'];
const SUB_CREATE = [
  'customer', 'items', 'metadata', 'backdate_start_date', 'billing_cycle_anchor', 'proration_behavior', 'collection_method',
  'days_until_due', 'description', 'payment_behavior', 'off_session', 'expand', 'default_payment_method',
];
const SUB_UPDATE = ['items', 'metadata', 'proration_behavior', 'proration_date', 'cancel_at_period_end', 'description', 'payment_behavior', 'expand'];

export class FakeBilling {
  readonly products = new Map<string, StoredProduct>();
  readonly prices = new Map<string, StoredPrice>();
  /** lookup_key -> price id */
  readonly lookupKeys = new Map<string, string>();
  readonly subscriptions = new Map<string, StoredSubscription>();
  readonly invoices = new Map<string, StoredInvoice>();
  readonly events: StoredEvent[] = [];
  private invoiceNumber = 0;
  private holdWhen: ((e: StoredEvent['object']) => boolean) | undefined;

  constructor(
    private readonly state: FakeStripeState,
    private readonly clock: FakeClock,
  ) {}

  /** Answers a request for one of its endpoints; undefined when the path is not one of them. */
  route(method: string, p: string, params: Obj): unknown {
    let m: RegExpExecArray | null;
    if (p === '/v1/products') {
      if (method === 'POST') return this.createProduct(params);
      if (method === 'GET') return this.listProducts(params);
    }
    if ((m = /^\/v1\/products\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1]!);
      if (method === 'GET') return this.requireProduct(id).object;
      if (method === 'POST') return this.updateProduct(id, params);
    }
    if (p === '/v1/prices') {
      if (method === 'POST') return this.createPrice(params);
      if (method === 'GET') return this.listPrices(params);
    }
    if ((m = /^\/v1\/prices\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1]!);
      if (method === 'GET') return this.priceOut(this.requirePrice(id), expands(params, 'tiers'));
      if (method === 'POST') return this.updatePrice(id, params);
    }
    if (p === '/v1/subscriptions') {
      if (method === 'POST') return this.createSubscription(params);
      if (method === 'GET') return this.listSubscriptions(params);
    }
    if ((m = /^\/v1\/subscriptions\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1]!);
      if (method === 'GET') return this.subscriptionOut(this.requireSubscription(id));
      if (method === 'POST') return this.updateSubscription(id, params);
      if (method === 'DELETE') return this.cancelSubscription(id, params);
    }
    if (p === '/v1/subscription_items' && method === 'GET') return this.listItems(params);
    if ((m = /^\/v1\/subscription_items\/([^/]+)$/.exec(p)) && method === 'GET') {
      const id = decodeURIComponent(m[1]!);
      for (const s of this.subscriptions.values()) {
        const it = s.items.find((x) => x.id === id && x.deletedAt === null);
        if (it) return this.itemOut(s, it);
      }
      throw refused(`No such subscription item: '${id}'`, { code: 'resource_missing', param: 'id' }, 404);
    }
    if (p === '/v1/invoices' && method === 'GET') return this.listInvoices(params);
    if ((m = /^\/v1\/invoices\/([^/]+)$/.exec(p)) && method === 'GET') return this.requireInvoice(decodeURIComponent(m[1]!)).object;
    if (p === '/v1/events' && method === 'GET') return this.listEvents(params);
    if ((m = /^\/v1\/events\/([^/]+)$/.exec(p)) && method === 'GET') {
      const e = this.events.find((x) => x.object.id === decodeURIComponent(m![1]!));
      if (!e) throw refused(`No such event: '${m[1]}'`, { code: 'resource_missing', param: 'id' }, 404);
      return e.object;
    }
    return undefined;
  }

  // -- events ------------------------------------------------------------------------------------

  private record(type: string, object: unknown, previous?: Obj): void {
    const o = stripeFixture('event');
    Object.assign(o, {
      id: this.state.id('evt_', 24),
      api_version: '2026-10-28.endive',
      created: this.clock.nowSeconds(),
      data: previous ? { object: structuredClone(object), previous_attributes: previous } : { object: structuredClone(object) },
      livemode: this.state.livemode,
      pending_webhooks: 0,
      request: { id: null, idempotency_key: null },
      type,
    });
    const e: StoredEvent = { object: o as StoredEvent['object'], seq: this.state.nextSeq(), held: false };
    e.held = this.holdWhen?.(e.object) ?? false;
    this.events.push(e);
  }

  /** Records an event of `type` about `object` now, as Stripe would after a change it made. */
  emit(type: string, object: unknown): void {
    this.record(type, object);
  }

  /** Events recorded from now on that `when` picks are left out of lists until `releaseEvents`. */
  holdEvents(when: (e: StoredEvent['object']) => boolean): void {
    this.holdWhen = when;
  }

  /** Shows the held events (with the `created` they were recorded at) and holds no more. */
  releaseEvents(): void {
    this.holdWhen = undefined;
    for (const e of this.events) e.held = false;
  }

  private listEvents(params: Obj): unknown {
    onlyKnown(params, ['created', 'type', 'types', 'limit', 'starting_after', 'ending_before', 'delivery_success', 'expand']);
    const type = str(params, 'type', false);
    const types = params.types;
    if (types !== undefined && (!Array.isArray(types) || types.length > 20)) throw invalid('Invalid array: types (at most 20)', { param: 'types' });
    const range = this.createdRange(params);
    const items = this.events
      .filter((e) => !e.held)
      .filter((e) => (type === undefined || e.object.type === type) && (types === undefined || (types as string[]).includes(e.object.type)))
      .filter((e) => range(e.object.created))
      .sort((a, b) => b.object.created - a.object.created || b.seq - a.seq)
      .map((e) => e.object);
    return page(items, params, '/v1/events');
  }

  private createdRange(params: Obj): (t: number) => boolean {
    const c = params.created;
    if (c === undefined) return () => true;
    if (typeof c === 'string') {
      const n = int(params, 'created', true)!;
      return (t) => t === n;
    }
    if (typeof c !== 'object' || c === null) throw invalid('Invalid created', { param: 'created' });
    const b = c as Record<string, unknown>;
    onlyKnown(b, ['gt', 'gte', 'lt', 'lte']);
    const v = (k: string) => int(b, k, false);
    const [gt, gte, lt, lte] = [v('gt'), v('gte'), v('lt'), v('lte')];
    return (t) => (gt === undefined || t > gt) && (gte === undefined || t >= gte) && (lt === undefined || t < lt) && (lte === undefined || t <= lte);
  }

  // -- products ----------------------------------------------------------------------------------

  private createProduct(params: Obj): unknown {
    onlyKnown(params, ['id', 'name', 'active', 'description', 'metadata', 'unit_label', 'tax_code', 'expand']);
    const name = str(params, 'name', true, 250)!;
    const id = str(params, 'id', false, 255);
    if (id !== undefined && !/^[A-Za-z0-9_-]+$/.test(id)) throw invalid('Invalid id: letters, digits, _ and - only', { param: 'id' });
    if (id !== undefined && this.products.has(id)) {
      throw refused(`Product already exists.`, { code: 'resource_already_exists', param: 'id' });
    }
    const o = stripeFixture('product');
    const now = this.clock.nowSeconds();
    Object.assign(o, {
      id: id ?? this.state.id('prod_'), active: params.active !== 'false', created: now, updated: now, default_price: null,
      description: str(params, 'description', false) ?? null, images: [], livemode: this.state.livemode, marketing_features: [],
      metadata: metadataOf(params) ?? {}, name, package_dimensions: null, shippable: null, statement_descriptor: null, tax_code: null,
      unit_label: str(params, 'unit_label', false, 12) ?? null, url: null, type: 'service',
    });
    const p: StoredProduct = { object: o as StoredProduct['object'], seq: this.state.nextSeq() };
    this.products.set(p.object.id, p);
    this.record('product.created', p.object);
    return p.object;
  }

  private requireProduct(id: string): StoredProduct {
    const p = this.products.get(id);
    if (!p) throw refused(`No such product: '${id}'`, { code: 'resource_missing', param: 'id' }, 404);
    return p;
  }

  private updateProduct(id: string, params: Obj): unknown {
    onlyKnown(params, ['name', 'active', 'description', 'metadata', 'unit_label', 'expand']);
    const p = this.requireProduct(id);
    const name = str(params, 'name', false, 250);
    if (name !== undefined) p.object.name = name;
    if (params.active !== undefined) p.object.active = params.active === 'true';
    const label = str(params, 'unit_label', false, 12);
    if (label !== undefined) p.object.unit_label = label === '' ? null : label;
    const md = metadataOf(params);
    if (md !== undefined) p.object.metadata = { ...(p.object.metadata as Record<string, string>), ...md };
    p.object.updated = this.clock.nowSeconds();
    this.record('product.updated', p.object);
    return p.object;
  }

  private listProducts(params: Obj): unknown {
    onlyKnown(params, ['active', 'ids', 'limit', 'starting_after', 'ending_before', 'expand']);
    const ids = params.ids as string[] | undefined;
    const items = [...this.products.values()]
      .sort((a, b) => b.seq - a.seq)
      .map((p) => p.object)
      .filter((p) => (params.active === undefined || String(p.active) === params.active) && (ids === undefined || ids.includes(p.id)));
    return page(items, params, '/v1/products');
  }

  // -- prices ------------------------------------------------------------------------------------

  private amountParam(o: Obj, whole: string, decimal: string, prefix: string): bigint | undefined {
    /** `tiers[0][unit_amount]` for a tier (prefix `tiers[0][`), `unit_amount` for a price. */
    const name = (field: string) => (prefix === '' ? field : `${prefix}${field}]`);
    const w = o[whole];
    const d = o[decimal];
    if (w !== undefined && d !== undefined) throw invalid(`You may only specify one of these parameters: ${whole}, ${decimal}.`, { param: name(decimal) });
    if (w !== undefined) {
      if (typeof w !== 'string' || !/^\d+$/.test(w)) throw invalid(`Invalid integer: ${String(w)}`, { param: name(whole) });
      return BigInt(w) * SCALE;
    }
    if (d !== undefined) {
      const v = typeof d === 'string' ? scaled(d) : undefined;
      if (v === undefined) throw invalid(`Invalid decimal: ${String(d)} (at most 12 decimal places)`, { param: name(decimal) });
      return v;
    }
    return undefined;
  }

  private createPrice(params: Obj): unknown {
    onlyKnown(params, PRICE_CREATE);
    const currency = str(params, 'currency', true)!;
    if (!/^[a-z]{3}$/.test(currency)) throw invalid(`Invalid currency: ${currency}`, { param: 'currency' });
    const productId = str(params, 'product', true)!;
    const scheme = str(params, 'billing_scheme', false) ?? 'per_unit';
    if (scheme !== 'per_unit' && scheme !== 'tiered') throw invalid('Invalid billing_scheme: must be one of per_unit or tiered', { param: 'billing_scheme' });
    const rec = params.recurring as Obj | undefined;
    let recurring: StoredPrice['object']['recurring'] = null;
    if (rec !== undefined) {
      if (typeof rec !== 'object' || rec === null) throw invalid('Invalid hash', { param: 'recurring' });
      onlyKnown(rec, ['interval', 'interval_count', 'usage_type', 'meter', 'trial_period_days']);
      const interval = str(rec, 'interval', true)!;
      if (!['day', 'week', 'month', 'year'].includes(interval)) throw invalid('Invalid recurring[interval]', { param: 'recurring[interval]' });
      const usage = str(rec, 'usage_type', false) ?? 'licensed';
      if (usage !== 'licensed' && usage !== 'metered') throw invalid('Invalid recurring[usage_type]', { param: 'recurring[usage_type]' });
      const meter = str(rec, 'meter', false) ?? null;
      if (usage === 'metered' && meter === null) {
        throw invalid('A meter is required for metered prices: recurring[meter].', { param: 'recurring[meter]' });
      }
      if (usage === 'licensed' && meter !== null) throw invalid('recurring[meter] is only allowed with usage_type=metered.', { param: 'recurring[meter]' });
      recurring = { interval, interval_count: int(rec, 'interval_count', false) ?? 1, meter, usage_type: usage, trial_period_days: null };
    }
    let unit: bigint | undefined;
    let tiers: StoredTier[] | null = null;
    let tiersMode: 'graduated' | 'volume' | null = null;
    let transform: StoredPrice['object']['transform_quantity'] = null;
    if (scheme === 'per_unit') {
      if (params.tiers !== undefined || params.tiers_mode !== undefined) throw invalid('tiers are only allowed with billing_scheme=tiered.', { param: 'tiers' });
      unit = this.amountParam(params, 'unit_amount', 'unit_amount_decimal', '');
      if (unit === undefined) throw invalid('Missing required param: unit_amount.', { code: 'parameter_missing', param: 'unit_amount' });
      const tq = params.transform_quantity as Obj | undefined;
      if (tq !== undefined) {
        onlyKnown(tq, ['divide_by', 'round']);
        const by = int(tq, 'divide_by', true)!;
        const round = str(tq, 'round', true)!;
        if (by < 1) throw invalid('transform_quantity[divide_by] must be positive', { param: 'transform_quantity[divide_by]' });
        if (round !== 'up' && round !== 'down') throw invalid('Invalid transform_quantity[round]', { param: 'transform_quantity[round]' });
        transform = { divide_by: by, round };
      }
    } else {
      if (params.unit_amount !== undefined || params.unit_amount_decimal !== undefined) {
        throw invalid('unit_amount is not allowed with billing_scheme=tiered; set the tiers.', { param: 'unit_amount' });
      }
      if (params.transform_quantity !== undefined) throw invalid('transform_quantity cannot be combined with tiers.', { param: 'transform_quantity' });
      const mode = str(params, 'tiers_mode', true)!;
      if (mode !== 'graduated' && mode !== 'volume') throw invalid('Invalid tiers_mode: must be one of graduated or volume', { param: 'tiers_mode' });
      tiersMode = mode;
      const raw = params.tiers;
      if (!Array.isArray(raw) || raw.length === 0) throw invalid('Missing required param: tiers.', { code: 'parameter_missing', param: 'tiers' });
      tiers = raw.map((t, i) => {
        const at = `tiers[${i}]`;
        if (typeof t !== 'object' || t === null) throw invalid('Invalid hash', { param: at });
        const tier = t as Obj;
        onlyKnown(tier, ['up_to', 'unit_amount', 'unit_amount_decimal', 'flat_amount', 'flat_amount_decimal']);
        const upTo = str(tier, 'up_to', true)!;
        if (upTo !== 'inf' && !/^\d+$/.test(upTo)) throw invalid(`Invalid ${at}[up_to]: a whole number or inf`, { param: `${at}[up_to]` });
        const unitAmount = this.amountParam(tier, 'unit_amount', 'unit_amount_decimal', `${at}[`);
        const flatAmount = this.amountParam(tier, 'flat_amount', 'flat_amount_decimal', `${at}[`);
        if (unitAmount === undefined && flatAmount === undefined) {
          throw invalid(`Each tier needs a unit_amount or a flat_amount: ${at}.`, { code: 'parameter_missing', param: `${at}[unit_amount]` });
        }
        return { upTo: upTo === 'inf' ? null : BigInt(upTo), unit: unitAmount ?? 0n, flat: flatAmount ?? 0n };
      });
      tiers.forEach((t, i) => {
        const last = i === tiers!.length - 1;
        if (last !== (t.upTo === null)) throw invalid('The last tier must have up_to=inf, and only the last.', { param: `tiers[${i}][up_to]` });
        const prev = tiers![i - 1]?.upTo;
        if (t.upTo !== null && (t.upTo <= 0n || (prev !== undefined && prev !== null && t.upTo <= prev))) {
          throw invalid('Tiers must be in strictly increasing order of up_to.', { param: `tiers[${i}][up_to]` });
        }
      });
    }
    const lookupKey = str(params, 'lookup_key', false, 200);
    // Past validation: the endpoint runs from here (its refusals are saved under the key).
    const product = this.products.get(productId);
    if (!product) throw refused(`No such product: '${productId}'`, { code: 'resource_missing', param: 'product' });
    if (recurring?.meter) {
      const meter = this.state.meters.get(recurring.meter);
      if (!meter) throw refused(`No such billing meter: '${recurring.meter}'`, { code: 'resource_missing', param: 'recurring[meter]' });
      if (meter.object.status !== 'active') throw refused(`The meter ${recurring.meter} is not active.`, { param: 'recurring[meter]' });
    }
    if (lookupKey !== undefined) {
      const holder = this.lookupKeys.get(lookupKey);
      if (holder !== undefined && params.transfer_lookup_key !== 'true') {
        throw refused(`A price (\`${holder}\`) already uses that lookup key.`, { code: 'lookup_key_already_exists', param: 'lookup_key' });
      }
      if (holder !== undefined) this.prices.get(holder)!.object.lookup_key = null;
    }
    const o = stripeFixture('price');
    const wholeUnit = unit !== undefined && unit % SCALE === 0n ? Number(unit / SCALE) : null;
    Object.assign(o, {
      id: this.state.id('price_', 24), active: params.active !== 'false', billing_scheme: scheme, created: this.clock.nowSeconds(), currency,
      custom_unit_amount: null, livemode: this.state.livemode, lookup_key: lookupKey ?? null, metadata: metadataOf(params) ?? {},
      nickname: str(params, 'nickname', false) ?? null, product: productId, recurring, tax_behavior: str(params, 'tax_behavior', false) ?? 'unspecified',
      tiers_mode: tiersMode, transform_quantity: transform, type: recurring ? 'recurring' : 'one_time',
      unit_amount: wholeUnit, unit_amount_decimal: unit === undefined ? null : unscale(unit),
    });
    const p: StoredPrice = { object: o as StoredPrice['object'], tiers, seq: this.state.nextSeq() };
    this.prices.set(p.object.id, p);
    if (lookupKey !== undefined) this.lookupKeys.set(lookupKey, p.object.id);
    const out = this.priceOut(p, expands(params, 'tiers'));
    this.record('price.created', this.priceOut(p, false));
    return out;
  }

  /** A price as Stripe answers: `tiers` only when expanded. */
  priceOut(p: StoredPrice, withTiers: boolean): Obj {
    const o: Obj = { ...p.object };
    if (withTiers) {
      o.tiers = p.tiers?.map((t) => ({
        flat_amount: t.flat % SCALE === 0n ? Number(t.flat / SCALE) : null,
        flat_amount_decimal: unscale(t.flat),
        unit_amount: t.unit % SCALE === 0n ? Number(t.unit / SCALE) : null,
        unit_amount_decimal: unscale(t.unit),
        up_to: t.upTo === null ? null : Number(t.upTo),
      })) ?? null;
    }
    return o;
  }

  private requirePrice(id: string): StoredPrice {
    const p = this.prices.get(id);
    if (!p) throw refused(`No such price: '${id}'`, { code: 'resource_missing', param: 'id' }, 404);
    return p;
  }

  private updatePrice(id: string, params: Obj): unknown {
    // A price's amounts never change: anything but these is an unknown parameter, as in Stripe.
    onlyKnown(params, PRICE_UPDATE);
    const p = this.requirePrice(id);
    const previous: Obj = {};
    if (params.active !== undefined) {
      previous.active = p.object.active;
      p.object.active = params.active === 'true';
    }
    const nickname = str(params, 'nickname', false);
    if (nickname !== undefined) p.object.nickname = nickname === '' ? null : nickname;
    const md = metadataOf(params);
    if (md !== undefined) p.object.metadata = { ...(p.object.metadata as Record<string, string>), ...md };
    const lookupKey = str(params, 'lookup_key', false, 200);
    if (lookupKey !== undefined) {
      const holder = this.lookupKeys.get(lookupKey);
      if (holder !== undefined && holder !== id) {
        if (params.transfer_lookup_key !== 'true') {
          throw refused(`A price (\`${holder}\`) already uses that lookup key.`, { code: 'lookup_key_already_exists', param: 'lookup_key' });
        }
        this.prices.get(holder)!.object.lookup_key = null;
      }
      if (p.object.lookup_key !== null) this.lookupKeys.delete(p.object.lookup_key);
      p.object.lookup_key = lookupKey === '' ? null : lookupKey;
      if (lookupKey !== '') this.lookupKeys.set(lookupKey, id);
    }
    this.record('price.updated', this.priceOut(p, false), previous);
    return this.priceOut(p, expands(params, 'tiers'));
  }

  private listPrices(params: Obj): unknown {
    onlyKnown(params, ['active', 'currency', 'product', 'type', 'lookup_keys', 'recurring', 'limit', 'starting_after', 'ending_before', 'expand', 'created']);
    const keys = params.lookup_keys;
    if (keys !== undefined && (!Array.isArray(keys) || keys.length > 10)) throw invalid('Invalid array: lookup_keys (at most 10)', { param: 'lookup_keys' });
    const product = str(params, 'product', false);
    const currency = str(params, 'currency', false);
    const withTiers = expands(params, 'data.tiers');
    const items = [...this.prices.values()]
      .sort((a, b) => b.seq - a.seq)
      .filter((p) => params.active === undefined || String(p.object.active) === params.active)
      .filter((p) => (product === undefined || p.object.product === product) && (currency === undefined || p.object.currency === currency))
      .filter((p) => keys === undefined || (p.object.lookup_key !== null && (keys as string[]).includes(p.object.lookup_key)))
      .map((p) => this.priceOut(p, withTiers) as Obj & { id: string });
    return page(items, params, '/v1/prices');
  }

  // -- subscriptions -----------------------------------------------------------------------------

  private requireSubscription(id: string): StoredSubscription {
    const s = this.subscriptions.get(id);
    if (!s) throw refused(`No such subscription: '${id}'`, { code: 'resource_missing', param: 'id' }, 404);
    return s;
  }

  private livePrice(id: string, at: string): StoredPrice {
    const p = this.prices.get(id);
    if (!p) throw refused(`No such price: '${id}'`, { code: 'resource_missing', param: at });
    if (!p.object.active) throw refused(`The price specified is inactive. This field only accepts active prices.`, { param: at });
    if (!p.object.recurring) throw refused(`The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`, { param: at });
    return p;
  }

  /** Prices of one subscription: one currency and interval, each price once, no quantity on a metered one. */
  private checkItems(items: { priceId: string; quantity: number | null }[]): void {
    const prices = items.map((i) => this.prices.get(i.priceId)!);
    if (new Set(prices.map((p) => p.object.currency)).size > 1) throw refused('All prices on a subscription must have the same currency.', { param: 'items' });
    if (new Set(prices.map((p) => `${p.object.recurring!.interval}/${p.object.recurring!.interval_count}`)).size > 1) {
      throw refused('All prices on a subscription must have the same recurring interval.', { param: 'items' });
    }
    const seen = new Set<string>();
    for (const i of items) {
      if (seen.has(i.priceId)) throw refused(`Cannot add multiple subscription items with the same price: ${i.priceId}`, { param: 'items' });
      seen.add(i.priceId);
      const usage = this.prices.get(i.priceId)!.object.recurring!.usage_type;
      if (usage === 'metered' && i.quantity !== null) throw refused('Quantity should not be specified where usage_type is `metered`.', { param: 'items' });
    }
    if (items.length > 20) throw refused('A subscription can have at most 20 items.', { param: 'items' });
  }

  private createSubscription(params: Obj): unknown {
    onlyKnown(params, SUB_CREATE);
    const customer = str(params, 'customer', true)!;
    const raw = params.items;
    if (!Array.isArray(raw) || raw.length === 0) throw invalid('Missing required param: items.', { code: 'parameter_missing', param: 'items' });
    const now = this.clock.nowSeconds();
    const backdate = int(params, 'backdate_start_date', false);
    if (backdate !== undefined && backdate > now) throw invalid('backdate_start_date must be in the past.', { param: 'backdate_start_date' });
    const anchorParam = int(params, 'billing_cycle_anchor', false);
    const start = backdate ?? now;
    if (anchorParam !== undefined && (anchorParam < now - 60 || anchorParam <= start)) {
      throw invalid('billing_cycle_anchor must be in the future and after the start date.', { param: 'billing_cycle_anchor' });
    }
    const wanted = raw.map((x, i) => {
      const it = x as Obj;
      onlyKnown(it, ['price', 'quantity', 'metadata']);
      const q = int(it, 'quantity', false);
      return { priceId: str(it, 'price', true)!, quantity: q ?? null, metadata: metadataOf(it) ?? {}, at: `items[${i}][price]` };
    });
    const c = this.state.customers.get(customer);
    if (!c || c.deleted) throw refused(`No such customer: '${customer}'`, { code: 'resource_missing', param: 'customer' });
    for (const w of wanted) this.livePrice(w.priceId, w.at);
    const items = wanted.map((w) => ({ ...w, quantity: this.prices.get(w.priceId)!.object.recurring!.usage_type === 'licensed' ? (w.quantity ?? 1) : w.quantity }));
    this.checkItems(items);
    const anchor = anchorParam ?? start;
    const sub: StoredSubscription = {
      id: this.state.id('sub_', 24), customer, metadata: metadataOf(params) ?? {}, status: 'active', created: now, startDate: start, anchor,
      periodStart: start, periodEnd: anchor > start ? anchor : addMonthsUtc(anchor, 1), cancelAtPeriodEnd: false, canceledAt: null, endedAt: null,
      pending: [], latestInvoice: null, seq: this.state.nextSeq(),
      items: items.map((w) => ({ id: this.state.id('si_'), priceId: w.priceId, quantity: w.quantity, metadata: w.metadata, created: now, deletedAt: null, since: start })),
    };
    // Roll forward to the period holding now (a backdated start can lie periods behind).
    while (sub.periodEnd <= now) {
      sub.periodStart = sub.periodEnd;
      sub.periodEnd = addMonthsUtc(anchor, this.cyclesBetween(anchor, sub.periodStart) + 1);
    }
    this.subscriptions.set(sub.id, sub);
    this.record('customer.subscription.created', this.subscriptionOut(sub));
    // The first invoice: the licensed items for the first period, in advance (a fraction of it
    // for a period shorter than a cycle).
    const fullStart = sub.periodEnd === anchor ? addMonthsUtc(anchor, -1) : sub.periodStart;
    for (const it of sub.items) {
      const p = this.prices.get(it.priceId)!;
      if (p.object.recurring!.usage_type !== 'licensed') continue;
      const full = this.unitAmount(p) * BigInt(it.quantity ?? 1);
      const amount = roundAmount(full * BigInt(sub.periodEnd - sub.periodStart) * SCALE / BigInt(sub.periodEnd - fullStart));
      sub.pending.push({ description: `${it.quantity ?? 1} × ${this.productName(p)}`, amount, priceId: p.object.id, itemId: it.id, start: sub.periodStart, end: sub.periodEnd, proration: false });
    }
    this.issue(sub, 'subscription_create', sub.periodStart, sub.periodEnd, [], false);
    return this.subscriptionOut(sub);
  }

  private cyclesBetween(anchor: number, t: number): number {
    let k = 0;
    while (addMonthsUtc(anchor, k + 1) <= t) k++;
    return k;
  }

  private updateSubscription(id: string, params: Obj): unknown {
    onlyKnown(params, SUB_UPDATE);
    const sub = this.requireSubscription(id);
    if (sub.status === 'canceled') throw refused('A canceled subscription can only update its cancellation_details and metadata.', { param: 'id' });
    const now = this.clock.nowSeconds();
    const behavior = str(params, 'proration_behavior', false) ?? 'create_prorations';
    if (!['create_prorations', 'none', 'always_invoice'].includes(behavior)) throw invalid('Invalid proration_behavior', { param: 'proration_behavior' });
    const prorationDate = int(params, 'proration_date', false) ?? now;
    if (prorationDate < sub.periodStart || prorationDate > sub.periodEnd) {
      throw invalid('proration_date must be within the current billing period of the subscription.', { param: 'proration_date' });
    }
    const previous: Obj = {};
    const md = metadataOf(params);
    if (md !== undefined) {
      previous.metadata = { ...sub.metadata };
      sub.metadata = { ...sub.metadata, ...md };
      for (const [k, v] of Object.entries(md)) if (v === '') delete sub.metadata[k];
    }
    if (params.cancel_at_period_end !== undefined) {
      previous.cancel_at_period_end = sub.cancelAtPeriodEnd;
      sub.cancelAtPeriodEnd = params.cancel_at_period_end === 'true';
    }
    const raw = params.items;
    if (raw !== undefined) {
      if (!Array.isArray(raw)) throw invalid('Invalid array', { param: 'items' });
      const changes = raw.map((x, i) => {
        const it = x as Obj;
        onlyKnown(it, ['id', 'price', 'quantity', 'deleted', 'metadata', 'clear_usage']);
        return { id: str(it, 'id', false), price: str(it, 'price', false), quantity: int(it, 'quantity', false), deleted: it.deleted === 'true', at: `items[${i}]` };
      });
      const live = sub.items.filter((x) => x.deletedAt === null);
      const next = live.map((x) => ({ ...x }));
      for (const ch of changes) {
        if (ch.id !== undefined) {
          const cur = next.find((x) => x.id === ch.id);
          if (!cur) throw refused(`No such subscription item: '${ch.id}'`, { code: 'resource_missing', param: `${ch.at}[id]` });
          if (ch.deleted) cur.deletedAt = now;
          else if (ch.price !== undefined) {
            this.livePrice(ch.price, `${ch.at}[price]`);
            cur.priceId = ch.price;
          }
        } else if (ch.price !== undefined) {
          this.livePrice(ch.price, `${ch.at}[price]`);
          const licensed = this.prices.get(ch.price)!.object.recurring!.usage_type === 'licensed';
          next.push({ id: this.state.id('si_'), priceId: ch.price, quantity: licensed ? (ch.quantity ?? 1) : null, metadata: {}, created: now, deletedAt: null, since: prorationDate });
        } else throw invalid('Each item needs an id or a price.', { param: ch.at });
      }
      this.checkItems(next.filter((x) => x.deletedAt === null));
      previous.items = this.subscriptionOut(sub).items;
      // Prorations for licensed items whose price changed, came or went.
      const fraction = (amount: bigint) => roundAmount(amount * BigInt(sub.periodEnd - prorationDate) * SCALE / BigInt(sub.periodEnd - sub.periodStart));
      const prorate = (priceId: string, itemId: string, sign: 1n | -1n, what: string) => {
        const p = this.prices.get(priceId)!;
        if (p.object.recurring!.usage_type !== 'licensed' || behavior === 'none') return;
        sub.pending.push({
          description: `${what} ${this.productName(p)}`, amount: sign * fraction(this.unitAmount(p)), priceId, itemId, start: prorationDate, end: sub.periodEnd, proration: true,
        });
      };
      const before = new Map(live.map((x) => [x.id, x]));
      const after: StoredItem[] = [];
      for (const n of next) {
        const old = before.get(n.id);
        if (!old) {
          prorate(n.priceId, n.id, 1n, 'Remaining time on');
          after.push(n);
          continue;
        }
        if (n.deletedAt !== null) {
          prorate(old.priceId, old.id, -1n, 'Unused time on');
          old.deletedAt = prorationDate;
          continue;
        }
        if (n.priceId !== old.priceId) {
          prorate(old.priceId, old.id, -1n, 'Unused time on');
          prorate(n.priceId, n.id, 1n, 'Remaining time on');
          // The item's old price bills its meter up to the change; the new one from it.
          old.deletedAt = prorationDate;
          after.push({ ...n, id: old.id, since: prorationDate, deletedAt: null });
          old.id = `${old.id}#${old.priceId}`;
          continue;
        }
        after.push(old);
      }
      sub.items = [...sub.items.filter((x) => x.deletedAt !== null), ...after];
      if (behavior === 'always_invoice') this.issue(sub, 'subscription_update', prorationDate, sub.periodEnd, [], false);
    }
    this.record('customer.subscription.updated', this.subscriptionOut(sub), previous);
    return this.subscriptionOut(sub);
  }

  private cancelSubscription(id: string, params: Obj): unknown {
    onlyKnown(params, ['invoice_now', 'prorate', 'cancellation_details', 'expand']);
    const sub = this.requireSubscription(id);
    if (sub.status === 'canceled') throw refused('This subscription has already been canceled.', { param: 'id' });
    const now = this.clock.nowSeconds();
    if (params.invoice_now === 'true') this.issue(sub, 'subscription_cycle', sub.periodStart, now, []);
    this.end(sub, now);
    return this.subscriptionOut(sub);
  }

  private end(sub: StoredSubscription, at: number): void {
    sub.status = 'canceled';
    sub.canceledAt = sub.canceledAt ?? at;
    sub.endedAt = at;
    for (const it of sub.items) if (it.deletedAt === null) it.deletedAt = at;
    this.record('customer.subscription.deleted', this.subscriptionOut(sub));
  }

  private listSubscriptions(params: Obj): unknown {
    onlyKnown(params, ['customer', 'price', 'status', 'limit', 'starting_after', 'ending_before', 'expand', 'created']);
    const customer = str(params, 'customer', false);
    const status = str(params, 'status', false);
    const price = str(params, 'price', false);
    const items = [...this.subscriptions.values()]
      .sort((a, b) => b.seq - a.seq)
      .filter((s) => customer === undefined || s.customer === customer)
      .filter((s) => (status === 'all' ? true : status === undefined ? s.status !== 'canceled' : s.status === status))
      .filter((s) => price === undefined || s.items.some((i) => i.deletedAt === null && i.priceId === price))
      .map((s) => this.subscriptionOut(s));
    return page(items, params, '/v1/subscriptions');
  }

  private listItems(params: Obj): unknown {
    onlyKnown(params, ['subscription', 'limit', 'starting_after', 'ending_before', 'expand']);
    const sub = this.requireSubscription(str(params, 'subscription', true)!);
    const items = sub.items.filter((i) => i.deletedAt === null).map((i) => this.itemOut(sub, i) as Obj & { id: string });
    return page(items, params, '/v1/subscription_items');
  }

  itemOut(sub: StoredSubscription, it: StoredItem): Obj {
    const o = stripeFixture('subscription_item');
    const p = this.prices.get(it.priceId)!;
    const price = this.priceOut(p, false);
    const r = p.object.recurring!;
    Object.assign(o, {
      id: it.id, created: it.created, discounts: [], metadata: it.metadata, price, subscription: sub.id, tax_rates: [],
      current_period_start: sub.periodStart, current_period_end: sub.periodEnd, billing_thresholds: null,
      plan: {
        active: p.object.active, amount: p.object.unit_amount, amount_decimal: p.object.unit_amount_decimal, billing_scheme: p.object.billing_scheme,
        created: p.object.created, currency: p.object.currency, id: p.object.id, interval: r.interval, interval_count: r.interval_count,
        livemode: this.state.livemode, metadata: p.object.metadata, meter: r.meter, nickname: p.object.nickname, object: 'plan',
        product: p.object.product, tiers_mode: p.object.tiers_mode, transform_usage: p.object.transform_quantity, trial_period_days: null, usage_type: r.usage_type,
      },
    });
    if (it.quantity === null) delete o.quantity;
    else o.quantity = it.quantity;
    return o;
  }

  subscriptionOut(sub: StoredSubscription): Obj & { id: string; items: Obj } {
    const o = stripeFixture('subscription');
    const live = sub.items.filter((i) => i.deletedAt === null);
    const first = live[0] ? this.prices.get(live[0].priceId)! : undefined;
    Object.assign(o, {
      id: sub.id, application: null, application_fee_percent: null, automatic_tax: { enabled: false, liability: null, disabled_reason: null },
      billing_cycle_anchor: sub.anchor, billing_cycle_anchor_config: null, billing_thresholds: null,
      cancel_at: sub.cancelAtPeriodEnd ? sub.periodEnd : null, cancel_at_period_end: sub.cancelAtPeriodEnd, canceled_at: sub.canceledAt,
      cancellation_details: { comment: null, feedback: null, reason: sub.canceledAt === null ? null : 'cancellation_requested' },
      collection_method: 'charge_automatically', created: sub.created, currency: first?.object.currency ?? 'usd', customer: sub.customer,
      days_until_due: null, default_payment_method: null, default_source: null, default_tax_rates: [], description: null, discounts: [],
      ended_at: sub.endedAt, invoice_settings: { account_tax_ids: null, issuer: { type: 'self' } },
      items: { object: 'list', data: live.map((i) => this.itemOut(sub, i)), has_more: false, url: `/v1/subscription_items?subscription=${sub.id}` },
      latest_invoice: sub.latestInvoice, livemode: this.state.livemode, metadata: { ...sub.metadata }, next_pending_invoice_item_invoice: null,
      on_behalf_of: null, pause_collection: null, pending_invoice_item_interval: null, pending_setup_intent: null, pending_update: null,
      schedule: null, start_date: sub.startDate, status: sub.status, test_clock: null, transfer_data: null, trial_end: null, trial_start: null,
    });
    return o as Obj & { id: string; items: Obj };
  }

  // -- invoices ----------------------------------------------------------------------------------

  private productName(p: StoredPrice): string {
    return String(this.products.get(p.object.product)?.object.name ?? p.object.product);
  }

  /** The per-unit amount, scaled. */
  private unitAmount(p: StoredPrice): bigint {
    return scaled(p.object.unit_amount_decimal ?? '0') ?? 0n;
  }

  /** What a price bills for a quantity (scaled by 10^12), rounded half up once. */
  amountFor(p: StoredPrice, quantity: bigint): bigint {
    if (p.object.billing_scheme === 'per_unit') {
      let q = quantity;
      const tq = p.object.transform_quantity;
      if (tq) {
        const by = BigInt(tq.divide_by) * SCALE;
        q = (tq.round === 'up' ? (quantity + by - 1n) / by : quantity / by) * SCALE;
      }
      return roundAmount(q * this.unitAmount(p));
    }
    // A quantity of 0 falls in the first tier: Stripe bills its flat amount (graduated and volume).
    const tiers = p.tiers!;
    if (p.object.tiers_mode === 'volume') {
      const t = tiers.find((x) => x.upTo === null || quantity <= x.upTo * SCALE)!;
      return roundAmount(quantity * t.unit + t.flat * SCALE);
    }
    let total = 0n;
    let below = 0n;
    for (const [i, t] of tiers.entries()) {
      const top = t.upTo === null ? quantity : t.upTo * SCALE;
      const part = (quantity < top ? quantity : top) - below;
      if (part <= 0n && i > 0) break;
      total += (part > 0n ? part * t.unit : 0n) + t.flat * SCALE;
      below = top;
    }
    return roundAmount(total);
  }

  /** The meter's usage for a customer in [from, to), scaled. */
  private usage(meterId: string, customer: string, from: number, to: number): bigint {
    let sum = 0n;
    for (const e of this.state.meterEvents) {
      if (e.meterId === meterId && e.customer === customer && e.object.timestamp >= from && e.object.timestamp < to) sum += e.value;
    }
    return sum;
  }

  private lineOut(inv: string, sub: StoredSubscription, l: PendingLine, quantity: number | null): Obj {
    const o = stripeFixture('line_item');
    const p = this.prices.get(l.priceId)!;
    Object.assign(o, {
      id: this.state.id('il_', 24), amount: Number(l.amount), currency: p.object.currency, description: l.description, discount_amounts: [],
      discountable: true, discounts: [], invoice: inv, livemode: this.state.livemode, metadata: {}, period: { start: l.start, end: l.end },
      quantity, subscription: sub.id, pretax_credit_amounts: [], taxes: [],
      parent: {
        type: 'subscription_item_details',
        invoice_item_details: null,
        subscription_item_details: { invoice_item: null, proration: l.proration, proration_details: { credited_items: null }, subscription: sub.id, subscription_item: l.itemId },
      },
      pricing: { type: 'price_details', price_details: { price: p.object.id, product: p.object.product }, unit_amount_decimal: p.object.unit_amount_decimal },
    });
    return o;
  }

  /**
   * Issues an invoice: the metered usage of [usageFrom, usageTo) at each item's price (items
   * that left inside it bill up to their end), and the pending lines (fees in advance, prorations).
   */
  private issue(sub: StoredSubscription, reason: string, usageFrom: number, usageTo: number, extra: PendingLine[], metered = true): StoredInvoice {
    const invId = this.state.id('in_', 24);
    const lines: Obj[] = [];
    let total = 0n;
    const usageEnd = usageTo;
    for (const it of sub.items) {
      const p = this.prices.get(it.priceId)!;
      if (!metered || p.object.recurring!.usage_type !== 'metered') continue;
      const from = Math.max(usageFrom, it.since);
      const to = Math.min(usageEnd, it.deletedAt ?? usageEnd);
      if (to <= from && it.deletedAt !== null) continue;
      const q = to > from ? this.usage(p.object.recurring!.meter!, sub.customer, from, to) : 0n;
      const amount = this.amountFor(p, q);
      total += amount;
      const line = this.lineOut(invId, sub, { description: `${this.productName(p)} (${p.object.nickname ?? p.object.id})`, amount, priceId: p.object.id, itemId: it.id.split('#')[0]!, start: from, end: to, proration: false }, Number(q / SCALE));
      lines.push(line);
    }
    for (const l of [...sub.pending, ...extra]) {
      total += l.amount;
      lines.push(this.lineOut(invId, sub, l, 1));
    }
    sub.pending = [];
    const c = this.state.customers.get(sub.customer)?.object;
    const o = stripeFixture('invoice');
    const now = this.clock.nowSeconds();
    const currency = String(this.subscriptionOut(sub).currency);
    const number = `${String(c?.invoice_prefix ?? 'FAKE')}-${String(++this.invoiceNumber).padStart(4, '0')}`;
    Object.assign(o, {
      id: invId, account_country: 'US', account_name: 'billctl test', amount_due: Number(total < 0n ? 0n : total), amount_overpaid: 0, amount_paid: 0,
      amount_remaining: Number(total < 0n ? 0n : total), attempt_count: 0, attempted: false, auto_advance: true, billing_reason: reason,
      collection_method: 'charge_automatically', created: now, currency, customer: sub.customer, customer_email: c?.email ?? null,
      customer_name: c?.name ?? null, description: null, discounts: [], due_date: null, effective_at: now, ending_balance: 0,
      from_invoice: null, hosted_invoice_url: `https://invoice.stripe.com/i/${invId}`, invoice_pdf: `https://pay.stripe.com/invoice/${invId}/pdf`,
      last_finalization_error: null, latest_revision: null, livemode: this.state.livemode, metadata: {}, next_payment_attempt: now + 3600, number,
      lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${invId}/lines` },
      parent: { type: 'subscription_details', quote_details: null, subscription_details: { metadata: { ...sub.metadata }, subscription: sub.id } },
      period_start: usageFrom, period_end: usageTo, starting_balance: 0, status: 'open',
      status_transitions: { finalized_at: now, marked_uncollectible_at: null, paid_at: null, voided_at: null }, subscription: sub.id,
      subtotal: Number(total), subtotal_excluding_tax: Number(total), total: Number(total), total_excluding_tax: Number(total),
      total_discount_amounts: [], total_pretax_credit_amounts: [], total_taxes: [], webhooks_delivered_at: now,
    });
    const inv: StoredInvoice = { object: o as StoredInvoice['object'], seq: this.state.nextSeq() };
    this.invoices.set(invId, inv);
    sub.latestInvoice = invId;
    this.record('invoice.created', inv.object);
    this.record('invoice.finalized', inv.object);
    if (total <= 0n) this.pay(invId);
    return inv;
  }

  // -- what a test does as time passes -----------------------------------------------------------

  /**
   * The end of a subscription's current period (the fake clock must have reached it): an
   * invoice for the period's usage and the next period's fee, and the next period begins; a
   * subscription set to cancel at the period's end ends instead, after its last invoice.
   */
  renew(subscriptionId: string): StoredInvoice['object'] {
    const sub = this.requireSubscription(subscriptionId);
    if (sub.status === 'canceled') throw new Error(`fake Stripe: ${subscriptionId} is canceled`);
    if (this.clock.nowSeconds() < sub.periodEnd) {
      throw new Error(`fake Stripe: the period of ${subscriptionId} ends at ${new Date(sub.periodEnd * 1000).toISOString()}, the clock is before it`);
    }
    const from = sub.periodStart;
    const to = sub.periodEnd;
    const fees: PendingLine[] = [];
    if (!sub.cancelAtPeriodEnd) {
      const nextEnd = addMonthsUtc(sub.anchor, this.cyclesBetween(sub.anchor, to) + 1);
      for (const it of sub.items) {
        if (it.deletedAt !== null) continue;
        const p = this.prices.get(it.priceId)!;
        if (p.object.recurring!.usage_type !== 'licensed') continue;
        fees.push({ description: `${it.quantity ?? 1} × ${this.productName(p)}`, amount: roundAmount(this.unitAmount(p) * BigInt(it.quantity ?? 1) * SCALE), priceId: p.object.id, itemId: it.id, start: to, end: nextEnd, proration: false });
      }
      const inv = this.issue(sub, 'subscription_cycle', from, to, fees);
      sub.periodStart = to;
      sub.periodEnd = nextEnd;
      // Items that left during the ended period have been billed.
      sub.items = sub.items.filter((i) => i.deletedAt === null);
      this.record('customer.subscription.updated', this.subscriptionOut(sub), { current_period_start: from });
      return inv.object;
    }
    const inv = this.issue(sub, 'subscription_cycle', from, to, fees);
    this.end(sub, to);
    return inv.object;
  }

  /** The invoice is paid (as Stripe charges the customer's card). */
  pay(invoiceId: string): StoredInvoice['object'] {
    const inv = this.requireInvoice(invoiceId);
    if (inv.object.status !== 'open') throw new Error(`fake Stripe: invoice ${invoiceId} is ${inv.object.status}`);
    const now = this.clock.nowSeconds();
    Object.assign(inv.object, {
      status: 'paid', amount_paid: inv.object.amount_due, amount_remaining: 0, attempted: true, attempt_count: inv.object.attempt_count + 1,
      next_payment_attempt: null, status_transitions: { ...(inv.object.status_transitions as Obj), paid_at: now },
    });
    this.record('invoice.paid', inv.object);
    this.record('invoice.payment_succeeded', inv.object);
    return inv.object;
  }

  /** A payment attempt fails (the invoice stays open). */
  failPayment(invoiceId: string): StoredInvoice['object'] {
    const inv = this.requireInvoice(invoiceId);
    Object.assign(inv.object, { attempted: true, attempt_count: inv.object.attempt_count + 1 });
    this.record('invoice.payment_failed', inv.object);
    return inv.object;
  }

  private requireInvoice(id: string): StoredInvoice {
    const inv = this.invoices.get(id);
    if (!inv) throw refused(`No such invoice: '${id}'`, { code: 'resource_missing', param: 'id' }, 404);
    return inv;
  }

  private listInvoices(params: Obj): unknown {
    onlyKnown(params, ['customer', 'subscription', 'status', 'created', 'limit', 'starting_after', 'ending_before', 'expand', 'collection_method']);
    const customer = str(params, 'customer', false);
    const subscription = str(params, 'subscription', false);
    const status = str(params, 'status', false);
    const range = this.createdRange(params);
    const items = [...this.invoices.values()]
      .sort((a, b) => b.seq - a.seq)
      .map((i) => i.object)
      .filter((i) => (customer === undefined || i.customer === customer) && (subscription === undefined || i.subscription === subscription))
      .filter((i) => (status === undefined || i.status === status) && range(i.created as number));
    return page(items, params, '/v1/invoices');
  }

  /** The live subscriptions of a customer (tests). */
  subscriptionsOf(customer: string): StoredSubscription[] {
    return [...this.subscriptions.values()].filter((s) => s.customer === customer);
  }
}
