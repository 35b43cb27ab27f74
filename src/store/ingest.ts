/**
 * What the store offers imports (batches, receipt writes, rejects) and rating (receipts in order,
 * daily rollups). Shared SQL is in ingest-sql.ts and receipts-sql.ts; the receipt writers, where
 * the databases differ most, are sqlite/ingest.ts (prepared upserts) and postgres/ingest.ts (COPY
 * into a staging table, then one merge).
 */
import type { Decimal } from '../domain/money.js';
import type { Checkpoint, Parcel, RollupDelta } from '../ingest/types.js';
import type { QuantityName, QuantitySums } from '../domain/quantities.js';

export type BatchStatus = 'running' | 'complete' | 'refused';
export type BatchKind = 'import' | 'backfill';

export interface BatchCounts {
  lines: number;
  imported: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  newTenants: number;
  unsplitTokens: number;
  outOfRange: number;
}

export const ZERO_COUNTS: Readonly<BatchCounts> = Object.freeze({
  lines: 0, imported: 0, duplicates: 0, conflicts: 0, rejected: 0, newTenants: 0, unsplitTokens: 0, outOfRange: 0,
});

export interface BatchRecord {
  id: number;
  kind: BatchKind;
  /** Absolute path, or '-' for standard input. */
  path: string;
  display: string;
  format: string;
  /** The options that change what an import stores (JSON); batches match only with equal settings. */
  settings: string;
  size: number | null;
  sha256: string | null;
  /** dev:ino:size:mtimeNs:ctimeNs of the file when its batch started. */
  fingerprint: string | null;
  status: BatchStatus;
  counts: BatchCounts;
  checkpoint: Checkpoint;
  startedAt: string;
  finishedAt: string | null;
}

export type NewBatch = Pick<
  BatchRecord, 'kind' | 'path' | 'display' | 'format' | 'settings' | 'size' | 'sha256' | 'fingerprint' | 'status' | 'startedAt'
>;

/** A receipt as a conflict report shows it (with every quantity of the field table). */
export interface ReceiptVersion extends Record<QuantityName, number> {
  timestamp: string;
  billable: boolean;
  status: string | null;
  model: string | null;
  model_key: string | null;
  gpu_type: string | null;
  gpu_key: string | null;
  event_type: string | null;
  user_id: string | null;
  reported_cost: string | null;
  batch_id: number;
}

export interface RejectRecord {
  batchId: number;
  line: number;
  kind: 'reject' | 'conflict';
  reason: string;
  /** The record as written. */
  text: string;
  tenantId: string | null;
  receiptId: string | null;
  /** For a conflict: the stored version and the new one. */
  stored: ReceiptVersion | null;
  incoming: ReceiptVersion | null;
}

export interface UnitResult {
  imported: number;
  duplicates: number;
  unsplit: number;
  conflicts: RejectRecord[];
  /** The reading side's sums are worth computing for the next unit (most receipts were new). */
  wantsSums: boolean;
}

/**
 * Writes one unit of receipts: begin, add parcels, finish; the caller wraps it in a transaction
 * together with the batch's progress, so a unit is all there or not at all.
 */
export interface ReceiptWriter {
  begin(batchId: number): Promise<void>;
  /**
   * Adds a parcel's rows. When the reading side sums the unit (`parcel.summing`), the parcel's
   * `rollups` are sums over rows of the unit not summed before (as if all were new), and the writer
   * takes out the rows it did not import; otherwise it sums the rows it imported. Either way the
   * sums are written as they go (ROLLUP_FLUSH_KEYS bounds what waits in memory).
   */
  add(parcel: Parcel): Promise<void>;
  /** Sums to add as they are (the reading side's corrections of rollup days). */
  addSums(deltas: RollupDelta[]): Promise<void>;
  /**
   * Waits until the writer has nothing in flight on the connection, so the caller can run its own
   * statements in the unit's transaction (tenants, rejects). A writer that streams waits here.
   */
  quiesce(): Promise<void>;
  /** Writes what is left of the unit and reports what happened. */
  finish(): Promise<UnitResult>;
  /** True when the writer wants the reading side's rollup sums (it then computes them). */
  readonly wantsRollups: boolean;
  /**
   * Parcels the reading side may have ready: a writer that waits on a server (COPY) wants a deeper
   * queue, so reading goes on meanwhile; one that is always busy wants a shallow one (less memory).
   */
  readonly queueDepth: number;
}

export interface IngestStore {
  findBatches(q: { path?: string; sha256?: string }): Promise<BatchRecord[]>;
  /**
   * Whether a complete batch may hold a source of `size` bytes: one of that size, or one whose size
   * was never recorded. When none does, no complete batch can have the same SHA-256.
   */
  completeBatchOfSize(size: number): Promise<boolean>;
  createBatch(b: NewBatch): Promise<number>;
  /** The source of a resumed batch, when it is found under another path or fingerprint. */
  moveBatch(id: number, path: string, display: string, fingerprint: string | null): Promise<void>;
  saveProgress(id: number, counts: BatchCounts, checkpoint: Checkpoint): Promise<void>;
  finishBatch(
    id: number,
    fields: { status: BatchStatus; counts: BatchCounts; checkpoint: Checkpoint; sha256: string | null; size: number | null; at: string },
  ): Promise<void>;
  addRejects(entries: RejectRecord[]): Promise<void>;
  /** Rejects and conflicts of a batch in line order, `limit` at a time after line `afterLine`. */
  listRejects(batchId: number, afterLine: number, limit: number): Promise<RejectRecord[]>;
  /**
   * Every tenant's timezone. With `lock` (inside a unit's transaction), the tenants are held so a
   * timezone change (and its rollup rebuild) waits for the unit, or the unit for it (Postgres FOR SHARE;
   * SQLite has one writer at a time anyway).
   */
  tenantTimezones(lock?: boolean): Promise<Map<string, string>>;
  /** `rollupKeys`: rollup keys held in memory before they are written (ROLLUP_FLUSH_KEYS). */
  writer(options?: { rollupKeys?: number }): ReceiptWriter;
}

/** Rollup sums of one tenant, local day, model key and GPU key; the field table's quantities of billable receipts. */
export interface RollupRow extends QuantitySums {
  /** Local calendar day in the tenant's timezone, as days since 1970-01-01 (see period.ts). */
  day: number;
  modelKey: string | null;
  gpuKey: string | null;
  /** Every receipt. */
  receipts: bigint;
  /** Billable receipts. */
  requests: bigint;
  /** Exact sum of billable receipts' reported costs (0 when none reported one). */
  reportedCost: Decimal;
  /** Receipts whose tokens came from tokens_processed. */
  unsplit: bigint;
}

export interface ReceiptQuery {
  /** Only billable receipts (rating takes only those). */
  billableOnly?: boolean;
  /** Rows fetched per round trip (default 5000). */
  pageSize?: number;
}
