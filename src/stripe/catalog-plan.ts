/**
 * What `stripe catalog sync` makes in Stripe for a catalog version, worked out without Stripe:
 * pure. A product per billable thing (one per meter, one per plan fee) and, per plan, a price per
 * meter and a licensed price for the monthly fee, each found again by its `lookup_key`.
 *
 * Stripe bills a meter per customer and billing period through one price per subscription item,
 * in the currency's minor unit with at most 12 decimals (`unit_amount_decimal`). What it cannot
 * bill exactly as billing-rules.md says is refused with the reason, never approximated:
 *
 * - a meter counts several keys (every GPU's seconds on one meter, every model's input tokens on
 *   another), so the keys must share one price;
 * - a price must be exact in 12 decimals of the minor unit per counted unit (a GPU price per hour
 *   over a meter of seconds: price × 100 / 3600 cents);
 * - an allowance becomes a free first tier on its meter, which works for GPU seconds and API calls
 *   but not for the token pool that input and output tokens share in receipt order;
 * - graduated and volume prices become tiered prices, package prices a per-unit price of the
 *   package with `transform_quantity` (see meteredShape for what each cannot express); billctl
 *   prices each key's line through its tiers on its own, so a tiered price is refused on a meter
 *   that sums several keys;
 * - a usage discount (rounded once over all usage lines) has no exact Stripe form;
 * - a monthly fee must be whole minor units, and the currency must have the minor unit ISO 4217
 *   (and billctl's invoices) give it.
 *
 * Each price model maps to a Stripe price in `meteredShape`, one case per model (architecture.md,
 * habit 4).
 */
import { createHash } from 'node:crypto';
import { TOKEN_PRICE_PROPS, type CatalogVersion, type PlanTerms } from '../domain/catalog.js';
import { isSeenOnlyMeter } from '../config.js';
import { TOKEN_CLASSES } from '../domain/quantities.js';
import { currencyDigits, Decimal } from '../domain/money.js';
import type { PriceModel, PriceTier } from '../domain/price-models/index.js';
import { priceModelFor, REQUESTS_KEY, SECONDS_PER_HOUR, type UsageKind } from '../domain/rating.js';
import { METER_KEYS, type MeterKey } from './client.js';

/** What a subscription item bills: a meter, or the plan's monthly fee. */
export type PriceItem = MeterKey | 'fee';
export const PRICE_ITEMS: readonly PriceItem[] = [...METER_KEYS, 'fee'];

/** Stripe's `unit_amount_decimal` and `flat_amount_decimal` hold at most 12 decimals. */
export const STRIPE_DECIMALS = 12;
/** Stripe's limit on a lookup_key. */
const LOOKUP_KEY_MAX = 200;

export interface StripeTier {
  /** Last unit of the tier, in the meter's units; null: no bound. */
  upTo: bigint | null;
  /** Minor units per unit. */
  unitAmount: Decimal;
  /** Minor units once the tier is reached. */
  flatAmount: Decimal;
}

/** A Stripe price's amounts, as billctl compares them with what Stripe holds. */
export type StripePriceShape =
  | { scheme: 'per_unit'; unitAmount: Decimal; transformQuantity: { divideBy: bigint; round: 'up' | 'down' } | null }
  | { scheme: 'tiered'; tiersMode: 'graduated' | 'volume'; tiers: StripeTier[] };

export interface DesiredProduct {
  /** The product's id in Stripe (billctl names its products). */
  id: string;
  name: string;
  unitLabel: string | null;
}

export interface DesiredPrice {
  lookupKey: string;
  version: string;
  plan: string;
  item: PriceItem;
  productId: string;
  /** Lower case, as Stripe writes it. */
  currency: string;
  /** `metered` prices bill a meter; `licensed` the fee, once per period. */
  usageType: 'metered' | 'licensed';
  shape: StripePriceShape;
  nickname: string;
}

export interface PlanSync {
  plan: string;
  name: string;
  /** Empty when refused. */
  prices: DesiredPrice[];
  /** Why Stripe cannot bill this plan exactly; a plan with reasons gets no prices at all. */
  reasons: string[];
  /** What is worth knowing but bills nothing wrongly (a meter the catalog prices nowhere). */
  notes: string[];
}

export interface CatalogSyncPlan {
  version: string;
  currency: string;
  products: DesiredProduct[];
  plans: PlanSync[];
}

