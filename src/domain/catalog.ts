/**
 * Catalog versions (billing-rules.md, "The catalog"): list prices and plans from an instant on.
 * `parseCatalog` validates a document read from YAML or JSON and names every problem by its field
 * path; inside the program a CatalogVersion is trusted.
 */
import { createHash } from 'node:crypto';
import { Decimal, isKnownCurrency } from './money.js';
import { nameKey } from './names.js';
import { jsonWhole } from './quantity.js';
import { parseDate, parseRfc3339 } from './time.js';

export interface GpuRate {
  key: string;
  name: string;
  /** Price per GPU hour. */
  price: Decimal;
}

export interface TokenRate {
  key: string;
  name: string;
  /** Price per `tokenUnit` input tokens. */
  input: Decimal;
  /** Price per `tokenUnit` output tokens. */
  output: Decimal;
}

export interface Allowances {
  gpuHours: bigint;
  tokens: bigint;
  apiCalls: bigint;
}

export interface PlanTerms {
  id: string;
  name: string;
  monthlyFee: Decimal;
  included: Allowances;
  hardCap: boolean;
  usageDiscountPercent: Decimal;
}

export interface CatalogVersion {
  version: string;
  /** Instant (ms since epoch) from which this version is in effect. */
  effectiveFrom: number;
  currency: string;
  defaultPlan: string;
  gpuRates: ReadonlyMap<string, GpuRate>;
  tokenUnit: bigint;
  tokenRates: ReadonlyMap<string, TokenRate>;
  requestRate: Decimal;
  plans: ReadonlyMap<string, PlanTerms>;
}

export interface CatalogParseResult {
  catalog?: CatalogVersion;
  problems: string[];
  warnings: string[];
}

const TOP_FIELDS = new Set([
  'version', 'effective_from', 'currency', 'default_plan', 'gpu_rates', 'token_unit',
  'token_rates', 'request_rate', 'plans',
]);
const PLAN_FIELDS = new Set(['name', 'monthly_fee', 'included', 'hard_cap', 'usage_discount_percent']);
const INCLUDED_FIELDS = new Set(['gpu_hours', 'tokens', 'api_calls']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

class Reader {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];

  problem(path: string, text: string): undefined {
    this.problems.push(`${path}: ${text}`);
    return undefined;
  }

  /** A price: decimal text or a number read by its shortest decimal text; never negative. */
  decimal(v: unknown, path: string, required: boolean, fallback?: Decimal): Decimal | undefined {
    if (v === undefined || v === null || v === '') {
      if (required) return this.problem(path, 'missing');
      return fallback;
    }
    let d: Decimal | undefined;
    if (typeof v === 'number') d = Number.isFinite(v) ? Decimal.fromNumber(v) : undefined;
    else if (typeof v === 'string') d = Decimal.tryParse(v.trim());
    if (d === undefined) return this.problem(path, `${show(v)} is not a decimal number (write it like "4.00")`);
    if (d.sign() < 0) return this.problem(path, `${show(v)} is negative`);
    return d;
  }

  whole(v: unknown, path: string, fallback: bigint, min = 0n): bigint | undefined {
    if (v === undefined || v === null || v === '') return fallback;
    let n: bigint | undefined;
    if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
    else if (typeof v === 'string' && /^\d+$/.test(v.trim())) n = BigInt(v.trim());
    if (n === undefined) return this.problem(path, `${show(v)} is not a whole number`);
    if (n < min) return this.problem(path, `${show(v)} must be at least ${min}`);
    return n;
  }

  text(v: unknown, path: string, required: boolean): string | undefined {
    if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) {
      if (required) return this.problem(path, 'missing');
      return undefined;
    }
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string') return this.problem(path, `${show(v)} is not text`);
    return v.trim();
  }

  unknownFields(obj: Record<string, unknown>, known: Set<string>, path: string): void {
    for (const k of Object.keys(obj)) {
      if (!known.has(k)) this.warnings.push(`${path ? `${path}.` : ''}${k}: unknown field, ignored`);
    }
  }

  /** A map of named entries whose keys are keyed like names; two spellings of one key clash. */
  keyed(v: unknown, path: string): [string, string, Record<string, unknown>][] {
    if (v === undefined || v === null) return [];
    if (!isRecord(v)) {
      this.problem(path, 'must be a map of names to entries');
      return [];
    }
    const seen = new Map<string, string>();
    const out: [string, string, Record<string, unknown>][] = [];
    for (const [raw, entry] of Object.entries(v)) {
      const key = nameKey(raw);
      const p = `${path}.${key}`;
      if (key === '') {
        this.problem(`${path}.${JSON.stringify(raw)}`, 'an empty name');
        continue;
      }
      const clash = seen.get(key);
      if (clash !== undefined) {
        this.problem(p, `"${raw}" and "${clash}" are the same key`);
        continue;
      }
      seen.set(key, raw);
      if (!isRecord(entry)) {
        this.problem(p, 'must be a map of fields');
        continue;
      }
      out.push([key, raw, entry]);
    }
    return out;
  }
}

