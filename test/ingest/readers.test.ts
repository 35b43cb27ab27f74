/** The streaming readers: the same records whatever the chunking; CRLF, BOM, blank lines, quotes. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvReader, JsonDocumentReader, JsonLinesReader, type RawRecord, type RecordReader } from '../../src/ingest/readers.js';

type Make = (sink: (r: RawRecord) => void) => RecordReader;

/** Feeds `bytes` to a reader in the given chunk sizes (cycled). */
function read(make: Make, bytes: Buffer, sizes: number[] = [bytes.length || 1]): RawRecord[] {
  const out: RawRecord[] = [];
  const reader = make((r) => out.push({ ...r, bytes: undefined }));
  let at = 0;
  let k = 0;
  while (at < bytes.length) {
    const n = Math.max(1, sizes[k++ % sizes.length]!);
    reader.push(bytes.subarray(at, at + n));
    at += n;
  }
  reader.end();
  return out;
}

const jsonl: Make = (s) => new JsonLinesReader(s);
const jsonDoc: Make = (s) => new JsonDocumentReader(s);
let lastCsv: CsvReader | undefined;
const csv: Make = (s) => (lastCsv = new CsvReader(s));

const brief = (rs: RawRecord[]) => rs.map((r) => ({ line: r.line, text: r.text, ...(r.cells ? { cells: r.cells } : {}), ...(r.bad ? { bad: r.bad } : {}) }));

describe('JSON Lines', () => {
  it('one record per line; blank lines skipped but counted as lines; CRLF and a BOM tolerated', () => {
    const text = '\uFEFF{"a":1}\r\n\r\n   \n{"b":2}\n{"c":3}';
    const rs = read(jsonl, Buffer.from(text));
    expect(brief(rs)).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 4, text: '{"b":2}' },
      { line: 5, text: '{"c":3}' },
    ]);
    expect(rs[2]!.endByte).toBe(Buffer.byteLength(text));
    expect(rs[0]!.endByte).toBe(Buffer.byteLength('\uFEFF{"a":1}\r\n'));
  });

  it('gives the same records and offsets for any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(''), fc.constant('  '), fc.json()), { maxLength: 12 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }),
        (lines, crlf, bom, sizes) => {
          const text = (bom ? '\uFEFF' : '') + lines.join(crlf ? '\r\n' : '\n');
          const bytes = Buffer.from(text);
          expect(read(jsonl, bytes, sizes)).toEqual(read(jsonl, bytes));
        },
      ),
    );
  });

  it('rejects a line that is not UTF-8', () => {
    const rs = read(jsonl, Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n{"b":1}\n')]));
    expect(rs.map((r) => r.bad)).toEqual(['not valid UTF-8', undefined]);
  });

  it('resumes at a byte offset with the right line numbers', () => {
    const text = '{"a":1}\n\n{"b":2}\n{"c":3}\n';
    const all = read(jsonl, Buffer.from(text));
    const from = all[0]!;
    const out: RawRecord[] = [];
    const r = new JsonLinesReader((x) => out.push(x), { byte: from.endByte, line: from.endLine });
    r.push(Buffer.from(text).subarray(from.endByte));
    r.end();
    expect(brief(out)).toEqual(brief(all.slice(1)));
    expect(out.map((x) => x.endByte)).toEqual(all.slice(1).map((x) => x.endByte));
  });
});

