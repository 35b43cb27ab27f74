/**
 * Catalog versions (billing-rules.md, "The catalog"): list prices and plans from an instant on.
 * `parseCatalog` validates a document read from YAML or JSON and names every problem by its field
 * path; inside the program a CatalogVersion is trusted. A stored version's GPU and token rates may
 * be many (a catalog of a million models): they are read from the store as they are needed, into
 * RateTables (see `RateTable`), while its terms (plans, currency, units) are read whole.
 */
import { createHash } from 'node:crypto';
import { Decimal, isKnownCurrency, readCatalogDecimal, readCatalogWhole, WHOLE_MAX } from './money.js';
import { nameKey } from './names.js';
import {
  type CatalogPrice, catalogPriceDocument, catalogPriceFromStored, GPU_PRICE_UNIT, parseCatalogPrice, type PriceUnit,
  REQUEST_PRICE_UNIT, tokenPriceUnit,
} from './price-models/index.js';
import { TOKEN_CLASSES, type TokenField, type TokenPriceName } from './quantities.js';
import { parseDate, parseRfc3339 } from './time.js';

export interface GpuRate {
  key: string;
  name: string;
  /** Price per GPU hour: a decimal, or a price model with bounds in GPU hours (billing-rules.md, "Price models"). */
  price: CatalogPrice;
}

export interface TokenRate {
  key: string;
  name: string;
  /** Price per `tokenUnit` input tokens (or a price model with bounds in tokens). */
  input: CatalogPrice;
  /** Price per `tokenUnit` output tokens (or a price model with bounds in tokens). */
  output: CatalogPrice;
  /** Prices of the other token classes (billing-rules.md, "Token classes"), when the entry names them. */
  cachedInput?: CatalogPrice;
  cacheWrite?: CatalogPrice;
  reasoning?: CatalogPrice;
}

/** The TokenRate (and PlanTokenRate) property of each token class price of the field table. */
export const TOKEN_PRICE_PROPS: Readonly<Record<TokenPriceName, 'input' | 'output' | 'cachedInput' | 'cacheWrite' | 'reasoning'>> = {
  input: 'input', cached_input: 'cachedInput', cache_write: 'cacheWrite', output: 'output', reasoning: 'reasoning',
};

/** The token class prices a `token_rates` entry may leave out (every one but input and output). */
export const OPTIONAL_TOKEN_PRICES: readonly TokenPriceName[] = TOKEN_CLASSES.map((c) => c.price.name).filter(
  (n) => n !== 'input' && n !== 'output',
);

export interface Allowances {
  gpuHours: bigint;
  tokens: bigint;
  apiCalls: bigint;
}

/** A price a plan gives a GPU instead of the list price (billing-rules.md, "Plan rates"). */
export interface PlanGpuRate {
  key: string;
  /** Its display name, when the plan gives one (else the list's, else the key). */
  name?: string;
  price: CatalogPrice;
}

/** Class prices a plan gives a model instead of the list prices; a class it does not name is the list price. */
export interface PlanTokenRate {
  key: string;
  name?: string;
  input?: CatalogPrice;
  output?: CatalogPrice;
  cachedInput?: CatalogPrice;
  cacheWrite?: CatalogPrice;
  reasoning?: CatalogPrice;
}

/** `plans.<p>.rates`: prices in the catalog's own form that replace list prices for the plan's tenants. */
export interface PlanRates {
  gpuRates: ReadonlyMap<string, PlanGpuRate>;
  tokenRates: ReadonlyMap<string, PlanTokenRate>;
  requestRate?: CatalogPrice;
}

export interface PlanTerms {
  id: string;
  name: string;
  monthlyFee: Decimal;
  included: Allowances;
  hardCap: boolean;
  usageDiscountPercent: Decimal;
  /** The plan's own prices, when it has any. */
  rates?: PlanRates;
  /** `minimum_commitment`: the least the period's fee + usage − discount comes to (a true-up line makes up the rest); 0: none. */
  minimumCommitment?: Decimal;
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
  /** Price per billable receipt (or a price model with bounds in requests). */
  requestRate: CatalogPrice;
  plans: ReadonlyMap<string, PlanTerms>;
  /**
   * Event type keys whose receipts are no API call (receipts.md, "Billable or not"): they take no
   * API call allowance and make no request line. Absent: none.
   */
  nonRequestEventTypes?: ReadonlySet<string>;
}