function parseEffectiveFrom(v: unknown, r: Reader): number | undefined {
  if (v === undefined || v === null || v === '') return r.problem('effective_from', 'missing');
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? r.problem('effective_from', 'not a date') : v.getTime();
  if (typeof v !== 'string') return r.problem('effective_from', `${show(v)} is not a timestamp`);
  const date = parseDate(v.trim());
  if (date !== undefined) return date;
  const t = parseRfc3339(v.trim());
  if (!t.ok) return r.problem('effective_from', `${t.reason} (write it like 2026-01-01T00:00:00Z)`);
  return t.ms;
}

/** Validates a catalog document; `problems` is empty exactly when `catalog` is set. */
export function parseCatalog(doc: unknown): CatalogParseResult {
  const r = new Reader();
  if (!isRecord(doc)) {
    r.problem('(top)', 'a catalog must be a map with version, effective_from, currency, plans, ...');
    return { problems: r.problems, warnings: r.warnings };
  }
  r.unknownFields(doc, TOP_FIELDS, '');
  const version = r.text(doc.version, 'version', true);
  const effectiveFrom = parseEffectiveFrom(doc.effective_from, r);
  const currencyText = r.text(doc.currency, 'currency', true);
  let currency: string | undefined;
  if (currencyText !== undefined) {
    const c = currencyText.toUpperCase();
    if (!isKnownCurrency(c)) r.problem('currency', `"${currencyText}" is not an ISO 4217 currency code (like USD)`);
    else currency = c;
  }
  const tokenUnit = r.whole(doc.token_unit, 'token_unit', 1000n, 1n);
  const requestRate = r.decimal(doc.request_rate, 'request_rate', false, Decimal.ZERO);

  const gpuRates = new Map<string, GpuRate>();
  for (const [key, raw, e] of r.keyed(doc.gpu_rates, 'gpu_rates')) {
    const price = r.decimal(e.price, `gpu_rates.${key}.price`, true);
    const name = r.text(e.name, `gpu_rates.${key}.name`, false) ?? raw.trim();
    if (price) gpuRates.set(key, { key, name, price });
  }

  const tokenRates = new Map<string, TokenRate>();
  for (const [key, raw, e] of r.keyed(doc.token_rates, 'token_rates')) {
    const input = r.decimal(e.input, `token_rates.${key}.input`, true);
    const output = r.decimal(e.output, `token_rates.${key}.output`, true);
    const name = r.text(e.name, `token_rates.${key}.name`, false) ?? raw.trim();
    if (input && output) tokenRates.set(key, { key, name, input, output });
  }

  const plans = new Map<string, PlanTerms>();
  const planEntries = r.keyed(doc.plans, 'plans');
  if (doc.plans === undefined || doc.plans === null) r.problem('plans', 'missing (a catalog needs at least one plan)');
  else if (isRecord(doc.plans) && Object.keys(doc.plans).length === 0) r.problem('plans', 'a catalog needs at least one plan');
  for (const [id, raw, e] of planEntries) {
    const p = `plans.${id}`;
    r.unknownFields(e, PLAN_FIELDS, p);
    const monthlyFee = r.decimal(e.monthly_fee, `${p}.monthly_fee`, false);
    if (e.monthly_fee === undefined || e.monthly_fee === null || e.monthly_fee === '') {
      r.problem(`${p}.monthly_fee`, 'missing: every plan needs a fee (write "0" for a free plan)');
    }
    const inc = e.included;
    let included: Allowances | undefined = { gpuHours: 0n, tokens: 0n, apiCalls: 0n };
    if (inc !== undefined && inc !== null) {
      if (!isRecord(inc)) {
        r.problem(`${p}.included`, 'must be a map (gpu_hours, tokens, api_calls)');
        included = undefined;
      } else {
        r.unknownFields(inc, INCLUDED_FIELDS, `${p}.included`);
        const gpuHours = r.whole(inc.gpu_hours, `${p}.included.gpu_hours`, 0n);
        const tokens = r.whole(inc.tokens, `${p}.included.tokens`, 0n);
        const apiCalls = r.whole(inc.api_calls, `${p}.included.api_calls`, 0n);
        included = gpuHours !== undefined && tokens !== undefined && apiCalls !== undefined
          ? { gpuHours, tokens, apiCalls }
          : undefined;
      }
    }
    let hardCap = false;
    if (e.hard_cap !== undefined && e.hard_cap !== null) {
      if (typeof e.hard_cap !== 'boolean') r.problem(`${p}.hard_cap`, `${show(e.hard_cap)} is not true or false`);
      else hardCap = e.hard_cap;
    }
    const discount = r.decimal(e.usage_discount_percent, `${p}.usage_discount_percent`, false, Decimal.ZERO);
    if (discount && discount.cmp(Decimal.of(100n)) > 0) {
      r.problem(`${p}.usage_discount_percent`, `${discount} is more than 100`);
    }
    const name = r.text(e.name, `${p}.name`, false) ?? raw.trim();
    if (monthlyFee && included && discount) {
      plans.set(id, { id, name, monthlyFee, included, hardCap, usageDiscountPercent: discount });
    }
  }

  const defaultPlanText = r.text(doc.default_plan, 'default_plan', true);
  let defaultPlan: string | undefined;
  if (defaultPlanText !== undefined) {
    defaultPlan = nameKey(defaultPlanText);
    if (planEntries.length > 0 && !planEntries.some(([id]) => id === defaultPlan)) {
      r.problem(
        'default_plan',
        `"${defaultPlanText}" is not a plan of this catalog (plans: ${planEntries.map(([id]) => id).join(', ')})`,
      );
    }
  }

  if (
    r.problems.length > 0 || version === undefined || effectiveFrom === undefined || currency === undefined ||
    tokenUnit === undefined || requestRate === undefined || defaultPlan === undefined
  ) {
    return { problems: r.problems, warnings: r.warnings };
  }
  return {
    catalog: { version, effectiveFrom, currency, defaultPlan, gpuRates, tokenUnit, tokenRates, requestRate, plans },
    problems: [],
    warnings: r.warnings,
  };
}

