import { describe, expect, it } from 'vitest';
import {
  addMonths, dayNumberOf, formatDayNumber, localDate, localDayNumber, periodDays, periodInterval, periodOf, periodRange,
  startOfLocalDay,
} from '../../src/domain/period.js';

const ms = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();

describe('periodInterval: local midnight of the 1st to local midnight of the next 1st', () => {
  const cases: [tz: string, period: string, start: string, end: string][] = [
    ['UTC', '2026-10', '2026-10-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z'],
    ['UTC', '2026-12', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['UTC', '2028-02', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
    ['Europe/Berlin', '2026-03', '2026-02-28T23:00:00.000Z', '2026-03-31T22:00:00.000Z'],
    ['Europe/Berlin', '2026-10', '2026-09-30T22:00:00.000Z', '2026-10-31T23:00:00.000Z'],
    ['Asia/Kolkata', '2026-10', '2026-09-30T18:30:00.000Z', '2026-10-31T18:30:00.000Z'],
    ['America/St_Johns', '2026-03', '2026-03-01T03:30:00.000Z', '2026-04-01T02:30:00.000Z'],
    ['America/St_Johns', '2026-11', '2026-11-01T02:30:00.000Z', '2026-12-01T03:30:00.000Z'],
    ['Pacific/Chatham', '2026-04', '2026-03-31T10:15:00.000Z', '2026-04-30T11:15:00.000Z'],
    ['Pacific/Chatham', '2026-09', '2026-08-31T11:15:00.000Z', '2026-09-30T10:15:00.000Z'],
    ['Pacific/Chatham', '2027-01', '2026-12-31T10:15:00.000Z', '2027-01-31T10:15:00.000Z'],
    // Clocks jumped from 00:00 to 01:00 on 2023-10-01: the period starts at the jump.
    ['America/Asuncion', '2023-10', '2023-10-01T04:00:00.000Z', '2023-11-01T03:00:00.000Z'],
  ];

  it.each(cases)('%s %s', (tz, period, start, end) => {
    const i = periodInterval(tz, period);
    expect([iso(i.start), iso(i.end)]).toEqual([start, end]);
    // −1 ms is the previous period, 0 ms this one; the end is excluded.
    expect(periodOf(tz, i.start - 1)).toBe(addMonths(period, -1));
    expect(periodOf(tz, i.start)).toBe(period);
    expect(periodOf(tz, i.end - 1)).toBe(period);
    expect(periodOf(tz, i.end)).toBe(addMonths(period, 1));
    // Consecutive periods tile time with no gap and no overlap.
    expect(periodInterval(tz, addMonths(period, 1)).start).toBe(i.end);
  });
});

describe('local days', () => {
  const cases: [tz: string, date: string, start: string, hours: number][] = [
    ['Europe/Berlin', '2026-03-29', '2026-03-28T23:00:00.000Z', 23],
    ['Europe/Berlin', '2026-10-25', '2026-10-24T22:00:00.000Z', 25],
    ['America/St_Johns', '2026-11-01', '2026-11-01T02:30:00.000Z', 25],
    ['Pacific/Chatham', '2026-04-05', '2026-04-04T10:15:00.000Z', 25],
    ['Pacific/Chatham', '2026-09-27', '2026-09-26T11:15:00.000Z', 23],
    ['Asia/Kolkata', '2026-10-15', '2026-10-14T18:30:00.000Z', 24],
    // Midnight does not exist: the day begins when the clocks jump.
    ['America/Havana', '2026-03-08', '2026-03-08T05:00:00.000Z', 23],
    ['America/Santiago', '2026-09-06', '2026-09-06T04:00:00.000Z', 23],
  ];
  it.each(cases)('%s %s starts at %s and lasts %d h', (tz, date, start, hours) => {
    const day = dayNumberOf(date);
    const s = startOfLocalDay(tz, day);
    expect(iso(s)).toBe(start);
    expect((startOfLocalDay(tz, day + 1) - s) / 3_600_000).toBe(hours);
    expect(localDayNumber(tz, s)).toBe(day);
    expect(localDayNumber(tz, s - 1)).toBe(day - 1);
    expect(localDate(tz, s)).toBe(date);
    expect(formatDayNumber(day)).toBe(date);
  });

  it('periodDays lists the local days of a month', () => {
    expect(periodDays('2028-02')).toEqual({ first: dayNumberOf('2028-02-01'), last: dayNumberOf('2028-02-29') });
    expect(periodDays('2026-12')).toEqual({ first: dayNumberOf('2026-12-01'), last: dayNumberOf('2026-12-31') });
    expect(periodRange('2026-11', '2027-02')).toEqual(['2026-11', '2026-12', '2027-01', '2027-02']);
  });

  it('an instant belongs to the local day in the tenant zone, not the UTC day', () => {
    const t = ms('2026-09-30T22:30:00Z');
    expect(localDate('UTC', t)).toBe('2026-09-30');
    expect(localDate('Europe/Berlin', t)).toBe('2026-10-01');
    expect(localDate('Pacific/Chatham', t)).toBe('2026-10-01');
    expect(localDate('America/St_Johns', t)).toBe('2026-09-30');
  });
});