/** A token class meter's class (the field table's row), or undefined for GPU seconds and API calls. */
const tokenClassOfMeter = (meter: MeterKey) => TOKEN_CLASSES.find((c) => c.meter?.key === meter);

/** Stripe products of the meters: GPU time, a product per token class meter (the field table's meter names), API calls. */
const METER_PRODUCTS = Object.fromEntries(METER_KEYS.map((m) => {
  const cls = tokenClassOfMeter(m);
  return [m, m === 'gpu_seconds' ? { name: 'GPU time', unitLabel: 'second' } : m === 'api_calls' ? { name: 'API calls', unitLabel: 'call' } : { name: cls!.meter!.name, unitLabel: 'token' }];
})) as Record<MeterKey, { name: string; unitLabel: string }>;

const count = (n: bigint) => n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');

const hash = (text: string, n: number) => createHash('sha256').update(text, 'utf8').digest('hex').slice(0, n);

/** Stripe product ids: letters, digits, `_` and `-`; a key with anything else is hashed. */
function idPart(key: string): string {
  return /^[a-z0-9-]{1,64}$/.test(key) ? key : hash(key, 24);
}

export function meterProductId(meter: MeterKey): string {
  return `billctl_${meter}`;
}

export function feeProductId(plan: string): string {
  return `billctl_plan_${idPart(plan)}`;
}

/** The lookup_key of a (version, plan, item) price: one per catalog version, never reused for another. */
export function priceLookupKey(version: string, plan: string, item: PriceItem): string {
  const key = `billctl:${version}:${plan}:${item}`;
  return key.length <= LOOKUP_KEY_MAX ? key : `billctl:${hash(key, 40)}:${item}`;
}

// ---------------------------------------------------------------------------------------------
// Currencies

/** Currencies Stripe counts in whole units, and in thousandths (docs.stripe.com/currencies). */
const STRIPE_ZERO_DECIMAL = new Set(['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF']);
const STRIPE_THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);
/** Currencies with special rules in Stripe (amounts in two decimals that must end in 00, or payouts in whole units). */
const STRIPE_SPECIAL = new Set(['ISK', 'HUF', 'TWD']);

