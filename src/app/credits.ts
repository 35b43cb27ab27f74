/**
 * Credit grants (billing-rules.md, "Credits"): granting and revoking them, their balances, and
 * the draws of invoices. Drawing itself is pure (src/domain/credits.ts); this file reads the
 * balances, records draws and keeps drafts showing what they would draw whenever grants change.
 * Every change of a grant, and every draw recorded or returned, is in the audit log.
 */
import { applyCredits, CREDIT_KINDS, usableOn, type CreditedInvoice, type CreditKind, type DrawableGrant } from '../domain/credits.js';
import type { InvoiceLine } from '../domain/invoice.js';
import { Decimal, formatAmount } from '../domain/money.js';
import { parseDate } from '../domain/time.js';
import { UsageError } from '../errors.js';
import type { DrawRecord, GrantRecord } from '../store/credit-repo.js';
import type { InvoiceRecord } from '../store/invoice-repo.js';
import type { Store } from '../store/store.js';
import { parseAmount, tenantCurrency } from './budgets.js';
import { requireTenant } from './tenants.js';

/** Appends an entry to the audit log (the command supplies who and when). */
export type Audit = (command: string, details: Record<string, unknown>) => Promise<void>;

/** The UTC date of an instant written as ISO text. */
export const dateOf = (iso: string): string => iso.slice(0, 10);

/** A tenant's grants that an invoice in `currency` may draw on (not revoked); `usableOn` picks by date. */
function drawable(grants: readonly GrantRecord[], currency: string): DrawableGrant[] {
  return grants
    .filter((g) => g.currency === currency && g.revokedAt === null)
    .map((g) => ({ id: g.id, kind: g.kind, name: g.name, start: g.start, expires: g.expires, balance: g.balance }));
}

/** An invoice's lines with the credits it draws on `date`, from the balances recorded now. */
export async function drawCredits(
  store: Store, tenantId: string, currency: string, lines: readonly InvoiceLine[], taxRate: Decimal, date: string,
): Promise<CreditedInvoice> {
  const grants = (await store.credits.hasGrants(tenantId)) ? drawable(await store.credits.listGrants({ tenantId }), currency) : [];
  return applyCredits({ lines, taxRate, currency, grants, date });
}

/** True when the stored draws are the ones computed. */
export function sameDraws(stored: readonly Pick<DrawRecord, 'grantId' | 'amount'>[], computed: CreditedInvoice): boolean {
  return stored.length === computed.draws.length &&
    stored.every((d, i) => d.grantId === computed.draws[i]!.grantId && d.amount.eq(computed.draws[i]!.amount));
}

/**
 * Draws a draft's credits again on `date` from its stored lines (nothing is rated again) and
 * saves the draft when they changed. The draft keeps the tax rate it was made with.
 */
export async function redrawDraft(store: Store, draft: InvoiceRecord, date: string, at: string): Promise<{ changed: boolean; invoice: InvoiceRecord }> {
  // No grant and nothing drawn: nothing to draw again (most tenants; finalize asks for each).
  const drewNothing = draft.totals.credits.isZero() && draft.prepaidApplied.isZero();
  if (drewNothing && !(await store.credits.hasGrants(draft.tenantId))) return { changed: false, invoice: draft };
  const credited = await drawCredits(store, draft.tenantId, draft.currency, await store.invoices.lines(draft.id), draft.taxRate, date);
  if (sameDraws(await store.credits.drawsOfInvoice(draft.id), credited)) return { changed: false, invoice: draft };
  await store.invoices.saveDraft(
    {
      tenantId: draft.tenantId, period: draft.period, currency: draft.currency, planId: draft.planId, planVersion: draft.planVersion,
      totals: credited.totals, taxRate: draft.taxRate, taxLabel: draft.taxLabel, prepaidApplied: credited.prepaidApplied,
      amountDue: credited.amountDue, fingerprints: draft.fingerprints, lines: credited.lines,
    },
    draft.id,
    at,
  );
  await store.credits.setDraws(draft.id, credited.draws);
  return { changed: true, invoice: (await store.invoices.get(draft.id))! };
}

/**
 * After a tenant's grants or balances change (a grant, a revocation, a void, a credit note, an
 * issued invoice): every draft of the tenant shows again what it would draw today. Each draft
 * draws as if it were issued first. Returns how many drafts changed.
 */
export async function redrawDrafts(store: Store, tenantId: string, at: string): Promise<number> {
  let changed = 0;
  for (const d of await store.invoices.list({ tenantId, status: 'draft' })) {
    if ((await redrawDraft(store, d, dateOf(at), at)).changed) changed++;
  }
  return changed;
}

// ---------------------------------------------------------------------------------------------
// Granting and revoking

export interface GrantInput {
  tenantId: string;
  amount: string;
  kind?: string;
  name?: string;
  start?: string;
  expires?: string;
}

