/**
 * One source record -> the canonical Receipt, exactly as receipts.md says, or the reason it is
 * rejected. Pure: no I/O. Field values come from JSON.parse (numbers are JS numbers), from the
 * lossless JSON parser (numbers too long to be exact arrive as LosslessNumber), or from CSV cells
 * (always strings).
 */
import { Decimal } from '../domain/money.js';
import { nameKey } from '../domain/names.js';
import { QUANTITIES, QUANTITY_COUNT, TOKEN_CLASSES, quantityIndex } from '../domain/quantities.js';
import { derivedId, isBillableStatus, type Receipt } from '../domain/receipt.js';
import { tenantIdProblem } from '../domain/tenant.js';
import { parseDate, parseRfc3339 } from '../domain/time.js';
import { LosslessNumber, type Wanted } from './record-json.js';

export interface NormalizeOptions {
  /** Read timestamps without an offset as UTC (`--assume-utc`). */
  assumeUtc: boolean;
  /** covenant_id -> tenant_id (`--covenant-map`), or null. */
  covenants: ReadonlyMap<string, string> | null;
  /**
   * The record came from CSV, where every cell is text: there a timestamp of digits is epoch time
   * (in JSON only a number is; a string must be RFC 3339).
   */
  csv?: boolean;
}

export type Normalized = { ok: true; receipt: Receipt } | { ok: false; reason: string };

export type SourceRecord = Record<string, unknown>;

export const ID_MAX = 200;
/** A sanity bound for the free-text fields (status, user, project, provider). */
export const TEXT_MAX = 1000;
/**
 * Model and GPU names: their keys are part of the rollups' primary key, which Postgres indexes in
 * at most 2,704 bytes; 200 characters keeps every key well inside, on both stores alike.
 */
export const NAME_MAX = 200;
/** 0001-01-01T00:00:00Z: the first instant a four-digit RFC 3339 year can write. */
export const FIRST_INSTANT = -62_135_596_800_000;
/** 9999-12-31T23:59:59.999Z: the last instant RFC 3339 can write. */
export const LAST_INSTANT = 253_402_300_799_999;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(MAX_SAFE);

/** A source field: its name as reported and its path in the record. */
interface Field {
  name: string;
  path: readonly string[];
}

const ALL_FIELDS: Field[] = [];

function fields(...names: string[]): readonly Field[] {
  const list = names.map((name) => ({ name, path: name.split('.') }));
  ALL_FIELDS.push(...list);
  return list;
}

const ID = fields('strike_id', 'request_id', 'event_id', 'transaction_id', 'id');
const TENANT = fields('tenant_id', 'organization_id', 'org_id');
const TIMESTAMP = fields('timestamp', 'request_timestamp', 'created_at', 'time');
const STATUS = fields('status');
const USER = fields('user_id');
const PROJECT = fields('project_id', 'kb_id', 'covenant_id');
const PROVIDER = fields('provider');
const MODEL = fields('cost_data.inference.model', 'model');
const GPU_TYPE = fields('cost_data.gpu_allocation.gpu_type', 'gpu_type');
const GPU_HOURS = fields('gpu_hours_used');
const TOKENS_PROCESSED = fields('tokens_processed');
/** Per quantity of the field table: its source fields, and those whose count is included in another quantity. */
const QUANTITY_SOURCES = QUANTITIES.map((q) => fields(...q.sources));
const QUANTITY_INCLUDED = QUANTITIES.map((q) => fields(...q.included));
/** Per quantity: the table index of the quantity its included fields are part of, or -1. */
const INCLUDED_IN = QUANTITIES.map((q) => (q.includedIn === null ? -1 : quantityIndex(q.includedIn)));
const EVENT_TYPE = fields('event_type', 'type');
const COST = fields('cost_data.total_usd', 'estimated_cost_usd', 'cost');
const COVENANT = fields('covenant_id');

