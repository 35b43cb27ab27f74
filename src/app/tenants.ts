/**
 * Use cases for tenants: add, update, set-plan, CSV import. Every value is checked here, once:
 * timezones against the IANA database, tax rates against [0, 1), plans against the catalog.
 */
import fs from 'node:fs';
import { defaultCurrency, type CatalogVersion } from '../domain/catalog.js';
import { Decimal, isKnownCurrency } from '../domain/money.js';
import { nameKey } from '../domain/names.js';
import { isPeriod, isValidTimeZone, periodInterval, periodOf, type Period } from '../domain/period.js';
import { effectivePlanEntries, fromDay, isPlanFrom, planOn, taxRateProblem, tenantIdProblem, type BillingMode, type Tenant } from '../domain/tenant.js';
import { typedLineBreaks } from '../config.js';
import { unneutralise } from '../export/csv-writer.js';
import { UsageError, ValidationError } from '../errors.js';
import type { NewTenant, Store, TenantPatch } from '../store/store.js';
import { newestCatalog } from './catalogs.js';

/** Flag values as typed (strings), before checking. Names follow the CLI flags. */
export interface TenantFields {
  name?: string;
  plan?: string;
  from?: string;
  timezone?: string;
  taxRate?: string;
  taxLabel?: string;
  netDays?: string;
  email?: string;
  address?: string;
  taxId?: string;
  poNumber?: string;
  currency?: string;
  billingMode?: string;
  stripeCustomer?: string;
  /** YYYY-MM: with billing mode stripe, the first period whose usage goes to Stripe. */
  stripeSince?: string;
}

export interface CheckedFields {
  patch: TenantPatch;
  plan?: string;
  /** A period `YYYY-MM` or a local date `YYYY-MM-DD`. */
  from?: string | null;
}

/**
 * The catalog facts tenant checks need: the plans of the newest version of each currency's chain,
 * the currencies there are versions in, and the default currency (billing-rules.md, "Currencies").
 */
export interface CatalogFacts {
  plans: Set<string>;
  /** The default plan of the newest version, by currency. */
  defaultPlans: Map<string, string>;
  /** The currency of a tenant that names none. */
  currency: string;
  currencies: Set<string>;
}

export async function catalogFacts(store: Store): Promise<CatalogFacts> {
  const versions = (await store.listCatalogs()).map((c) => c.catalog);
  if (versions.length === 0) await newestCatalog(store); // (says what to do when there is none)
  const newest = new Map<string, CatalogVersion>();
  for (const v of versions) newest.set(v.currency, v); // sorted by effective_from: the last one per currency wins
  const plans = new Set<string>();
  for (const v of newest.values()) for (const p of v.plans.keys()) plans.add(p);
  return {
    plans, defaultPlans: new Map([...newest].map(([c, v]) => [c, v.defaultPlan])), currency: defaultCurrency(versions)!, currencies: new Set(newest.keys()),
  };
}

/** The default plan for a new tenant billed in `currency` (its chain's newest version's). */
function defaultPlanFor(facts: CatalogFacts, currency: string | null | undefined): string {
  return facts.defaultPlans.get(currency ?? facts.currency) ?? facts.defaultPlans.get(facts.currency)!;
}

/**
 * A tenant's currency may change only while nothing is open in the old one: no draft and no
 * finalized invoice with an amount due (its lines, credits and payments are all in that currency).
 */
async function currencyChangeProblem(store: Store, t: Tenant, to: string, facts: CatalogFacts | undefined): Promise<string | undefined> {
  const from = t.currency ?? facts?.currency;
  if (from === to) return undefined;
  const open = (await store.invoices.list({ tenantId: t.id })).filter(
    (i) => i.status === 'draft' || (i.status === 'finalized' && !i.amountDue.isZero()),
  );
  if (open.length === 0) return undefined;
  const what = open.map((i) => (i.status === 'draft' ? `the draft for ${i.period}` : `${i.number} (${i.period}, unpaid)`)).join(', ');
  return `currency: tenant "${t.id}" is billed in ${from ?? 'its catalog currency'} and has ${what}; ` +
    'finalize and settle (billctl invoice mark-paid) or void its open invoices in that currency first, then change the currency';
}