export interface CatalogParseResult {
  catalog?: CatalogVersion;
  problems: string[];
  warnings: string[];
}

export { PRICE_FRACTION_DIGITS, PRICE_INTEGER_DIGITS, WHOLE_MAX } from './money.js';
/** Labels (version, names, keys) are text of at most this many characters. */
export const LABEL_MAX = 200;

const TOP_FIELDS = new Set([
  'version', 'effective_from', 'currency', 'default_plan', 'gpu_rates', 'token_unit',
  'token_rates', 'request_rate', 'plans', 'non_request_event_types',
]);
const PLAN_FIELDS = new Set(['name', 'monthly_fee', 'included', 'hard_cap', 'usage_discount_percent', 'rates', 'minimum_commitment']);
const PLAN_RATE_FIELDS = new Set(['gpu_rates', 'token_rates', 'request_rate']);
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

  constructor(private readonly numberText: (path: string) => string | undefined) {}

  problem(path: string, text: string): undefined {
    this.problems.push(`${path}: ${text}`);
    return undefined;
  }

  /**
   * A price: decimal text or a number read by its shortest decimal text; never negative, below
   * 10^15, at most 12 digits after the point (trailing zeros aside).
   */
  decimal(v: unknown, path: string, required: boolean, fallback?: Decimal): Decimal | undefined {
    if (v === undefined || v === null || v === '') {
      if (required) return this.problem(path, 'missing');
      return fallback;
    }
    const d = readCatalogDecimal(v);
    return 'problem' in d ? this.problem(path, d.problem) : d.value;
  }

  /** A catalog price (billing-rules.md, "Price models"): a decimal or a price model, every problem by its path. */
  price(v: unknown, path: string, unit: PriceUnit, required: boolean, fallback?: CatalogPrice): CatalogPrice | undefined {
    if (v === undefined || v === null || v === '') {
      if (required) return this.problem(path, 'missing');
      return fallback;
    }
    const r = parseCatalogPrice(v, path, unit);
    this.problems.push(...r.problems);
    return r.price;
  }

  whole(v: unknown, path: string, fallback: bigint, min = 0n): bigint | undefined {
    if (v === undefined || v === null || v === '') return fallback;
    const n = readCatalogWhole(v, min);
    return 'problem' in n ? this.problem(path, n.problem) : n.value;
  }

  /**
   * A label (version, currency, name, plan): text. A number is refused, since YAML and JSON have
   * already changed it (an unquoted 2026.10 reads as 2026.1): it must be quoted as written.
   */
  text(v: unknown, path: string, required: boolean): string | undefined {
    if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) {
      if (required) return this.problem(path, 'missing');
      return undefined;
    }
    if (typeof v === 'number') {
      const written = this.numberText(path) ?? String(v);
      const reads = written === String(v) ? '' : ` (it reads as ${v})`;
      return this.problem(path, `${written} is a number, not text${reads}: put it in quotes, as in "${written}"`);
    }
    if (typeof v !== 'string') return this.problem(path, `${show(v)} is not text`);
    const t = v.trim();
    if ([...t].length > LABEL_MAX) return this.problem(path, `longer than ${LABEL_MAX} characters`);
    return t;
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
      if ([...key].length > LABEL_MAX) {
        this.problem(`${path}.${JSON.stringify(raw.slice(0, 40))}...`, `a name longer than ${LABEL_MAX} characters`);
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
/**
 * `numberText` gives, where the source has it, how a number was written at a field path (YAML
 * reads an unquoted 2026.10 as 2026.1), so a problem can quote it as written.
 */
export function parseCatalog(doc: unknown, numberText: (path: string) => string | undefined = () => undefined): CatalogParseResult {
  const r = new Reader(numberText);
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
  const requestRate = r.price(doc.request_rate, 'request_rate', REQUEST_PRICE_UNIT, false, Decimal.ZERO);
  const tokenPrice = tokenPriceUnit(tokenUnit ?? 1000n);
  const nonRequest = new Set<string>();
  if (doc.non_request_event_types !== undefined && doc.non_request_event_types !== null) {
    if (!Array.isArray(doc.non_request_event_types)) r.problem('non_request_event_types', 'must be a list of event types (like [storage])');
    else {
      doc.non_request_event_types.forEach((t: unknown, i: number) => {
        const k = typeof t === 'string' ? nameKey(t) : '';
        if (k === '') r.problem(`non_request_event_types[${i}]`, 'must be an event type name (text)');
        else nonRequest.add(k);
      });
    }
  }

  const gpuRates = new Map<string, GpuRate>();
  for (const [key, raw, e] of r.keyed(doc.gpu_rates, 'gpu_rates')) {
    const price = r.price(e.price, `gpu_rates.${key}.price`, GPU_PRICE_UNIT, true);
    const name = r.text(e.name, `gpu_rates.${key}.name`, false) ?? raw.trim();
    if (price) gpuRates.set(key, { key, name, price });
  }

  const tokenRates = new Map<string, TokenRate>();
  for (const [key, raw, e] of r.keyed(doc.token_rates, 'token_rates')) {
    const input = r.price(e.input, `token_rates.${key}.input`, tokenPrice, true);
    const output = r.price(e.output, `token_rates.${key}.output`, tokenPrice, true);
    const name = r.text(e.name, `token_rates.${key}.name`, false) ?? raw.trim();
    const rate: TokenRate | undefined = input && output ? { key, name, input, output } : undefined;
    for (const price of OPTIONAL_TOKEN_PRICES) {
      const d = r.price(e[price], `token_rates.${key}.${price}`, tokenPrice, false);
      if (rate && d) rate[TOKEN_PRICE_PROPS[price]] = d;
    }
    if (rate) tokenRates.set(key, rate);
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
    const rates = e.rates === undefined || e.rates === null ? undefined : planRates(r, e.rates, `${p}.rates`, tokenPrice, tokenRates);
    const minimumCommitment = r.decimal(e.minimum_commitment, `${p}.minimum_commitment`, false, Decimal.ZERO);
    if (monthlyFee && included && discount && rates !== null && minimumCommitment) {
      plans.set(id, {
        id, name, monthlyFee, included, hardCap, usageDiscountPercent: discount, ...(rates ? { rates } : {}),
        ...(minimumCommitment.isZero() ? {} : { minimumCommitment }),
      });
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
    catalog: {
      version, effectiveFrom, currency, defaultPlan, gpuRates, tokenUnit, tokenRates, requestRate, plans,
      ...(nonRequest.size > 0 ? { nonRequestEventTypes: nonRequest } : {}),
    },
    problems: [],
    warnings: r.warnings,
  };
}

/**
 * Reads `plans.<p>.rates` (billing-rules.md, "Plan rates"); null when it has problems (named by
 * path). A model only the plan names must price input and output, as a list entry does.
 */
function planRates(
  r: Reader, v: unknown, path: string, tokenUnit: PriceUnit, list: ReadonlyMap<string, TokenRate> | 'trusted',
): PlanRates | null {
  if (!isRecord(v)) {
    r.problem(path, 'must be a map (gpu_rates, token_rates, request_rate)');
    return null;
  }
  const before = r.problems.length;
  r.unknownFields(v, PLAN_RATE_FIELDS, path);
  const gpuRates = new Map<string, PlanGpuRate>();
  for (const [key, , e] of r.keyed(v.gpu_rates, `${path}.gpu_rates`)) {
    const price = r.price(e.price, `${path}.gpu_rates.${key}.price`, GPU_PRICE_UNIT, true);
    const name = r.text(e.name, `${path}.gpu_rates.${key}.name`, false);
    if (price !== undefined) gpuRates.set(key, { key, price, ...(name !== undefined ? { name } : {}) });
  }
  const tokenRates = new Map<string, PlanTokenRate>();
  for (const [key, , e] of r.keyed(v.token_rates, `${path}.token_rates`)) {
    const at = `${path}.token_rates.${key}`;
    const listed = list === 'trusted' || list.has(key);
    const input = r.price(e.input, `${at}.input`, tokenUnit, !listed);
    const output = r.price(e.output, `${at}.output`, tokenUnit, !listed);
    const name = r.text(e.name, `${at}.name`, false);
    if (listed && list !== 'trusted' && [...TOKEN_CLASSES.map((c) => c.price.name)].every((p) => (e[p] ?? '') === '')) {
      r.problem(at, 'names no price (input or output)');
    }
    const rate: PlanTokenRate = { key, ...(name !== undefined ? { name } : {}), ...(input ? { input } : {}), ...(output ? { output } : {}) };
    for (const price of OPTIONAL_TOKEN_PRICES) {
      const d = r.price(e[price], `${at}.${price}`, tokenUnit, false);
      if (d) rate[TOKEN_PRICE_PROPS[price]] = d;
    }
    tokenRates.set(key, rate);
  }
  const requestRate = r.price(v.request_rate, `${path}.request_rate`, REQUEST_PRICE_UNIT, false);
  if (r.problems.length > before) return null;
  return { gpuRates, tokenRates, ...(requestRate !== undefined ? { requestRate } : {}) };
}

/** `plans.<p>.rates` as a document, in the catalog's form: only the fields the plan gives. */
function planRatesDocument(rates: PlanRates, tokenUnit: bigint): Record<string, unknown> {
  const tokens = tokenPriceUnit(tokenUnit);
  return {
    gpu_rates: Object.fromEntries(byKey(rates.gpuRates).map(([k, g]) => [k, {
      ...(g.name !== undefined ? { name: g.name } : {}), price: catalogPriceDocument(g.price, GPU_PRICE_UNIT),
    }])),
    token_rates: Object.fromEntries(byKey(rates.tokenRates).map(([k, t]) => [k, {
      ...(t.name !== undefined ? { name: t.name } : {}),
      ...(t.input !== undefined ? { input: catalogPriceDocument(t.input, tokens) } : {}),
      ...(t.output !== undefined ? { output: catalogPriceDocument(t.output, tokens) } : {}),
      ...Object.fromEntries(OPTIONAL_TOKEN_PRICES.flatMap((p) => {
        const price = t[TOKEN_PRICE_PROPS[p]];
        return price === undefined ? [] : [[p, catalogPriceDocument(price, tokens)]];
      })),
    }])),
    ...(rates.requestRate !== undefined ? { request_rate: catalogPriceDocument(rates.requestRate, REQUEST_PRICE_UNIT) } : {}),
  };
}

const byKey = <T>(m: ReadonlyMap<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * A whole number of a catalog document: a JSON number (catalogs hold at most 2^53 − 1; a version
 * stored before that limit may hold more, kept exact as its digits).
 */
function documentWhole(n: bigint): number | string {
  return n <= WHOLE_MAX ? Number(n) : n.toString();
}

export function gpuRateDocument(v: GpuRate): Record<string, unknown> {
  return { name: v.name, price: catalogPriceDocument(v.price, GPU_PRICE_UNIT) };
}

export function tokenRateDocument(v: TokenRate, tokenUnit: bigint): Record<string, unknown> {
  const unit = tokenPriceUnit(tokenUnit);
  const doc: Record<string, unknown> = { name: v.name, input: catalogPriceDocument(v.input, unit), output: catalogPriceDocument(v.output, unit) };
  // Only the class prices the entry names: the document (and digest) of a catalog without them stays as it was.
  for (const price of OPTIONAL_TOKEN_PRICES) {
    const p = v[TOKEN_PRICE_PROPS[price]];
    if (p !== undefined) doc[price] = catalogPriceDocument(p, unit);
  }
  return doc;
}

/** The catalog's terms as a canonical document: everything but its GPU and token rates. */
export function catalogTermsDocument(c: CatalogVersion): Record<string, unknown> {
  return {
    version: c.version,
    effective_from: new Date(c.effectiveFrom).toISOString(),
    currency: c.currency,
    default_plan: c.defaultPlan,
    token_unit: documentWhole(c.tokenUnit),
    request_rate: catalogPriceDocument(c.requestRate, REQUEST_PRICE_UNIT),
    plans: Object.fromEntries(
      byKey(c.plans).map(([k, p]) => [
        k,
        {
          name: p.name,
          monthly_fee: p.monthlyFee.toString(),
          included: {
            gpu_hours: documentWhole(p.included.gpuHours),
            tokens: documentWhole(p.included.tokens),
            api_calls: documentWhole(p.included.apiCalls),
          },
          hard_cap: p.hardCap,
          usage_discount_percent: p.usageDiscountPercent.toString(),
          ...(p.rates ? { rates: planRatesDocument(p.rates, c.tokenUnit) } : {}),
          ...(p.minimumCommitment === undefined || p.minimumCommitment.isZero() ? {} : { minimum_commitment: p.minimumCommitment.toString() }),
        },
      ]),
    ),
    // Only when there are any, so documents and digests of catalogs without them never change.
    ...(c.nonRequestEventTypes !== undefined && c.nonRequestEventTypes.size > 0
      ? { non_request_event_types: [...c.nonRequestEventTypes].sort() }
      : {}),
  };
}

/** The catalog as a canonical document (sorted keys, decimals as text): stored, shown and hashed. Its rates must all be loaded. */
export function catalogToDocument(c: CatalogVersion): Record<string, unknown> {
  const { version, effective_from, currency, default_plan, token_unit, request_rate, plans, non_request_event_types } = catalogTermsDocument(c);
  return {
    version, effective_from, currency, default_plan,
    gpu_rates: Object.fromEntries(byKey(c.gpuRates).map(([k, v]) => [k, gpuRateDocument(v)])),
    token_unit,
    token_rates: Object.fromEntries(byKey(c.tokenRates).map(([k, v]) => [k, tokenRateDocument(v, c.tokenUnit)])),
    request_rate, plans,
    ...(non_request_event_types !== undefined ? { non_request_event_types } : {}),
  };
}

/**
 * SHA-256 of the canonical document's JSON text (JSON.stringify(catalogToDocument(c))), hashed a
 * piece at a time: a catalog of a million rates is never one string.
 */
export function catalogDigest(c: CatalogVersion): string {
  const h = createHash('sha256');
  const { version, effective_from, currency, default_plan, token_unit, request_rate, plans, non_request_event_types } = catalogTermsDocument(c);
  const rates = <R>(name: string, m: ReadonlyMap<string, R>, doc: (r: R) => Record<string, unknown>) => {
    h.update(`,${JSON.stringify(name)}:{`);
    byKey(m).forEach(([k, r], i) => h.update(`${i === 0 ? '' : ','}${JSON.stringify(k)}:${JSON.stringify(doc(r))}`));
    h.update('}');
  };
  h.update(JSON.stringify({ version, effective_from, currency, default_plan }).slice(0, -1));
  rates('gpu_rates', c.gpuRates, gpuRateDocument);
  h.update(`,"token_unit":${JSON.stringify(token_unit)}`);
  rates('token_rates', c.tokenRates, (t) => tokenRateDocument(t, c.tokenUnit));
  h.update(`,"request_rate":${JSON.stringify(request_rate)},"plans":${JSON.stringify(plans)}`);
  if (non_request_event_types !== undefined) h.update(`,"non_request_event_types":${JSON.stringify(non_request_event_types)}`);
  h.update('}');
  return h.digest('hex');
}

/**
 * A version's rates of one kind as far as they are loaded from the store. A key asked for and
 * not in the catalog is remembered as absent; a key never asked for is a bug (the caller must
 * load the keys it will look up first: see app/catalogs.ts `loadRates`), never "no price".
 */
export class RateTable<R> implements ReadonlyMap<string, R> {
  private readonly known = new Map<string, R | null>();
  private count = 0;

  constructor(
    private readonly what: string,
    /** True once every rate is loaded. */
    public complete = false,
  ) {}

  /** The keys of `keys` not loaded yet. */
  missing(keys: Iterable<string>): string[] {
    if (this.complete) return [];
    const out = new Set<string>();
    for (const k of keys) if (!this.known.has(k)) out.add(k);
    return [...out];
  }

  /** Records what the store holds for `asked` (those not in `found` are absent); with `all`, the table is complete. */
  fill(found: ReadonlyMap<string, R>, asked: Iterable<string> | 'all'): void {
    for (const [k, r] of found) {
      if (!this.known.get(k)) this.count++;
      this.known.set(k, r);
    }
    if (asked === 'all') this.complete = true;
    else for (const k of asked) if (!this.known.has(k)) this.known.set(k, null);
  }

  get(key: string): R | undefined {
    const r = this.known.get(key);
    if (r !== undefined) return r ?? undefined;
    if (this.complete) return undefined;
    throw new Error(`${this.what}: the rate of "${key}" was not loaded from the store`);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Rates loaded so far (all of them once complete). */
  get loaded(): number {
    return this.count;
  }

  private all(): Map<string, R> {
    if (!this.complete) throw new Error(`${this.what}: not every rate was loaded from the store`);
    const out = new Map<string, R>();
    for (const [k, r] of this.known) if (r !== null) out.set(k, r);
    return out;
  }

  get size(): number {
    return this.all().size;
  }

  entries(): MapIterator<[string, R]> {
    return this.all().entries();
  }

  keys(): MapIterator<string> {
    return this.all().keys();
  }

  values(): MapIterator<R> {
    return this.all().values();
  }

  forEach(fn: (value: R, key: string, map: ReadonlyMap<string, R>) => void): void {
    for (const [k, r] of this.all()) fn(r, k, this);
  }

  [Symbol.iterator](): MapIterator<[string, R]> {
    return this.entries();
  }
}

/** A GPU rate as the store keeps it (trusted: validated on import). */
export function gpuRateFromStore(key: string, name: string, price: string): GpuRate {
  return { key, name, price: catalogPriceFromStored(price, GPU_PRICE_UNIT) };
}

/** A token rate as the store keeps it; `tokenUnit` is its version's (tiered prices hold it). */
export function tokenRateFromStore(
  key: string, name: string, input: string, output: string, tokenUnit = 1000n,
  optional: Partial<Record<TokenPriceName, string | null>> = {},
): TokenRate {
  const unit = tokenPriceUnit(tokenUnit);
  const rate: TokenRate = { key, name, input: catalogPriceFromStored(input, unit), output: catalogPriceFromStored(output, unit) };
  for (const price of OPTIONAL_TOKEN_PRICES) {
    const t = optional[price];
    if (t !== undefined && t !== null) rate[TOKEN_PRICE_PROPS[price]] = catalogPriceFromStored(t, unit);
  }
  return rate;
}

/**
 * A stored version from its terms document (trusted: validated on import), with rate tables the
 * store fills as rates are needed.
 */
export function catalogFromStoredTerms(terms: string): CatalogVersion {
  const d = JSON.parse(terms) as {
    version: string; effective_from: string; currency: string; default_plan: string; token_unit: number | string; request_rate: unknown;
    plans: Record<string, {
      name: string; monthly_fee: string; hard_cap: boolean; usage_discount_percent: string;
      included: { gpu_hours: number | string; tokens: number | string; api_calls: number | string };
      rates?: unknown;
      minimum_commitment?: string;
    }>;
    non_request_event_types?: string[];
  };
  const tokenUnit = BigInt(d.token_unit);
  const plans = new Map<string, PlanTerms>();
  for (const [id, p] of Object.entries(d.plans)) {
    plans.set(id, {
      id, name: p.name, monthlyFee: Decimal.parse(p.monthly_fee), hardCap: p.hard_cap, usageDiscountPercent: Decimal.parse(p.usage_discount_percent),
      included: { gpuHours: BigInt(p.included.gpu_hours), tokens: BigInt(p.included.tokens), apiCalls: BigInt(p.included.api_calls) },
      ...(p.rates !== undefined ? { rates: storedPlanRates(p.rates, `plans.${id}.rates`, tokenUnit) } : {}),
      ...(p.minimum_commitment === undefined ? {} : { minimumCommitment: Decimal.parse(p.minimum_commitment) }),
    });
  }
  return {
    version: d.version,
    effectiveFrom: Date.parse(d.effective_from),
    currency: d.currency,
    defaultPlan: d.default_plan,
    gpuRates: new RateTable<GpuRate>(`catalog ${d.version} GPU rates`),
    tokenUnit: BigInt(d.token_unit),
    tokenRates: new RateTable<TokenRate>(`catalog ${d.version} token rates`),
    requestRate: catalogPriceFromStored(d.request_rate, REQUEST_PRICE_UNIT),
    plans,
    ...(d.non_request_event_types !== undefined ? { nonRequestEventTypes: new Set(d.non_request_event_types) } : {}),
  };
}

/** Stored plan rates back (trusted: validated on import); a model only the plan prices is checked as on import. */
function storedPlanRates(v: unknown, path: string, tokenUnit: bigint): PlanRates {
  const r = new Reader(() => undefined);
  const rates = planRates(r, v, path, tokenPriceUnit(tokenUnit), 'trusted');
  if (rates === null) throw new Error(`stored plan rates do not read back: ${r.problems.join('; ')}`);
  return rates;
}

// ---------------------------------------------------------------------------------------------
// Prices a plan gives (billing-rules.md, "Plan rates"): the plan's price for a class, else the list price.

function planRatesOf(v: CatalogVersion, planId: string | undefined): PlanRates | undefined {
  return planId === undefined ? undefined : v.plans.get(planId)?.rates;
}

/** The price of a GPU hour for the plan's tenants in this version; undefined: no price. */
export function gpuPriceFor(v: CatalogVersion, key: string, planId?: string): CatalogPrice | undefined {
  return planRatesOf(v, planId)?.gpuRates.get(key)?.price ?? v.gpuRates.get(key)?.price;
}

/** The price of `token_unit` tokens of a class for the plan's tenants; undefined: the model has no price. */
export function tokenPriceFor(v: CatalogVersion, key: string, cls: TokenPriceName, planId?: string): CatalogPrice | undefined {
  const prop = TOKEN_PRICE_PROPS[cls];
  return planRatesOf(v, planId)?.tokenRates.get(key)?.[prop] ?? v.tokenRates.get(key)?.[prop];
}

/**
 * A token class's price for the plan's tenants: its own (the plan's, else the list's), else the
 * price it defaults to resolved the same way (reasoning: output), else undefined (cached input and
 * cache write have no default: unpriced, never 0).
 */
export function tokenClassPrice(v: CatalogVersion, key: string, cls: TokenField, planId?: string): CatalogPrice | undefined {
  const own = tokenPriceFor(v, key, cls.price.name, planId);
  if (own !== undefined) return own;
  return cls.price.defaultsTo === null ? undefined : tokenPriceFor(v, key, cls.price.defaultsTo, planId);
}

/** The price of a billable receipt for the plan's tenants. */
export function requestPriceFor(v: CatalogVersion, planId?: string): CatalogPrice {
  return planRatesOf(v, planId)?.requestRate ?? v.requestRate;
}

/** The display name of a GPU or model: the list's, else the plan's, else undefined. */
export function rateNameFor(v: CatalogVersion, kind: 'gpu' | 'model', key: string, planId?: string): string | undefined {
  const listed = kind === 'gpu' ? v.gpuRates.get(key) : v.tokenRates.get(key);
  if (listed !== undefined) return listed.name;
  const plan = planRatesOf(v, planId);
  const own = kind === 'gpu' ? plan?.gpuRates.get(key) : plan?.tokenRates.get(key);
  return own === undefined ? undefined : own.name ?? key;
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

/**
 * The currency a tenant without one of its own is billed in (billing-rules.md, "Currencies"): that
 * of the version with the greatest effective_from of all, the first imported of equals. `versions`
 * are sorted by effectiveFrom, equals in import order. Undefined without any version.
 */
export function defaultCurrency(versions: readonly { effectiveFrom: number; currency: string }[]): string | undefined {
  const last = versions[versions.length - 1];
  if (last === undefined) return undefined;
  return versions.find((v) => v.effectiveFrom === last.effectiveFrom)!.currency;
}

/**
 * The chain of versions in one currency: the versions a tenant billed in it is rated with (the
 * version in effect at t for the tenant is the one with the greatest effective_from <= t among them).
 */
export function currencyChain<V extends { currency: string }>(versions: readonly V[], currency: string): V[] {
  return versions.every((v) => v.currency === currency) ? [...versions] : versions.filter((v) => v.currency === currency);
}

/** The tenant's currency: its own, else the default of all versions (undefined: no catalog yet). */
export function tenantCurrency(tenant: { currency: string | null }, versions: readonly { effectiveFrom: number; currency: string }[]): string | undefined {
  return tenant.currency ?? defaultCurrency(versions);
}
