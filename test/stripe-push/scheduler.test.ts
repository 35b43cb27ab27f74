import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, RateLimiter, runJobs, type Attempt } from '../../src/stripe/scheduler.js';

/** A virtual clock: sleeping advances time instantly, so rates and backoff are tested exactly. */
function virtualClock() {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
      await Promise.resolve();
    },
  };
}

describe('RateLimiter', () => {
  it('starts at most `rate` requests per second', async () => {
    const c = virtualClock();
    const limiter = new RateLimiter(25, c.now, c.sleep);
    const starts: number[] = [];
    for (let i = 0; i < 100; i++) {
      await limiter.take();
      starts.push(c.now());
    }
    // Any one-second window holds at most 25 starts (plus the one token held at the start).
    for (let i = 0; i < starts.length; i++) {
      const inWindow = starts.filter((s) => s >= starts[i]! && s < starts[i]! + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(26);
    }
    expect(starts[99]!).toBeGreaterThanOrEqual(3900);
  });
});

describe('runJobs', () => {
  it('never runs two jobs of one key at once, and caps concurrency', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const busy = new Set<string>();
    const jobs = Array.from({ length: 60 }, (_, i) => ({ key: `k${i % 5}`, item: i }));
    const results = await runJobs(
      jobs,
      async (i) => {
        const key = `k${i % 5}`;
        expect(busy.has(key)).toBe(false);
        busy.add(key);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 1));
        inFlight--;
        busy.delete(key);
        return { ok: true } satisfies Attempt;
      },
      { concurrency: 8, ratePerSecond: 100000, maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    );
    expect(results).toHaveLength(60);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(maxInFlight).toBe(5);
    // Jobs of one key run in their given order.
    const order = results.filter((r) => r.item % 5 === 0).map((r) => r.item);
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('retries retryable failures with backoff and reports the rest, one result per job', async () => {
    const c = virtualClock();
    const tries = new Map<number, number>();
    const results = await runJobs(
      [0, 1, 2, 3].map((i) => ({ key: String(i), item: i })),
      async (i) => {
        const n = (tries.get(i) ?? 0) + 1;
        tries.set(i, n);
        if (i === 0) return { ok: true };
        if (i === 1) return n < 3 ? { ok: false, retryable: true, error: '500' } : { ok: true };
        if (i === 2) return { ok: false, retryable: false, error: 'bad customer' };
        return { ok: false, retryable: true, error: '429' };
      },
      { concurrency: 2, ratePerSecond: 1000, maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000, now: c.now, sleep: c.sleep, random: () => 0.5 },
    );
    const byItem = new Map(results.map((r) => [r.item, r]));
    expect(byItem.get(0)).toMatchObject({ ok: true, attempts: 1 });
    expect(byItem.get(1)).toMatchObject({ ok: true, attempts: 3 });
    expect(byItem.get(2)).toMatchObject({ ok: false, attempts: 1, error: 'bad customer' });
    expect(byItem.get(3)).toMatchObject({ ok: false, attempts: 4, error: '429' });
  });

  it('a job waiting out its backoff keeps its key but not a worker: the others go on meanwhile', async () => {
    const c = virtualClock();
    const order: number[] = [];
    let failedOnce = false;
    const results = await runJobs(
      [{ key: 'a', item: 0 }, { key: 'b', item: 1 }, { key: 'b', item: 2 }, { key: 'a', item: 3 }],
      async (i) => {
        order.push(i);
        if (i === 0 && !failedOnce) {
          failedOnce = true;
          return { ok: false, retryable: true, error: '500' };
        }
        return { ok: true };
      },
      { concurrency: 1, ratePerSecond: 1000, maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 5000, now: c.now, sleep: c.sleep, random: () => 0.5 },
    );
    // Key b's jobs ran while job 0 waited; job 3 waited for job 0, its key's earlier job.
    expect(order).toEqual([0, 1, 2, 0, 3]);
    expect(results.map((r) => [r.item, r.ok, r.attempts])).toEqual([[1, true, 1], [2, true, 1], [0, true, 2], [3, true, 1]]);
    expect(c.now()).toBeGreaterThanOrEqual(1000);
  });

  it('starts no retry at or after retryUntil: the job ends with its last error', async () => {
    const c = virtualClock();
    const starts: number[] = [];
    const [r] = await runJobs(
      [{ key: 'a', item: 0 }],
      async () => {
        starts.push(c.now());
        return { ok: false, retryable: true, error: '500' };
      },
      { concurrency: 1, ratePerSecond: 1000, maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 5000, retryUntil: 500, now: c.now, sleep: c.sleep, random: () => 0.5 },
    );
    // Backoffs of 100 and 200 ms fit; the next, 400 ms from 300, would start at 700.
    expect(r).toMatchObject({ ok: false, attempts: 3, error: '500' });
    expect(starts.every((t) => t < 500)).toBe(true);
  });

  it('backoff is jittered, exponential and capped', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const d = backoffDelay(attempt, 200, 30000, () => r);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(Math.min(30000, 200 * 2 ** attempt));
      }),
    );
  });
});