/**
 * The name stored for a valid timezone: the IANA name the user gave. ICU resolves links to its own
 * canonical names, often the deprecated ones (Asia/Kolkata to Asia/Calcutta, Europe/Kyiv to
 * Europe/Kiev), so only the letter case is taken from it (europe/berlin is stored Europe/Berlin).
 */
export function timeZoneAsGiven(tz: string): string {
  const resolved = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  return resolved.toLowerCase() === tz.toLowerCase() ? resolved : tz;
}

/** Checks flag values; every problem is collected, named by its flag. */
export function checkTenantFields(f: TenantFields, facts: CatalogFacts | undefined, problems: string[]): CheckedFields {
  const patch: TenantPatch = {};
  const out: CheckedFields = { patch };
  const blank = (v: string | undefined) => v === undefined;
  if (!blank(f.name)) {
    if (f.name!.trim() === '') problems.push('name: must not be empty');
    else patch.name = f.name!.trim();
  }
  if (!blank(f.timezone)) {
    if (!isValidTimeZone(f.timezone!)) {
      problems.push(`timezone: "${f.timezone}" is not an IANA timezone (like Europe/Berlin, America/New_York, UTC)`);
    } else patch.timezone = timeZoneAsGiven(f.timezone!);
  }
  if (!blank(f.taxRate)) {
    const r = Decimal.tryParse(f.taxRate!.trim());
    if (!r) problems.push(`tax-rate: "${f.taxRate}" is not a decimal (write 19 % as 0.19)`);
    else {
      const p = taxRateProblem(r);
      if (p) problems.push(`tax-rate: ${p}`);
      else patch.taxRate = r;
    }
  }
  if (!blank(f.taxLabel)) {
    if (f.taxLabel!.trim() === '') problems.push('tax-label: must not be empty');
    else patch.taxLabel = f.taxLabel!.trim();
  }
  if (!blank(f.netDays)) {
    if (!/^\d{1,3}$/.test(f.netDays!.trim()) || Number(f.netDays) > 365) {
      problems.push(`net-days: "${f.netDays}" is not a whole number of days from 0 to 365`);
    } else patch.netDays = Number(f.netDays);
  }
  if (!blank(f.email)) {
    const e = f.email!.trim();
    if (e !== '' && !/^[^\s@]+@[^\s@]+$/.test(e)) problems.push(`email: "${f.email}" is not an email address`);
    else patch.email = e === '' ? null : e;
  }
  if (!blank(f.address)) patch.address = f.address!.trim() === '' ? null : typedLineBreaks(f.address!);
  if (!blank(f.taxId)) patch.taxId = documentText(f.taxId!, 'tax-id', problems);
  if (!blank(f.poNumber)) patch.poNumber = documentText(f.poNumber!, 'po-number', problems);
  if (!blank(f.currency)) {
    const c = f.currency!.trim().toUpperCase();
    if (!isKnownCurrency(c)) problems.push(`currency: "${f.currency}" is not an ISO 4217 code (like USD)`);
    else if (facts && !facts.currencies.has(c)) {
      problems.push(`currency: no catalog version is in ${c} (catalogs: ${[...facts.currencies].join(', ')}); import one in ${c} first`);
    } else patch.currency = c;
  }
  if (!blank(f.billingMode)) {
    if (f.billingMode !== 'invoice' && f.billingMode !== 'stripe') {
      problems.push(`billing-mode: "${f.billingMode}" must be invoice or stripe`);
    } else patch.billingMode = f.billingMode as BillingMode;
  }
  if (!blank(f.stripeCustomer)) {
    const s = f.stripeCustomer!.trim();
    if (s !== '' && !/^cus_[A-Za-z0-9]+$/.test(s)) problems.push(`stripe-customer: "${s}" is not a Stripe customer id (cus_…)`);
    else patch.stripeCustomerId = s === '' ? null : s;
  }
  if (!blank(f.from)) {
    const text = f.from!.trim();
    // A month YYYY-MM, or a local date YYYY-MM-DD inside a period (the period is then split: billing-rules.md).
    if (!isPlanFrom(text)) problems.push(`from: "${f.from}" is not ${text.length > 7 ? 'a date (YYYY-MM-DD)' : 'a period (YYYY-MM)'}`);
    else out.from = f.from!.trim();
  }
  if (!blank(f.plan)) {
    const key = nameKey(f.plan!);
    if (!facts) problems.push('plan: the store has no catalog yet; import one first');
    else if (!facts.plans.has(key)) {
      problems.push(`plan: "${f.plan}" is not a plan of the catalog (plans: ${[...facts.plans].join(', ')})`);
    } else out.plan = key;
  }
  return out;
}

