/**
 * The canonical receipt (receipts.md, "The canonical receipt"): what every input format is
 * normalised into at the ingest boundary. Inside billctl a Receipt is trusted.
 */
import { createHash } from 'node:crypto';
import { BASE_QUANTITIES, EXTENDED_AFTER_EVENT, EXTENDED_QUANTITIES, QUANTITIES, type Quantities } from './quantities.js';

/** The quantities (gpuSeconds, the five token classes, quantity) are the field table's (quantities.ts). */
export interface Receipt extends Quantities {
  tenantId: string;
  id: string;
  /** Milliseconds since the epoch (UTC). */
  ts: number;
  billable: boolean;
  status: string | null;
  userId: string | null;
  projectId: string | null;
  provider: string | null;
  /** Display name as the receipt wrote it, and its key (see names.ts). */
  model: string | null;
  modelKey: string | null;
  gpuType: string | null;
  gpuKey: string | null;
  /** The event type's key (keyed like a name), or null. */
  eventType: string | null;
  /** Decimal text, kept for reconciliation, never billed. */
  reportedCost: string | null;
  /** Input tokens came from `tokens_processed` (a legacy receipt that never split tokens). */
  unsplit: boolean;
}

/** Statuses whose receipts are stored but never billed (compared case-insensitively). */
export const NON_BILLABLE_STATUSES: ReadonlySet<string> = new Set([
  'failed', 'error', 'errored', 'cancelled', 'canceled', 'rejected', 'timeout',
]);

export function isBillableStatus(status: string | null): boolean {
  return status === null || !NON_BILLABLE_STATUSES.has(status.toLowerCase());
}

/**
 * The id of a receipt that has none (receipts.md, "Identity, duplicates and conflicts"): `sha256:` +
 * hex SHA-256 of `tenant_id|timestamp(ms)|billable(0/1)|model key|gpu key|gpu_seconds|input_tokens|output_tokens|user_id`,
 * continued by `|cached_input_tokens|cache_write_tokens|reasoning_tokens|event_type key|quantity` when any
 * of them is not 0 or the event type is present (so ids of receipts without them never change).
 */
export function derivedId(r: Omit<Receipt, 'id'>): string {
  let text = `${r.tenantId}|${r.ts}|${r.billable ? 1 : 0}|${r.modelKey ?? ''}|${r.gpuKey ?? ''}`;
  for (const q of BASE_QUANTITIES) text += `|${r[q.prop]}`;
  text += `|${r.userId ?? ''}`;
  if (hasExtendedContent(r)) {
    for (const q of EXTENDED_QUANTITIES) text += `|${r[q.prop]}`;
    text += `|${r.eventType ?? ''}`;
    for (const q of EXTENDED_AFTER_EVENT) text += `|${r[q.prop]}`;
  }
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

/** Whether a receipt has content the first wave's receipts never had (see derivedId). */
export function hasExtendedContent(r: Pick<Receipt, 'eventType' | keyof Quantities>): boolean {
  if (r.eventType !== null) return true;
  for (const q of QUANTITIES) if (q.extended && r[q.prop] !== 0) return true;
  return false;
}

/** Ids sort by Unicode code point (UTF-8 byte order), as in Postgres COLLATE "C" and SQLite BINARY. */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 order differs from code point order only around surrogates; compare by code points.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** Receipt order for rating: by timestamp, then id in code point order. */
export function compareReceipts(a: Pick<Receipt, 'ts' | 'id'>, b: Pick<Receipt, 'ts' | 'id'>): number {
  return a.ts - b.ts || compareIds(a.id, b.id);
}