/** Why Stripe's minor unit of a currency is not the one billctl invoices in, or undefined. */
export function currencyProblem(currency: string): string | undefined {
  if (STRIPE_SPECIAL.has(currency)) {
    return `Stripe treats ${currency} specially (its amounts and payouts round to whole units apart from the prices): billctl cannot promise Stripe bills it to the minor unit; bill ${currency} tenants by invoice`;
  }
  const stripe = STRIPE_ZERO_DECIMAL.has(currency) ? 0 : STRIPE_THREE_DECIMAL.has(currency) ? 3 : 2;
  const iso = currencyDigits(currency);
  if (stripe !== iso) {
    return `Stripe counts ${currency} in ${stripe} decimals, ISO 4217 (and billctl's invoices) in ${iso}: the amounts would not agree`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Exact amounts

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/** num / den as a decimal of at most `maxScale` decimals, or undefined when it has more (or never ends). */
export function exactRatio(num: bigint, den: bigint, maxScale = STRIPE_DECIMALS): Decimal | undefined {
  if (den <= 0n) throw new RangeError('exactRatio: the denominator must be positive');
  const g = gcd(num, den) || 1n;
  let d = den / g;
  const n = num / g;
  let twos = 0;
  let fives = 0;
  while (d % 2n === 0n) {
    d /= 2n;
    twos++;
  }
  while (d % 5n === 0n) {
    d /= 5n;
    fives++;
  }
  if (d !== 1n) return undefined;
  const scale = Math.max(twos, fives);
  if (scale > maxScale) return undefined;
  return Decimal.of((n * 10n ** BigInt(scale)) / (den / g), scale).normalize();
}

/** The first digits of num / den, for a message ("0.11111111111111…"). */
function approx(num: bigint, den: bigint): string {
  const digits = 14;
  const q = (num * 10n ** BigInt(digits)) / den;
  return `${Decimal.of(q, digits).normalize().toString()}…`;
}

/** A price of `price` per `unitSize` units, in minor units per unit: exact, or why not. */
function minorPerUnit(price: Decimal, unitSize: bigint, digits: number): { ok: Decimal } | { num: bigint; den: bigint } {
  const num = price.units * 10n ** BigInt(digits);
  const den = 10n ** BigInt(price.scale) * unitSize;
  const ok = exactRatio(num, den);
  return ok ? { ok } : { num, den };
}

// ---------------------------------------------------------------------------------------------
// Price models as Stripe prices

export interface ShapeContext {
  currency: string;
  /** What the price is of, for messages: "GPU rate a100-80gb". */
  label: string;
  /** Units of the meter covered at no charge each period (the plan's allowance), 0 for none. */
  allowance: bigint;
  /** The unit the meter counts, for messages: "second". */
  unit: string;
  /** The unit a price is quoted for, for messages: "GPU hour". */
  priceUnit: string;
}

export type ShapeResult = { shape: StripePriceShape } | { refused: string };

/** The largest bound or divisor billctl sends: Stripe's integers are read back as JavaScript numbers. */
const MAX_WHOLE = BigInt(Number.MAX_SAFE_INTEGER);

type Step<T> = { ok: T } | { refused: string };

/** A price per `unitSize` units in minor units per meter unit, exact in 12 decimals, or why not. */
function unitAmountOf(price: Decimal, unitSize: bigint, digits: number, c: ShapeContext, where: string): Step<Decimal> {
  const unit = minorPerUnit(price, unitSize, digits);
  if ('ok' in unit) return unit;
  return {
    refused:
      `${c.label}${where}: ${price.toString()} ${c.currency} per ${c.priceUnit} is ${approx(unit.num, unit.den)} ` +
      `of Stripe's minor unit (1/${10 ** digits} ${c.currency}) per ${c.unit}, more than the ${STRIPE_DECIMALS} decimals ` +
      "Stripe's unit_amount_decimal holds: Stripe cannot bill it exactly",
  };
}

/** An amount as a whole number of minor units (Stripe's flat amounts), or undefined. */
function wholeMinor(amount: Decimal, digits: number): Decimal | undefined {
  return exactRatio(amount.units * 10n ** BigInt(digits), 10n ** BigInt(amount.scale), 0);
}

function flatAmountOf(fee: Decimal, digits: number, c: ShapeContext, where: string): Step<Decimal> {
  const minor = wholeMinor(fee, digits);
  return minor !== undefined ? { ok: minor }
    : { refused: `${c.label}${where}: its flat fee ${fee.toString()} ${c.currency} is not a whole number of ${c.currency}'s minor unit, which Stripe's flat_amount counts` };
}

/** A tier bound in the meter's units as Stripe holds it, or why not. */
function boundOf(upTo: bigint, c: ShapeContext, where: string): Step<bigint> {
  return upTo <= MAX_WHOLE ? { ok: upTo }
    : { refused: `${c.label}${where}: its bound, ${count(upTo)} ${c.unit}s on Stripe's meter, is above 2^53 − 1, the largest whole number billctl sends to Stripe and reads back exactly` };
}

/** The tiers of a graduated or volume model in the meter's units, shifted by `shift`, exact or refused. */
function stripeTiers(tiers: readonly PriceTier[], unitSize: bigint, digits: number, c: ShapeContext, shift: bigint): Step<StripeTier[]> {
  const out: StripeTier[] = [];
  for (const [i, t] of tiers.entries()) {
    const where = ` (tiers[${i}])`;
    const unit = unitAmountOf(t.price, unitSize, digits, c, where);
    if ('refused' in unit) return unit;
    const flat = flatAmountOf(t.flatFee, digits, c, where);
    if ('refused' in flat) return flat;
    let upTo: bigint | null = null;
    if (t.upTo !== null) {
      const b = boundOf(t.upTo + shift, c, where);
      if ('refused' in b) return b;
      upTo = b.ok;
    }
    out.push({ upTo, unitAmount: unit.ok, flatAmount: flat.ok });
  }
  return { ok: out };
}

const FREE_TIER = (upTo: bigint): StripeTier => ({ upTo, unitAmount: Decimal.ZERO, flatAmount: Decimal.ZERO });

/**
 * The Stripe price that bills a meter exactly as `model` prices its billed quantity (the metered
 * quantity less the plan's allowance), or why Stripe cannot. One case per price model. Tier
 * bounds and package sizes are held in counting units, which are the meter's units (seconds,
 * tokens, calls): they stay whole. Stripe bills a first tier's flat amount even for a period
 * without usage, where billctl bills a flat fee only when the tier holds some of the billed
 * quantity, so a flat fee on the tier that holds 0 is refused.
 *
 * - per_unit: `unit_amount_decimal`; an allowance is a free first tier (graduated).
 * - graduated: `tiers_mode=graduated`; an allowance is a free first tier and every bound moves up
 *   by it, so tier i holds the same units of the billed quantity in both.
 * - volume: `tiers_mode=volume`. After an allowance A, billctl prices q = Q − A in the tier that
 *   holds q; Stripe prices all of Q in the tier that holds Q. With bounds moved up by A and a free
 *   tier up to A, a tier's Stripe amount is Q × unit + flat, billctl's (Q − A) × unit + fee: equal
 *   exactly when flat = fee − A × unit, which Stripe can hold only when it is ≥ 0 and whole.
 * - package: `transform_quantity[divide_by]` = size, `round=up`, unit amount = the package price:
 *   ⌈Q / size⌉ × price, billctl's rule. After an allowance ⌈(Q − A) / size⌉ has no Stripe form
 *   (transform_quantity cannot be combined with tiers).
 */
export function meteredShape(model: PriceModel, digits: number, c: ShapeContext): ShapeResult {
  const A = c.allowance;
  switch (model.model) {
    case 'per_unit': {
      const unit = unitAmountOf(model.price, model.unitSize, digits, c, '');
      if ('refused' in unit) return unit;
      if (A === 0n || unit.ok.isZero()) return { shape: { scheme: 'per_unit', unitAmount: unit.ok, transformQuantity: null } };
      const free = boundOf(A, c, ' (the allowance)');
      if ('refused' in free) return free;
      return { shape: { scheme: 'tiered', tiersMode: 'graduated', tiers: [FREE_TIER(A), { upTo: null, unitAmount: unit.ok, flatAmount: Decimal.ZERO }] } };
    }
    case 'graduated':
    case 'volume': {
      const tiers = stripeTiers(model.tiers, model.unitSize, digits, c, A);
      if ('refused' in tiers) return tiers;
      if (A === 0n) {
        const first = model.tiers[0]!;
        if (!first.flatFee.isZero()) {
          return {
            refused:
              `${c.label} (tiers[0]): its flat fee ${first.flatFee.toString()} ${c.currency} is billed by billctl only when the billed quantity is above 0; ` +
              "Stripe bills the first tier's flat amount for a quantity of 0 too (a period without usage)",
          };
        }
        return { shape: { scheme: 'tiered', tiersMode: model.model, tiers: tiers.ok } };
      }
      const free = boundOf(A, c, ' (the allowance)');
      if ('refused' in free) return free;
      if (model.model === 'graduated') return { shape: { scheme: 'tiered', tiersMode: 'graduated', tiers: [FREE_TIER(A), ...tiers.ok] } };
      const shifted: StripeTier[] = [FREE_TIER(A)];
      for (const [i, t] of tiers.ok.entries()) {
        const flat = t.flatAmount.sub(t.unitAmount.mul(A));
        if (flat.sign() < 0 || wholeMinor(flat, 0) === undefined) {
          return {
            refused:
              `${c.label}: a volume price after the plan's allowance of ${count(A)} ${c.unit}s: billctl prices the billed quantity (after the allowance) ` +
              "at the tier that holds it, Stripe's volume tiers price the whole metered quantity, allowance included; a tier's flat amount could take " +
              `the allowance's ${t.unitAmount.mul(A).normalize().toString()} minor units back only where it is at least that and stays whole ` +
              `(tiers[${i}]: ${t.flatAmount.normalize().toString()}), so Stripe cannot bill it exactly`,
          };
        }
        shifted.push({ upTo: t.upTo, unitAmount: t.unitAmount, flatAmount: flat.normalize() });
      }
      return { shape: { scheme: 'tiered', tiersMode: 'volume', tiers: shifted } };
    }
    case 'package': {
      if (A > 0n) {
        return {
          refused:
            `${c.label}: a package price after the plan's allowance of ${count(A)} ${c.unit}s: billctl counts the packages of the billed quantity ` +
            "(after the allowance), Stripe's transform_quantity divides the whole metered quantity and cannot be combined with a free tier",
        };
      }
      const unit = exactRatio(model.price.units * 10n ** BigInt(digits), 10n ** BigInt(model.price.scale));
      if (unit === undefined) {
        return { refused: `${c.label}: its package price ${model.price.toString()} ${c.currency} has more than ${STRIPE_DECIMALS} decimals of ${c.currency}'s minor unit` };
      }
      if (model.size > MAX_WHOLE) {
        return { refused: `${c.label}: its package of ${count(model.size)} ${c.unit}s is above 2^53 − 1, the largest whole number billctl sends to Stripe and reads back exactly` };
      }
      return { shape: { scheme: 'per_unit', unitAmount: unit, transformQuantity: { divideBy: model.size, round: 'up' } } };
    }
    default: {
      model satisfies never;
      throw new Error(`unknown price model ${JSON.stringify(model)}`);
    }
  }
}

/** A canonical text of a shape: two shapes bill alike exactly when their texts are equal. */
export function shapeKey(s: StripePriceShape): string {
  const d = (x: Decimal) => x.normalize().toString();
  switch (s.scheme) {
    case 'per_unit':
      return JSON.stringify(['per_unit', d(s.unitAmount), s.transformQuantity ? [s.transformQuantity.divideBy.toString(), s.transformQuantity.round] : null]);
    case 'tiered':
      return JSON.stringify(['tiered', s.tiersMode, s.tiers.map((t) => [t.upTo === null ? 'inf' : t.upTo.toString(), d(t.unitAmount), d(t.flatAmount)])]);
    default:
      s satisfies never;
      throw new Error('unknown price shape');
  }
}

/** True when a shape bills nothing, whatever the quantity. */
function free(s: StripePriceShape): boolean {
  return s.scheme === 'per_unit' ? s.unitAmount.isZero() : s.tiers.every((t) => t.unitAmount.isZero() && t.flatAmount.isZero());
}

// ---------------------------------------------------------------------------------------------
// A catalog version

interface MeterKeys {
  kind: UsageKind;
  keys: string[];
  unit: string;
  priceUnit: string;
  label: (key: string) => string;
}

function meterKeys(v: CatalogVersion, meter: MeterKey): MeterKeys {
  switch (meter) {
    case 'gpu_seconds':
      return { kind: 'gpu', keys: [...v.gpuRates.keys()], unit: 'second', priceUnit: 'GPU hour', label: (k) => `GPU rate ${k}` };
    case 'api_calls':
      return { kind: 'requests', keys: [REQUESTS_KEY], unit: 'call', priceUnit: 'request', label: () => 'request_rate' };
    default: {
      // A token class (the field table): priced per model.
      const cls = tokenClassOfMeter(meter);
      if (!cls) throw new Error(`unknown meter ${String(meter)}`);
      const words = cls.price.name.replace('_', ' ');
      return { kind: cls.name, keys: [...v.tokenRates.keys()], unit: 'token', priceUnit: `${v.tokenUnit} tokens`, label: (k) => `${words} price of ${k}` };
    }
  }
}

/** The units of a meter a plan covers on its own meter (tokens are one pool over two meters: see planSync). */
function meterAllowance(plan: PlanTerms, meter: MeterKey): bigint {
  switch (meter) {
    case 'gpu_seconds':
      return plan.included.gpuHours * SECONDS_PER_HOUR;
    case 'api_calls':
      return plan.included.apiCalls;
    default:
      // Token classes share one pool (see planSync).
      return 0n;
  }
}

/**
 * The price model of a key of a usage kind under a plan: the catalog's list price by default
 * (priceModelFor); plan rates and tests give their own.
 */
export type PriceLookup = (v: CatalogVersion, plan: PlanTerms, kind: UsageKind, key: string) => PriceModel | undefined;

const listPrice: PriceLookup = (v, plan, kind, key) => priceModelFor(v, kind, key, plan.id);

function planSync(
  v: CatalogVersion, plan: PlanTerms, currency: string, digits: number, currencyReason: string | undefined, priceOf: PriceLookup,
  meters: ReadonlySet<MeterKey>,
): PlanSync {
  const out: PlanSync = { plan: plan.id, name: plan.name, prices: [], reasons: [], notes: [] };
  if (currencyReason) out.reasons.push(currencyReason);
  const shapes = new Map<MeterKey, StripePriceShape>();
  /** Meters some key prices above 0 (whether or not Stripe can bill them). */
  const priced = new Set<MeterKey>();
  for (const meter of METER_KEYS) {
    // A token class meter `stripe setup` has not made (the store holds no receipt of the class): see below.
    if (!meters.has(meter)) continue;
    const m = meterKeys(v, meter);
    if (m.keys.length === 0) {
      out.notes.push(`${meter}: catalog ${v.version} prices no ${meter === 'gpu_seconds' ? 'GPU' : 'model'}, so no price bills this meter (billctl's own rating refuses such usage as unpriced)`);
      continue;
    }
    const byShape = new Map<string, { shape: StripePriceShape | null; keys: string[] }>();
    const ctx = { currency, allowance: meterAllowance(plan, meter), unit: m.unit, priceUnit: m.priceUnit };
    const models = m.keys.flatMap((key) => {
      const model = priceOf(v, plan, m.kind, key);
      return model === undefined ? [] : [{ key, model }];
    });
    // A class some models do not price (cached input, cache write): billctl refuses their usage as
    // unpriced, but one Stripe price on the meter would bill it.
    if (models.length > 0 && models.length < m.keys.length) {
      const unpriced = m.keys.filter((k) => !models.some((x) => x.key === k));
      out.reasons.push(
        `${meter}: ${unpriced.join(', ')} ${unpriced.length === 1 ? 'has' : 'have'} no ${m.label('').replace(/ of $/, '')} (billctl refuses such usage as unpriced), ` +
          `but Stripe's ${meter} meter counts ${unpriced.length === 1 ? 'its' : 'their'} tokens with ${models.map((x) => x.key).join(', ')}, so one price would bill them`,
      );
      priced.add(meter);
      continue;
    }
    if (models.length === 0 && tokenClassOfMeter(meter)) {
      out.notes.push(`${meter}: catalog ${v.version} prices no model's ${m.label('').replace(/ price of $/, '')} tokens, so no price bills this meter (billctl's own rating refuses such usage as unpriced)`);
      continue;
    }
    // billctl prices each key's line through its tiers (or packages) on its own; Stripe's meter
    // sums the keys first, so its tiers would apply to the sum.
    const tiered = models.filter((x) => x.model.model !== 'per_unit');
    if (models.length > 1 && tiered.length > 0) {
      const what = m.kind === 'gpu' ? 'GPU' : 'model';
      out.reasons.push(
        `${meter}: ${tiered.map((x) => m.label(x.key)).join(', ')} ${tiered.length === 1 ? 'is a' : 'are'} ${[...new Set(tiered.map((x) => x.model.model))].join('/')} ` +
          `price${tiered.length === 1 ? '' : 's'}, which billctl applies to each ${what}'s line on its own, but Stripe's ${meter} meter sums ` +
          `${models.map((x) => x.key).join(', ')} first, so its ${tiered.every((x) => x.model.model === 'package') ? 'packages would be counted over' : 'tiers would apply to'} the sum`,
      );
      priced.add(meter);
      continue;
    }
    for (const { key, model } of models) {
      const r = meteredShape(model, digits, { ...ctx, label: m.label(key) });
      let k: string;
      if ('refused' in r) {
        out.reasons.push(r.refused);
        k = `refused:${r.refused}`;
      } else k = shapeKey(r.shape);
      if ('refused' in r || !free(r.shape)) priced.add(meter);
      const entry = byShape.get(k) ?? { shape: 'shape' in r ? r.shape : null, keys: [] };
      entry.keys.push(key);
      byShape.set(k, entry);
    }
    if (byShape.size > 1) {
      const groups = [...byShape.values()].map((g) => g.keys.join(', ')).join(' / ');
      out.reasons.push(
        `${meter}: the ${m.kind === 'gpu' ? 'GPU rates' : m.kind === 'requests' ? 'request rates' : `${m.kind.replace('_', ' ')} prices`} differ (${groups}), ` +
          `but Stripe's ${meter} meter counts them together, so one price cannot bill them apart (a meter per ${m.kind === 'gpu' ? 'GPU' : 'model'} does not exist)`,
      );
      continue;
    }
    const only = [...byShape.values()][0];
    if (only?.shape) shapes.set(meter, only.shape);
  }
  // A token class priced of its own (cached input, cache write, reasoning) whose meter `stripe setup`
  // has not made yet is refused: its usage would reach no Stripe price. Plan rates reach this
  // function through the PriceLookup, given the plan; a GPU or model only the plan prices is not in
  // the list keys above: refused.
  const classPriced = new Set<string>();
  const noMeter = new Set<MeterKey>();
  for (const cls of TOKEN_CLASSES) {
    const meter = cls.meter!.key as MeterKey;
    if (meters.has(meter)) continue;
    for (const rates of [v.tokenRates, plan.rates?.tokenRates]) {
      for (const [key, rate] of rates ?? []) {
        if (rate[TOKEN_PRICE_PROPS[cls.price.name]] !== undefined) {
          classPriced.add(`${key} ${cls.price.name}`);
          noMeter.add(meter);
        }
      }
    }
  }
  if (classPriced.size > 0) {
    const missing = METER_KEYS.filter((m) => noMeter.has(m));
    out.reasons.push(
      `plan ${plan.id}: ${[...classPriced].sort().join(', ')} ${classPriced.size === 1 ? 'has a price' : 'have prices'} of ${classPriced.size === 1 ? 'its' : 'their'} own, ` +
        `and there is no Stripe meter for ${missing.join(', ')} yet: run billctl stripe setup (it makes a meter for each token class the store holds receipts of), ` +
        'or bill this plan by invoice',
    );
  }
  const planOnly = [...(plan.rates?.gpuRates.keys() ?? [])].filter((k) => !v.gpuRates.has(k))
    .concat([...(plan.rates?.tokenRates.keys() ?? [])].filter((k) => !v.tokenRates.has(k)));
  if (planOnly.length > 0) {
    out.reasons.push(`plan ${plan.id}: it prices ${planOnly.join(', ')}, which the list does not; syncing such plan-only prices is not supported yet`);
  }
  if (plan.minimumCommitment !== undefined && plan.minimumCommitment.sign() > 0) {
    out.reasons.push(`plan ${plan.id}: its minimum commitment of ${plan.minimumCommitment} has no Stripe price; syncing it is not supported yet`);
  }
  // One token allowance for input and output tokens, drawn in receipt order (billing-rules.md,
  // step 2): a free tier per meter cannot say which tokens it covers.
  if (plan.included.tokens > 0n && TOKEN_CLASSES.some((c) => priced.has(c.meter!.key as MeterKey))) {
    out.reasons.push(
      `plan ${plan.id}: its ${count(plan.included.tokens)} included tokens are one pool that every token class draws from in receipt order; ` +
        'Stripe applies a free tier to each meter on its own, so it cannot bill the pool exactly',
    );
  }
  if (plan.usageDiscountPercent.sign() > 0) {
    out.reasons.push(
      `plan ${plan.id}: its ${plan.usageDiscountPercent.toString()} % usage discount is taken from the sum of the usage lines and rounded once; ` +
        'a Stripe coupon rounds otherwise and would discount the fee too',
    );
  }
  let fee: Decimal | undefined;
  if (!plan.monthlyFee.isZero()) {
    fee = exactRatio(plan.monthlyFee.units * 10n ** BigInt(digits), 10n ** BigInt(plan.monthlyFee.scale), 0);
    if (fee === undefined) out.reasons.push(`plan ${plan.id}: its monthly fee ${plan.monthlyFee.toString()} ${currency} is not a whole number of ${currency}'s minor unit`);
  }
  if (out.reasons.length > 0) return out;
  const lower = currency.toLowerCase();
  for (const [meter, shape] of shapes) {
    out.prices.push({
      lookupKey: priceLookupKey(v.version, plan.id, meter), version: v.version, plan: plan.id, item: meter, productId: meterProductId(meter),
      currency: lower, usageType: 'metered', shape, nickname: `${plan.name}: ${METER_PRODUCTS[meter].name} (${v.version})`,
    });
  }
  if (fee !== undefined) {
    out.prices.push({
      lookupKey: priceLookupKey(v.version, plan.id, 'fee'), version: v.version, plan: plan.id, item: 'fee', productId: feeProductId(plan.id),
      currency: lower, usageType: 'licensed', shape: { scheme: 'per_unit', unitAmount: fee, transformQuantity: null },
      nickname: `${plan.name} plan fee (${v.version})`,
    });
  }
  return out;
}

/** The meters every store has (`stripe setup` makes token class meters only for classes the store has seen). */
export const FIRST_WAVE_METERS: ReadonlySet<MeterKey> = new Set(METER_KEYS.filter((m) => !isSeenOnlyMeter(m)));

/**
 * Products and prices for every plan of a version, and why a plan cannot be billed by Stripe.
 * `meters`: the meters set up (a token class meter bills that class; without it a plan pricing
 * the class of its own is refused).
 */
export function planStripeCatalog(v: CatalogVersion, priceOf: PriceLookup = listPrice, meters: ReadonlySet<MeterKey> = FIRST_WAVE_METERS): CatalogSyncPlan {
  const digits = currencyDigits(v.currency);
  const currencyReason = currencyProblem(v.currency);
  const plans = [...v.plans.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((p) => planSync(v, p, v.currency, digits, currencyReason, priceOf, meters));
  const products = new Map<string, DesiredProduct>();
  for (const p of plans) {
    for (const price of p.prices) {
      if (products.has(price.productId)) continue;
      products.set(
        price.productId,
        price.item === 'fee'
          ? { id: price.productId, name: `${p.name} plan`, unitLabel: null }
          : { id: price.productId, name: METER_PRODUCTS[price.item].name, unitLabel: METER_PRODUCTS[price.item].unitLabel },
      );
    }
  }
  return { version: v.version, currency: v.currency, products: [...products.values()], plans };
}

// ---------------------------------------------------------------------------------------------
// Stripe's prices, read back

/** The part of a Stripe price (as the SDK gives it) that says what it bills. */
export interface StripePriceFields {
  billing_scheme: string;
  currency: string;
  product: string | { id: string };
  unit_amount_decimal: unknown;
  tiers_mode: string | null;
  tiers?: { up_to: number | null; unit_amount_decimal: unknown; flat_amount_decimal: unknown }[] | null;
  transform_quantity: { divide_by: number; round: string } | null;
  recurring: { interval: string; interval_count: number; usage_type: string; meter?: string | null } | null;
}

const dec = (v: unknown): Decimal => (v === null || v === undefined ? Decimal.ZERO : Decimal.parse(String(v)));

/** A Stripe price's amounts as a shape (tiers must have been expanded). */
export function shapeOfStripePrice(p: StripePriceFields): StripePriceShape {
  if (p.billing_scheme === 'tiered') {
    return {
      scheme: 'tiered',
      tiersMode: p.tiers_mode === 'volume' ? 'volume' : 'graduated',
      tiers: (p.tiers ?? []).map((t) => ({ upTo: t.up_to === null ? null : BigInt(t.up_to), unitAmount: dec(t.unit_amount_decimal), flatAmount: dec(t.flat_amount_decimal) })),
    };
  }
  const tq = p.transform_quantity;
  return {
    scheme: 'per_unit',
    unitAmount: dec(p.unit_amount_decimal),
    transformQuantity: tq ? { divideBy: BigInt(tq.divide_by), round: tq.round === 'up' ? 'up' : 'down' } : null,
  };
}

/** How a Stripe price differs from the one billctl wants (empty: it bills the same). */
export function priceDifferences(p: StripePriceFields, want: DesiredPrice, meterId: string | null): string[] {
  const out: string[] = [];
  const product = typeof p.product === 'string' ? p.product : p.product.id;
  if (product !== want.productId) out.push(`product ${product}, not ${want.productId}`);
  if (p.currency !== want.currency) out.push(`currency ${p.currency}, not ${want.currency}`);
  const r = p.recurring;
  if (!r || r.interval !== 'month' || r.interval_count !== 1) out.push('not monthly');
  if (r?.usage_type !== want.usageType) out.push(`usage type ${r?.usage_type ?? 'one-time'}, not ${want.usageType}`);
  if (want.usageType === 'metered' && (r?.meter ?? null) !== meterId) out.push(`meter ${r?.meter ?? 'none'}, not ${meterId}`);
  const have = shapeKey(shapeOfStripePrice(p));
  const wanted = shapeKey(want.shape);
  if (have !== wanted) out.push(`amounts ${have}, not ${wanted}`);
  return out;
}

/** A digest of what a price bills (recorded in its metadata; part of its create's idempotency key). */
export function priceDigest(want: DesiredPrice, meterId: string | null): string {
  return hash(JSON.stringify([want.productId, want.currency, want.usageType, meterId, shapeKey(want.shape)]), 24);
}