/** A one-line reference printed on invoices (a tax id, a PO number): trimmed, "" clears it. */
function documentText(value: string, flag: string, problems: string[]): string | null {
  const v = value.trim();
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(v) || [...v].length > 64) {
    problems.push(`${flag}: "${value}" must be one line of at most 64 characters`);
    return null;
  }
  return v === '' ? null : v;
}

function assertNoProblems(source: string, problems: string[]): void {
  if (problems.length > 0) throw new ValidationError(source, problems, 'Fix the values above and run the command again.');
}

export async function addTenant(store: Store, id: string, f: TenantFields, at: string): Promise<Tenant> {
  const problems: string[] = [];
  const idProblem = tenantIdProblem(id);
  if (idProblem) problems.push(`id: ${idProblem}`);
  const facts = await catalogFacts(store);
  const checked = checkTenantFields(f, facts, problems);
  if (f.from !== undefined && f.plan === undefined) problems.push('from: --from goes with --plan');
  assertNoProblems(`tenant ${id}`, problems);
  return store.transaction(async () => {
    if (await store.getTenant(id)) {
      throw new UsageError(`tenant "${id}" already exists`, `Change it with: billctl tenant update ${id} …`);
    }
    await store.insertTenant(newTenant(id, checked, facts), at);
    return (await store.getTenant(id))!;
  });
}

function newTenant(id: string, checked: CheckedFields, facts: CatalogFacts): NewTenant {
  const p = checked.patch;
  return {
    id,
    name: p.name ?? id,
    timezone: p.timezone ?? 'UTC',
    taxRate: p.taxRate ?? Decimal.ZERO,
    taxLabel: p.taxLabel ?? 'Tax',
    netDays: p.netDays ?? 30,
    currency: p.currency ?? null,
    email: p.email ?? null,
    address: p.address ?? null,
    taxId: p.taxId ?? null,
    poNumber: p.poNumber ?? null,
    billingMode: p.billingMode ?? 'invoice',
    stripeCustomerId: p.stripeCustomerId ?? null,
    autoCreated: false,
    plan: checked.plan ?? defaultPlanFor(facts, p.currency),
    planFrom: checked.from ?? null,
  };
}

export async function requireTenant(store: Store, id: string): Promise<Tenant> {
  const t = await store.getTenant(id);
  if (!t) throw new UsageError(`no tenant "${id}"`, 'See the tenants with: billctl tenant list');
  return t;
}

/**
 * A tenant moving from invoices to Stripe: its usage goes to Stripe from the start of its current
 * period (or of `--stripe-since`); earlier periods are still invoiced, so nothing is billed twice
 * and nothing falls between the two.
 */
