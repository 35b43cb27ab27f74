/**
 * Custom metrics (billing-rules.md, "Custom metrics and charges"): a metric's value for a
 * tenant-period over its billable receipts whose event type is one the metric counts (none named:
 * every receipt): `count` of receipts, `sum` or `max` of a whole-number field, `unique_count` of
 * the distinct values of `user_id`, `project_id` or the model key (receipts without it do not count).
 * Pure: the caller gives the receipts (rating reads the period's receipts once for every metric).
 */
import type { MetricDef } from './catalog.js';
import { QUANTITIES, type QuantityProp } from './quantities.js';
import type { Receipt } from './receipt.js';

export type MetricReceipt = Pick<Receipt, 'billable' | 'eventType' | 'userId' | 'projectId' | 'modelKey' | QuantityProp>;

const NUMBER_PROP = new Map<string, QuantityProp>(QUANTITIES.map((q) => [q.name, q.prop]));
const TEXT_PROP: Record<string, 'userId' | 'projectId' | 'modelKey'> = { user_id: 'userId', project_id: 'projectId', model: 'modelKey' };

/** Each metric's value over the receipts (those not billable are skipped), by metric key. */
export function metricValues(defs: readonly MetricDef[], receipts: Iterable<MetricReceipt>): Map<string, bigint> {
  const acc = defs.map((d) => ({ d, n: 0n, seen: d.aggregation === 'unique_count' ? new Set<string>() : null }));
  for (const r of receipts) {
    if (!r.billable) continue;
    for (const a of acc) {
      const { d } = a;
      if (d.eventTypes !== null && (r.eventType === null || !d.eventTypes.has(r.eventType))) continue;
      switch (d.aggregation) {
        case 'count':
          a.n += 1n;
          break;
        case 'sum':
          a.n += BigInt(r[NUMBER_PROP.get(d.field!)!]);
          break;
        case 'max': {
          const v = BigInt(r[NUMBER_PROP.get(d.field!)!]);
          if (v > a.n) a.n = v;
          break;
        }
        case 'unique_count': {
          const v = r[TEXT_PROP[d.field!]!];
          if (v !== null && v !== '') a.seen!.add(v);
          break;
        }
        default:
          d.aggregation satisfies never;
      }
    }
  }
  return new Map(acc.map((a) => [a.d.key, a.seen ? BigInt(a.seen.size) : a.n]));
}
