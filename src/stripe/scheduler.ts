/**
 * Runs many requests politely: at most `concurrency` in flight, never two at once for the same
 * key (customer + meter), at most `ratePerSecond` started per second, each job retried with
 * jittered exponential backoff while it fails retryably, until `retryUntil`. A job waiting out
 * its backoff keeps its key but not a worker: the others go on with other keys meanwhile. Every
 * job started ends with a result; one failure never stops the others.
 */
export interface Job<T> {
  key: string;
  item: T;
}

export type Attempt = { ok: true } | { ok: false; retryable: boolean; error: string; retryAfterMs?: number };

export interface JobResult<T> {
  item: T;
  ok: boolean;
  attempts: number;
  error?: string;
}

export interface SchedulerOptions {
  concurrency: number;
  ratePerSecond: number;
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** No retry starts at or after this instant (on `now`): a job still failing then ends failed. Default: none. */
  retryUntil?: number;
  /** Injected for tests: time and sleeping. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called after each job settles. */
  onSettled?: (r: JobResult<unknown>) => void;
  /** Stop taking new jobs (e.g. the lock was lost). */
  shouldStop?: () => boolean;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A token bucket: `take()` resolves when a request may start. */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {
    // Start with one token: a burst of `perSecond` at start would exceed the rate in the first second.
    this.tokens = 1;
    this.last = now();
  }

  take(): Promise<void> {
    const next = this.chain.then(async () => {
      for (;;) {
        const t = this.now();
        this.tokens = Math.min(Math.max(1, this.perSecond), this.tokens + ((t - this.last) * this.perSecond) / 1000);
        this.last = t;
        if (this.tokens >= 1) {
          this.tokens -= 1;
          return;
        }
        await this.sleep(Math.ceil(((1 - this.tokens) * 1000) / this.perSecond));
      }
    });
    this.chain = next;
    return next;
  }
}

/** Full-jitter exponential backoff: a random delay in [0, min(max, base × 2^attempt)). */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  return Math.floor(random() * Math.min(max, base * 2 ** attempt));
}

/** A job waiting out its backoff: its key stays busy, but no worker waits with it. */
interface Waiting<T> {
  job: Job<T>;
  attempts: number;
  error: string;
  at: number;
}

/** How long an idle worker sleeps at most before it looks again for a job whose backoff is over. */
const IDLE_POLL_MS = 50;

export async function runJobs<T>(
  jobs: readonly Job<T>[],
  attempt: (item: T) => Promise<Attempt>,
  options: SchedulerOptions,
): Promise<JobResult<T>[]> {
  const now = options.now ?? (() => Date.now());
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const limiter = new RateLimiter(options.ratePerSecond, now, sleep);
  // One queue per key, in the jobs' order; a key is busy while one of its jobs runs or waits out a backoff.
  const queues = new Map<string, Job<T>[]>();
  for (const j of jobs) {
    let q = queues.get(j.key);
    if (!q) queues.set(j.key, (q = []));
    q.push(j);
  }
  const ready: string[] = [...queues.keys()];
  const waiting: Waiting<T>[] = [];
  const results: JobResult<T>[] = [];
  // Workers with nothing to start wait here until a job settles or goes to wait out a backoff.
  let waiters: (() => void)[] = [];
  const signal = () => {
    const w = waiters;
    waiters = [];
    for (const wake of w) wake();
  };

  const settle = (result: JobResult<T>, key: string): void => {
    results.push(result);
    options.onSettled?.(result as JobResult<unknown>);
    const q = queues.get(key)!;
    if (q.length > 0) ready.push(key);
    else queues.delete(key);
    signal();
  };

  /** A job whose backoff is over first (it holds its key), else the next job of a free key. */
  const next = (): { job: Job<T>; attempts: number } | undefined => {
    const t = now();
    const due = waiting.findIndex((w) => w.at <= t);
    if (due >= 0) return waiting.splice(due, 1)[0]!;
    const key = ready.shift();
    return key === undefined ? undefined : { job: queues.get(key)!.shift()!, attempts: 0 };
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      if (options.shouldStop?.()) return;
      const picked = next();
      if (!picked) {
        if (queues.size === 0) return;
        // Every remaining key is busy: wait until a job settles, or a backoff may be over.
        const soonest = waiting.reduce((m, w) => Math.min(m, w.at), Number.POSITIVE_INFINITY);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          if (Number.isFinite(soonest)) void sleep(Math.min(IDLE_POLL_MS, Math.max(0, soonest - now()))).then(resolve);
        });
        continue;
      }
      const { job } = picked;
      await limiter.take();
      const attempts = picked.attempts + 1;
      let a: Attempt;
      try {
        a = await attempt(job.item);
      } catch (err) {
        a = { ok: false, retryable: false, error: err instanceof Error ? err.message : String(err) };
      }
      if (a.ok) {
        settle({ item: job.item, ok: true, attempts }, job.key);
        continue;
      }
      const delay = Math.max(a.retryAfterMs ?? 0, backoffDelay(attempts, options.baseDelayMs, options.maxDelayMs, random));
      const giveUp =
        !a.retryable || attempts >= options.maxAttempts || options.shouldStop?.() === true ||
        (options.retryUntil !== undefined && now() + delay >= options.retryUntil);
      if (giveUp) settle({ item: job.item, ok: false, attempts, error: a.error }, job.key);
      else {
        waiting.push({ job, attempts, error: a.error, at: now() + delay });
        signal();
      }
    }
  };

  const n = Math.max(1, Math.min(options.concurrency, jobs.length));
  await Promise.all(Array.from({ length: n }, () => worker()));
  // Stopped early: the jobs still waiting out a backoff end with their last error.
  for (const w of waiting) {
    results.push({ item: w.job.item, ok: false, attempts: w.attempts, error: w.error });
    options.onSettled?.(results.at(-1) as JobResult<unknown>);
  }
  return results;
}
