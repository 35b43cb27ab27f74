/** Tenants, their billing terms and plan history (billing-rules.md, "Tenants and periods"). */
import { Decimal } from './money.js';
import type { Period } from './period.js';

export type BillingMode = 'invoice' | 'stripe';

export interface PlanEntry {
  plan: string;
  /**
   * First period (`YYYY-MM`) or first local day (`YYYY-MM-DD`) the entry holds from; a month is
   * its first day; null holds for every period.
   */
  from: string | null;
  /** Order in which entries were recorded. */
  seq: number;
  setAt: string;
}

export interface Tenant {
  id: string;
  name: string;
  timezone: string;
  taxRate: Decimal;
  taxLabel: string;
  netDays: number;
  /** Null: the catalog's currency. */
  currency: string | null;
  email: string | null;
  address: string | null;
  /** The customer's own tax id (VAT id), printed on its invoices (EU reverse charge). */
  taxId: string | null;
  /** The customer's purchase order number, printed on its invoices. */
  poNumber: string | null;
  billingMode: BillingMode;
  stripeCustomerId: string | null;
  /**
   * The instant from which usage goes to Stripe (set when a tenant moves from invoices to
   * Stripe): earlier usage is invoiced, later usage pushed. Null: all of it follows billingMode.
   */
  stripeSince: number | null;
  /** Created by an import rather than by a person. */
  autoCreated: boolean;
  createdAt: string;
  updatedAt: string;
  plans: PlanEntry[];
}

/** True when the tenant's period ending at `periodEnd` (ms) is billed by invoice. */
export function invoicedPeriod(t: Pick<Tenant, 'billingMode' | 'stripeSince'>, periodEnd: number): boolean {
  return t.billingMode === 'invoice' || (t.stripeSince !== null && periodEnd <= t.stripeSince);
}

/**
 * The tenant's plan for period P: the last recorded entry whose `from` <= P; an entry without
 * `from` holds for every period.
 */
export function planFor(plans: readonly PlanEntry[], period: Period): string | undefined {
  return planOn(plans, `${period}-01`);
}

/** The first local day (`YYYY-MM-DD`) an entry's `from` stands for (a month: its first day). */
export function fromDay(from: string): string {
  return from.length === 7 ? `${from}-01` : from;
}

/** True for a plan-history `from`: a month `YYYY-MM` or a valid local date `YYYY-MM-DD`. */
export function isPlanFrom(text: string): boolean {
  if (/^\d{4}-(0[1-9]|1[0-2])$/.test(text)) return true;
  const m = /^(\d{4})-(0[1-9]|1[0-2])-(\d{2})$/.exec(text);
  if (m === null) return false;
  const d = Number(m[3]);
  const days = new Date(Date.UTC(Number(m[1]), Number(m[2]), 0)).getUTCDate();
  return d >= 1 && d <= days;
}

/**
 * The tenant's plan on a local day (`YYYY-MM-DD`): the last recorded entry whose `from` is on or
 * before that day; an entry without `from` holds for every day.
 */
export function planOn(plans: readonly PlanEntry[], day: string): string | undefined {
  let found: PlanEntry | undefined;
  for (const e of plans) {
    if ((e.from === null || fromDay(e.from) <= day) && (found === undefined || e.seq > found.seq)) found = e;
  }
  return found?.plan;
}

/**
 * The entries that hold for some period, in the order recorded: an entry recorded later with a
 * `from` at or before another's (or none) takes every period from it, so the earlier one never
 * holds. Recording these alone, in this order, gives the same plan for every period.
 */
export function effectivePlanEntries(plans: readonly PlanEntry[]): PlanEntry[] {
  return plans.filter((e) => !plans.some((l) => l.seq > e.seq && (l.from === null || (e.from !== null && fromDay(l.from) <= fromDay(e.from)))));
}

export const TENANT_ID_MAX = 128;

/** Why a tenant id is unacceptable, or undefined when it is fine (receipts.md: 1..128 chars, no control characters). */
export function tenantIdProblem(id: string): string | undefined {
  const length = [...id].length;
  if (length === 0) return 'tenant id is empty';
  if (length > TENANT_ID_MAX) return `tenant id is longer than ${TENANT_ID_MAX} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) return 'tenant id contains a control character';
  if (id.trim() === '') return 'tenant id is only whitespace';
  return undefined;
}

/** Why a tax rate is unacceptable, or undefined (a decimal in [0, 1)). */
export function taxRateProblem(rate: Decimal): string | undefined {
  if (rate.sign() < 0 || rate.cmp(Decimal.of(1n)) >= 0) {
    return `tax rate ${rate} is outside [0, 1): write 19 % as 0.19`;
  }
  return undefined;
}
