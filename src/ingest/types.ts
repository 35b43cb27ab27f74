/**
 * What flows through an import: sources in, parcels of normalised rows out. A parcel crosses a
 * thread boundary (postMessage), so it holds only plain data and typed arrays.
 */

import { QUANTITIES, QUANTITY_COUNT } from '../domain/quantities.js';

export type InputFormat = 'jsonl' | 'json' | 'csv';

export interface SourceSpec {
  /** Absolute path, or '-' for standard input. */
  path: string;
  /** How reports name it: as typed, or relative to the working directory. */
  display: string;
  format: InputFormat;
  gzip: boolean;
}

/**
 * A receipt as the store writes it: the columns of RECEIPT_COLUMNS in order, the quantities of the
 * field table (domain/quantities.ts) last, in table order. ts is ms since the epoch; billable and
 * unsplit are 0/1. Read and write its slots through ROW, never by number.
 */
export type ReceiptRow = [
  tenantId: string,
  id: string,
  ts: number,
  billable: 0 | 1,
  status: string | null,
  userId: string | null,
  projectId: string | null,
  provider: string | null,
  model: string | null,
  modelKey: string | null,
  gpuType: string | null,
  gpuKey: string | null,
  eventType: string | null,
  reportedCost: string | null,
  unsplit: 0 | 1,
  batchId: number,
  ...quantities: number[],
];

/** The slots of a ReceiptRow; `quantities` is where the field table's quantities start. */
export const ROW = {
  tenantId: 0, id: 1, ts: 2, billable: 3, status: 4, userId: 5, projectId: 6, provider: 7, model: 8, modelKey: 9,
  gpuType: 10, gpuKey: 11, eventType: 12, reportedCost: 13, unsplit: 14, batchId: 15, quantities: 16,
} as const;

export const RECEIPT_COLUMNS: readonly string[] = [
  'tenant_id', 'id', 'ts', 'billable', 'status', 'user_id', 'project_id', 'provider', 'model', 'model_key', 'gpu_type',
  'gpu_key', 'event_type', 'reported_cost', 'unsplit', 'batch_id', ...QUANTITIES.map((q) => q.column),
];

/** A row's quantity of the field table's row `q` (its index). */
export function rowQuantity(row: ReceiptRow, q: number): number {
  return row[ROW.quantities + q] as number;
}

/** Where a committed import stands in its source: records read, last physical line, byte offset after it. */
export interface Checkpoint {
  records: number;
  line: number;
  byte: number;
}

export interface RejectEntry {
  line: number;
  reason: string;
  text: string;
}

/**
 * Rollup sums of some receipts for one (tenant, local day, model key, gpu key): receipts, billable
 * requests, exact billable reported cost, unsplit, then the billable sums of the field table's
 * quantities in table order. Sums stay numbers while exact and become bigints beyond 2^53. Slots
 * through DELTA, never by number.
 */
export type RollupDelta = [
  tenantId: string,
  day: number,
  modelKey: string,
  gpuKey: string,
  receipts: number | bigint,
  requests: number | bigint,
  reportedCost: string,
  unsplit: number | bigint,
  ...quantities: (number | bigint)[],
];

export const DELTA = {
  tenantId: 0, day: 1, modelKey: 2, gpuKey: 3, receipts: 4, requests: 5, reportedCost: 6, unsplit: 7, quantities: 8,
} as const;

/** The rollup columns in RollupDelta order. */
export const ROLLUP_COLUMNS: readonly string[] = [
  'tenant_id', 'day', 'model_key', 'gpu_key', 'receipts', 'requests', 'reported_cost', 'unsplit', ...QUANTITIES.map((q) => q.column),
];

