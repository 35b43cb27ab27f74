import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal, currencyDigits, divRoundHalfUp, formatAmount, isKnownCurrency } from '../../src/domain/money.js';

/** Exact rationals, the reference the Decimal type is checked against. */
interface Rat { n: bigint; d: bigint }
const rat = (n: bigint, d = 1n): Rat => (d < 0n ? { n: -n, d: -d } : { n, d });
const ratOfDecimal = (x: Decimal): Rat => rat(x.units, 10n ** BigInt(x.scale));
const ratEq = (a: Rat, b: Rat) => a.n * b.d === b.n * a.d;
/** Reference half-up rounding of a rational to `digits` places, by comparing with the exact half. */
function refRound(r: Rat, digits: number): Rat {
  const scale = 10n ** BigInt(digits);
  const scaled = r.n * scale; // value*scale = scaled / r.d
  const neg = scaled < 0n;
  const a = neg ? -scaled : scaled;
  const floor = a / r.d;
  const rem = a - floor * r.d; // fraction = rem / r.d
  const up = 2n * rem >= r.d;
  const q = floor + (up ? 1n : 0n);
  return rat(neg ? -q : q, scale);
}

const decimalArb = fc
  .tuple(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.integer({ min: 0, max: 12 }))
  .map(([u, s]) => Decimal.of(u, s));

describe('Decimal parsing and formatting', () => {
  it.each([
    ['0', '0'], ['12', '12'], ['-0.125', '-0.125'], ['4.00', '4.00'], ['.5', '0.5'], ['5.', '5'],
    ['1e-3', '0.001'], ['1.5E2', '150'], ['+7', '7'], ['0.0001', '0.0001'],
  ])('parses %s as %s', (text, shown) => {
    expect(Decimal.parse(text).toString()).toBe(shown);
  });

  it.each(['', '.', 'abc', '12a', '1,5', ' 1', '1 ', 'NaN', 'Infinity', '--1', '1e', '0x10'])('refuses %j', (text) => {
    expect(() => Decimal.parse(text)).toThrow(/is not a decimal number/);
  });

  it('reads numbers by their shortest decimal text', () => {
    expect(Decimal.fromNumber(0.1).toString()).toBe('0.1');
    expect(Decimal.fromNumber(4).toString()).toBe('4');
    expect(Decimal.fromNumber(1e-7).toString()).toBe('0.0000001');
    expect(() => Decimal.fromNumber(Number.NaN)).toThrow();
  });

  it('normalizes trailing zeros only on request', () => {
    expect(Decimal.parse('4.00').normalize().toString()).toBe('4');
    expect(Decimal.parse('4.00').eq(Decimal.parse('4'))).toBe(true);
  });
});

