/**
 * Instants are whole milliseconds since the Unix epoch (UTC), as plain numbers: they are not money
 * and stay far below 2^53. Parsing here is strict: JavaScript's Date would silently roll
 * 2026-02-30 over to March 2 and read an offset-less time as local time.
 */

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))?$/;

export type TimestampResult = { ok: true; ms: number } | { ok: false; reason: string };

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Milliseconds of a UTC calendar date and time, for any four-digit year (Date.UTC maps 0..99 to 19xx). */
export function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  return date.getTime();
}

/**
 * RFC 3339 text with `Z` or `±hh:mm`, `T` or one space between date and time; fractions are
 * truncated to milliseconds. Without an offset the text is refused unless `assumeUtc`.
 */
export function parseRfc3339(text: string, assumeUtc = false): TimestampResult {
  const m = RFC3339.exec(text);
  if (!m) {
    return { ok: false, reason: `timestamp "${text}" is not RFC 3339 (like 2026-10-03T14:07:11Z)` };
  }
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number, number, number, number, number, number,
  ];
  if (mo < 1 || mo > 12) return { ok: false, reason: `timestamp "${text}" has month ${m[2]}` };
  if (d < 1 || d > daysInMonth(y, mo)) {
    return { ok: false, reason: `timestamp "${text}" names a day that does not exist` };
  }
  if (h > 23 || mi > 59 || s > 59) {
    return { ok: false, reason: `timestamp "${text}" has a time of day out of range` };
  }
  const ms = Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'));
  let offsetMin = 0;
  if (m[8] === undefined && m[9] === undefined) {
    if (!assumeUtc) return { ok: false, reason: 'timestamp has no UTC offset' };
  } else if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return { ok: false, reason: `timestamp "${text}" has an offset out of range` };
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return { ok: true, ms: utcMs(y, mo, d, h, mi, s, ms) - offsetMin * 60_000 };
}

/** `YYYY-MM-DD` as the UTC midnight that starts it; undefined when it is not a real date. */
export function parseDate(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
  return utcMs(y, mo, d);
}

/** RFC 3339 UTC text with milliseconds: `2026-10-03T14:07:11.250Z`. */
export function formatInstant(ms: number): string {
  return new Date(ms).toISOString();
}

/** `YYYY-MM-DD` of an instant in UTC. */
export function formatUtcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export const DAY_MS = 86_400_000;
