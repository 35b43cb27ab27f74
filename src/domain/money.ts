/**
 * Exact decimal arithmetic for money. A value is `units / 10^scale` with `units` a bigint, so no
 * binary floating point touches an amount. Rounding is half up (half away from zero) to a
 * currency's minor unit, once per invoice line (billing-rules.md, "Money").
 */
const TEN = 10n;

/** Powers of ten for the scales money uses, computed once. */
const POW10: bigint[] = Array.from({ length: 40 }, (_, i) => TEN ** BigInt(i));

function pow10(n: number): bigint {
  return POW10[n] ?? TEN ** BigInt(n);
}

function abs(n: bigint): bigint {
  return n < 0n ? -n : n;
}

/** `num / den` rounded half away from zero to an integer; `den` must not be 0. */
export function divRoundHalfUp(num: bigint, den: bigint): bigint {
  if (den === 0n) throw new RangeError('division by zero');
  const negative = num < 0n !== den < 0n;
  const n = abs(num);
  const d = abs(den);
  const q = (2n * n + d) / (2n * d);
  return negative ? -q : q;
}

const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,6}))?$/;

export class Decimal {
  private constructor(
    /** The value times 10^scale. */
    readonly units: bigint,
    /** Digits after the decimal point, >= 0. */
    readonly scale: number,
  ) {}

  static readonly ZERO = new Decimal(0n, 0);

  static of(units: bigint, scale = 0): Decimal {
    if (!Number.isInteger(scale) || scale < 0) throw new RangeError(`bad scale ${scale}`);
    return new Decimal(units, scale);
  }

  /** Parses decimal text: `12`, `-0.125`, `.5`, `1e-3`. Throws a RangeError naming the text otherwise. */
  static parse(text: string): Decimal {
    const m = DECIMAL_TEXT.exec(text);
    if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) {
      throw new RangeError(`"${text}" is not a decimal number`);
    }
    const sign = m[1] === '-' ? -1n : 1n;
    const intPart = m[2] ?? '';
    const frac = m[3] ?? '';
    const exp = m[4] === undefined ? 0 : Number(m[4]);
    let units = BigInt((intPart + frac) || '0') * sign;
    let scale = frac.length - exp;
    if (scale < 0) {
      units *= pow10(-scale);
      scale = 0;
    }
    return new Decimal(units, scale);
  }

  /** Parses, or returns undefined when the text is not a decimal. */
  static tryParse(text: string): Decimal | undefined {
    try {
      return Decimal.parse(text);
    } catch {
      return undefined;
    }
  }

  /**
   * A JavaScript number read by its shortest round-trip decimal text (what a person wrote as
   * `0.1` is exactly 0.1). Used only at the edge, for numbers in YAML and JSON input.
   */
  static fromNumber(n: number): Decimal {
    if (!Number.isFinite(n)) throw new RangeError(`${n} is not a finite number`);
    return Decimal.parse(String(n));
  }

  static fromBigInt(n: bigint): Decimal {
    return new Decimal(n, 0);
  }

  private align(other: Decimal): [bigint, bigint, number] {
    if (this.scale === other.scale) return [this.units, other.units, this.scale];
    if (this.scale > other.scale) {
      return [this.units, other.units * pow10(this.scale - other.scale), this.scale];
    }
    return [this.units * pow10(other.scale - this.scale), other.units, other.scale];
  }

  add(other: Decimal): Decimal {
    const [a, b, s] = this.align(other);
    return new Decimal(a + b, s);
  }

  sub(other: Decimal): Decimal {
    const [a, b, s] = this.align(other);
    return new Decimal(a - b, s);
  }

  neg(): Decimal {
    return new Decimal(-this.units, this.scale);
  }

  /** Exact product. */
  mul(other: Decimal | bigint): Decimal {
    if (typeof other === 'bigint') return new Decimal(this.units * other, this.scale);
    return new Decimal(this.units * other.units, this.scale + other.scale);
  }

  /**
   * `this × factor / divisor`, rounded half up to `digits` decimal places, in one step, so the
   * only rounding is the last one. This is the line-amount formula of billing-rules.md.
   */
  mulDivRound(factor: Decimal | bigint, divisor: bigint, digits: number): Decimal {
    const f = typeof factor === 'bigint' ? new Decimal(factor, 0) : factor;
    const num = this.units * f.units * pow10(digits);
    const den = divisor * pow10(this.scale + f.scale);
    return new Decimal(divRoundHalfUp(num, den), digits);
  }

  /** Rounded half up to `digits` decimal places (exact when it already fits). */
  round(digits: number): Decimal {
    if (this.scale <= digits) return new Decimal(this.units * pow10(digits - this.scale), digits);
    return new Decimal(divRoundHalfUp(this.units, pow10(this.scale - digits)), digits);
  }

  cmp(other: Decimal): -1 | 0 | 1 {
    const [a, b] = this.align(other);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  eq(other: Decimal): boolean {
    return this.cmp(other) === 0;
  }

  sign(): -1 | 0 | 1 {
    return this.units < 0n ? -1 : this.units > 0n ? 1 : 0;
  }

  isZero(): boolean {
    return this.units === 0n;
  }

  /** The same value with trailing fractional zeros removed (`4.00` -> `4`). */
  normalize(): Decimal {
    let { units, scale } = this;
    while (scale > 0 && units % TEN === 0n) {
      units /= TEN;
      scale -= 1;
    }
    return new Decimal(units, scale);
  }

  /** Text with exactly `digits` decimals, rounding half up when the value has more. */
  toFixed(digits: number): string {
    return this.round(digits).toString();
  }

  /** Plain decimal text at the value's own scale, never an exponent. */
  toString(): string {
    const negative = this.units < 0n;
    const digits = abs(this.units).toString();
    if (this.scale === 0) return (negative ? '-' : '') + digits;
    const padded = digits.padStart(this.scale + 1, '0');
    const cut = padded.length - this.scale;
    return `${negative ? '-' : ''}${padded.slice(0, cut)}.${padded.slice(cut)}`;
  }

  toJSON(): string {
    return this.toString();
  }

  static sum(values: Iterable<Decimal>): Decimal {
    let total = Decimal.ZERO;
    for (const v of values) total = total.add(v);
    return total;
  }
}

