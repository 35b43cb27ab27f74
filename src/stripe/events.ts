/**
 * Stripe events into the store, whoever brings them: the webhook of `billctl serve` now, and a
 * `stripe events sync` that pulls what a down server missed. Each event is stored once by its id
 * with its raw JSON (a replay is a no-op), and what it says is applied in the same transaction:
 *
 * - `invoice.finalized`, `invoice.paid`, `invoice.payment_failed`, `invoice.voided`: the Stripe
 *   invoice's state for its stripe-mode tenant (number, amounts, hosted URL);
 * - `customer.subscription.updated|deleted`: the subscription's state;
 * - `invoice.payment_failed` also raises an alert (kind `payment_failed`), recorded like those of
 *   `alerts check` and queued for its webhook, which the next `alerts check` posts.
 *
 * A state never gives way to one less far along its life (an invoice paid is not opened again by
 * a late `invoice.finalized`, a canceled subscription stays canceled), and between equals the
 * newest event wins: events arriving in any order leave the same state.
 * Other event types, and customers that are no stripe-mode tenant, are stored and otherwise ignored.
 */
import { Decimal, currencyDigits, formatAmount, isKnownCurrency } from '../domain/money.js';
import type { Tenant } from '../domain/tenant.js';
import { UsageError } from '../errors.js';
import { currentPeriod } from '../app/budgets.js';
import type { Store } from '../store/store.js';

export const HANDLED_EVENT_TYPES = [
  'invoice.finalized', 'invoice.paid', 'invoice.payment_failed', 'invoice.voided',
  'customer.subscription.updated', 'customer.subscription.deleted',
] as const;

const INVOICE_STATUS: Record<string, { status: string; rank: number }> = {
  'invoice.finalized': { status: 'open', rank: 1 },
  'invoice.payment_failed': { status: 'payment_failed', rank: 2 },
  'invoice.paid': { status: 'paid', rank: 3 },
  'invoice.voided': { status: 'void', rank: 3 },
};

/** An event that is not a Stripe event (bad JSON, no id or type): the sender is told 400. */
export class BadStripeEventError extends UsageError {}

export interface StripeEvent {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  object: Record<string, unknown>;
}

export interface ReceiveOptions {
  source: 'webhook' | 'sync';
  now: number;
  /** Where `alerts check` posts (its webhook's digest and display): a payment failure is queued for it. */
  alertTarget?: { target: string; display: string } | undefined;
}

export interface EventOutcome {
  id: string;
  type: string;
  /** False: the event was stored before (a replay), and nothing was done. */
  stored: boolean;
  tenantId: string | null;
  outcome: string;
}

export function parseStripeEvent(raw: string): StripeEvent {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new BadStripeEventError('the body is not JSON');
  }
  const o = v as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null) throw new BadStripeEventError('the body is not a JSON object');
  const data = o.data as Record<string, unknown> | undefined;
  if (typeof o.id !== 'string' || o.id === '' || o.id.length > 255) throw new BadStripeEventError('the event has no id');
  if (typeof o.type !== 'string' || o.type === '') throw new BadStripeEventError('the event has no type');
  if (typeof o.created !== 'number' || !Number.isSafeInteger(o.created)) throw new BadStripeEventError('the event has no created time');
  if (typeof data !== 'object' || data === null || typeof data.object !== 'object' || data.object === null) {
    throw new BadStripeEventError('the event has no data.object');
  }
  return { id: o.id, type: o.type, created: o.created, livemode: o.livemode === true, object: data.object as Record<string, unknown> };
}