/**
 * Every source field a receipt is read from, as the record parser's "keep" tree: nested paths, and
 * each dotted name also as a literal top-level name (a CSV header, or a flat JSON key).
 */
export function wantedFields(): Wanted {
  const root: Wanted = {};
  for (const f of ALL_FIELDS) {
    let level = root;
    f.path.forEach((part, i) => {
      if (i === f.path.length - 1) {
        if (level[part] === undefined) level[part] = true;
        return;
      }
      const next = level[part];
      if (next === undefined || next === true) level[part] = {};
      level = level[part] as Wanted;
    });
    if (f.path.length > 1) root[f.name] = true;
  }
  return root;
}

class Reject extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof LosslessNumber);
}

/**
 * The value at a field's path: nested objects for JSON; for a dotted name, a CSV column of that
 * literal name also counts (CSV headers are the source field names).
 */
function valueAt(rec: SourceRecord, f: Field): unknown {
  const p = f.path;
  let v: unknown = rec[p[0]!];
  if (p.length === 1) return v;
  for (let i = 1; i < p.length; i++) {
    if (!isObject(v)) {
      v = undefined;
      break;
    }
    v = v[p[i]!];
  }
  return v === undefined ? rec[f.name] : v;
}

/** Present: not absent, not null, not the empty string. */
function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

/** The first present source field and its value. */
function first(rec: SourceRecord, candidates: readonly Field[]): [Field, unknown] | undefined {
  for (const f of candidates) {
    const v = valueAt(rec, f);
    if (present(v)) return [f, v];
  }
  return undefined;
}

