/** The record parser accepts exactly what JSON.parse accepts, and keeps exactly the wanted fields. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LosslessNumber, RecordParser, type Wanted } from '../../src/ingest/record-json.js';

const wanted: Wanted = { a: true, b: { c: true, d: { e: true } }, 'b.c': true, s: true, n: true };
const parser = new RecordParser(wanted);

/** What the parser should keep, computed from JSON.parse's tree (numbers compared by value). */
function expected(v: Record<string, unknown>, w: Wanted): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, sub] of Object.entries(w)) {
    if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
    const x = v[k];
    if (sub === true) out[k] = x;
    else if (typeof x === 'object' && x !== null && !Array.isArray(x)) out[k] = expected(x as Record<string, unknown>, sub);
    else out[k] = null; // not an object: nothing to look for inside
  }
  return out;
}

/** Numbers the parser kept as text, by value. */
function plain(v: unknown): unknown {
  if (v instanceof LosslessNumber) return Number(v.text);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function jsonParseVerdict(text: string): 'object' | 'other' | 'invalid' {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? 'object' : 'other';
  } catch {
    return 'invalid';
  }
}

describe('the record parser', () => {
  it('agrees with JSON.parse on valid records', () => {
    const obj = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e', 's', 'n', 'b.c', 'x', '\\u0061'), fc.jsonValue(), { maxKeys: 8 });
    const nested = fc.record({ a: fc.jsonValue(), b: fc.oneof(obj, fc.record({ c: fc.jsonValue(), d: obj })), z: fc.jsonValue() });
    fc.assert(
      fc.property(fc.oneof(obj, nested), fc.constantFrom(0, 2), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        const r = parser.parse(text);
        expect(r.ok).toBe(true);
        if (r.ok) expect(plain(r.value)).toEqual(expected(JSON.parse(text) as Record<string, unknown>, wanted));
      }),
      { numRuns: 500 },
    );
  });

  it('accepts and rejects exactly what JSON.parse does, on mangled texts', () => {
    const pieces = fc.constantFrom(
      '{', '}', '[', ']', ',', ':', '"a"', '"b"', '"s"', '1', '-0', '01', '1.', '.5', '1e5', '1E+2', '-', 'true', 'tru', 'null', ' ', '\t',
      '\n', '"\\u00e9"', '"\\x"', '"\\u12"', '"\u0001"', '"é"', '"\\"', '""', 'NaN', '+1', '0.0e-0',
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 14 }), (parts) => {
        const text = `{${parts.join('')}`;
        const want = jsonParseVerdict(text);
        const r = parser.parse(text);
        if (want === 'object') expect(r).toMatchObject({ ok: true });
        else expect(r.ok).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps numbers exactly', () => {
    const r = parser.parse('{"a": 9007199254740993, "n": 0.1, "s": 12, "b": {"c": -7, "d": {"e": 1e400}}}');
    expect(r.ok && r.value).toEqual({
      a: new LosslessNumber('9007199254740993'), n: new LosslessNumber('0.1'), s: 12,
      b: { c: -7, d: { e: new LosslessNumber('1e400') } },
    });
  });

  it('decodes escapes in kept strings and in keys', () => {
    const r = parser.parse('{"\\u0061": "x\\ny\\u00e9\\ud83d\\ude00", "s": "\\"q\\""}');
    expect(r.ok && r.value).toEqual({ a: 'x\nyé😀', s: '"q"' });
  });

  it('last duplicate wins, as in JSON.parse', () => {
    const r = parser.parse('{"a": 1, "a": 2, "b": {"c": 1}, "b": {"d": {"e": 3}}}');
    expect(r.ok && r.value).toEqual({ a: 2, b: { d: { e: 3 } } });
  });

  it('never sets a prototype from a key', () => {
    const p = new RecordParser({ __proto__: true } as unknown as Wanted);
    const r = p.parse('{"__proto__": {"polluted": 1}}');
    expect(r.ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
