/**
 * The daily usage cost chart: which bars, and how tall. Bar heights are computed from the exact
 * amounts with bigint arithmetic, as thousandths of the largest day; only the final pixel position
 * (thousandths × chart height) is a JavaScript number, and it never flows back into an amount.
 */
import { Decimal, divRoundHalfUp } from '../domain/money.js';
import type { DailyCost } from './invoice-document.js';

export interface ChartBar {
  date: string;
  amount: string;
  /** Height as thousandths of the tallest bar, 0..1000; negative days draw nothing. */
  permille: number;
}

export interface ChartModel {
  bars: ChartBar[];
  /** The largest daily amount, or null when no day costs anything. */
  max: string | null;
}

/** The days of a `YYYY-MM` period, as `YYYY-MM-DD`. */
export function periodDays(period: string): string[] {
  const year = Number(period.slice(0, 4));
  const month = Number(period.slice(5, 7));
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return Array.from({ length: days }, (_, i) => `${period}-${String(i + 1).padStart(2, '0')}`);
}

/**
 * One bar per day of the period (days without an entry are 0), plus any day of the series outside
 * it, in date order. A series whose days all cost 0, or that is empty, has `max` null.
 */
export function chartModel(period: string, series: readonly DailyCost[]): ChartModel {
  const byDate = new Map<string, Decimal>();
  for (const d of series) byDate.set(d.date, (byDate.get(d.date) ?? Decimal.ZERO).add(Decimal.parse(d.amount)));
  const dates = [...new Set([...periodDays(period), ...byDate.keys()])].sort();
  let max: Decimal | null = null;
  for (const v of byDate.values()) if (v.sign() > 0 && (max === null || v.cmp(max) > 0)) max = v;
  const bars = dates.map((date) => {
    const v = byDate.get(date) ?? Decimal.ZERO;
    let permille = 0;
    if (max !== null && v.sign() > 0) {
      const scale = Math.max(v.scale, max.scale);
      const num = v.units * 10n ** BigInt(scale - v.scale) * 1000n;
      const den = max.units * 10n ** BigInt(scale - max.scale);
      permille = Number(divRoundHalfUp(num, den));
    }
    return { date, amount: v.toString(), permille };
  });
  return { bars, max: max === null ? null : max.toString() };
}