/** How a value is shown in a reason: strings quoted, long texts cut. */
export function show(v: unknown): string {
  let s: string;
  if (v instanceof LosslessNumber) s = v.text;
  else if (typeof v === 'string') s = JSON.stringify(v);
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else {
    try {
      s = JSON.stringify(v, (_k, x: unknown) => (x instanceof LosslessNumber ? x.text : x));
    } catch {
      s = String(v);
    }
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
type MaybeWellFormed = { isWellFormed?: () => boolean };
const nativeWellFormed = typeof (String.prototype as MaybeWellFormed).isWellFormed === 'function';

/** Text that PostgreSQL and SQLite store alike: no NUL, no lone surrogate. */
function textProblem(s: string): string | undefined {
  if (s.indexOf('\u0000') !== -1) return 'contains a NUL character';
  const wellFormed = nativeWellFormed ? (s as unknown as Required<MaybeWellFormed>).isWellFormed() : !LONE_SURROGATE.test(s);
  if (!wellFormed) return 'is not valid Unicode (a lone surrogate)';
  return undefined;
}

/** Digits of a whole number written as a JSON number, or undefined. */
function integerDigits(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? String(v) : undefined;
  if (v instanceof LosslessNumber) return /^(0|[1-9]\d*)$/.test(v.text) ? v.text : undefined;
  return undefined;
}

/** A text field: strings as they are; a whole JSON number by its digits; anything else rejects. */
function text(f: Field, v: unknown, max: number): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else {
    const digits = integerDigits(v);
    if (digits === undefined) throw new Reject(`${f.name} is ${show(v)}: it must be text`);
    s = digits;
  }
  if (s.length > max && [...s].length > max) throw new Reject(`${f.name} is longer than ${max} characters`);
  const p = textProblem(s);
  if (p) throw new Reject(`${f.name} ${p}`);
  return s;
}

const keyCache = new Map<string, string>();

/** nameKey, remembered: a file names the same few models and GPUs over and over. */
function keyOf(name: string): string {
  let k = keyCache.get(name);
  if (k === undefined) {
    if (keyCache.size > 10_000) keyCache.clear();
    k = nameKey(name);
    keyCache.set(name, k);
  }
  return k;
}

function optionalText(rec: SourceRecord, candidates: readonly Field[]): string | null {
  const hit = first(rec, candidates);
  return hit ? text(hit[0], hit[1], TEXT_MAX) : null;
}

/** A model or GPU name: whitespace-only counts as absent, so the next source field is tried. */
function name(rec: SourceRecord, candidates: readonly Field[]): string | null {
  for (const f of candidates) {
    const v = valueAt(rec, f);
    if (!present(v)) continue;
    if (typeof v === 'string' && v.trim() === '') continue;
    return text(f, v, NAME_MAX);
  }
  return null;
}

/** A whole quantity in [0, 2^53 − 1]. */
function quantity(f: Field, v: unknown): number {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return v;
    if (!Number.isFinite(v)) throw new Reject(`${f.name} is ${v}: not a whole number`);
    if (v < 0) throw new Reject(`${f.name} is ${show(v)}: below 0`);
    if (!Number.isInteger(v)) throw new Reject(`${f.name} is ${show(v)}: not a whole number`);
    throw new Reject(`${f.name} is ${show(v)}: above 2^53 − 1 (9007199254740991)`);
  }
  let digits: string | undefined;
  if (v instanceof LosslessNumber) {
    if (v.text.startsWith('-') && v.text !== '-0') throw new Reject(`${f.name} is ${v.text}: below 0`);
    if (/^-?\d+$/.test(v.text)) digits = v.text.replace('-', '');
    else {
      // A fraction or an exponent: whole only if its exact value is (4.12e2 is 412; 412.5 is not).
      const d = DECIMAL_TEXT.test(v.text) ? Decimal.parse(v.text).normalize() : undefined;
      if (d === undefined || d.scale > 0) throw new Reject(`${f.name} is ${v.text}: not a whole number`);
      digits = d.units.toString();
    }
  } else if (typeof v === 'string') {
    if (!/^\d+$/.test(v)) {
      if (/^-\d+$/.test(v)) throw new Reject(`${f.name} is ${show(v)}: below 0`);
      throw new Reject(`${f.name} is ${show(v)}: not a whole number`);
    }
    digits = v;
  } else {
    throw new Reject(`${f.name} is ${show(v)}: not a whole number`);
  }
  if (digits.length > 16 && BigInt(digits) > MAX_SAFE_BIG) {
    throw new Reject(`${f.name} is ${digits.length > 40 ? `${digits.slice(0, 37)}...` : digits}: above 2^53 − 1 (9007199254740991)`);
  }
  const n = Number(digits);
  if (n > MAX_SAFE) throw new Reject(`${f.name} is ${digits}: above 2^53 − 1 (9007199254740991)`);
  return n;
}

function optionalQuantity(rec: SourceRecord, candidates: readonly Field[]): [Field, number] | undefined {
  const hit = first(rec, candidates);
  return hit ? [hit[0], quantity(hit[0], hit[1])] : undefined;
}

const DECIMAL_TEXT = /^-?(\d{1,40}(\.\d{0,40})?|\.\d{1,40})([eE][+-]?\d{1,2})?$/;

/** A decimal read by its text: a JSON number by its shortest text (0.1 is exactly 0.1). */
function decimal(f: Field, v: unknown): Decimal {
  let t: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Reject(`${f.name} is ${v}: not a decimal number`);
    t = String(v);
  } else if (v instanceof LosslessNumber) t = v.text;
  else if (typeof v === 'string') t = v;
  else throw new Reject(`${f.name} is ${show(v)}: not a decimal number`);
  if (!DECIMAL_TEXT.test(t)) throw new Reject(`${f.name} is ${show(v)}: not a decimal number`);
  return Decimal.parse(t);
}

/**
 * Epoch time from decimal text: seconds below 1e11 in absolute value, else milliseconds; a fraction
 * of a millisecond is cut toward the earlier instant, as RFC 3339 text is (-0.0019 s is -2 ms,
 * like 1969-12-31T23:59:59.9981Z), so one instant gets one value however it is written.
 */
