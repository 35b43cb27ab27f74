/**
 * `stripe reconcile --period YYYY-MM`: for each customer the ledger pushed to (and each
 * stripe-mode tenant's customer) and each meter, Stripe's aggregated usage over the UTC month
 * against what the ledger says was sent for buckets in that month. Differences are listed, with
 * what may explain them (pending or uncertain revisions, Stripe's aggregation lag).
 */
import type { MeterNames } from '../config.js';
import { parsePeriod, addMonths, type Period } from '../domain/period.js';
import { utcMs } from '../domain/time.js';
import { errorMessage, UsageError } from '../errors.js';
import type { LedgerStatus } from '../store/ledger-repo.js';
import type { Store } from '../store/store.js';
import { METER_KEYS, StripeCallError, type MeterKey, type StripeClient } from '../stripe/client.js';
import { storedMeters } from './stripe-setup.js';

export interface ReconcileRow {
  tenantId: string;
  customerId: string;
  meter: MeterKey;
  eventName: string;
  /** Stripe's aggregated value; null when it could not be read. */
  stripe: bigint | null;
  /** Ledger values of buckets in the month, by status. */
  sent: bigint;
  pending: bigint;
  uncertain: bigint;
  failed: bigint;
  /** stripe − sent; null when Stripe could not be read or its value is not a whole number. */
  difference: bigint | null;
  /** The units Stripe's invoices bill for the month's usage of this meter; null when no invoice bills it (yet). */
  invoiced: bigint | null;
  /** Those invoices' numbers (or ids). */
  invoices: string[];
  note: string | null;
}

export interface ReconcileReport {
  period: Period;
  from: number;
  to: number;
  livemode: boolean;
  rows: ReconcileRow[];
  differences: number;
}

/** The UTC month [from, to) in ms. */
export function utcMonth(period: Period): { from: number; to: number } {
  let p: { year: number; month: number };
  let n: { year: number; month: number };
  try {
    p = parsePeriod(period);
    n = parsePeriod(addMonths(period, 1));
  } catch {
    throw new UsageError(`--period "${period}" is not a month`, 'Write it like 2026-10 (a UTC calendar month).');
  }
  return { from: utcMs(p.year, p.month, 1), to: utcMs(n.year, n.month, 1) };
}

/** Stripe's aggregated value (a JSON number) as a whole number, when it is one. */
function wholeValue(v: number): bigint | null {
  return Number.isSafeInteger(v) ? BigInt(v) : null;
}