/** The catalog as a canonical document (sorted keys, decimals as text): stored, shown and hashed. */
export function catalogToDocument(c: CatalogVersion): Record<string, unknown> {
  const sorted = <T>(m: ReadonlyMap<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    version: c.version,
    effective_from: new Date(c.effectiveFrom).toISOString(),
    currency: c.currency,
    default_plan: c.defaultPlan,
    gpu_rates: Object.fromEntries(sorted(c.gpuRates).map(([k, v]) => [k, { name: v.name, price: v.price.toString() }])),
    token_unit: jsonWhole(c.tokenUnit),
    token_rates: Object.fromEntries(
      sorted(c.tokenRates).map(([k, v]) => [k, { name: v.name, input: v.input.toString(), output: v.output.toString() }]),
    ),
    request_rate: c.requestRate.toString(),
    plans: Object.fromEntries(
      sorted(c.plans).map(([k, p]) => [
        k,
        {
          name: p.name,
          monthly_fee: p.monthlyFee.toString(),
          included: {
            gpu_hours: jsonWhole(p.included.gpuHours),
            tokens: jsonWhole(p.included.tokens),
            api_calls: jsonWhole(p.included.apiCalls),
          },
          hard_cap: p.hardCap,
          usage_discount_percent: p.usageDiscountPercent.toString(),
        },
      ]),
    ),
  };
}

export function catalogDigest(c: CatalogVersion): string {
  return createHash('sha256').update(JSON.stringify(catalogToDocument(c))).digest('hex');
}

/** Reads back a stored canonical document (trusted: it was validated on import). */
export function catalogFromDocument(body: string): CatalogVersion {
  const result = parseCatalog(JSON.parse(body));
  if (!result.catalog) throw new Error(`stored catalog is invalid: ${result.problems.join('; ')}`);
  return result.catalog;
}

/** Index of the version in effect at `t` (greatest effectiveFrom <= t) in sorted `versions`, or -1. */
export function versionIndexAt(versions: readonly { effectiveFrom: number }[], t: number): number {
  let lo = 0;
  let hi = versions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (versions[mid]!.effectiveFrom <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * The version in effect at instant `t`: the one with the greatest effective_from <= t, or
 * undefined when `t` precedes every version. `versions` must be sorted by effectiveFrom.
 */
export function versionAt<V extends { effectiveFrom: number }>(versions: readonly V[], t: number): V | undefined {
  const i = versionIndexAt(versions, t);
  return i < 0 ? undefined : versions[i];
}