function epoch(f: Field, t: string, shown: string): number {
  const d = Decimal.parse(t);
  const magnitude = d.units < 0n ? -d.units : d.units;
  const seconds = magnitude < 100_000_000_000n * 10n ** BigInt(d.scale);
  const ms = seconds ? d.mul(1000n) : d;
  const unit = 10n ** BigInt(ms.scale);
  let whole = ms.units / unit; // toward zero...
  if (ms.units < 0n && whole * unit !== ms.units) whole -= 1n; // ...then toward the earlier instant
  if (whole < BigInt(FIRST_INSTANT) || whole > BigInt(LAST_INSTANT)) {
    throw new Reject(`${f.name} ${shown} is out of range (0001-01-01 to 9999-12-31)`);
  }
  return Number(whole);
}

const dayCache = new Map<string, number>();

function digits2(t: string, at: number): number {
  const a = t.charCodeAt(at) - 0x30;
  const b = t.charCodeAt(at + 1) - 0x30;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : NaN;
}

/**
 * The common shape `YYYY-MM-DDTHH:MM:SS[.fff…]Z`, read without a regex or a Date; undefined for
 * anything else (parseRfc3339 then decides, with its reasons).
 */
function fastUtcInstant(t: string): number | undefined {
  const n = t.length;
  if (n < 20 || t.charCodeAt(n - 1) !== 0x5a || t.charCodeAt(10) !== 0x54 || t.charCodeAt(13) !== 0x3a || t.charCodeAt(16) !== 0x3a) {
    return undefined;
  }
  let day = dayCache.get(t.slice(0, 10));
  if (day === undefined) {
    const d = /^\d{4}-\d{2}-\d{2}$/.test(t.slice(0, 10)) ? parseDate(t.slice(0, 10)) : undefined;
    if (d === undefined) return undefined;
    if (dayCache.size > 100_000) dayCache.clear();
    dayCache.set(t.slice(0, 10), d);
    day = d;
  }
  const h = digits2(t, 11);
  const mi = digits2(t, 14);
  const sec = digits2(t, 17);
  if (!(h <= 23 && mi <= 59 && sec <= 59)) return undefined;
  let ms = 0;
  if (n > 20) {
    if (t.charCodeAt(19) !== 0x2e) return undefined;
    let scale = 100;
    for (let i = 20; i < n - 1; i++) {
      const c = t.charCodeAt(i) - 0x30;
      if (!(c >= 0 && c <= 9)) return undefined;
      ms += c * scale;
      scale /= 10;
      if (scale < 1) scale = 0;
    }
    if (n === 21) return undefined; // "." with no digits
  }
  const at = day + ((h * 60 + mi) * 60 + sec) * 1000 + ms;
  return at >= FIRST_INSTANT && at <= LAST_INSTANT ? at : undefined;
}

function timestamp(f: Field, v: unknown, assumeUtc: boolean, csv: boolean): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Reject(`${f.name} is ${v}: not a time`);
    if (Number.isSafeInteger(v)) {
      const ms = Math.abs(v) < 100_000_000_000 ? v * 1000 : v;
      if (ms < FIRST_INSTANT || ms > LAST_INSTANT) throw new Reject(`${f.name} ${v} is out of range (0001-01-01 to 9999-12-31)`);
      return ms;
    }
    return epoch(f, String(v), show(v));
  }
  if (v instanceof LosslessNumber) {
    if (!DECIMAL_TEXT.test(v.text)) throw new Reject(`${f.name} is ${v.text}: not a time`);
    return epoch(f, v.text, v.text);
  }
  if (typeof v !== 'string') throw new Reject(`${f.name} is ${show(v)}: not a time`);
  const fast = fastUtcInstant(v);
  if (fast !== undefined) return fast;
  if (csv && /^-?\d{1,20}(\.\d{1,20})?$/.test(v)) return epoch(f, v, show(v));
  const r = parseRfc3339(v, assumeUtc);
  if (!r.ok) throw new Reject(f.name === 'timestamp' ? r.reason : `${f.name}: ${r.reason}`);
  if (r.ms < FIRST_INSTANT || r.ms > LAST_INSTANT) throw new Reject(`${f.name} ${show(v)} is out of range (0001-01-01 to 9999-12-31)`);
  return r.ms;
}