describe('a JSON document', () => {
  it('an array: each element is a record, at its position', () => {
    const rs = read(jsonDoc, Buffer.from('\uFEFF[\n {"a":"]"},\n {"b":[1,{"c":"}"}]},\n 7, "s", null\n]\n'));
    expect(brief(rs)).toEqual([
      { line: 1, text: '{"a":"]"}' },
      { line: 2, text: '{"b":[1,{"c":"}"}]}' },
      { line: 3, text: '7' },
      { line: 4, text: '"s"' },
      { line: 5, text: 'null' },
    ]);
  });

  it('one object is one record', () => {
    expect(brief(read(jsonDoc, Buffer.from(' {"a": {"b": "\\"}"}} \n')))).toEqual([{ line: 1, text: '{"a": {"b": "\\"}"}}' }]);
  });

  it('an empty array has no records', () => {
    expect(read(jsonDoc, Buffer.from('[ ]'))).toEqual([]);
  });

  it('stops at a structural error, reporting it at that position', () => {
    expect(brief(read(jsonDoc, Buffer.from('[{"a":1} {"b":2}]')))).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":2}]', bad: 'expected "," or "]" after element 1' },
    ]);
    expect(brief(read(jsonDoc, Buffer.from('[{"a":1},{"b":')))).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":', bad: 'the JSON array is not closed: the file ends inside element 2' },
    ]);
    expect(brief(read(jsonDoc, Buffer.from('[{"a":1},]'))).map((r) => r.bad)).toEqual([undefined, 'an empty element in the JSON array']);
    expect(brief(read(jsonDoc, Buffer.from('[{"a":1}] x'))).map((r) => r.bad)).toEqual([undefined, 'text after the end of the JSON array']);
    expect(brief(read(jsonDoc, Buffer.from('x')))[0]!.bad).toBe('not a JSON object or array of objects');
  });

  it('gives the same records for any chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.json(), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }), (els, sizes) => {
        const bytes = Buffer.from(`[${els.join(',\n')}]`);
        const whole = read(jsonDoc, bytes);
        expect(whole.map((r) => JSON.parse(r.text) as unknown)).toEqual(els.map((e) => JSON.parse(e) as unknown));
        expect(read(jsonDoc, bytes, sizes)).toEqual(whole);
      }),
    );
  });
});

describe('CSV (RFC 4180)', () => {
  it('header, quoted fields, "" escapes, newlines inside quotes, CRLF, BOM, blank lines', () => {
    const text = '\uFEFFid,note,n\r\n' + 'r-1,"a, b",1\r\n' + '\r\n' + 'r-2,"line one\r\nline ""two""",2\r\n' + 'r-3,,3';
    const rs = read(csv, Buffer.from(text));
    expect(lastCsv!.header).toEqual(['id', 'note', 'n']);
    expect(brief(rs)).toEqual([
      { line: 2, text: 'r-1,"a, b",1', cells: ['r-1', 'a, b', '1'] },
      { line: 4, text: 'r-2,"line one\r\nline ""two""",2', cells: ['r-2', 'line one\r\nline "two"', '2'] },
      { line: 6, text: 'r-3,,3', cells: ['r-3', '', '3'] },
    ]);
  });

  it('rejects rows it cannot read, and goes on with the next', () => {
    const text = 'a,b\n1,2,3\nx"y,2\n"q"z,2\n"ok",2\n"open,2\n';
    expect(brief(read(csv, Buffer.from(text)))).toEqual([
      { line: 2, text: '1,2,3', bad: 'has 3 fields; the header has 2' },
      { line: 3, text: 'x"y,2', bad: 'a quote (") inside a field that does not start with one' },
      { line: 4, text: '"q"z,2', bad: 'text after the closing quote of a field' },
      { line: 5, text: '"ok",2', cells: ['ok', '2'] },
      { line: 6, text: '"open,2\n', bad: 'a quoted field is not closed: the file ends inside it' },
    ]);
  });

  it('gives the same records for any chunking', () => {
    const cell = fc.oneof(fc.string(), fc.constantFrom('"', '""', ',', '\n', '\r\n', 'é', ''));
    fc.assert(
      fc.property(
        fc.array(fc.array(cell, { minLength: 2, maxLength: 2 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
        (rows, sizes) => {
          const q = (c: string) => `"${c.replace(/"/g, '""')}"`;
          const text = ['h1,h2', ...rows.map((r) => r.map(q).join(','))].join('\r\n');
          const bytes = Buffer.from(text);
          const whole = read(csv, bytes);
          expect(whole.map((r) => r.cells)).toEqual(rows);
          expect(read(csv, bytes, sizes)).toEqual(whole);
        },
      ),
    );
  });
});