function gcd(a: bigint, b: bigint): bigint {
  let x = abs(a);
  let y = abs(b);
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/**
 * An exact sum of terms `value / divisor` (prices per hour, per 1,000 tokens, ...), rounded once,
 * half up, when read: for amounts attributed receipt by receipt in reports.
 */
export class ExactSum {
  private num = 0n;
  private den = 1n;

  add(value: Decimal, divisor = 1n): this {
    const d = pow10(value.scale) * divisor;
    const num = this.num * d + value.units * this.den;
    const den = this.den * d;
    const g = gcd(num, den) || 1n;
    this.num = num / g;
    this.den = den / g;
    return this;
  }

  addSum(other: ExactSum): this {
    return this.add(Decimal.of(other.num), other.den);
  }

  round(digits: number): Decimal {
    return Decimal.of(divRoundHalfUp(this.num * pow10(digits), this.den), digits);
  }
}

/**
 * ISO 4217 minor-unit digits for currencies that do not use 2. Intl's CLDR data differs from ISO
 * for a few (IQD, for example), so the table is ISO's own.
 */
const MINOR_DIGITS: Record<string, number> = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0,
  UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0, XAG: 0, XAU: 0, XBA: 0, XBB: 0, XBC: 0,
  XBD: 0, XDR: 0, XPD: 0, XPT: 0, XSU: 0, XTS: 0, XUA: 0, XXX: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  CLF: 4, UYW: 4,
};

let knownCurrencies: Set<string> | undefined;

export function isKnownCurrency(code: string): boolean {
  if (!/^[A-Z]{3}$/.test(code)) return false;
  knownCurrencies ??= new Set(Intl.supportedValuesOf('currency'));
  return knownCurrencies.has(code) || code in MINOR_DIGITS;
}

/** Digits after the decimal point of a currency's minor unit (USD 2, JPY 0, KWD 3). */
export function currencyDigits(code: string): number {
  return MINOR_DIGITS[code] ?? 2;
}

