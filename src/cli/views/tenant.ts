/** How a tenant is shown: the JSON document and the table columns. */
import type { Tenant } from '../../domain/tenant.js';
import type { Column } from '../render.js';

export function tenantJson(t: Tenant): Record<string, unknown> {
  return {
    id: t.id,
    name: t.name,
    timezone: t.timezone,
    tax_rate: t.taxRate.toString(),
    tax_label: t.taxLabel,
    net_days: t.netDays,
    currency: t.currency,
    email: t.email,
    address: t.address,
    tax_id: t.taxId,
    po_number: t.poNumber,
    billing_mode: t.billingMode,
    stripe_customer_id: t.stripeCustomerId,
    stripe_since: t.stripeSince === null ? null : new Date(t.stripeSince).toISOString(),
    auto_created: t.autoCreated,
    plans: t.plans.map((p) => ({ plan: p.plan, from: p.from, set_at: p.setAt })),
    created_at: t.createdAt,
    updated_at: t.updatedAt,
  };
}

function currentPlan(t: Tenant): string {
  const last = t.plans[t.plans.length - 1];
  return last ? `${last.plan}${last.from ? ` from ${last.from}` : ''}` : '';
}

export const TENANT_COLUMNS: Column<Tenant>[] = [
  { header: 'id', value: (t) => t.id },
  { header: 'name', value: (t) => t.name },
  { header: 'plan', value: currentPlan },
  { header: 'timezone', value: (t) => t.timezone },
  { header: 'tax_rate', value: (t) => t.taxRate.toString(), align: 'right' },
  { header: 'net_days', value: (t) => t.netDays, align: 'right' },
  { header: 'billing_mode', value: (t) => t.billingMode },
];
