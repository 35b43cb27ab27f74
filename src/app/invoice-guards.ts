/**
 * What a careful finance tool checks before it issues an invoice. A period still running is
 * refused, and so is a draft of a period that has not begun: a usage error (exit 2) naming every
 * tenant concerned and the flag that overrides it; nothing is done. A placeholder issuer or a
 * customer with nothing but its id is a warning the finalize confirmation repeats: on a terminal
 * the question shows it first, a script must have said --yes, and the --allow-… flag says it
 * is on purpose (no warning).
 */
import { PLACEHOLDER_ISSUER, type Config } from '../config.js';
import { localDate, periodInterval, type Period } from '../domain/period.js';
import type { Tenant } from '../domain/tenant.js';
import { UsageError } from '../errors.js';

export interface IssueOverrides {
  allowPlaceholderIssuer: boolean;
  allowIncompleteCustomer: boolean;
  allowOpenPeriod: boolean;
}

/** Tenants named in a message; the rest are counted. */
const NAMED = 10;

function listed(items: readonly string[]): string {
  return items.length <= NAMED ? items.join(', ') : `${items.slice(0, NAMED).join(', ')} and ${items.length - NAMED} more`;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** A warning for invoices issued by the placeholder issuer, or by an issuer without an address. */
export function issuerWarning(config: Config, allow: boolean): string | undefined {
  if (allow) return undefined;
  const { name, address } = config.issuer;
  const placeholder = name.trim() === PLACEHOLDER_ISSUER || name.trim() === '';
  if (!placeholder && address.trim() !== '') return undefined;
  const where = config.file === null ? 'there is no billctl.yaml here' : `see issuer in ${config.file}`;
  const what = placeholder && address.trim() === ''
    ? `the placeholder issuer "${PLACEHOLDER_ISSUER}" with no address`
    : placeholder ? `the placeholder issuer "${PLACEHOLDER_ISSUER}"` : `issuer "${name}" with no address`;
  return `the invoices will be issued by ${what} (${where}): a customer cannot pay or book such an invoice. ` +
    'Set issuer.name and issuer.address in billctl.yaml (billctl init --yes --issuer-name "…" --issuer-address "…" writes one), ' +
    'or pass --allow-placeholder-issuer to issue them so on purpose.';
}

/** True when an invoice would name the customer by its id alone: no name of its own and no address (as an import creates it). */
export function incompleteCustomer(t: Tenant): boolean {
  return t.name === t.id && (t.address ?? '').trim() === '';
}

/** A warning for invoices to customers with no name and no address. */
export function customersWarning(tenants: readonly Tenant[], allow: boolean): string | undefined {
  if (allow) return undefined;
  const bare = tenants.filter(incompleteCustomer);
  if (bare.length === 0) return undefined;
  const first = bare[0]!.id;
  return `${plural(bare.length, 'tenant has', 'tenants have')} no name and no address for the invoice: ` +
    `${listed(bare.map((t) => (t.autoCreated ? `${t.id} (created by an import)` : t.id)))}. ` +
    `Give each its name and billing address, e.g. billctl tenant update ${first} --name "…" --address "…" (or billctl tenant import), ` +
    'or pass --allow-incomplete-customer to issue them so on purpose.';
}

/** Refuses issuing the invoices of a period that has not ended for some of the tenants (its usage is still coming). */
export function checkPeriodEnded(tenants: readonly Tenant[], period: Period, now: number, allow: boolean): void {
  if (allow) return;
  const open = tenants.filter((t) => periodInterval(t.timezone, period).end > now);
  if (open.length === 0) return;
  const t = open[0]!;
  throw new UsageError(
    `${period} has not ended yet for ${plural(open.length, 'tenant', 'tenants')} (${listed(open.map((x) => x.id))}; ` +
      `for ${t.id} it ends ${localDate(t.timezone, periodInterval(t.timezone, period).end)} 00:00 ${t.timezone}): ` +
      'an invoice issued now would leave out the rest of the month',
    'Finalize once the period has ended, or pass --allow-open-period to issue it now.',
  );
}

/** Refuses drafts of a period that has not begun for some of the tenants (there is no usage to bill yet). */
export function checkPeriodBegun(tenants: readonly Tenant[], period: Period, now: number, allow: boolean): void {
  if (allow) return;
  const future = tenants.filter((t) => periodInterval(t.timezone, period).start > now);
  if (future.length === 0) return;
  const t = future[0]!;
  throw new UsageError(
    `${period} has not begun yet for ${plural(future.length, 'tenant', 'tenants')} (${listed(future.map((x) => x.id))}; ` +
      `for ${t.id} it begins ${localDate(t.timezone, periodInterval(t.timezone, period).start)} 00:00 ${t.timezone}): there is no usage to bill`,
    'Generate it once the month has begun, or pass --allow-open-period (to bill a plan fee in advance, say).',
  );
}
