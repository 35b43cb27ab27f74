import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bucketStartOf, eventIdentifier, IDENTIFIER_SAFE_MS, planPush, RESEND_MARGIN_MS, STRIPE_PAST_WINDOW_MS, triageUnsent, type BucketTotal,
  type LedgerBucket,
} from '../../src/stripe/push-plan.js';

const H = 3_600_000;
const now = Date.parse('2026-11-21T12:30:00Z');
const opts = { now, bucket: 'hour' as const, marginMs: 24 * H };

const total = (bucketStart: number, t: bigint, meter: BucketTotal['meter'] = 'input_tokens', tenantId = 'a'): BucketTotal => ({
  tenantId, meter, bucketStart, total: t,
});

describe('planPush', () => {
  it('sends a new bucket whole, as revision 1', () => {
    const b = bucketStartOf(now - 2 * H, 'hour');
    const p = planPush([total(b, 500n)], [], opts);
    expect(p.send).toEqual([{ tenantId: 'a', meter: 'input_tokens', bucketStart: b, revision: 1, value: 500n }]);
    expect(p.expire).toEqual([]);
  });

  it('sends only the difference as the next revision when late receipts arrive', () => {
    const b = bucketStartOf(now - 2 * H, 'hour');
    const ledger: LedgerBucket[] = [{ tenantId: 'a', meter: 'input_tokens', bucketStart: b, accounted: 500n, expired: 0n, maxRevision: 1 }];
    expect(planPush([total(b, 500n)], ledger, opts).send).toEqual([]);
    expect(planPush([total(b, 740n)], ledger, opts).send).toEqual([
      { tenantId: 'a', meter: 'input_tokens', bucketStart: b, revision: 2, value: 240n },
    ]);
  });

  it('expires buckets older than 35 days less the margin, and lets future buckets wait', () => {
    const cutoff = now - STRIPE_PAST_WINDOW_MS + opts.marginMs;
    const old = bucketStartOf(cutoff - 1, 'hour');
    const fresh = bucketStartOf(cutoff + H, 'hour');
    const future = bucketStartOf(now + 2 * H, 'hour');
    const p = planPush([total(old, 7n), total(fresh, 8n), total(future, 9n)], [], opts);
    expect(p.expire.map((r) => [r.bucketStart, r.value])).toEqual([[old, 7n]]);
    expect(p.send.map((r) => [r.bucketStart, r.value])).toEqual([[fresh, 8n]]);
    expect(p.waiting.map((r) => r.bucketStart)).toEqual([future]);
    // Expired amounts are remembered: the next run neither resends nor re-reports them.
    const again = planPush([total(old, 7n)], [{ tenantId: 'a', meter: 'input_tokens', bucketStart: old, accounted: 0n, expired: 7n, maxRevision: 1 }], opts);
    expect(again.expire).toEqual([]);
  });

  it('the current hour is sent as far as it goes; the rest follows as a later revision', () => {
    const b = bucketStartOf(now, 'hour');
    const first = planPush([total(b, 10n)], [], opts).send;
    expect(first).toHaveLength(1);
  });

  it('never sends more than the total, whatever the history (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 12n }), { minLength: 1, maxLength: 8 }), (growth) => {
        const b = bucketStartOf(now - H, 'hour');
        let ledger: LedgerBucket[] = [];
        let running = 0n;
        let sent = 0n;
        for (const g of growth) {
          running += g;
          const p = planPush([total(b, running)], ledger, opts);
          for (const r of p.send) sent += r.value;
          const rev = p.send[0]?.revision ?? ledger[0]?.maxRevision ?? 0;
          ledger = [{ tenantId: 'a', meter: 'input_tokens', bucketStart: b, accounted: sent, expired: 0n, maxRevision: rev }];
          expect(sent).toBe(running);
        }
      }),
    );
  });
});

describe('eventIdentifier', () => {
  it('is deterministic, at most 100 characters, and differs by store, tenant, meter, bucket and revision', () => {
    const longTenant = 'x'.repeat(128);
    const id = eventIdentifier('store-1', longTenant, 'output_tokens', Date.parse('2026-11-21T10:00:00Z'), 12);
    expect(id.length).toBeLessThanOrEqual(100);
    expect(id).toBe(eventIdentifier('store-1', longTenant, 'output_tokens', Date.parse('2026-11-21T10:00:00Z'), 12));
    expect(id).toMatch(/^billctl-[0-9a-f]{24}-output_tokens-1795255200-r12$/);
    const ids = new Set([
      id,
      eventIdentifier('store-2', longTenant, 'output_tokens', Date.parse('2026-11-21T10:00:00Z'), 12),
      eventIdentifier('store-1', 'y', 'output_tokens', Date.parse('2026-11-21T10:00:00Z'), 12),
      eventIdentifier('store-1', longTenant, 'input_tokens', Date.parse('2026-11-21T10:00:00Z'), 12),
      eventIdentifier('store-1', longTenant, 'output_tokens', Date.parse('2026-11-21T11:00:00Z'), 12),
      eventIdentifier('store-1', longTenant, 'output_tokens', Date.parse('2026-11-21T10:00:00Z'), 13),
    ]);
    expect(ids.size).toBe(6);
  });
});

describe('triageUnsent', () => {
  const H = 3_600_000;
  const margin = 24 * H;
  const cutoff = now - STRIPE_PAST_WINDOW_MS + margin;
  const row = (name: string, bucketStart: number, status: 'pending' | 'failed', firstAttemptAt: number | null) => ({ name, bucketStart, status, firstAttemptAt });
  const names = (rs: { name: string }[]) => rs.map((r) => r.name);

  it('sends what never reached Stripe while its bucket is in the window, and expires it after', () => {
    const t = triageUnsent(
      [
        row('new', now - 2 * H, 'pending', null),
        row('refused', now - 2 * H, 'failed', now - 50 * H),
        row('new-old', cutoff - H, 'pending', null),
        row('refused-old', cutoff - H, 'failed', now - 30 * H),
      ],
      { now, marginMs: margin },
    );
    expect(names(t.send)).toEqual(['new', 'refused']);
    expect(names(t.expire)).toEqual(['new-old', 'refused-old']);
    expect(t.uncertain).toEqual([]);
  });

  it('resends what may be in Stripe only while Stripe still drops a repeat and takes the timestamp', () => {
    const t = triageUnsent(
      [
        row('tried-1h', now - 3 * H, 'pending', now - H),
        row('tried-22h59', now - 3 * H, 'pending', now - IDENTIFIER_SAFE_MS + 60_000),
        row('tried-23h', now - 30 * H, 'pending', now - IDENTIFIER_SAFE_MS),
        row('tried-2d', now - 60 * H, 'pending', now - 48 * H),
        // Past the margin but inside Stripe's 35 days: resend (never expire what may be in Stripe).
        row('tried-old-bucket', cutoff - H, 'pending', now - H),
        row('tried-too-old', now - STRIPE_PAST_WINDOW_MS + RESEND_MARGIN_MS - 1, 'pending', now - H),
      ],
      { now, marginMs: margin },
    );
    expect(names(t.send)).toEqual(['tried-1h', 'tried-22h59', 'tried-old-bucket']);
    expect(names(t.uncertain)).toEqual(['tried-23h', 'tried-2d', 'tried-too-old']);
    expect(t.expire).toEqual([]);
  });
});