/** An amount formatted for output: exactly the currency's minor digits (`"12.30"`). */
export function formatAmount(value: Decimal, currency: string): string {
  return value.toFixed(currencyDigits(currency));
}

/** Groups the digits of integer text: `groupDigits("-9400000", ",")` is "-9,400,000". */
export function groupDigits(integer: string, separator: string): string {
  const negative = integer.startsWith('-');
  const digits = negative ? integer.slice(1) : integer;
  if (separator === '' || digits.length <= 3) return integer;
  const head = digits.length % 3 || 3;
  let out = digits.slice(0, head);
  for (let i = head; i < digits.length; i += 3) out += separator + digits.slice(i, i + 3);
  return (negative ? '-' : '') + out;
}

// ---------------------------------------------------------------------------------------------
// Reading catalog values

/**
 * The magnitudes a catalog may hold, as a finance team would write them: a price or fee below
 * 10^15 with at most 12 digits after the point; an allowance, token unit, tier bound or package
 * size a whole number up to 2^53 − 1 (the largest quantity a receipt may have). Anything else is
 * refused, not computed with.
 */
export const PRICE_INTEGER_DIGITS = 15;
export const PRICE_FRACTION_DIGITS = 12;
export const WHOLE_MAX = 9_007_199_254_740_991n;

/** A value read from a catalog, or what is wrong with it (text to follow the field's path). */
export type CatalogRead<T> = { value: T } | { problem: string };

function shown(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * A price or fee as a catalog writes it: decimal text, or a number read by its shortest decimal
 * text; never negative, below 10^15, at most 12 digits after the point (trailing zeros aside).
 * `v` is present: the caller decides what a missing value means.
 */
export function readCatalogDecimal(v: unknown): CatalogRead<Decimal> {
  let text: string | undefined;
  if (typeof v === 'number') text = Number.isFinite(v) ? String(v) : undefined;
  else if (typeof v === 'string') text = v.trim();
  // An exponent beyond any price (1e999999) is refused before it is expanded.
  const exponent = text === undefined ? undefined : /[eE]([+-]?\d+)$/.exec(text);
  if (exponent && Math.abs(Number(exponent[1])) > 40 && Decimal.tryParse(text!.slice(0, exponent.index)) !== undefined) {
    return { problem: `${shown(v)} is out of range (a price is below 10^${PRICE_INTEGER_DIGITS}, with at most ${PRICE_FRACTION_DIGITS} digits after the decimal point)` };
  }
  const d = text === undefined || text.length > 64 ? undefined : Decimal.tryParse(text);
  if (d === undefined) return { problem: `${shown(v)} is not a decimal number (write it like "4.00")` };
  if (d.sign() < 0) return { problem: `${shown(v)} is negative` };
  const n = d.normalize();
  if (n.scale > PRICE_FRACTION_DIGITS) {
    return { problem: `${shown(v)} has more than ${PRICE_FRACTION_DIGITS} digits after the decimal point` };
  }
  if (n.units >= 10n ** BigInt(PRICE_INTEGER_DIGITS + n.scale)) {
    return { problem: `${shown(v)} is too large (at most ${PRICE_INTEGER_DIGITS} digits before the decimal point)` };
  }
  return { value: d };
}

/** A whole number as a catalog writes it (a number or digits), from `min` up to 2^53 − 1. `v` is present. */
export function readCatalogWhole(v: unknown, min = 0n): CatalogRead<bigint> {
  let n: bigint | undefined;
  if (typeof v === 'number' && Number.isInteger(v)) n = Number.isSafeInteger(v) ? BigInt(v) : WHOLE_MAX + 1n;
  else if (typeof v === 'string' && /^\d+$/.test(v.trim())) n = BigInt(v.trim());
  if (n === undefined) return { problem: `${shown(v)} is not a whole number` };
  if (n < min) return { problem: `${shown(v)} must be at least ${min}` };
  if (n > WHOLE_MAX) return { problem: `${shown(v)} is too large (at most 2^53 − 1, ${WHOLE_MAX})` };
  return { value: n };
}
