/**
 * JSON records, parsed fast and exactly. JSON.parse rounds a number with more than about 15
 * significant digits (9007199254740993 becomes 9007199254740992) and an id like
 * 12345678901234567890 silently changes. A record whose text holds a run of 16 or more digits is
 * therefore parsed by a small exact parser that keeps every number's text (LosslessNumber);
 * everything else goes through the native JSON.parse.
 */

/** A JSON number kept as its text, because a JS number could not hold it exactly. */
export class LosslessNumber {
  constructor(readonly text: string) {}
  toJSON(): unknown {
    return this.text;
  }
}

export type ParsedJson = { ok: true; value: unknown } | { ok: false; reason: string };

const LONG_DIGITS = /\d{16}/;

/** Parses one JSON text (a JSON Lines line, an array element, a whole .json document). */
export function parseJson(text: string): ParsedJson {
  try {
    return { ok: true, value: LONG_DIGITS.test(text) ? parseLossless(text) : JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: `not valid JSON: ${(err as Error).message}` };
  }
}

/** A parsed JSON record that must be an object. */
export function parseJsonObject(text: string): { ok: true; value: Record<string, unknown> } | { ok: false; reason: string } {
  const r = parseJson(text);
  if (!r.ok) return r;
  const v = r.value;
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof LosslessNumber) {
    return { ok: false, reason: `not a JSON object (${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'a number' : `a ${typeof v}`})` };
  }
  return { ok: true, value: v as Record<string, unknown> };
}

const MAX_DEPTH = 512;

/** RFC 8259 JSON, numbers as LosslessNumber. Throws a SyntaxError naming the position. */
export function parseLossless(text: string): unknown {
  let i = 0;
  const n = text.length;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${i}`);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const str = (): string => {
    // at the opening quote
    i++;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('Unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('Bad control character in string');
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const hex = text.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('Bad Unicode escape');
            out += String.fromCharCode(parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            fail('Bad escaped character');
        }
        i += 2;
        start = i;
        continue;
      }
      i++;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail('Nested too deeply');
    ws();
    if (i >= n) fail('Unexpected end of JSON input');
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('Expected a property name');
        const key = str();
        ws();
        if (text[i] !== ':') fail("Expected ':'");
        i++;
        const v = value(depth + 1);
        Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail("Expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail("Expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail(`Unexpected token ${JSON.stringify(c)}`);
    i += m[0].length;
    return new LosslessNumber(m[0]);
  };
  const v = value(0);
  ws();
  if (i < n) fail('Unexpected non-whitespace character after JSON');
  return v;
}
