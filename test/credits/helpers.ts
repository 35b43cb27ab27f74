/** Stores for the credits, credit notes and receivables tests: a fixed clock, invoices of a pro tenant's fee. */
import type { Backend } from '../helpers/backends.js';
import type { CliResult } from '../helpers/cli.js';
import { jsonOf, makeStore, type TestStore } from '../helpers/store-setup.js';

export interface LineJson { kind: string; key: string; description: string; amount: string }
export interface InvoiceJson {
  id: string; number: string | null; tenant_id: string; period: string; status: string; subtotal: string; tax: string; total: string;
  amount_due: string; paid_date: string | null; issue_date: string | null; due_date: string | null; pdf: string | null;
  prepaid_applied?: string; credits?: string; lines?: LineJson[];
}
export interface GrantJson {
  id: string; tenant_id: string; kind: string; name: string | null; amount: string; drawn: string; balance: string; start: string;
  expires: string | null; status: string;
}
export interface NoteJson {
  id: string; number: string; invoice_number: string; net: string; tax: string; total: string; applied: string; granted: string;
  line: number | null; line_description: string | null; reason: string; pdf: string | null; issue_date: string;
}

/** A test store whose clock is `now` unless a call says otherwise. */
export interface ClockStore extends TestStore {
  now: string;
  json<T>(argv: string[], expected?: number): Promise<T>;
}

export async function clockStore(backend: Backend, now = '2026-11-02T10:00:00Z'): Promise<ClockStore> {
  const s = await makeStore(await backend.fresh());
  const store: ClockStore = {
    ...s,
    now,
    run: (argv: string[], expected = 0, env: Record<string, string> = {}): Promise<CliResult> => s.run(argv, expected, { BILLCTL_NOW: store.now, ...env }),
    json: async <T>(argv: string[], expected = 0) => jsonOf<T>(await store.run([...argv, '--format', 'json'], expected)),
  };
  return store;
}

/** A pro tenant (fee 99.00 a month, nothing else without usage), tax 19 % unless told. */
export async function proTenant(s: ClockStore, id = 'acme', taxRate = '0.19'): Promise<void> {
  await s.run(['tenant', 'add', id, '--name', `${id} GmbH`, '--plan', 'pro', '--tax-rate', taxRate, '--tax-label', 'VAT']);
}

export async function issue(s: ClockStore, tenant: string, period: string, issueDate: string): Promise<InvoiceJson> {
  await s.run(['invoice', 'generate', '--period', period, '--tenant', tenant, '--finalize', '--issue-date', issueDate, '--yes']);
  return (await s.json<InvoiceJson[]>(['invoice', 'list', '--tenant', tenant, '--period', period])).find((i) => i.status !== 'void')!;
}

export const show = (s: ClockStore, n: string) => s.json<InvoiceJson>(['invoice', 'show', n]);
export const grants = (s: ClockStore, tenant?: string) => s.json<GrantJson[]>(['credit', 'list', ...(tenant ? ['--tenant', tenant] : [])]);
export const credits = (inv: InvoiceJson) => (inv.lines ?? []).filter((l) => l.kind === 'credit').map((l) => `${l.description} ${l.amount}`);
