/**
 * The canonical receipt (receipts.md, "The canonical receipt"): what every input format is
 * normalised into at the ingest boundary. Inside billctl a Receipt is trusted.
 */
import { createHash } from 'node:crypto';

export interface Receipt {
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
  /** Whole numbers in [0, 2^53 − 1]. */
  gpuSeconds: number;
  inputTokens: number;
  outputTokens: number;
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
 * The billing content: two receipts with one identity and equal content are duplicates; with
 * different content they conflict.
 */
export function billingContent(r: Pick<Receipt, 'ts' | 'billable' | 'modelKey' | 'gpuKey' | 'gpuSeconds' | 'inputTokens' | 'outputTokens'>): string {
  return [r.ts, r.billable ? 1 : 0, r.modelKey ?? '', r.gpuKey ?? '', r.gpuSeconds, r.inputTokens, r.outputTokens].join('|');
}

/**
 * The id of a receipt that has none: `sha256:` + hex SHA-256 of
 * `tenant_id|timestamp(ms)|billable(0/1)|model key|gpu key|gpu_seconds|input_tokens|output_tokens|user_id`.
 */
export function derivedId(r: Omit<Receipt, 'id'>): string {
  const text = [
    r.tenantId, r.ts, r.billable ? 1 : 0, r.modelKey ?? '', r.gpuKey ?? '', r.gpuSeconds, r.inputTokens, r.outputTokens,
    r.userId ?? '',
  ].join('|');
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
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
