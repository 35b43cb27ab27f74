/**
 * The fake Stripe's wire helpers, shared by its endpoints: Stripe's error answers and the reading
 * of form parameters as Stripe checks them.
 */

export interface StripeErrorBody {
  type: string;
  message: string;
  code?: string;
  param?: string;
  doc_url?: string;
}

/**
 * An error answer in Stripe's shape: `{"error": {type, code, message, param}}`. `executed`: the
 * endpoint began executing before it refused (a missing customer, a duplicate identifier), so
 * Stripe saves the answer under the Idempotency-Key; a request whose parameters failed validation
 * never began executing, and nothing is saved.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: StripeErrorBody,
    readonly headers: Record<string, string> = {},
    readonly executed = false,
  ) {
    super(body.message);
  }
}

/** Parameters that failed validation: nothing ran, nothing is saved under the Idempotency-Key. */
export const invalid = (message: string, extra: Partial<StripeErrorBody> = {}, status = 400, headers: Record<string, string> = {}) =>
  new ApiError(status, { type: 'invalid_request_error', message, ...extra }, headers);

/** A refusal by an endpoint that began executing: saved and replayed like any answer. */
export const refused = (message: string, extra: Partial<StripeErrorBody> = {}, status = 400, headers: Record<string, string> = {}) =>
  new ApiError(status, { type: 'invalid_request_error', message, ...extra }, headers, true);


export function onlyKnown(params: Record<string, unknown>, known: string[]): void {
  for (const k of Object.keys(params)) {
    if (!known.includes(k)) throw invalid(`Received unknown parameter: ${k}`, { code: 'parameter_unknown', param: k });
  }
}

export function str(params: Record<string, unknown>, key: string, required: boolean, max = 5000): string | undefined {
  const v = params[key];
  if (v === undefined) {
    if (required) throw invalid(`Missing required param: ${key}.`, { code: 'parameter_missing', param: key });
    return undefined;
  }
  if (typeof v !== 'string') throw invalid(`Invalid string: ${JSON.stringify(v)}`, { code: 'parameter_invalid_string', param: key });
  if (v.length > max) {
    throw invalid(`Invalid string: ${v.slice(0, 20)}...; must be at most ${max} characters`, { code: 'invalid_string_length', param: key });
  }
  return v;
}

export function int(params: Record<string, unknown>, key: string, required: boolean): number | undefined {
  const v = params[key];
  if (v === undefined) {
    if (required) throw invalid(`Missing required param: ${key}.`, { code: 'parameter_missing', param: key });
    return undefined;
  }
  if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw invalid(`Invalid integer: ${String(v)}`, { code: 'parameter_invalid_integer', param: key });
  return Number(v);
}

export function metadataOf(params: Record<string, unknown>): Record<string, string> | undefined {
  const md = params.metadata;
  if (md === undefined) return undefined;
  if (md === '') return {};
  if (typeof md !== 'object' || md === null || Array.isArray(md)) throw invalid('Invalid hash', { code: 'parameter_invalid_hash', param: 'metadata' });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md as Record<string, unknown>)) {
    if (typeof v !== 'string') throw invalid('Invalid hash', { param: `metadata[${k}]` });
    if (k.length > 40) throw invalid('Metadata keys can be at most 40 characters', { param: `metadata[${k}]` });
    if (v.length > 500) throw invalid('Metadata values can be at most 500 characters', { param: `metadata[${k}]` });
    out[k] = v;
  }
  return out;
}

/** Stripe's list object with limit / starting_after / ending_before. */
export function page<T extends { id: string }>(items: T[], params: Record<string, unknown>, url: string): unknown {
  const limit = int(params, 'limit', false) ?? 10;
  if (limit < 1 || limit > 100) throw invalid('Invalid limit: must be between 1 and 100', { param: 'limit' });
  const after = str(params, 'starting_after', false);
  const before = str(params, 'ending_before', false);
  let data: T[];
  let hasMore: boolean;
  if (after !== undefined) {
    const i = items.findIndex((x) => x.id === after);
    if (i < 0) throw invalid(`No such object: '${after}'`, { code: 'resource_missing', param: 'starting_after' });
    data = items.slice(i + 1, i + 1 + limit);
    hasMore = i + 1 + limit < items.length;
  } else if (before !== undefined) {
    const i = items.findIndex((x) => x.id === before);
    if (i < 0) throw invalid(`No such object: '${before}'`, { code: 'resource_missing', param: 'ending_before' });
    data = items.slice(Math.max(0, i - limit), i);
    hasMore = i - limit > 0;
  } else {
    data = items.slice(0, limit);
    hasMore = items.length > limit;
  }
  return { object: 'list', data, has_more: hasMore, url };
}