function dateOption(v: string | undefined, flag: string): string | undefined {
  if (v === undefined) return undefined;
  if (parseDate(v) === undefined) throw new UsageError(`${flag}: "${v}" is not a date`, 'Write it as YYYY-MM-DD (a UTC date).');
  return v;
}

export interface GrantOutcome {
  grant: GrantRecord;
  /** Drafts of the tenant that now draw differently. */
  draftsChanged: number;
}

/** Gives a tenant a credit grant in its currency; its drafts show what they would draw. */
export async function grantCredit(store: Store, input: GrantInput, at: string, audit: Audit): Promise<GrantOutcome> {
  const kind = (input.kind ?? 'promotional') as CreditKind;
  if (!CREDIT_KINDS.includes(kind)) throw new UsageError(`--kind: "${input.kind}" is not one of ${CREDIT_KINDS.join(', ')}`);
  const name = input.name?.trim() === '' ? undefined : input.name?.trim();
  const start = dateOption(input.start, '--start') ?? dateOf(at);
  const expires = dateOption(input.expires, '--expires') ?? null;
  if (expires !== null && expires <= start) {
    throw new UsageError(`--expires ${expires} is not after the start ${start}: the grant could never be used`, 'A grant is usable from its start up to, not including, its expiry.');
  }
  const tenant = await requireTenant(store, input.tenantId);
  const currency = await tenantCurrency(store, tenant);
  const amount = parseAmount(input.amount, currency, '--amount');
  return store.transaction(async () => {
    await store.invoices.lockTenant(tenant.id);
    const id = await store.credits.insertGrant({ tenantId: tenant.id, kind, name: name ?? null, currency, amount, start, expires, creditNoteId: null }, at);
    await audit('credit grant', {
      grant: id, tenant: tenant.id, kind, name: name ?? null, amount: formatAmount(amount, currency), currency, start, expires,
    });
    const draftsChanged = await redrawDrafts(store, tenant.id, at);
    return { grant: (await store.credits.getGrant(id))!, draftsChanged };
  });
}

export async function requireGrant(store: Store, id: string): Promise<GrantRecord> {
  const g = await store.credits.getGrant(id);
  if (!g) throw new UsageError(`no credit grant "${id}"`, 'See the grants with: billctl credit list');
  return g;
}

/**
 * Revokes a grant given by mistake (or refunded otherwise): what it has not been drawn for is
 * drawn no more, from now on; draws already recorded on issued invoices stay.
 */
export async function revokeCredit(store: Store, id: string, reason: string, at: string, audit: Audit): Promise<GrantOutcome> {
  if (reason.trim() === '') throw new UsageError('--reason is required: say why the grant is revoked');
  const g = await requireGrant(store, id);
  return store.transaction(async () => {
    await store.invoices.lockTenant(g.tenantId);
    if (!(await store.credits.revoke(g.id, reason.trim(), at))) throw new UsageError(`credit grant ${g.id} is already revoked`);
    const after = (await store.credits.getGrant(g.id))!;
    await audit('credit revoke', {
      grant: g.id, tenant: g.tenantId, reason: reason.trim(), balance: formatAmount(after.balance, g.currency), currency: g.currency,
    });
    return { grant: after, draftsChanged: await redrawDrafts(store, g.tenantId, at) };
  });
}

// ---------------------------------------------------------------------------------------------
// Reading

export type GrantStatus = 'scheduled' | 'active' | 'used' | 'expired' | 'revoked';

/** Where a grant stands on `today`. */
export function grantStatus(g: GrantRecord, today: string): GrantStatus {
  if (g.revokedAt !== null) return 'revoked';
  if (g.balance.sign() <= 0) return 'used';
  if (g.expires !== null && today >= g.expires) return 'expired';
  if (!usableOn(g, today)) return 'scheduled';
  return 'active';
}

/** A grant as `credit list --format json` and the HTTP API show it. */
export function grantJson(g: GrantRecord, today: string): Record<string, unknown> {
  const c = g.currency;
  return {
    id: g.id,
    tenant_id: g.tenantId,
    kind: g.kind,
    name: g.name,
    currency: c,
    amount: formatAmount(g.amount, c),
    drawn: formatAmount(g.drawn, c),
    balance: formatAmount(g.balance, c),
    start: g.start,
    expires: g.expires,
    status: grantStatus(g, today),
    revoked_at: g.revokedAt,
    created_at: g.createdAt,
  };
}

/** A draw as `credit show` lists it. */
export function drawJson(d: DrawRecord, currency: string): Record<string, unknown> {
  return {
    invoice_id: d.invoiceId,
    number: d.invoiceNumber,
    period: d.period,
    status: d.returnedAt !== null ? 'returned' : d.invoiceStatus === 'draft' ? 'pending' : 'recorded',
    issue_date: d.issueDate,
    amount: formatAmount(d.amount, currency),
    returned_at: d.returnedAt,
  };
}