function stripeSinceFor(before: Tenant, f: TenantFields, timezone: string, at: string, problems: string[]): number | null | undefined {
  const toStripe = f.billingMode === 'stripe' && before.billingMode !== 'stripe';
  if (f.stripeSince !== undefined) {
    if (!isPeriod(f.stripeSince)) {
      problems.push(`stripe-since: "${f.stripeSince}" is not a period (YYYY-MM)`);
      return undefined;
    }
    if (!toStripe && before.billingMode !== 'stripe') problems.push('stripe-since: goes with --billing-mode stripe');
    return periodInterval(timezone, f.stripeSince).start;
  }
  if (toStripe) return periodInterval(timezone, periodOf(timezone, Date.parse(at))).start;
  if (f.billingMode === 'invoice' && before.billingMode === 'stripe') return null;
  return undefined;
}

export async function updateTenant(store: Store, id: string, f: TenantFields, at: string): Promise<Tenant> {
  if (f.plan !== undefined || f.from !== undefined) {
    throw new UsageError('tenant update does not change plans', `Use: billctl tenant set-plan ${id} <plan> --from YYYY-MM`);
  }
  const problems: string[] = [];
  const facts = await catalogFacts(store).catch(() => undefined);
  const checked = checkTenantFields(f, facts, problems);
  const current = await requireTenant(store, id);
  if (checked.patch.currency !== undefined && checked.patch.currency !== null) {
    const p = await currencyChangeProblem(store, current, checked.patch.currency, facts);
    if (p) problems.push(p);
  }
  const since = stripeSinceFor(current, f, checked.patch.timezone ?? current.timezone, at, problems);
  if (since !== undefined) checked.patch.stripeSince = since;
  assertNoProblems(`tenant ${id}`, problems);
  if (Object.keys(checked.patch).length === 0) {
    throw new UsageError('nothing to change', 'Pass at least one flag, like --name or --tax-rate.');
  }
  return store.transaction(async () => {
    const before = await requireTenant(store, id);
    await store.updateTenant(id, checked.patch, at);
    await rebuildIfMoved(store, before, checked.patch);
    return (await store.getTenant(id))!;
  });
}

export async function setPlan(store: Store, id: string, plan: string, from: string, at: string): Promise<Tenant> {
  const problems: string[] = [];
  const facts = await catalogFacts(store);
  const checked = checkTenantFields({ plan, from }, facts, problems);
  assertNoProblems(`tenant ${id}`, problems);
  return store.transaction(async () => {
    const t = await requireTenant(store, id);
    if (!samePlanEntry(t, checked.plan!, checked.from!)) await store.addPlanEntry(id, checked.plan!, checked.from!, at);
    if (t.autoCreated) await store.updateTenant(id, {}, at);
    return (await store.getTenant(id))!;
  });
}

/** Daily rollups are by the tenant's local day: a new timezone regroups them, in the same transaction. */
async function rebuildIfMoved(store: Store, before: Tenant, patch: TenantPatch): Promise<void> {
  if (patch.timezone !== undefined && patch.timezone !== before.timezone) await store.rebuildRollups(before.id, patch.timezone);
}

/** True when the newest entry for `from` already says `plan` (setting it again changes nothing). */
function samePlanEntry(t: Tenant, plan: string, from: string | null): boolean {
  const forFrom = t.plans.filter((e) => e.from === from);
  const last = forFrom[forFrom.length - 1];
  return last !== undefined && last.plan === plan && planOn(t.plans, from === null ? '0000-01-01' : fromDay(from)) === plan;
}

/**
 * The columns of `tenant import` and of `tenant list --format csv` (which imports back): the flag
 * names with `_`. A tenant whose plan changed over time takes one row per plan entry, oldest first;
 * its extra rows only add plan entries (their other cells are empty or repeat the first row's).
 */
export const TENANT_CSV_COLUMNS = [
  'id', 'name', 'plan', 'from', 'timezone', 'tax_rate', 'tax_label', 'net_days', 'email', 'address', 'tax_id', 'po_number',
  'currency', 'billing_mode', 'stripe_customer', 'stripe_since',
] as const;
export type TenantCsvColumn = (typeof TENANT_CSV_COLUMNS)[number];

