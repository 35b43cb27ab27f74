/**
 * Rollup sums kept exactly in memory: per tenant, local day, model key and GPU key. The reading side
 * sums a unit's receipts with it; writers take out what they did not import, or sum what they did.
 */
import { Decimal } from '../domain/money.js';
import { QUANTITY_COUNT } from '../domain/quantities.js';
import { DELTA, ROW, type ReceiptRow, type RollupDelta } from './types.js';

interface Acc {
  tenant: string;
  day: number;
  modelKey: string;
  gpuKey: string;
  receipts: number | bigint;
  requests: number | bigint;
  /** Billable sums of the field table's quantities, in table order. */
  q: (number | bigint)[];
  /** The cost sum: costUnits / 10^costScale while that is exact in a number, else `costExact`. */
  costUnits: number;
  costScale: number;
  costExact: Decimal | null;
  unsplit: number | bigint;
}

/** a + b, exact: numbers while they are safe, bigints beyond. */
function add(a: number | bigint, b: number): number | bigint {
  if (typeof a === 'bigint') return a + BigInt(b);
  const s = a + b;
  return Number.isSafeInteger(s) ? s : BigInt(a) + BigInt(b);
}

const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);
const PLAIN_DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** Adds a decimal text to an accumulator's cost, exactly: scaled integers while safe, Decimal after. */
function addCost(a: Acc, text: string, sign: 1 | -1): void {
  if (a.costExact === null) {
    const m = PLAIN_DECIMAL.exec(text);
    if (m && m[2]!.length + (m[3]?.length ?? 0) <= 15) {
      const frac = m[3] ?? '';
      let units = Number(m[2]! + frac) * (m[1] === '-' ? -sign : sign);
      let total = a.costUnits;
      const scale = Math.max(frac.length, a.costScale);
      total *= POW10[scale - a.costScale]!;
      units *= POW10[scale - frac.length]!;
      total += units;
      if (Number.isSafeInteger(total) && Number.isSafeInteger(units)) {
        a.costUnits = total;
        a.costScale = scale;
        return;
      }
    }
    // Too long for a number: continue exactly with Decimal.
    a.costExact = Decimal.of(BigInt(a.costUnits), a.costScale);
  }
  const c = Decimal.parse(text);
  a.costExact = sign === 1 ? a.costExact.add(c) : a.costExact.sub(c);
}

function costOf(a: Acc): Decimal {
  return a.costExact ?? Decimal.of(BigInt(a.costUnits), a.costScale);
}

/**
 * Adds (or with sign -1 takes out) one receipt: its quantities are `from[at ..]` in field-table
 * order (a receipt row's, or a wire row's numbers).
 */
function addTo(
  a: Acc, billable: boolean, from: ArrayLike<number>, at: number, cost: string | null, unsplit: boolean, sign: 1 | -1,
): void {
  a.receipts = add(a.receipts, sign);
  if (unsplit) a.unsplit = add(a.unsplit, sign);
  if (billable) {
    a.requests = add(a.requests, sign);
    const q = a.q;
    for (let i = 0; i < QUANTITY_COUNT; i++) {
      const v = from[at + i]!;
      if (v !== 0) q[i] = add(q[i]!, sign * v);
    }
    if (cost !== null) addCost(a, cost, sign);
  }
}

function zeros(): (number | bigint)[] {
  return new Array<number | bigint>(QUANTITY_COUNT).fill(0);
}

/** Slots of the table of recent entries by codes (a power of two). */
const SLOTS = 1 << 14;

/** Rollup sums over rows, keyed by tenant, day, model key, gpu key ('' for none). */
export class RollupAccumulator {
  /** tenant -> model key -> gpu key -> day -> sums (no key strings built per row). */
  private readonly map = new Map<string, Map<string, Map<string, Map<number, Acc>>>>();
  private readonly all: Acc[] = [];
  private last: Acc | undefined;
  /** addCoded()'s table: per slot the entry and its tenant, model and GPU codes and day. */
  private slotAcc: (Acc | undefined)[] = [];
  private slotKeys = new Int32Array(0);

