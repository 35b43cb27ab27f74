/**
 * The reading half of an import: source bytes -> records -> canonical receipts -> parcels. It
 * runs on a worker thread for files (so parsing overlaps the database writes) and in-process for
 * standard input. Memory is bounded: a parcel at a time, plus what the caller has not yet taken.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { pipeline as pipe, Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import { localDayNumber } from '../domain/period.js';
import { QUANTITIES, QUANTITY_COUNT } from '../domain/quantities.js';
import { RollupAccumulator } from './rollups.js';
import { normalize, wantedFields, type NormalizeOptions, type SourceRecord } from './normalize.js';
import { RecordParser } from './record-json.js';
import { CsvReader, JsonDocumentReader, JsonLinesReader, type RawRecord, type RecordReader } from './readers.js';
import { DICT, DICT_FIELDS, NUM, NUM_FIELDS, type Checkpoint, type PipelineEnd, type PipelineJob, type RejectEntry, type WireParcel } from './types.js';

const READ_CHUNK = 256 * 1024;

/** The field table's receipt properties, in table order (the wire row's quantities). */
const QUANTITY_PROPS = QUANTITIES.map((q) => q.prop);

/** Switches the writer can flip while a source is read; they take effect at the next unit. */
export interface PipelineControl {
  /** Sum rollups per unit (the writer stops using them while units are mostly known receipts). */
  aggregates: boolean;
}

/** SHA-256 and size of a file, read in large chunks. */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of fs.createReadStream(path, { highWaterMark: 4 * READ_CHUNK })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/** Builds a source record from CSV cells: a column's first occurrence wins; an empty cell is absent. */
function csvRecord(header: readonly string[], cells: readonly string[]): SourceRecord {
  const rec: SourceRecord = {};
  for (let i = 0; i < header.length; i++) {
    const name = header[i]!;
    const v = cells[i]!;
    if (v !== '' && !Object.prototype.hasOwnProperty.call(rec, name)) {
      Object.defineProperty(rec, name, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  return rec;
}

/** Source bytes: a file from an offset (hashing what it reads), or the given stream; gunzipped when asked. */
async function* sourceBytes(
  job: PipelineJob,
  input: AsyncIterable<Buffer> | undefined,
  onRaw: (b: Buffer) => void,
): AsyncGenerator<Buffer> {
  const start = job.seek ? job.resume.byte : 0;
  const raw: AsyncIterable<Buffer> =
    input ?? (fs.createReadStream(job.source.path, { start, highWaterMark: READ_CHUNK }) as AsyncIterable<Buffer>);
  if (!job.source.gzip) {
    for await (const chunk of raw) {
      onRaw(chunk);
      yield chunk;
    }
    return;
  }
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onRaw(chunk);
      cb(null, chunk);
    },
  });
  const gunzip = zlib.createGunzip({ chunkSize: READ_CHUNK });
  const out = pipe(Readable.from(raw), tap, gunzip, () => {});
  for await (const chunk of out) yield chunk as Buffer;
}

/**
 * Reads a source and emits parcels. `emit` may wait (backpressure). Returns the source's hash and
 * size when done.
 */