async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function reconcile(
  store: Store,
  client: StripeClient,
  options: { period: Period; meters: MeterNames; now: number; tenantId?: string },
): Promise<ReconcileReport> {
  const { from, to } = utcMonth(options.period);
  const meters = await storedMeters(store, options.meters, client.livemode);
  const key = (tenant: string, customer: string, meter: MeterKey) => `${tenant}\u0000${customer}\u0000${meter}`;
  const rows = new Map<string, ReconcileRow>();
  const row = (tenantId: string, customerId: string, meter: MeterKey): ReconcileRow => {
    const k = key(tenantId, customerId, meter);
    let r = rows.get(k);
    if (!r) {
      r = {
        tenantId, customerId, meter, eventName: meters[meter]?.eventName ?? options.meters[meter], stripe: null, sent: 0n, pending: 0n, uncertain: 0n, failed: 0n,
        difference: null, invoiced: null, invoices: [], note: null,
      };
      rows.set(k, r);
    }
    return r;
  };
  const field: Partial<Record<LedgerStatus, 'sent' | 'pending' | 'uncertain' | 'failed'>> = {
    sent: 'sent', pending: 'pending', uncertain: 'uncertain', failed: 'failed',
  };
  for (const t of await store.ledger.totalsBetween(from, to)) {
    if (options.tenantId !== undefined && t.tenantId !== options.tenantId) continue;
    const f = field[t.status];
    if (f) row(t.tenantId, t.customerId, t.meter)[f] += t.value;
  }
  // A stripe tenant's customer is checked even when nothing was pushed: Stripe should hold nothing then.
  for (const t of await store.listTenants()) {
    if (t.billingMode !== 'stripe' || t.stripeCustomerId === null) continue;
    if (options.tenantId !== undefined && t.id !== options.tenantId) continue;
    // Token class meters only once set up (stripe setup makes them when the store has seen the class).
    for (const m of METER_KEYS) if (meters[m] !== undefined) row(t.id, t.stripeCustomerId, m);
  }

  const list = [...rows.values()].sort(
    (a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0) || (a.customerId < b.customerId ? -1 : a.customerId > b.customerId ? 1 : 0) ||
      METER_KEYS.indexOf(a.meter) - METER_KEYS.indexOf(b.meter),
  );
  // Stripe wants minute-aligned bounds in seconds; month starts are.
  const startS = from / 1000;
  const endS = to / 1000;
  let fatal: StripeCallError | undefined;
  await pool(list, 4, async (r) => {
    if (fatal) return;
    const meterId = meters[r.meter]?.id;
    if (meterId === undefined) {
      r.note = `no Stripe meter is set up for ${r.meter}: run billctl stripe setup`;
      return;
    }
    try {
      const summaries = await client.listEventSummaries(meterId, r.customerId, startS, endS);
      let total = 0n;
      for (const s of summaries) {
        const v = wholeValue(s.value);
        if (v === null) {
          r.note = `Stripe reports ${s.value}, not a whole number billctl can compare exactly`;
          return;
        }
        total += v;
      }
      r.stripe = total;
    } catch (err) {
      if (err instanceof StripeCallError && err.failure.fatal) {
        fatal = err;
        return;
      }
      r.note = `cannot read Stripe's summary: ${errorMessage(err)}`;
    }
  });
  if (fatal) throw fatal;
  await addInvoiced(store, client, list, from, to);

  let differences = 0;
  const recent = options.now - to < 3_600_000;
  for (const r of list) {
    if (r.stripe === null) {
      differences++;
      continue;
    }
    r.difference = r.stripe - r.sent;
    const invoiced = r.invoiced;
    const billedOtherwise = invoiced !== null && invoiced !== r.sent;
    if (billedOtherwise) {
      differences++;
      r.note =
        `Stripe's invoice ${r.invoices.join(', ')} bills ${invoiced} for the month, the ledger sent ${r.sent}` +
        (invoiced < r.sent ? ' (usage pushed after Stripe invoiced the month is on no invoice: bill it another way)' : '');
      if (r.difference === 0n) continue;
    }
    if (r.difference === 0n) {
      if (r.uncertain > 0n) r.note = `matches without the ${r.uncertain} uncertain: those did not reach Stripe`;
      continue;
    }
    if (billedOtherwise) continue;
    differences++;
    const hints: string[] = [];
    if (r.uncertain > 0n && r.difference === r.uncertain) hints.push('the uncertain revisions reached Stripe');
    else if (r.pending > 0n && r.difference === r.pending) hints.push('the pending revisions reached Stripe; the next push confirms them');
    else if (r.pending + r.uncertain > 0n && r.difference > 0n && r.difference <= r.pending + r.uncertain) {
      hints.push('part of the pending or uncertain revisions reached Stripe');
    }
    if (r.difference < 0n && recent) hints.push("Stripe aggregates asynchronously: the last minutes' events may not be counted yet");
    if (hints.length === 0) hints.push(r.difference > 0n ? 'Stripe holds more than billctl sent' : 'Stripe holds less than billctl sent');
    r.note = hints.join('; ');
  }
  return { period: options.period, from, to, livemode: client.livemode, rows: list, differences };
}

/**
 * What Stripe's invoices bill for the month's usage: per customer, the invoices created from the
 * month's start to 40 days after its end (Stripe invoices a period when it ends), and their
 * lines whose price is a metered price of catalog sync and whose period lies inside the month.
 */
async function addInvoiced(store: Store, client: StripeClient, rows: ReconcileRow[], from: number, to: number): Promise<void> {
  const items = new Map((await store.stripeBilling.prices(client.livemode)).map((p) => [p.priceId, p.item]));
  if (items.size === 0) return;
  const byCustomer = new Map<string, ReconcileRow[]>();
  for (const r of rows) byCustomer.set(r.customerId, [...(byCustomer.get(r.customerId) ?? []), r]);
  for (const [customer, mine] of byCustomer) {
    const invoices = await client.invoicesOf(customer, Math.floor(from / 1000), Math.floor(to / 1000) + 40 * 86_400);
    for (const inv of invoices) {
      if (inv.status === 'void' || inv.status === 'draft') continue;
      for (const line of await client.invoiceLines(inv)) {
        const price = line.pricing?.price_details?.price;
        const item = typeof price === 'string' ? items.get(price) : price ? items.get(price.id) : undefined;
        if (item === undefined || item === 'fee') continue;
        if (line.period.start * 1000 < from || line.period.end * 1000 > to) continue;
        const r = mine.find((x) => x.meter === item);
        if (!r) continue;
        r.invoiced = (r.invoiced ?? 0n) + BigInt(line.quantity ?? 0);
        const name = inv.number ?? inv.id;
        if (!r.invoices.includes(name)) r.invoices.push(name);
      }
    }
  }
}
