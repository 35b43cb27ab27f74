/**
 * Tenant periods in the tenant's timezone (billing-rules.md, "Tenants and periods"): period
 * `YYYY-MM` is [local midnight of the 1st, local midnight of the next month's 1st). Works for any
 * IANA zone, including half-hour and 45-minute offsets and months where daylight saving changes.
 */
import { DAY_MS, utcMs } from './time.js';

export type Period = string; // `YYYY-MM`

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function isPeriod(text: string): boolean {
  return PERIOD.test(text);
}

export function parsePeriod(text: string): { year: number; month: number } {
  const m = PERIOD.exec(text);
  if (!m) throw new RangeError(`"${text}" is not a period (YYYY-MM)`);
  return { year: Number(m[1]), month: Number(m[2]) };
}

export function formatPeriod(year: number, month: number): Period {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
}

export function addMonths(period: Period, n: number): Period {
  const { year, month } = parsePeriod(period);
  const idx = year * 12 + (month - 1) + n;
  return formatPeriod(Math.floor(idx / 12), (idx % 12) + 1);
}

/** Periods from `first` to `last`, both included. */
export function periodRange(first: Period, last: Period): Period[] {
  const out: Period[] = [];
  for (let p = first; p <= last; p = addMonths(p, 1)) out.push(p);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Timezones

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** True when `tz` names a zone of the IANA database this Node.js knows. */
export function isValidTimeZone(tz: string): boolean {
  if (tz.trim() === '' || tz !== tz.trim()) return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** The offset of `tz` from UTC at instant `ms`, in milliseconds (local = UTC + offset). */
function computeOffset(tz: string, ms: number): number {
  const seconds = Math.floor(ms / 1000) * 1000;
  const parts = formatter(tz).formatToParts(new Date(seconds));
  let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, bc = false;
  for (const p of parts) {
    switch (p.type) {
      case 'year': y = Number(p.value); break;
      case 'month': mo = Number(p.value); break;
      case 'day': d = Number(p.value); break;
      case 'hour': h = Number(p.value); break;
      case 'minute': mi = Number(p.value); break;
      case 'second': s = Number(p.value); break;
      case 'era': bc = p.value === 'BC' || p.value === 'B'; break;
      default: break;
    }
  }
  const wall = utcMs(bc ? 1 - y : y, mo, d, h, mi, s);
  return wall - seconds;
}

/**
 * Offsets cached per zone and quarter hour of UTC: every transition of the modern tz database
 * falls on a quarter hour, and a bucket whose two ends disagree is never cached.
 */
const BUCKET = 15 * 60_000;
const offsetCache = new Map<string, Map<number, number>>();

export function tzOffset(tz: string, ms: number): number {
  if (tz === 'UTC' || tz === 'Etc/UTC') return 0;
  let cache = offsetCache.get(tz);
  if (!cache) {
    cache = new Map();
    offsetCache.set(tz, cache);
  }
  const bucket = Math.floor(ms / BUCKET);
  const hit = cache.get(bucket);
  if (hit !== undefined) return hit;
  const start = computeOffset(tz, bucket * BUCKET);
  const end = computeOffset(tz, bucket * BUCKET + BUCKET - 1);
  if (start === end) {
    if (cache.size > 200_000) cache.clear();
    cache.set(bucket, start);
    return start;
  }
  return computeOffset(tz, ms);
}

/** The local calendar day of an instant, as whole days since 1970-01-01 (local). */
export function localDayNumber(tz: string, ms: number): number {
  return Math.floor((ms + tzOffset(tz, ms)) / DAY_MS);
}

/** `YYYY-MM-DD` of a day number. */
export function formatDayNumber(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export function dayNumberOf(date: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return Math.round(utcMs(y, m, d) / DAY_MS);
}

/** The local date of an instant in a zone: `YYYY-MM-DD`. */
export function localDate(tz: string, ms: number): string {
  return formatDayNumber(localDayNumber(tz, ms));
}

/** The period (`YYYY-MM`) an instant belongs to in a zone. */
export function periodOf(tz: string, ms: number): Period {
  return localDate(tz, ms).slice(0, 7);
}

/**
 * The first instant of local day `day` (days since 1970-01-01 local): local midnight, or, where a
 * clock change skips midnight, the instant the day begins. Where midnight happens twice, the first.
 */
export function startOfLocalDay(tz: string, day: number): number {
  const wall = day * DAY_MS;
  const before = tzOffset(tz, wall - DAY_MS);
  const after = tzOffset(tz, wall + DAY_MS);
  const candidates = [wall - before, wall - after].filter(
    (t) => localDayNumber(tz, t) === day && localDayNumber(tz, t - 1) < day,
  );
  if (candidates.length > 0) return Math.min(...candidates);
  // Midnight does not exist here (clocks jumped over it): the day starts at the transition.
  let lo = wall - Math.max(before, after) - DAY_MS; // surely the previous day
  let hi = wall - Math.min(before, after) + DAY_MS; // surely this day or later
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (localDayNumber(tz, mid) >= day) hi = mid;
    else lo = mid;
  }
  return hi;
}

export interface Interval {
  /** First instant, included. */
  start: number;
  /** First instant after, excluded. */
  end: number;
}

/** The half-open interval of period `YYYY-MM` in zone `tz`, in UTC milliseconds. */
export function periodInterval(tz: string, period: Period): Interval {
  const { year, month } = parsePeriod(period);
  const next = parsePeriod(addMonths(period, 1));
  return {
    start: startOfLocalDay(tz, Math.round(utcMs(year, month, 1) / DAY_MS)),
    end: startOfLocalDay(tz, Math.round(utcMs(next.year, next.month, 1) / DAY_MS)),
  };
}

/** The local day numbers a period covers, first and last included. */
export function periodDays(period: Period): { first: number; last: number } {
  const { year, month } = parsePeriod(period);
  const next = parsePeriod(addMonths(period, 1));
  return {
    first: Math.round(utcMs(year, month, 1) / DAY_MS),
    last: Math.round(utcMs(next.year, next.month, 1) / DAY_MS) - 1,
  };
}