  /** The days of one tenant, model key and GPU key. */
  private days(tenant: string, modelKey: string, gpuKey: string): Map<number, Acc> {
    let byModel = this.map.get(tenant);
    if (!byModel) this.map.set(tenant, (byModel = new Map()));
    let byGpu = byModel.get(modelKey);
    if (!byGpu) byModel.set(modelKey, (byGpu = new Map()));
    let byDay = byGpu.get(gpuKey);
    if (!byDay) byGpu.set(gpuKey, (byDay = new Map()));
    return byDay;
  }

  private entry(tenant: string, day: number, modelKey: string, gpuKey: string): Acc {
    const l = this.last;
    if (l !== undefined && l.day === day && l.tenant === tenant && l.modelKey === modelKey && l.gpuKey === gpuKey) return l;
    const byDay = this.days(tenant, modelKey, gpuKey);
    let a = byDay.get(day);
    if (!a) {
      a = {
        tenant, day, modelKey, gpuKey, receipts: 0, requests: 0, q: zeros(), costUnits: 0, costScale: 0, costExact: null, unsplit: 0,
      };
      byDay.set(day, a);
      this.all.push(a);
    }
    this.last = a;
    return a;
  }

  /** Adds (or with sign -1 takes out) one receipt row whose rollup day is `day`. */
  add(row: ReceiptRow, day: number, sign: 1 | -1 = 1): void {
    const a = this.entry(row[ROW.tenantId], day, row[ROW.modelKey] ?? '', row[ROW.gpuKey] ?? '');
    addTo(a, row[ROW.billable] === 1, row as unknown as ArrayLike<number>, ROW.quantities, row[ROW.reportedCost], row[ROW.unsplit] === 1, sign);
  }

  /**
   * The same, for a receipt whose tenant, model key and GPU key also have small integer codes (the
   * reading side's dictionary codes, -1 for none): its entry is found by a probe of a direct-mapped
   * table of recent entries by codes and day, instead of four map lookups by strings. Codes must
   * keep their meaning until forgetCodes().
   */
  addCoded(
    tenantCode: number, modelCode: number, gpuCode: number, tenant: string, day: number, modelKey: string | null,
    gpuKey: string | null, billable: boolean, quantities: ArrayLike<number>, at: number, cost: string | null, unsplit: boolean,
  ): void {
    let h = Math.imul(tenantCode, 0x9e3779b1) ^ Math.imul(modelCode, 0x85ebca77) ^ Math.imul(gpuCode, 0xc2b2ae3d) ^ Math.imul(day, 0x27d4eb2f);
    h = (h ^ (h >>> 15)) & (SLOTS - 1);
    const k = h * 4;
    if (this.slotKeys.length === 0) {
      this.slotAcc = new Array<Acc | undefined>(SLOTS).fill(undefined);
      this.slotKeys = new Int32Array(SLOTS * 4);
    }
    const keys = this.slotKeys;
    let a = this.slotAcc[h];
    if (a === undefined || keys[k] !== tenantCode || keys[k + 1] !== modelCode || keys[k + 2] !== gpuCode || keys[k + 3] !== day) {
      a = this.entry(tenant, day, modelKey ?? '', gpuKey ?? '');
      this.slotAcc[h] = a;
      keys[k] = tenantCode;
      keys[k + 1] = modelCode;
      keys[k + 2] = gpuCode;
      keys[k + 3] = day;
    }
    addTo(a, billable, quantities, at, cost, unsplit, 1);
  }

  /** The codes of addCoded() change meaning from here on. */
  forgetCodes(): void {
    if (this.slotAcc.length > 0) this.slotAcc.fill(undefined);
  }