const goodTenants = new Set<string>();

function tenantOf(rec: SourceRecord, covenants: ReadonlyMap<string, string> | null): string {
  const hit = first(rec, TENANT);
  let tenant: string;
  let from: string;
  if (hit) {
    tenant = text(hit[0], hit[1], Number.MAX_SAFE_INTEGER);
    from = hit[0].name;
  } else {
    const cov = first(rec, COVENANT);
    if (!cov) throw new Reject('no tenant: no tenant_id, organization_id or org_id, and no covenant_id');
    const covenant = text(cov[0], cov[1], Number.MAX_SAFE_INTEGER);
    if (!covenants) {
      throw new Reject(`no tenant: only covenant_id ${show(covenant)}, and no --covenant-map to look it up in`);
    }
    const t = covenants.get(covenant);
    if (t === undefined) throw new Reject(`no tenant: covenant_id ${show(covenant)} is not in the covenant map`);
    tenant = t;
    from = 'covenant map';
  }
  if (goodTenants.has(tenant)) return tenant;
  const p = tenantIdProblem(tenant);
  if (p) throw new Reject(`${from}: ${p}`);
  if (goodTenants.size > 100_000) goodTenants.clear();
  goodTenants.add(tenant);
  return tenant;
}

/** Normalises one record. `rec` must be an object (the readers reject anything else). */
export function normalize(rec: SourceRecord, options: NormalizeOptions): Normalized {
  try {
    return { ok: true, receipt: normalizeOrThrow(rec, options) };
  } catch (err) {
    if (err instanceof Reject) return { ok: false, reason: err.message };
    throw err;
  }
}

function normalizeOrThrow(rec: SourceRecord, options: NormalizeOptions): Receipt {
  const tenantId = tenantOf(rec, options.covenants);

  const idHit = first(rec, ID);
  let id: string | null = null;
  if (idHit) {
    id = text(idHit[0], idHit[1], ID_MAX);
    if (id.trim() === '') throw new Reject(`${idHit[0].name} is only whitespace`);
  }

  const tsHit = first(rec, TIMESTAMP);
  if (!tsHit) throw new Reject('no timestamp (timestamp, request_timestamp, created_at or time)');
  const ts = timestamp(tsHit[0], tsHit[1], options.assumeUtc, options.csv === true);

  const status = optionalText(rec, STATUS);
  const userId = optionalText(rec, USER);
  const projectId = optionalText(rec, PROJECT);
  const provider = optionalText(rec, PROVIDER);
  const model = name(rec, MODEL);
  const gpuType = name(rec, GPU_TYPE);

  // receipts.md: compared case-insensitively, nothing more (" failed " is a status of its own).
  const billable = isBillableStatus(status);
  const receipt: Receipt = {
    tenantId,
    id: '',
    ts,
    billable,
    status,
    userId,
    projectId,
    provider,
    model,
    modelKey: model === null ? null : keyOf(model),
    gpuType,
    gpuKey: gpuType === null ? null : keyOf(gpuType),
    eventType: null,
    reportedCost: null,
    unsplit: false,
    gpuSeconds: 0,
    inputTokens: 0,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
    quantity: 0,
  };
  readQuantities(rec, receipt);
  const costHit = first(rec, COST);
  if (costHit) {
    const v = costHit[1];
    // A JSON number's own text is already canonical unless it has an exponent or a sign.
    receipt.reportedCost = v instanceof LosslessNumber && !/[eE-]/.test(v.text) ? v.text : decimal(costHit[0], v).toString();
  }
  const eventName = name(rec, EVENT_TYPE);
  if (eventName !== null) receipt.eventType = keyOf(eventName);
  if (model === null) {
    for (const c of TOKEN_CLASSES) {
      if (receipt[c.prop] > 0) throw new Reject(`tokens but no model (${tokenCounts(receipt)})`);
    }
  }
  if (receipt.gpuSeconds > 0 && gpuType === null) throw new Reject(`gpu_seconds ${receipt.gpuSeconds} but no gpu_type`);
  receipt.id = id ?? derivedId(receipt);
  return receipt;
}

