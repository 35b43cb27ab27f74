/**
 * The field table (architecture.md, habit 13): every quantity a receipt carries, declared once.
 * The normaliser reads a quantity from its source fields; the store keeps it in its column and
 * sums it in the rollup column of the same name; rating consumes its allowance pool in table
 * order and bills it on lines of its kind; usage, exports and Stripe meters list it. Everything
 * that handles quantities loops over QUANTITIES (or the lists derived from it below) instead of
 * naming slots: adding a quantity is one row here and one migration (its two columns).
 *
 * The order of the rows is meaningful: it is the order of the quantities in rows, wire parcels,
 * rollup sums and reports, and, within the token pool, the order in which a receipt's classes
 * take allowance (billing-rules.md step 2: input, cached, cache write, output, reasoning).
 */

/** The canonical names (receipts.md, "The canonical receipt"), which are also the store's columns. */
export type QuantityName =
  | 'gpu_seconds'
  | 'input_tokens'
  | 'cached_input_tokens'
  | 'cache_write_tokens'
  | 'output_tokens'
  | 'reasoning_tokens'
  | 'quantity';

/** The property of a Receipt (and of day sums) that holds the quantity. */
export type QuantityProp =
  | 'gpuSeconds'
  | 'inputTokens'
  | 'cachedInputTokens'
  | 'cacheWriteTokens'
  | 'outputTokens'
  | 'reasoningTokens'
  | 'quantity';

/** The Receipt properties of the token classes. */
export type TokenProp = 'inputTokens' | 'cachedInputTokens' | 'cacheWriteTokens' | 'outputTokens' | 'reasoningTokens';

/** The five token classes: disjoint, their sum is a receipt's total tokens (receipts.md, "Token classes"). */
export type TokenClass = 'input_tokens' | 'cached_input_tokens' | 'cache_write_tokens' | 'output_tokens' | 'reasoning_tokens';

/** A token class's price in a catalog `token_rates` entry. */
export type TokenPriceName = 'input' | 'cached_input' | 'cache_write' | 'output' | 'reasoning';

/** The allowance a quantity consumes: GPU seconds, the one token pool, or none (custom quantities). */
export type AllowancePool = 'gpu' | 'tokens' | null;

export interface QuantityField<N extends QuantityName = QuantityName> {
  name: N;
  prop: QuantityProp;
  /** Column in `receipts` and in `receipt_rollups` (sum of billable receipts). */
  column: string;
  /** Source fields, in order; the first present one is read. */
  sources: readonly string[];
  /**
   * Source fields tried when none of `sources` is present, whose count is **included in** another
   * quantity (`includedIn`): what is read here is taken out of that one (receipts.md, "Token classes").
   */
  included: readonly string[];
  includedIn: QuantityName | null;
  /** A legacy way to read it when no source field is present (see normalize.ts). */
  fallback: 'gpu_hours_used' | 'tokens_processed' | null;
  pool: AllowancePool;
  /**
   * False for the quantities the derived id and billing content held from the first wave on; true for
   * those that extend them only when not 0 (so ids of receipts without them never change).
   */
  extended: boolean;
  /** Invoice line of the quantity: kind, and the words after the model's name ("cached input tokens"). */
  line: { kind: N; words: string } | null;
  /** The token class's price in a catalog `token_rates` entry, and what it defaults to when absent. */
  price: { name: TokenPriceName; defaultsTo: TokenPriceName | null } | null;
  /** Stripe meter key (event name suffix) and display name, when pushed to Stripe. */
  meter: { key: string; name: string } | null;
}

/** A token class row. */
export type TokenField = QuantityField<TokenClass> & { prop: TokenProp; pool: 'tokens'; line: { kind: TokenClass; words: string }; price: NonNullable<QuantityField['price']> };

function tokenClass(
  name: TokenClass, prop: TokenProp, words: string, price: TokenPriceName, defaultsTo: TokenPriceName | null,
  sources: readonly string[], included: readonly string[] = [], includedIn: QuantityName | null = null, extended = true,
  fallback: QuantityField['fallback'] = null,
): TokenField {
  return {
    name, prop, column: name, sources, included, includedIn, fallback, pool: 'tokens', extended,
    line: { kind: name, words }, price: { name: price, defaultsTo }, meter: { key: name, name: `${words[0]!.toUpperCase()}${words.slice(1)}` },
  };
}