/** A tenant as CSV rows (one per plan entry that still holds for some period), cells by column. */
export function tenantCsvRows(t: Tenant): Record<TenantCsvColumn, string>[] {
  const first: Record<TenantCsvColumn, string> = {
    id: t.id, name: t.name, plan: '', from: '', timezone: t.timezone, tax_rate: t.taxRate.toString(), tax_label: t.taxLabel,
    net_days: String(t.netDays), email: t.email ?? '', address: t.address ?? '', tax_id: t.taxId ?? '', po_number: t.poNumber ?? '',
    currency: t.currency ?? '', billing_mode: t.billingMode, stripe_customer: t.stripeCustomerId ?? '',
    stripe_since: t.stripeSince === null ? '' : periodOf(t.timezone, t.stripeSince),
  };
  const entries = effectivePlanEntries(t.plans);
  if (entries.length === 0) return [first];
  return entries.map((e, i) => {
    const row = i === 0 ? first : (Object.fromEntries(TENANT_CSV_COLUMNS.map((c) => [c, ''])) as Record<TenantCsvColumn, string>);
    return { ...row, id: t.id, plan: e.plan, from: e.from ?? '' };
  });
}

export interface TenantImportResult {
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  planChanges: number;
}

interface ImportedTenant {
  line: number;
  id: string;
  checked: CheckedFields;
  /** Stripe since, as typed (checked against the tenant when applied). */
  stripeSince?: string;
  /** Plan entries of the tenant's extra rows, in order. */
  morePlans: { plan: string; from: Period | null }[];
}

/**
 * Upserts tenants from CSV (columns are the flag names with `_`). All or nothing: every bad row is
 * reported with its line number and, if there is any, nothing is written.
 */