/** What every parcel carries, on the wire and decoded. */
interface ParcelCommon {
  /** How many rows. */
  count: number;
  /** Per row: its record as written (UTF-8), concatenated; row i is rawBytes[rawEnds[i-1] .. rawEnds[i]). */
  rawBytes: Uint8Array;
  rawEnds: Uint32Array;
  rejects: RejectEntry[];
  /** Tenants this source mentions for the first time and the job did not know. */
  newTenants: string[];
  /** Records read in this parcel: rows, rejects and out-of-range ones. */
  records: number;
  outOfRange: number;
  /** Where the source stands after this parcel. */
  checkpoint: Checkpoint;
  /** Source bytes read so far (compressed bytes for .gz), for progress. */
  bytesRead: number;
  /** Commit after this parcel. */
  unitEnd: boolean;
  /** The unit is being summed by the reading side: its last parcel carries `rollups`. */
  summing: boolean;
  /** Rows whose tokens came from tokens_processed. */
  unsplit: number;
  /**
   * With summing: rollup sums over the unit's rows up to this parcel not given with an earlier
   * parcel (as if all were new). At the unit's end, and sooner when they hold many keys.
   */
  rollups?: RollupDelta[];
  /** On the source's last parcel (a unit's end): its hash and size. */
  end?: PipelineEnd;
}

/**
 * A parcel as it crosses from the reading thread: typed arrays (moved, not copied) and a string
 * dictionary for the values that repeat (tenants, statuses, models, GPUs, users), so the writing
 * thread spends no time deserialising. ParcelDecoder turns it into a Parcel.
 */
export interface WireParcel extends ParcelCommon {
  /** Per row, DICT_FIELDS codes into the dictionary (-1: null). */
  codes: Int32Array;
  /** Per row, NUM_FIELDS numbers. */
  nums: Float64Array;
  /** Ids and reported costs of the rows, concatenated; per row two ends (id, cost). */
  free: string;
  freeEnds: Uint32Array;
  /** The dictionary starts afresh with this parcel, then grows by dictAdd. */
  dictReset: boolean;
  dictAdd: string[];
}

/** Dictionary-coded fields of a wire row. */
export const DICT = {
  tenantId: 0, status: 1, userId: 2, projectId: 3, provider: 4, model: 5, modelKey: 6, gpuType: 7, gpuKey: 8, eventType: 9,
} as const;
export const DICT_FIELDS = 10;
/** Numeric fields of a wire row: then the field table's quantities, in table order. */
export const NUM = { ts: 0, billable: 1, unsplit: 2, day: 3, line: 4, hasCost: 5, quantities: 6 } as const;
export const NUM_FIELDS = NUM.quantities + QUANTITY_COUNT;

export interface Parcel extends ParcelCommon {
  /** The rows (decoded on first use: a writer that streams COPY text may never need them). */
  readonly rows: ReceiptRow[];
  /** Per row: its tenant's local day (days since 1970-01-01 local), for rollups. */
  days: Int32Array;
  /** Per row: its line (or array position). */
  lines: Float64Array;
  /** The rows as Postgres COPY text (tab-separated, columns in table order), made on first use and kept. */
  copyText(): Buffer;
}

/** The record of row i as written. */
export function rawText(p: Pick<Parcel, 'rawBytes' | 'rawEnds'>, i: number): string {
  const start = i === 0 ? 0 : p.rawEnds[i - 1]!;
  return Buffer.from(p.rawBytes.buffer, p.rawBytes.byteOffset + start, p.rawEnds[i]! - start).toString('utf8');
}

/** Turns wire parcels back into rows, keeping the dictionary between parcels of one source. */
export class ParcelDecoder {
  private dict: string[] = [];
  /** The dictionary's entries in COPY text form, filled as they are needed. */
  private copyDict: Buffer[] = [];

  /**
   * The batch the rows belong to. Rows are made on first use, so it may be set after decode()
   * (a new batch is created in its first unit's transaction).
   */
  constructor(public batchId: number) {}