describe('rounding half up (away from zero) to the minor unit', () => {
  // Half-up and half-even differ on these; binary floats get 2.675 and 1.005 wrong outright.
  it.each([
    ['0.125', 2, '0.13'], ['2.675', 2, '2.68'], ['1.005', 2, '1.01'], ['0.135', 2, '0.14'],
    ['20.824', 2, '20.82'], ['20.825', 2, '20.83'], ['-0.125', 2, '-0.13'], ['-2.675', 2, '-2.68'],
    ['0.5', 0, '1'], ['1.5', 0, '2'], ['2.5', 0, '3'], ['-0.5', 0, '-1'], ['0.4999', 0, '0'],
    ['0.0005', 3, '0.001'], ['1.2345', 3, '1.235'], ['1.2344', 3, '1.234'], ['7', 2, '7.00'], ['0.004999', 2, '0.00'],
  ])('%s to %i digits is %s', (text, digits, expected) => {
    expect(Decimal.parse(text).round(digits).toString()).toBe(expected);
  });

  it('rounds a line amount once: billed × price / unit', () => {
    // 1,100,000 output tokens at 0.006 per 1000 = 6.60 (billing-rules.md worked example)
    expect(Decimal.parse('0.006').mulDivRound(1_100_000n, 1000n, 2).toString()).toBe('6.60');
    // 3,600 GPU seconds at 4.00 per hour = 4.00
    expect(Decimal.parse('4.00').mulDivRound(3600n, 3600n, 2).toString()).toBe('4.00');
    // 1 second at 4.00/h = 0.00111… -> 0.00; 9 seconds = 0.01
    expect(Decimal.parse('4.00').mulDivRound(1n, 3600n, 2).toString()).toBe('0.00');
    expect(Decimal.parse('4.00').mulDivRound(9n, 3600n, 2).toString()).toBe('0.01');
    // 19 % tax on 109.60 = 20.824 -> 20.82
    expect(Decimal.parse('109.60').mulDivRound(Decimal.parse('0.19'), 1n, 2).toString()).toBe('20.82');
  });

  it('uses ISO 4217 digits: JPY 0, USD 2, KWD 3', () => {
    expect(currencyDigits('JPY')).toBe(0);
    expect(currencyDigits('USD')).toBe(2);
    expect(currencyDigits('EUR')).toBe(2);
    expect(currencyDigits('KWD')).toBe(3);
    expect(currencyDigits('IQD')).toBe(3);
    expect(formatAmount(Decimal.parse('1234.5'), 'JPY')).toBe('1235');
    expect(formatAmount(Decimal.parse('12.3'), 'USD')).toBe('12.30');
    expect(formatAmount(Decimal.parse('1.0005'), 'KWD')).toBe('1.001');
    expect(isKnownCurrency('USD')).toBe(true);
    expect(isKnownCurrency('usd')).toBe(false);
    expect(isKnownCurrency('XYZ')).toBe(false);
  });
});

describe('Decimal against exact rational arithmetic (property tests)', () => {
  it('add, sub and mul are exact', () => {
    fc.assert(
      fc.property(decimalArb, decimalArb, (a, b) => {
        const ra = ratOfDecimal(a);
        const rb = ratOfDecimal(b);
        expect(ratEq(ratOfDecimal(a.add(b)), rat(ra.n * rb.d + rb.n * ra.d, ra.d * rb.d))).toBe(true);
        expect(ratEq(ratOfDecimal(a.sub(b)), rat(ra.n * rb.d - rb.n * ra.d, ra.d * rb.d))).toBe(true);
        expect(ratEq(ratOfDecimal(a.mul(b)), rat(ra.n * rb.n, ra.d * rb.d))).toBe(true);
      }),
    );
  });

  it('round(d) is the half-up rounding of the exact value', () => {
    fc.assert(
      fc.property(decimalArb, fc.integer({ min: 0, max: 4 }), (a, digits) => {
        expect(ratEq(ratOfDecimal(a.round(digits)), refRound(ratOfDecimal(a), digits))).toBe(true);
        expect(a.round(digits).scale).toBe(digits);
      }),
    );
  });

  it('mulDivRound(q, n, d) rounds the exact q × price / n once', () => {
    fc.assert(
      fc.property(
        decimalArb,
        fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
        fc.bigInt({ min: 1n, max: 10n ** 6n }),
        fc.integer({ min: 0, max: 4 }),
        (price, qty, div, digits) => {
          const p = ratOfDecimal(price);
          const exact = rat(p.n * qty, p.d * div);
          expect(ratEq(ratOfDecimal(price.mulDivRound(qty, div, digits)), refRound(exact, digits))).toBe(true);
        },
      ),
    );
  });

  it('parse(toString(x)) == x and the rounding error is at most half a minor unit', () => {
    fc.assert(
      fc.property(decimalArb, fc.integer({ min: 0, max: 4 }), (a, digits) => {
        expect(Decimal.parse(a.toString()).eq(a)).toBe(true);
        const err = a.sub(a.round(digits));
        const half = Decimal.of(5n, digits + 1);
        expect(err.sign() >= 0 ? err.cmp(half) <= 0 : err.neg().cmp(half) <= 0).toBe(true);
      }),
    );
  });

  it('divRoundHalfUp is symmetric around zero', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.bigInt({ min: 1n, max: 10n ** 9n }), (n, d) => {
        expect(divRoundHalfUp(-n, d)).toBe(-divRoundHalfUp(n, d));
      }),
    );
  });
});
