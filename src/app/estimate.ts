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
import type { RatableReceipt, RatedLine, RatedPeriod } from '../domain/rating.js';
import type { Tenant } from '../domain/tenant.js';
import { UsageError } from '../errors.js';
import type { Store } from '../store/store.js';
import { currentPeriod, projectMonthEnd } from './budgets.js';
import { StoreRating } from './rating-service.js';

export interface EstimateRequest {
  model: string | null;
  gpu: string | null;
  inputTokens: number;
  outputTokens: number;
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

export function estimateRequest(o: { model?: string; gpu?: string; inputTokens?: string; outputTokens?: string; gpuSeconds?: string }, names: {
  inputTokens: string; outputTokens: string; gpuSeconds: string; model: string; gpu: string;
}): EstimateRequest {
  const req: EstimateRequest = {
    model: o.model === undefined || o.model.trim() === '' ? null : o.model,
    gpu: o.gpu === undefined || o.gpu.trim() === '' ? null : o.gpu,
    inputTokens: parseUnits(o.inputTokens, names.inputTokens),
    outputTokens: parseUnits(o.outputTokens, names.outputTokens),
    gpuSeconds: parseUnits(o.gpuSeconds, names.gpuSeconds),
  };
  if (req.model === null && req.gpu === null) throw new UsageError(`give ${names.model} (and tokens) or ${names.gpu} (and GPU seconds)`);
  if (req.inputTokens + req.outputTokens > 0 && req.model === null) throw new UsageError(`tokens need a model: give ${names.model}`);
  if (req.gpuSeconds > 0 && req.gpu === null) throw new UsageError(`GPU seconds need a GPU type: give ${names.gpu}`);
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
  const version = versionAt(rating.versions, now);
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
  const receipt: RatableReceipt = {
    id: HYPOTHETICAL_ID, ts: now, billable: true, modelKey, gpuKey,
    gpuSeconds: req.gpuSeconds, inputTokens: req.inputTokens, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: req.outputTokens,
    reasoningTokens: 0,
  };
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
    input_tokens: e.request.inputTokens,
    output_tokens: e.request.outputTokens,
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
