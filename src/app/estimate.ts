/**
 * `billctl estimate` and the server's estimate endpoint: what one more request would add to a
 * tenant's period under way, as rating would bill it. The period is rated twice by the same
 * engine as invoices, without and with the hypothetical request (at `now`, after the receipts so
 * far), and the difference is the answer: allowance left, discount and every other term of the
 * plan are honoured because rating applies them. Never a list-price guess.
 */
import { versionAt } from '../domain/catalog.js';
import { Decimal, formatAmount } from '../domain/money.js';
import { nameKey } from '../domain/names.js';
import { periodInterval, type Period } from '../domain/period.js';
import { hasTokens, TOKEN_CLASSES, type TokenProp } from '../domain/quantities.js';
import type { RatableReceipt, RatedLine, RatedPeriod } from '../domain/rating.js';
import type { Tenant } from '../domain/tenant.js';
import { UsageError } from '../errors.js';
import type { Store } from '../store/store.js';
import { currentPeriod, projectMonthEnd } from './budgets.js';
import { StoreRating } from './rating-service.js';

/** The hypothetical request: its model and GPU, GPU seconds and a count per token class (quantities.ts). */
export interface EstimateRequest extends Record<TokenProp, number> {
  model: string | null;
  gpu: string | null;
  gpuSeconds: number;
}

export interface EstimateLine {
  kind: RatedLine['kind'];
  key: string;
  /** What the request adds to the line: units used, covered by allowance, billed, and the amount. */
  used: bigint;
  included: bigint;
  billed: bigint;
  amount: Decimal;
}

export interface Estimate {
  tenantId: string;
  period: Period;
  currency: string;
  request: EstimateRequest;
  /** The marginal amount before tax: the subtotal with the request less the subtotal without it. */
  amount: Decimal;
  lines: EstimateLine[];
  subtotalBefore: Decimal;
  subtotalAfter: Decimal;
  /** The month-end projection (as `usage` computes it) with the request. */
  projectedTotal: Decimal;
}

/** The id of the hypothetical receipt: receipt ids are never empty, so it is no stored receipt's. */
const HYPOTHETICAL_ID = '';

/** Reads a whole number of units from a flag or query parameter (absent: 0). */
export function parseUnits(text: string | undefined, name: string): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d{1,15}$/.test(text.trim())) throw new UsageError(`${name}: "${text}" is not a whole number`);
  return Number(text.trim());
}

/**
 * The request from flags (`style` 'flag': `--input-tokens`, `--cached-input-tokens`, ...) or query
 * parameters ('param': `input_tokens`, `cached_input_tokens`, ...), each named by its field: `model`,
 * `gpu`, `gpu_seconds` and every token class of the field table.
 */
export function estimateRequest(o: Readonly<Record<string, string | undefined>>, style: 'flag' | 'param'): EstimateRequest {
  const name = (field: string) => (style === 'flag' ? `--${field.replace(/_/g, '-')}` : field);
  const text = (field: string) => {
    const v = o[field];
    return v === undefined || v.trim() === '' ? null : v;
  };
  const req = { model: text('model'), gpu: text('gpu'), gpuSeconds: parseUnits(o.gpu_seconds, name('gpu_seconds')) } as EstimateRequest;
  for (const c of TOKEN_CLASSES) req[c.prop] = parseUnits(o[c.name], name(c.name));
  if (req.model === null && req.gpu === null) throw new UsageError(`give ${name('model')} (and tokens) or ${name('gpu')} (and GPU seconds)`);
  if (hasTokens(req) && req.model === null) throw new UsageError(`tokens need a model: give ${name('model')}`);
  if (req.gpuSeconds > 0 && req.gpu === null) throw new UsageError(`GPU seconds need a GPU type: give ${name('gpu')}`);
  return req;
}

function lineKey(l: Pick<RatedLine, 'kind' | 'key' | 'catalogVersion'>): string {
  return `${l.kind}\u0000${l.key}\u0000${l.catalogVersion ?? ''}`;
}

function lineDeltas(before: RatedPeriod, after: RatedPeriod): EstimateLine[] {
  const old = new Map(before.lines.map((l) => [lineKey(l), l]));
  const out: EstimateLine[] = [];
  for (const l of after.lines) {
    const b = old.get(lineKey(l));
    const d: EstimateLine = {
      kind: l.kind, key: l.key,
      used: l.used - (b?.used ?? 0n), included: l.included - (b?.included ?? 0n), billed: l.billed - (b?.billed ?? 0n),
      amount: b ? l.amount.sub(b.amount) : l.amount,
    };
    if (d.used !== 0n || !d.amount.isZero()) out.push(d);
  }
  return out;
}

export async function estimate(store: Store, tenant: Tenant, req: EstimateRequest, now: number): Promise<Estimate> {
  const period = currentPeriod(tenant, now);
  // Usage already in the store without a price counts 0.00 (as budgets do); the request's own keys must have prices.
  const rating = await StoreRating.load(store, true);
  const version = versionAt(rating.versionsFor(tenant), now);
  if (version === undefined) throw new UsageError('no catalog version is in effect now', 'Import one with: billctl catalog import <file>');
  const modelKey = req.model === null ? null : nameKey(req.model);
  const gpuKey = req.gpu === null ? null : nameKey(req.gpu);
  await rating.loadRates([{ modelKey, gpuKey }]);
  if (modelKey !== null && !version.tokenRates.has(modelKey)) {
    throw new UsageError(`model "${req.model}" has no price in catalog ${version.version}`, 'See the models and prices with: billctl catalog show');
  }
  if (gpuKey !== null && !version.gpuRates.has(gpuKey)) {
    throw new UsageError(`GPU "${req.gpu}" has no price in catalog ${version.version}`, 'See the GPU types and prices with: billctl catalog show');
  }
  const receipt = { id: HYPOTHETICAL_ID, ts: now, billable: true, modelKey, gpuKey, gpuSeconds: req.gpuSeconds } as RatableReceipt;
  for (const c of TOKEN_CLASSES) receipt[c.prop] = req[c.prop];
  const before = await rating.ratePeriod(tenant, period);
  const after = await rating.ratePeriod(tenant, period, [receipt]);
  return {
    tenantId: tenant.id,
    period,
    currency: after.currency,
    request: req,
    amount: after.totals.subtotal.sub(before.totals.subtotal),
    lines: lineDeltas(before, after),
    subtotalBefore: before.totals.subtotal,
    subtotalAfter: after.totals.subtotal,
    projectedTotal: projectMonthEnd(after, periodInterval(tenant.timezone, period), now),
  };
}

/** `estimate --format json`. */
export function estimateJson(e: Estimate): Record<string, unknown> {
  const c = e.currency;
  return {
    tenant_id: e.tenantId,
    period: e.period,
    model: e.request.model,
    gpu: e.request.gpu,
    ...Object.fromEntries(TOKEN_CLASSES.map((c) => [c.name, e.request[c.prop]])),
    gpu_seconds: e.request.gpuSeconds,
    currency: c,
    amount: formatAmount(e.amount, c),
    lines: e.lines.map((l) => ({
      kind: l.kind, key: l.key, used: l.used, included: l.included, billed: l.billed, amount: formatAmount(l.amount, c),
    })),
    subtotal_before: formatAmount(e.subtotalBefore, c),
    subtotal_after: formatAmount(e.subtotalAfter, c),
    projected_total: formatAmount(e.projectedTotal, c),
  };
}
