/**
 * A JSON record parser for receipts: it checks the whole text as strictly as JSON.parse does
 * (RFC 8259), but builds only the fields a receipt is read from (receipts.md's source fields), so
 * a 500-byte gateway record costs a scan and a handful of small values, not a tree of objects.
 * Numbers keep their exact text: a plain integer of up to 15 digits becomes a number, anything
 * else (fractions, exponents, long digit runs) a LosslessNumber, so 9007199254740993 is never
 * silently rounded and 0.1 stays exactly 0.1.
 */
/** A JSON number kept as its text, because a JS number could not hold it exactly. */
export class LosslessNumber {
  constructor(readonly text: string) {}
  toJSON(): unknown {
    return this.text;
  }
}

/** Which fields to keep: a name maps to `true` (keep the value) or to the fields to keep inside it. */
export interface Wanted {
  [name: string]: true | Wanted;
}

interface Level {
  /** Wanted names grouped by length (index), for a lookup without slicing the key. */
  byLength: ({ name: string; sub: Level | null }[] | undefined)[];
  byName: Map<string, Level | null>;
}

function compile(w: Wanted): Level {
  const byLength: ({ name: string; sub: Level | null }[] | undefined)[] = [];
  const byName = new Map<string, Level | null>();
  for (const [name, v] of Object.entries(w)) {
    const sub = v === true ? null : compile(v);
    byName.set(name, sub);
    (byLength[name.length] ??= []).push({ name, sub });
  }
  return { byLength, byName };
}

export type RecordParse = { ok: true; value: Record<string, unknown> } | { ok: false; reason: string };

class JsonError extends Error {}

const MAX_DEPTH = 1000;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f]/;

export class RecordParser {
  private readonly root: Level;
  private s = '';
  private i = 0;

  constructor(wanted: Wanted) {
    this.root = compile(wanted);
  }