function idOf(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string') return (v as { id: string }).id;
  return null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Stripe's amount in minor units as decimal text of the currency, when both are readable. */
function stripeAmount(minor: unknown, currency: string | null): string | null {
  if (typeof minor !== 'number' || !Number.isSafeInteger(minor) || currency === null || !isKnownCurrency(currency)) return null;
  return formatAmount(Decimal.of(BigInt(minor), currencyDigits(currency)), currency);
}

class AlreadyStored extends Error {}

/** Stores the event once and applies it, in one transaction: when this returns, it is committed. */
export async function receiveStripeEvent(store: Store, raw: string, o: ReceiveOptions): Promise<EventOutcome> {
  const event = parseStripeEvent(raw);
  const replay = (prior: { tenantId: string | null; outcome: string }): EventOutcome =>
    ({ id: event.id, type: event.type, stored: false, tenantId: prior.tenantId, outcome: prior.outcome });
  try {
    return await store.transaction(async () => {
      const prior = await store.stripeEvents.get(event.id);
      if (prior) return replay(prior);
      const applied = await applyEvent(store, event, o);
      const fresh = await store.stripeEvents.insert({
        id: event.id, type: event.type, created: event.created, livemode: event.livemode, payload: raw, source: o.source,
        receivedAt: new Date(o.now).toISOString(), tenantId: applied.tenantId, outcome: applied.outcome,
      });
      // Another process stored it meanwhile: undo what this one applied.
      if (!fresh) throw new AlreadyStored();
      return { id: event.id, type: event.type, stored: true, ...applied };
    });
  } catch (err) {
    if (!(err instanceof AlreadyStored)) throw err;
    const prior = await store.stripeEvents.get(event.id);
    return replay(prior ?? { tenantId: null, outcome: 'stored by another process' });
  }
}

async function tenantOfCustomer(store: Store, customerId: string | null): Promise<Tenant | undefined> {
  if (customerId === null) return undefined;
  return (await store.listTenants()).find((t) => t.stripeCustomerId === customerId);
}

async function applyEvent(store: Store, e: StripeEvent, o: ReceiveOptions): Promise<{ tenantId: string | null; outcome: string }> {
  if (!(HANDLED_EVENT_TYPES as readonly string[]).includes(e.type)) return { tenantId: null, outcome: 'ignored: not an event billctl acts on' };
  const obj = e.object;
  const objectId = idOf(obj.id);
  const customer = idOf(obj.customer);
  if (objectId === null) return { tenantId: null, outcome: 'ignored: the object has no id' };
  const tenant = await tenantOfCustomer(store, customer);
  if (!tenant) return { tenantId: null, outcome: `ignored: no tenant has Stripe customer ${customer ?? '(none)'}` };
  if (tenant.billingMode !== 'stripe') return { tenantId: tenant.id, outcome: `ignored: ${tenant.id} is billed by invoice, not through Stripe` };
  const at = new Date(o.now).toISOString();
  const currency = str(obj.currency)?.toUpperCase() ?? null;

  if (e.type.startsWith('invoice.')) {
    const { status, rank } = INVOICE_STATUS[e.type]!;
    const fields = {
      number: str(obj.number), currency, amount_due: stripeAmount(obj.amount_due, currency), amount_paid: stripeAmount(obj.amount_paid, currency),
      hosted_invoice_url: str(obj.hosted_invoice_url), period_start: num(obj.period_start), period_end: num(obj.period_end),
      attempt_count: num(obj.attempt_count), last_event: e.type,
    };
    const changed = await store.stripeEvents.putObject({ objectId, objectType: 'invoice', tenantId: tenant.id, status, eventId: e.id, eventCreated: e.created, fields, updatedAt: at, rank });
    let alerted = '';
    if (e.type === 'invoice.payment_failed') {
      const attempt = num(obj.attempt_count) ?? 1;
      const amount = fields.amount_due === null ? '' : ` of ${fields.amount_due} ${currency}`;
      const fired = await store.alerts.fire({
        tenantId: tenant.id,
        period: currentPeriod(tenant, e.created * 1000),
        kind: 'payment_failed',
        threshold: `${objectId}#${attempt}`,
        firedAt: at,
        text: `${tenant.id}: payment${amount} for Stripe invoice ${fields.number ?? objectId} failed (attempt ${attempt}).`,
        details: { stripe_invoice: objectId, number: fields.number, amount_due: fields.amount_due, currency, attempt, event: e.id },
      }, o.alertTarget);
      alerted = fired ? '; alert raised' : '; alert had fired before';
    }
    return { tenantId: tenant.id, outcome: `${changed ? 'recorded' : 'older than, or behind, the state recorded'}: invoice ${objectId} ${status}${alerted}` };
  }
  const status = e.type === 'customer.subscription.deleted' ? 'canceled' : (str(obj.status) ?? 'unknown');
  const fields = {
    current_period_start: num(obj.current_period_start), current_period_end: num(obj.current_period_end),
    cancel_at_period_end: obj.cancel_at_period_end === true, canceled_at: num(obj.canceled_at), last_event: e.type,
  };
  const rank = status === 'canceled' ? 9 : 1;
  const changed = await store.stripeEvents.putObject({ objectId, objectType: 'subscription', tenantId: tenant.id, status, eventId: e.id, eventCreated: e.created, fields, updatedAt: at, rank });
  return { tenantId: tenant.id, outcome: `${changed ? 'recorded' : 'older than, or behind, the state recorded'}: subscription ${objectId} ${status}` };
}