  /** Adds sums computed elsewhere. */
  addDelta(d: RollupDelta): void {
    const a = this.entry(d[DELTA.tenantId], d[DELTA.day], d[DELTA.modelKey], d[DELTA.gpuKey]);
    const plus = (x: number | bigint, y: number | bigint): number | bigint => {
      if (typeof x === 'number' && typeof y === 'number') return add(x, y);
      return BigInt(x) + BigInt(y);
    };
    a.receipts = plus(a.receipts, d[DELTA.receipts]);
    a.requests = plus(a.requests, d[DELTA.requests]);
    for (let i = 0; i < QUANTITY_COUNT; i++) a.q[i] = plus(a.q[i]!, d[DELTA.quantities + i] as number | bigint);
    addCost(a, d[DELTA.reportedCost], 1);
    a.unsplit = plus(a.unsplit, d[DELTA.unsplit]);
  }

  get size(): number {
    return this.all.length;
  }

  /** The sums, leaving out keys whose every sum is zero; costs as canonical decimal text. */
  deltas(): RollupDelta[] {
    return deltasOf(this.all);
  }

  /**
   * Takes out the sums of days before `day` (and keeps the rest): receipts mostly come in time
   * order, so a day before the newest one seen is done, and its sums can go on without splitting.
   */
  takeBefore(day: number): RollupDelta[] {
    const done = this.all.filter((a) => a.day < day);
    if (done.length === 0) return [];
    const keep = this.all.filter((a) => a.day >= day);
    this.clear();
    for (const a of keep) {
      this.days(a.tenant, a.modelKey, a.gpuKey).set(a.day, a);
      this.all.push(a);
    }
    return deltasOf(done);
  }

  clear(): void {
    this.map.clear();
    this.all.length = 0;
    this.last = undefined;
    this.forgetCodes();
  }
}

/** Sums as deltas, leaving out keys whose every sum is zero; costs as canonical decimal text. */
function deltasOf(all: readonly Acc[]): RollupDelta[] {
  const out: RollupDelta[] = [];
  for (const a of all) {
    const cost = costOf(a);
    if (a.receipts === 0 && a.requests === 0 && a.unsplit === 0 && a.q.every((v) => v === 0) && cost.isZero()) continue;
    out.push([a.tenant, a.day, a.modelKey, a.gpuKey, a.receipts, a.requests, cost.normalize().toString(), a.unsplit, ...a.q]);
  }
  return out;
}

/**
 * Keys a unit's rollup sums may hold in memory, on either side, before they are written: memory
 * stays bounded whatever the number of tenants (a unit of 1,000 tenants over a week holds ~90,000).
 */
export const ROLLUP_FLUSH_KEYS = 16_384;

/**
 * A unit's rollup sums on their way to the store, in bounded memory. Sums the reading side made
 * are written as they come; the rows the unit did not import are taken out of them (or, when the
 * reading side does not sum, the rows imported are summed here), written once ROLLUP_FLUSH_KEYS
 * keys are pending, and at the end. `write` takes sums to the store (at once, or with the writer's
 * next statement).
 */
export class UnitRollups {
  private readonly pending = new RollupAccumulator();
  /** Whether sums taken out were written: a rollup may have come to zero receipts (and is then deleted). */
  tookOut = false;

  constructor(
    private readonly write: (deltas: RollupDelta[]) => void,
    private readonly limit = ROLLUP_FLUSH_KEYS,
  ) {}

  /** Sums the reading side made, as they are. */
  given(deltas: readonly RollupDelta[]): void {
    if (deltas.length > 0) this.write([...deltas]);
  }

  /** One row: added (imported, not summed by the reading side) or taken out (summed there, not imported). */
  row(row: ReceiptRow, day: number, sign: 1 | -1): void {
    this.pending.add(row, day, sign);
    if (sign < 0) this.tookOut = true;
    if (this.pending.size >= this.limit) this.flush();
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const deltas = this.pending.deltas();
    this.pending.clear();
    if (deltas.length > 0) this.write(deltas);
  }
}