/** Per quantity, while one record is read: the source field it came from (undefined: absent), and whether that field is an included one. */
const readFrom: (Field | undefined)[] = new Array<Field | undefined>(QUANTITY_COUNT).fill(undefined);
const readIncluded: boolean[] = new Array<boolean>(QUANTITY_COUNT).fill(false);

/** The leaf of a source field's name, as a reason names it (`cached_tokens`, `prompt_tokens`). */
function leaf(f: Field): string {
  return f.path[f.path.length - 1]!;
}

/**
 * Every quantity of the field table, from its source fields (or its legacy fallback); then each
 * class read from an "included" field is taken out of the count it is included in (receipts.md,
 * "Token classes").
 */
function readQuantities(rec: SourceRecord, r: Receipt): void {
  let anyIncluded = false;
  for (let i = 0; i < QUANTITY_COUNT; i++) {
    const q = QUANTITIES[i]!;
    readFrom[i] = undefined;
    readIncluded[i] = false;
    let v = 0;
    const hit = optionalQuantity(rec, QUANTITY_SOURCES[i]!);
    if (hit) {
      readFrom[i] = hit[0];
      v = hit[1];
    } else {
      const included = QUANTITY_INCLUDED[i]!.length > 0 ? optionalQuantity(rec, QUANTITY_INCLUDED[i]!) : undefined;
      if (included) {
        readFrom[i] = included[0];
        readIncluded[i] = true;
        anyIncluded = true;
        v = included[1];
      } else if (q.fallback === 'gpu_hours_used') {
        const hours = first(rec, GPU_HOURS);
        if (hours) {
          const h = decimal(hours[0], hours[1]);
          if (h.sign() < 0) throw new Reject(`${hours[0].name} is ${show(hours[1])}: below 0`);
          const s = h.mul(3600n).round(0).units;
          if (s > MAX_SAFE_BIG) throw new Reject(`${hours[0].name} is ${show(hours[1])}: more seconds than 2^53 − 1`);
          readFrom[i] = hours[0];
          v = Number(s);
        }
      } else if (q.fallback === 'tokens_processed') {
        const legacy = optionalQuantity(rec, TOKENS_PROCESSED);
        if (legacy) {
          readFrom[i] = legacy[0];
          r.unsplit = true;
          v = legacy[1];
        }
      }
    }
    r[q.prop] = v;
  }
  if (!anyIncluded) return;
  for (let i = 0; i < QUANTITY_COUNT; i++) {
    if (!readIncluded[i]) continue;
    const q = QUANTITIES[i]!;
    const into = INCLUDED_IN[i]!;
    const part = r[q.prop];
    const whole = QUANTITIES[into]!;
    const from = readFrom[into];
    if (from === undefined) {
      if (part === 0) continue;
      throw new Reject(`${leaf(readFrom[i]!)} ${part} is included in ${whole.name}, but the receipt has no ${whole.name}`);
    }
    if (part > r[whole.prop]) throw new Reject(`${leaf(readFrom[i]!)} ${part} exceed ${leaf(from)} ${r[whole.prop]}`);
    r[whole.prop] -= part;
  }
}

/** A receipt's token counts for a reason: input and output always, the other classes when not 0. */
function tokenCounts(r: Receipt): string {
  const parts: string[] = [];
  for (const c of TOKEN_CLASSES) {
    if (c.extended && r[c.prop] === 0) continue;
    parts.push(`${c.name} ${r[c.prop]}`);
  }
  return parts.join(', ');
}