  decode(w: WireParcel): Parcel {
    // The dictionary grows in parcel order; a reset starts new arrays, so a parcel decoded later
    // still reads the entries it was coded with.
    if (w.dictReset) {
      this.dict = [];
      this.copyDict = [];
    }
    for (const s of w.dictAdd) this.dict.push(s);
    const dict = this.dict;
    const copyDict = this.copyDict;
    const self = this;
    const days = new Int32Array(w.count);
    const lines = new Float64Array(w.count);
    for (let i = 0; i < w.count; i++) {
      days[i] = w.nums[i * NUM_FIELDS + NUM.day]!;
      lines[i] = w.nums[i * NUM_FIELDS + NUM.line]!;
    }
    let rows: ReceiptRow[] | undefined;
    let text: Buffer | undefined;
    const { codes: _c, nums: _n, free: _f, freeEnds: _e, dictReset: _r, dictAdd: _a, ...common } = w;
    return {
      ...common,
      get rows() {
        rows ??= decodeRows(w, dict, self.batchId);
        return rows;
      },
      copyText: () => (text ??= copyTextOf(w, dict, copyDict, self.batchId)),
      days,
      lines,
    };
  }
}

function decodeRows(w: WireParcel, d: readonly string[], batchId: number): ReceiptRow[] {
  const { codes, nums, free, freeEnds, count } = w;
  const rows: ReceiptRow[] = new Array(count);
  let at = 0;
  const str = (c: number): string | null => (c < 0 ? null : d[c]!);
  for (let i = 0; i < count; i++) {
    const c = i * DICT_FIELDS;
    const n = i * NUM_FIELDS;
    const idEnd = freeEnds[2 * i]!;
    const costEnd = freeEnds[2 * i + 1]!;
    const id = free.slice(at, idEnd);
    const cost = nums[n + NUM.hasCost] === 1 ? free.slice(idEnd, costEnd) : null;
    at = costEnd;
    const row: ReceiptRow = [
      d[codes[c + DICT.tenantId]!]!, id, nums[n + NUM.ts]!, nums[n + NUM.billable]! as 0 | 1, str(codes[c + DICT.status]!),
      str(codes[c + DICT.userId]!), str(codes[c + DICT.projectId]!), str(codes[c + DICT.provider]!), str(codes[c + DICT.model]!),
      str(codes[c + DICT.modelKey]!), str(codes[c + DICT.gpuType]!), str(codes[c + DICT.gpuKey]!), str(codes[c + DICT.eventType]!),
      cost, nums[n + NUM.unsplit]! as 0 | 1, batchId,
    ];
    for (let q = 0; q < QUANTITY_COUNT; q++) row.push(nums[n + NUM.quantities + q]!);
    rows[i] = row;
  }
  return rows;
}

/**
 * COPY text straight from a wire parcel, written as bytes: dictionary entries escaped and encoded
 * once, plain ASCII ids and whole numbers written byte by byte, no row arrays and no big string.
 * Columns in RECEIPT_COLUMNS order.
 */
function copyTextOf(w: WireParcel, d: readonly string[], esc: Buffer[], batchId: number): Buffer {
  const { codes, nums, free, freeEnds, count } = w;
  const out = new CopyBytes(count * 256);
  const batch = Buffer.from(`\t${batchId}`);
  const field = (c: number): void => {
    if (c < 0) {
      out.nul();
      return;
    }
    let e = esc[c];
    if (e === undefined) esc[c] = e = Buffer.from(copyValue(d[c]!));
    out.bytes(e);
  };
  let at = 0;
  for (let i = 0; i < count; i++) {
    const c = i * DICT_FIELDS;
    const n = i * NUM_FIELDS;
    const idEnd = freeEnds[2 * i]!;
    const costEnd = freeEnds[2 * i + 1]!;
    field(codes[c + DICT.tenantId]!);
    out.tab();
    out.text(free.slice(at, idEnd));
    out.tab();
    out.number(nums[n + NUM.ts]!);
    out.tab();
    out.number(nums[n + NUM.billable]!);
    // status, user, project, provider, model, model key, GPU, GPU key, event type: in row order
    for (let k = DICT.status; k <= DICT.eventType; k++) {
      out.tab();
      field(codes[c + k]!);
    }
    out.tab();
    if (nums[n + NUM.hasCost] === 1) out.text(free.slice(idEnd, costEnd));
    else out.nul();
    out.tab();
    out.number(nums[n + NUM.unsplit]!);
    out.bytes(batch);
    for (let q = 0; q < QUANTITY_COUNT; q++) {
      out.tab();
      out.number(nums[n + NUM.quantities + q]!);
    }
    out.newline();
    at = costEnd;
  }
  return out.done();
}