export async function runPipeline(
  job: PipelineJob,
  input: AsyncIterable<Buffer> | undefined,
  emit: (p: WireParcel) => Promise<void> | void,
  control: PipelineControl = { aggregates: job.sumFirstUnit },
): Promise<PipelineEnd> {
  const normOptions: NormalizeOptions = {
    assumeUtc: job.options.assumeUtc,
    covenants: job.options.covenants ? new Map(job.options.covenants) : null,
    csv: job.source.format === 'csv',
  };
  const { since, until } = job.options;
  const parser = new RecordParser(wantedFields());
  const tz = new Map(job.tenants);
  const announced = new Set<string>();
  const skip = job.seek ? 0 : job.resume.records;
  let records = job.seek ? job.resume.records : 0;
  let checkpoint: Checkpoint = { ...job.resume };
  let bytesRead = job.seek ? job.resume.byte : 0;
  const hash = job.hash && !job.seek ? createHash('sha256') : null;
  // Rollup sums per unit, when the job wants them and the writer still uses them (decided per unit).
  const acc = job.aggregates ? new RollupAccumulator() : null;
  let summing = acc !== null && control.aggregates;
  /** The newest rollup day seen (sums of days before it are sent on first). */
  let newestDay = Number.MIN_SAFE_INTEGER;
  let unitRecords = 0;

  // The dictionary of repeated strings, shared with the decoder until it is reset.
  const DICT_LIMIT = 65_536;
  const dict = new Map<string, number>();
  let dictAdd: string[] = [];
  let dictReset = true;
  // Per field, the last value and its code: a field often repeats the row before (a status, a
  // model, a GPU), and comparing two short strings costs less than hashing one.
  const lastValue: (string | null)[] = new Array<string | null>(DICT_FIELDS).fill(null);
  const lastCode = new Int32Array(DICT_FIELDS).fill(-1);
  const code = (field: number, v: string | null): number => {
    if (v === null) return -1;
    if (v === lastValue[field]) return lastCode[field]!;
    let c = dict.get(v);
    if (c === undefined) {
      c = dict.size;
      dict.set(v, c);
      dictAdd.push(v);
    }
    lastValue[field] = v;
    lastCode[field] = c;
    return c;
  };

  // the parcel being filled
  let count = 0;
  let codes = new Int32Array(job.parcelRecords * DICT_FIELDS);
  let nums = new Float64Array(job.parcelRecords * NUM_FIELDS);
  let free: string[] = [];
  let freeEnds = new Uint32Array(job.parcelRecords * 2);
  let freeAt = 0;
  let raws: Uint8Array[] = [];
  let rawEnds = new Uint32Array(job.parcelRecords);
  let rawAt = 0;
  let unsplit = 0;
  let rejects: RejectEntry[] = [];
  let newTenants: string[] = [];
  let parcelRecords = 0;
  let outOfRange = 0;
  const ready: WireParcel[] = [];

  const seal = (unitEnd: boolean, end?: PipelineEnd) => {
    // Every byte is written below: no need to zero them first.
    const rawBytes: Uint8Array = Buffer.allocUnsafeSlow(rawAt);
    let o = 0;
    for (const b of raws) {
      rawBytes.set(b, o);
      o += b.length;
    }
    // The parcel takes the arrays as they are (they are moved to the writer's thread); the next
    // parcel gets new ones.
    const p: WireParcel = {
      count, codes: codes.subarray(0, count * DICT_FIELDS), nums: nums.subarray(0, count * NUM_FIELDS), free: free.join(''),
      freeEnds: freeEnds.subarray(0, count * 2), dictReset, dictAdd, rawBytes, rawEnds: rawEnds.subarray(0, count), rejects, newTenants,
      records: parcelRecords, outOfRange, checkpoint: { ...checkpoint }, bytesRead, unitEnd, summing, unsplit,
    };
    if (end) p.end = end;
    codes = new Int32Array(job.parcelRecords * DICT_FIELDS);
    nums = new Float64Array(job.parcelRecords * NUM_FIELDS);
    freeEnds = new Uint32Array(job.parcelRecords * 2);
    rawEnds = new Uint32Array(job.parcelRecords);

    // The unit's sums go with the parcel at its end, or sooner once they hold many keys (many
    // tenants), so memory stays bounded on both sides: first the days before the newest (receipts
    // mostly come in time order, so those are done and go once), all of them if that is not enough.
    if (acc && summing && (unitEnd || acc.size >= job.rollupKeys)) {
      let done = unitEnd ? [] : acc.takeBefore(newestDay);
      if (unitEnd || acc.size >= job.rollupKeys / 2) {
        done = done.concat(acc.deltas());
        acc.clear();
      }
      p.rollups = done;
    }
    if (unitEnd && acc) summing = control.aggregates;
    if (unitEnd) unitRecords = 0;
    ready.push(p);
    count = 0;
    free = [];
    freeAt = 0;
    raws = [];
    rawAt = 0;
    rejects = [];
    newTenants = [];
    parcelRecords = 0;
    outOfRange = 0;
    unsplit = 0;
    dictReset = false;
    dictAdd = [];
    if (dict.size > DICT_LIMIT) {
      dict.clear();
      dictReset = true;
      lastValue.fill(null);
      acc?.forgetCodes();
    }
  };

  let lastLine = job.resume.line;
  const onRecord = (r: RawRecord) => {
    records++;
    lastLine = Math.max(lastLine, r.line, r.endLine);
    if (records <= skip) {
      checkpoint = { records, line: r.endLine, byte: r.endByte };
      return;
    }
    parcelRecords++;
    unitRecords++;
    checkpoint = { records, line: r.endLine, byte: r.endByte };
    let reason = r.bad;
    if (reason === undefined) {
      let rec: SourceRecord | undefined;
      if (r.cells) rec = csvRecord((reader as CsvReader).header!, r.cells);
      else {
        const parsed = parser.parse(r.text);
        if (parsed.ok) rec = parsed.value;
        else reason = parsed.reason;
      }
      if (rec) {
        const n = normalize(rec, normOptions);
        if (!n.ok) reason = n.reason;
        else {
          const x = n.receipt;
          if ((since !== null && x.ts < since) || (until !== null && x.ts >= until)) outOfRange++;
          else if (job.emitRows) {
            let zone = tz.get(x.tenantId);
            if (zone === undefined) {
              zone = 'UTC';
              if (!announced.has(x.tenantId)) {
                announced.add(x.tenantId);
                newTenants.push(x.tenantId);
              }
            }
            const day = localDayNumber(zone, x.ts);
            if (day > newestDay) newestDay = day;
            const c = count * DICT_FIELDS;
            const tenantCode = code(DICT.tenantId, x.tenantId);
            codes[c + DICT.tenantId] = tenantCode;
            codes[c + DICT.status] = code(DICT.status, x.status);
            codes[c + DICT.userId] = code(DICT.userId, x.userId);
            codes[c + DICT.projectId] = code(DICT.projectId, x.projectId);
            codes[c + DICT.provider] = code(DICT.provider, x.provider);
            codes[c + DICT.model] = code(DICT.model, x.model);
            codes[c + DICT.modelKey] = code(DICT.modelKey, x.modelKey);
            codes[c + DICT.gpuType] = code(DICT.gpuType, x.gpuType);
            codes[c + DICT.gpuKey] = code(DICT.gpuKey, x.gpuKey);
            codes[c + DICT.eventType] = code(DICT.eventType, x.eventType);
            const k = count * NUM_FIELDS;
            nums[k + NUM.ts] = x.ts;
            nums[k + NUM.billable] = x.billable ? 1 : 0;
            nums[k + NUM.unsplit] = x.unsplit ? 1 : 0;
            if (x.unsplit) unsplit++;
            nums[k + NUM.day] = day;
            nums[k + NUM.line] = r.line;
            nums[k + NUM.hasCost] = x.reportedCost === null ? 0 : 1;
            for (let q = 0; q < QUANTITY_COUNT; q++) nums[k + NUM.quantities + q] = x[QUANTITY_PROPS[q]!];
            free.push(x.id);
            freeAt += x.id.length;
            freeEnds[2 * count] = freeAt;
            if (x.reportedCost !== null) {
              free.push(x.reportedCost);
              freeAt += x.reportedCost.length;
            }
            freeEnds[2 * count + 1] = freeAt;
            const bytes = r.bytes ?? Buffer.from(r.text, 'utf8');
            raws.push(bytes);
            rawAt += bytes.length;
            rawEnds[count] = rawAt;
            count++;
            if (summing) acc!.addCoded(
              tenantCode, codes[c + DICT.modelKey]!, codes[c + DICT.gpuKey]!, x.tenantId, day, x.modelKey, x.gpuKey, x.billable,
              nums, k + NUM.quantities, x.reportedCost, x.unsplit,
            );
          }
        }
      }
    }
    if (reason !== undefined) rejects.push({ line: r.line, reason, text: r.text });
    if (unitRecords >= job.unitRecords) seal(true);
    else if (parcelRecords >= job.parcelRecords) seal(false);
  };

  const sink = (r: RawRecord) => onRecord(r);
  let reader: RecordReader;
  switch (job.source.format) {
    case 'jsonl':
      reader = new JsonLinesReader(sink, job.seek ? { byte: job.resume.byte, line: job.resume.line } : undefined);
      break;
    case 'json':
      reader = new JsonDocumentReader(sink);
      break;
    case 'csv':
      reader = new CsvReader(sink);
      break;
    default:
      job.source.format satisfies never;
      throw new Error(`unknown format ${String(job.source.format)}`);
  }

  const flush = async () => {
    while (ready.length > 0) await emit(ready.shift()!);
  };
  let bytes = 0;
  const chunks = sourceBytes(job, input, (b) => {
    bytes += b.length;
    bytesRead += b.length;
    hash?.update(b);
  });
  let damaged: Error | undefined;
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await chunks.next();
    } catch (err) {
      // A damaged .gz is bad data, not a failed run: what was read counts, the rest is one reject.
      if (!String((err as { code?: unknown }).code ?? '').startsWith('Z_')) throw err;
      damaged = err as Error;
      break;
    }
    if (next.done) break;
    reader.push(next.value);
    if (ready.length > 0) await flush();
  }
  reader.end();
  if (damaged) {
    rejects.push({ line: lastLine + 1, reason: `the rest of the file cannot be read: ${damaged.message}`, text: '' });
  }
  // A damaged .gz was not read to its end: the hash would not be the file's.
  const end: PipelineEnd = { sha256: hash && !damaged ? hash.digest('hex') : null, bytes };
  // The last parcel says so, with the source's end: its unit's transaction completes the batch.
  seal(true, end);
  await flush();
  return end;
}