export async function importTenants(store: Store, file: string, at: string): Promise<TenantImportResult> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const { parse } = await import('csv-parse/sync');
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(text, { columns: true, bom: true, skip_empty_lines: true, info: true, trim: false }) as typeof records;
  } catch (err) {
    throw new ValidationError(file, [`not readable as CSV: ${(err as Error).message}`]);
  }
  const problems: string[] = [];
  const header = records[0] ? Object.keys(records[0].record) : [];
  for (const h of header) {
    if (!(TENANT_CSV_COLUMNS as readonly string[]).includes(h)) {
      problems.push(`line 1: unknown column "${h}" (columns: ${TENANT_CSV_COLUMNS.join(', ')})`);
    }
  }
  if (records.length > 0 && !header.includes('id')) problems.push('line 1: there is no id column');
  const facts = await catalogFacts(store);
  const byId = new Map<string, ImportedTenant & { record: Record<string, string> }>();
  const rows: ImportedTenant[] = [];
  for (const { record, info } of records) {
    const line = info.lines;
    // A cell billctl's CSV neutralised (a leading ' before =, +, -, @ or ') is read back as it was.
    const cell = (k: TenantCsvColumn): string | undefined => {
      const v = record[k];
      return v === undefined || v.trim() === '' ? undefined : unneutralise(v);
    };
    const rowProblems: string[] = [];
    const id = unneutralise(record.id ?? '');
    const idProblem = tenantIdProblem(id);
    if (idProblem) rowProblems.push(`id: ${idProblem}`);
    const firstRow = byId.get(id);
    if (firstRow !== undefined) {
      // A further row of the same tenant: one more plan entry.
      for (const c of TENANT_CSV_COLUMNS) {
        if (c === 'id' || c === 'plan' || c === 'from' || cell(c) === undefined || record[c] === firstRow.record[c]) continue;
        rowProblems.push(`${c}: differs from line ${firstRow.line}, the tenant's first row (its further rows only add plan entries)`);
      }
      const more = checkTenantFields({ plan: cell('plan'), from: cell('from') }, facts, rowProblems);
      if (cell('plan') === undefined) rowProblems.push(`plan: a further row of tenant "${id}" adds a plan entry and needs a plan`);
      else if (more.plan !== undefined) firstRow.morePlans.push({ plan: more.plan, from: more.from ?? null });
    } else {
      const checked = checkTenantFields(
        {
          name: cell('name'), plan: cell('plan'), from: cell('from'), timezone: cell('timezone'), taxRate: cell('tax_rate'),
          taxLabel: cell('tax_label'), netDays: cell('net_days'), email: cell('email'), address: cell('address'),
          taxId: cell('tax_id'), poNumber: cell('po_number'), currency: cell('currency'), billingMode: cell('billing_mode'),
          stripeCustomer: cell('stripe_customer'),
        },
        facts,
        rowProblems,
      );
      if (cell('from') !== undefined && cell('plan') === undefined) rowProblems.push('from: a from period needs a plan');
      const stripeSince = cell('stripe_since')?.trim();
      if (stripeSince !== undefined && !isPeriod(stripeSince)) rowProblems.push(`stripe_since: "${stripeSince}" is not a period (YYYY-MM)`);
      const row = { line, id, checked, stripeSince, morePlans: [], record };
      if (!idProblem) byId.set(id, row);
      rows.push(row);
    }
    problems.push(...rowProblems.map((p) => `line ${line}: ${p}`));
  }
  if (problems.length > 0) throw new ValidationError(file, problems, 'Nothing was imported. Fix the rows above and import again.');

  return store.transaction(async () => {
    const result: TenantImportResult = { rows: records.length, created: 0, updated: 0, unchanged: 0, planChanges: 0 };
    for (const { id, checked, stripeSince, morePlans, line } of rows) {
      const existing = await store.getTenant(id);
      const patch: TenantPatch = { ...checked.patch };
      const timezone = patch.timezone ?? existing?.timezone ?? 'UTC';
      if (stripeSince !== undefined) {
        if ((patch.billingMode ?? existing?.billingMode) !== 'stripe') {
          throw new ValidationError(file, [`line ${line}: stripe_since: goes with billing_mode stripe`], 'Nothing was imported.');
        }
        patch.stripeSince = periodInterval(timezone, stripeSince).start;
      } else if (existing !== undefined) {
        const since = stripeSinceFor(existing, { billingMode: patch.billingMode }, timezone, at, []);
        if (since !== undefined) patch.stripeSince = since;
      }
      let plans: { plan: string; from: Period | null }[];
      let touched = false;
      if (!existing) {
        await store.insertTenant(newTenant(id, checked, facts), at);
        if (patch.stripeSince !== undefined) await store.updateTenant(id, { stripeSince: patch.stripeSince }, at);
        result.created++;
        plans = morePlans;
      } else {
        const changed = Object.entries(patch).filter(([k, v]) => {
          const old = existing[k as keyof Tenant];
          return v instanceof Decimal ? !(old instanceof Decimal && old.eq(v)) : old !== v;
        });
        if (changed.length > 0) {
          const changes = Object.fromEntries(changed) as TenantPatch;
          if (changes.currency !== undefined && changes.currency !== null) {
            const p = await currencyChangeProblem(store, existing, changes.currency, facts);
            if (p) throw new ValidationError(file, [`line ${line}: ${p}`], 'Nothing was imported.');
          }
          await store.updateTenant(id, changes, at);
          await rebuildIfMoved(store, existing, changes);
          touched = true;
        }
        plans = checked.plan === undefined ? morePlans : [{ plan: checked.plan, from: checked.from ?? null }, ...morePlans];
      }
      let current = plans.length > 0 ? (await store.getTenant(id))! : undefined;
      for (const e of plans) {
        if (samePlanEntry(current!, e.plan, e.from)) continue;
        await store.addPlanEntry(id, e.plan, e.from, at);
        current = (await store.getTenant(id))!;
        if (existing) result.planChanges++;
        touched = true;
      }
      if (!existing) continue;
      if (touched) result.updated++;
      else result.unchanged++;
    }
    return result;
  });
}