/** A growing byte buffer for COPY text. */
class CopyBytes {
  private buf: Buffer;
  private o = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(size, 1024));
  }

  /** Room for n more bytes. */
  private room(n: number): void {
    if (this.o + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.o + n));
    this.buf.copy(bigger, 0, 0, this.o);
    this.buf = bigger;
  }

  tab(): void {
    this.room(1);
    this.buf[this.o++] = 0x09;
  }

  newline(): void {
    this.room(1);
    this.buf[this.o++] = 0x0a;
  }

  nul(): void {
    this.room(2);
    this.buf[this.o++] = 0x5c;
    this.buf[this.o++] = 0x4e;
  }

  bytes(b: Buffer): void {
    const n = b.length;
    this.room(n);
    const buf = this.buf;
    let o = this.o;
    for (let k = 0; k < n; k++) buf[o++] = b[k]!;
    this.o = o;
  }

  /** A string: printable ASCII byte by byte; anything else escaped and encoded from there on. */
  text(s: string): void {
    const n = s.length;
    this.room(n);
    const buf = this.buf;
    for (let k = 0; k < n; k++) {
      const ch = s.charCodeAt(k);
      if (ch >= 0x7f || ch < 0x20 || ch === 0x5c) {
        const rest = Buffer.from(copyValue(s.slice(k)));
        this.bytes(rest);
        return;
      }
      buf[this.o++] = ch;
    }
  }

  /** A number as String(x) writes it: whole numbers up to 2^53 digit by digit. */
  number(x: number): void {
    if (!(Number.isSafeInteger(x) && x >= 0)) {
      this.bytes(Buffer.from(String(x), 'latin1'));
      return;
    }
    let digits = 1;
    for (let t = x; t >= 10; t = Math.floor(t / 10)) digits++;
    this.room(digits);
    const buf = this.buf;
    let p = this.o + digits - 1;
    let t = x;
    for (; p >= this.o; p--) {
      buf[p] = 0x30 + (t % 10);
      t = Math.floor(t / 10);
    }
    this.o += digits;
  }

  done(): Buffer {
    return this.buf.subarray(0, this.o);
  }
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value in Postgres COPY text format. */
export function copyValue(v: string | number | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  return COPY_SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : v;
}

/** A receipt row as one line of Postgres COPY text, columns in table order. */
export function copyLine(row: ReceiptRow): string {
  let line = copyValue(row[0]);
  for (let c = 1; c < row.length; c++) line += `\t${copyValue(row[c]!)}`;
  return `${line}\n`;
}

export interface PipelineOptions {
  assumeUtc: boolean;
  covenants: [string, string][] | null;
  /** Backfill window on receipt timestamps: since <= ts < until (ms), or null. */
  since: number | null;
  until: number | null;
}

export interface PipelineJob {
  source: SourceSpec;
  batchId: number;
  /** Skip this much (a resumed batch); with `seek`, start reading at its byte offset. */
  resume: Checkpoint;
  seek: boolean;
  options: PipelineOptions;
  /** Tenants known at the start, with their timezones (for rollup days). */
  tenants: [string, string][];
  /** False: validate only (rows are dropped; rejects and counts still flow). */
  emitRows: boolean;
  /** Compute per-unit rollup sums in the pipeline (the writer can switch them off and on, see PipelineControl). */
  aggregates: boolean;
  /** Sum the first unit (off when most receipts are expected to be stored already, as with --force). */
  sumFirstUnit: boolean;
  /** Hash the source while reading it (only meaningful from byte 0). */
  hash: boolean;
  unitRecords: number;
  parcelRecords: number;
  /** Rollup keys summed before they are sent on (ROLLUP_FLUSH_KEYS; tests shrink it). */
  rollupKeys: number;
  /** Parcels that may wait for the writer (a writer that waits on a server wants more). */
  queue: number;
}

export interface PipelineEnd {
  /** SHA-256 of the source's bytes (as stored, so of the .gz for gzip), when hashed. */
  sha256: string | null;
  /** Source bytes read (from the start offset). */
  bytes: number;
}