  parse(text: string): RecordParse {
    this.s = text;
    this.i = 0;
    this.nextBackslash = -1;
    this.controls = CONTROL.test(text);
    try {
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x7b) {
        if (this.i >= this.s.length) this.fail('empty');
        // Valid JSON that is not an object is "not a JSON object"; anything else is invalid.
        const kind = this.kindOfValue();
        return { ok: false, reason: `not a JSON object (${kind})` };
      }
      const value = this.object(this.root, 0);
      this.ws();
      if (this.i < this.s.length) this.fail('unexpected text after the object');
      return { ok: true, value };
    } catch (err) {
      if (err instanceof JsonError) return { ok: false, reason: `not valid JSON: ${err.message}` };
      throw err;
    } finally {
      this.s = '';
    }
  }

  private kindOfValue(): string {
    const c = this.s.charCodeAt(this.i);
    this.value(null, 0);
    this.ws();
    if (this.i < this.s.length) this.fail('unexpected text after the value');
    if (c === 0x5b) return 'an array';
    if (c === 0x22) return 'a string';
    if (c === 0x74 || c === 0x66) return 'a boolean';
    if (c === 0x6e) return 'null';
    return 'a number';
  }

  private fail(what: string): never {
    const at = this.i;
    const c = this.s[at];
    throw new JsonError(c === undefined ? `${what === 'empty' ? 'the line is empty' : `${what}: unexpected end`}` : `${what}: unexpected ${JSON.stringify(c)} at position ${at}`);
  }

  private ws(): void {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
    this.i = i;
  }

  /** An object at `i` (its `{`); keeps the wanted fields of `level`. */
  private object(level: Level | null, depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) this.fail('nested too deeply');
    const s = this.s;
    const out: Record<string, unknown> = {};
    this.i++;
    this.ws();
    if (s.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      if (s.charCodeAt(this.i) !== 0x22) this.fail('expected a property name');
      // the key
      const start = this.i + 1;
      const end = this.string();
      let hit: { name: string; sub: Level | null } | undefined;
      if (level) {
        if (this.escaped) {
          const name = JSON.parse(s.slice(start - 1, end + 1)) as string;
          const sub = level.byName.get(name);
          if (sub !== undefined) hit = { name, sub };
        } else {
          const list = level.byLength[end - start];
          if (list) {
            for (const cand of list) {
              if (s.startsWith(cand.name, start)) {
                hit = cand;
                break;
              }
            }
          }
        }
      }
      if (s.charCodeAt(this.i) !== 0x3a) {
        this.ws();
        if (s.charCodeAt(this.i) !== 0x3a) this.fail("expected ':'");
      }
      this.i++;
      if (s.charCodeAt(this.i) <= 0x20) this.ws();
      if (hit) {
        if (!hit.sub) out[hit.name] = this.value({}, depth + 1);
        else if (s.charCodeAt(this.i) === 0x7b) out[hit.name] = this.object(hit.sub, depth + 1);
        else {
          // Not an object where fields are looked for inside: it hides an earlier one, as in JSON.parse.
          this.value(null, depth + 1);
          out[hit.name] = null;
        }
      } else this.value(null, depth + 1);
      let c = s.charCodeAt(this.i);
      if (c <= 0x20) {
        this.ws();
        c = s.charCodeAt(this.i);
      }
      if (c === 0x2c) {
        this.i++;
        if (s.charCodeAt(this.i) <= 0x20) this.ws();
        continue;
      }
      if (c === 0x7d) {
        this.i++;
        return out;
      }
      this.fail("expected ',' or '}'");
    }
  }

  private escaped = false;
  /** Where the next backslash is (at or after some earlier point), or -1 when not yet looked for. */
  private nextBackslash = -1;
  /** The text holds a control character somewhere (then strings are checked character by character). */
  private controls = false;

  /** A string at `i` (its opening quote): checks it, moves past it, returns the closing quote's index. */
  private string(): number {
    if (this.controls) return this.stringSlow();
    const s = this.s;
    let i = this.i + 1;
    let escaped = false;
    for (;;) {
      const q = s.indexOf('"', i);
      if (q === -1) {
        this.i = s.length;
        this.fail('a string is not closed');
      }
      let b = this.nextBackslash;
      if (b !== s.length && b < i) {
        b = s.indexOf('\\', i);
        if (b === -1) b = s.length;
        this.nextBackslash = b;
      }
      if (b > q) {
        this.escaped = escaped;
        this.i = q + 1;
        return q;
      }
      escaped = true;
      i = this.escape(b);
    }
  }

  /** Checks the escape at `b` (a backslash); returns the index after it. */
  private escape(b: number): number {
    const s = this.s;
    const e = s.charCodeAt(b + 1);
    if (e === 0x75) {
      for (let k = 2; k < 6; k++) {
        const h = s.charCodeAt(b + k);
        if (!((h >= 0x30 && h <= 0x39) || (h >= 0x61 && h <= 0x66) || (h >= 0x41 && h <= 0x46))) {
          this.i = b + k;
          this.fail('bad \\u escape in a string');
        }
      }
      return b + 6;
    }
    if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) return b + 2;
    this.i = b + 1;
    return this.fail('bad escape in a string');
  }

  /** The same, character by character, for a text that holds control characters. */
  private stringSlow(): number {
    const s = this.s;
    let i = this.i + 1;
    let escaped = false;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        i = this.escape(i);
        continue;
      }
      if (c < 0x20 || Number.isNaN(c)) {
        this.i = i;
        this.fail(Number.isNaN(c) ? 'a string is not closed' : 'a control character in a string');
      }
      i++;
    }
    this.escaped = escaped;
    this.i = i + 1;
    return i;
  }

  /**
   * Any value at `i`. With `keep` non-null the value is built (a kept field); with null it is
   * only checked and skipped.
   */
  private value(keep: object | null, depth: number): unknown {
    const s = this.s;
    const c = s.charCodeAt(this.i);
    switch (c) {
      case 0x22: {
        const start = this.i;
        const end = this.string();
        if (!keep) return undefined;
        return this.escaped ? (JSON.parse(s.slice(start, end + 1)) as string) : s.slice(start + 1, end);
      }
      case 0x7b: {
        if (depth > MAX_DEPTH) this.fail('nested too deeply');
        if (!keep) {
          this.object(null, depth);
          return undefined;
        }
        const start = this.i;
        this.object(null, depth);
        return JSON.parse(s.slice(start, this.i)) as unknown;
      }
      case 0x5b: {
        if (depth > MAX_DEPTH) this.fail('nested too deeply');
        const start = this.i;
        this.i++;
        this.ws();
        if (s.charCodeAt(this.i) === 0x5d) this.i++;
        else {
          for (;;) {
            this.ws();
            this.value(null, depth + 1);
            this.ws();
            const d = s.charCodeAt(this.i);
            if (d === 0x2c) {
              this.i++;
              continue;
            }
            if (d === 0x5d) {
              this.i++;
              break;
            }
            this.fail("expected ',' or ']'");
          }
        }
        return keep ? (JSON.parse(s.slice(start, this.i)) as unknown) : undefined;
      }
      case 0x74:
        if (!s.startsWith('true', this.i)) this.fail('not a value');
        this.i += 4;
        return true;
      case 0x66:
        if (!s.startsWith('false', this.i)) this.fail('not a value');
        this.i += 5;
        return false;
      case 0x6e:
        if (!s.startsWith('null', this.i)) this.fail('not a value');
        this.i += 4;
        return null;
      default:
        return this.number(keep !== null);
    }
  }

  /** A number per RFC 8259: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? */
  private number(keep: boolean): unknown {
    const s = this.s;
    const start = this.i;
    let i = start;
    let plain = true;
    if (s.charCodeAt(i) === 0x2d) i++;
    let c = s.charCodeAt(i);
    let value = 0;
    if (c === 0x30) i++;
    else if (c >= 0x31 && c <= 0x39) {
      while (c >= 0x30 && c <= 0x39) {
        value = value * 10 + (c - 0x30);
        c = s.charCodeAt(++i);
      }
    } else {
      this.i = i;
      this.fail('not a value');
    }
    if (s.charCodeAt(i) === 0x2e) {
      plain = false;
      i++;
      c = s.charCodeAt(i);
      if (!(c >= 0x30 && c <= 0x39)) {
        this.i = i;
        this.fail('a digit must follow "."');
      }
      while (c >= 0x30 && c <= 0x39) c = s.charCodeAt(++i);
    }
    c = s.charCodeAt(i);
    if (c === 0x65 || c === 0x45) {
      plain = false;
      i++;
      c = s.charCodeAt(i);
      if (c === 0x2b || c === 0x2d) c = s.charCodeAt(++i);
      if (!(c >= 0x30 && c <= 0x39)) {
        this.i = i;
        this.fail('a digit must follow the exponent');
      }
      while (c >= 0x30 && c <= 0x39) c = s.charCodeAt(++i);
    }
    this.i = i;
    if (!keep) return undefined;
    const negative = s.charCodeAt(start) === 0x2d;
    if (plain && i - start - (negative ? 1 : 0) <= 15) return negative ? (value === 0 ? new LosslessNumber(s.slice(start, i)) : -value) : value;
    return new LosslessNumber(s.slice(start, i));
  }
}