export const QUANTITIES: readonly QuantityField[] = [
  {
    name: 'gpu_seconds', prop: 'gpuSeconds', column: 'gpu_seconds',
    sources: ['cost_data.gpu_allocation.duration_seconds', 'gpu_seconds', 'duration_seconds'],
    included: [], includedIn: null, fallback: 'gpu_hours_used', pool: 'gpu', extended: false,
    line: null, price: null, meter: { key: 'gpu_seconds', name: 'GPU seconds' },
  },
  tokenClass(
    'input_tokens', 'inputTokens', 'input tokens', 'input', null,
    ['cost_data.inference.input_tokens', 'input_tokens', 'prompt_tokens', 'tokens_in', 'usage.prompt_tokens', 'usage.input_tokens'],
    [], null, false, 'tokens_processed',
  ),
  tokenClass(
    'cached_input_tokens', 'cachedInputTokens', 'cached input tokens', 'cached_input', null,
    ['cost_data.inference.cached_input_tokens', 'cached_input_tokens', 'cache_read_input_tokens', 'usage.cache_read_input_tokens'],
    [
      'prompt_tokens_details.cached_tokens', 'usage.prompt_tokens_details.cached_tokens', 'input_tokens_details.cached_tokens',
      'usage.input_tokens_details.cached_tokens',
    ],
    'input_tokens',
  ),
  tokenClass(
    'cache_write_tokens', 'cacheWriteTokens', 'cache write tokens', 'cache_write', null,
    ['cost_data.inference.cache_write_tokens', 'cache_write_tokens', 'cache_creation_input_tokens', 'usage.cache_creation_input_tokens'],
  ),
  tokenClass(
    'output_tokens', 'outputTokens', 'output tokens', 'output', null,
    ['cost_data.inference.output_tokens', 'output_tokens', 'completion_tokens', 'tokens_out', 'usage.completion_tokens', 'usage.output_tokens'],
    [], null, false,
  ),
  tokenClass(
    'reasoning_tokens', 'reasoningTokens', 'reasoning tokens', 'reasoning', 'output',
    ['cost_data.inference.reasoning_tokens', 'reasoning_tokens'],
    [
      'completion_tokens_details.reasoning_tokens', 'usage.completion_tokens_details.reasoning_tokens',
      'output_tokens_details.reasoning_tokens', 'usage.output_tokens_details.reasoning_tokens',
    ],
    'output_tokens',
  ),
  {
    name: 'quantity', prop: 'quantity', column: 'quantity', sources: ['quantity'], included: [], includedIn: null, fallback: null,
    pool: null, extended: true, line: null, price: null, meter: null,
  },
];

/** How many quantities a receipt carries. */
export const QUANTITY_COUNT = QUANTITIES.length;

/** The token classes, in allowance order. */
export const TOKEN_CLASSES: readonly TokenField[] = QUANTITIES.filter((q): q is TokenField => q.pool === 'tokens');

/** A quantity's place in the table (its place in rows, wire parcels and sums). */
export function quantityIndex(name: QuantityName): number {
  const i = QUANTITIES.findIndex((q) => q.name === name);
  if (i < 0) throw new Error(`unknown quantity ${name}`);
  return i;
}

/** The table's GPU-seconds row (the one quantity of the GPU pool). */
export const GPU_SECONDS = QUANTITIES[quantityIndex('gpu_seconds')]!;

/** Quantities the first wave's derived id and billing content hold (gpu_seconds, input, output). */
export const BASE_QUANTITIES: readonly QuantityField[] = QUANTITIES.filter((q) => !q.extended);
/**
 * What extends them when any is not 0 or an event type is present, in receipts.md's order:
 * cached, cache write, reasoning, the event type key, quantity.
 */
export const EXTENDED_QUANTITIES: readonly QuantityField[] = QUANTITIES.filter((q) => q.extended && q.pool === 'tokens');
export const EXTENDED_AFTER_EVENT: readonly QuantityField[] = QUANTITIES.filter((q) => q.extended && q.pool !== 'tokens');

/** The quantities of a receipt, by property. */
export type Quantities = Record<QuantityProp, number>;
/** Sums of quantities, by property. */
export type QuantitySums = Record<QuantityProp, bigint>;

export function zeroSums(): QuantitySums {
  const s = {} as QuantitySums;
  for (const q of QUANTITIES) s[q.prop] = 0n;
  return s;
}

/** Adds a receipt's (or a sum's) quantities to sums. */
export function addSums(into: QuantitySums, from: Readonly<Record<QuantityProp, number | bigint>>): void {
  for (const q of QUANTITIES) into[q.prop] += BigInt(from[q.prop]);
}

/** Total tokens (every class) of a receipt or sums. */
export function totalTokens(x: Readonly<Record<TokenProp, number | bigint>>): bigint {
  let t = 0n;
  for (const c of TOKEN_CLASSES) t += BigInt(x[c.prop]);
  return t;
}

/** Whether any token class is above 0. */
export function hasTokens(x: Readonly<Record<TokenProp, number | bigint>>): boolean {
  for (const c of TOKEN_CLASSES) if (x[c.prop] > 0) return true;
  return false;
}

/**
 * The quantities reports show as columns (usage, exports, the receipts CSV): GPU seconds and every
 * token class. `quantity` is not one: its unit depends on the event type, so only metrics sum it.
 */
export const REPORTED_QUANTITIES: readonly QuantityField[] = QUANTITIES.filter((q) => q.pool !== null);
