/**
 * Streaming readers: bytes in (any chunking), records out, memory bounded by the largest record.
 * Each knows where a record starts (its line, or its position in a JSON array) and where it ends
 * in the byte stream, which is what a resumed import seeks to. Readers never parse JSON: they
 * hand each record's text to the caller, which parses only the records it needs.
 *
 *   JsonLinesReader   .jsonl/.ndjson: one record per non-blank line; CRLF and a BOM tolerated
 *   JsonDocumentReader .json: one object, or an array whose elements are the records
 *   CsvReader         RFC 4180: header row, quoted fields, "" escapes, newlines inside quotes
 */
import { isUtf8 } from 'node:buffer';

export interface RawRecord {
  /** 1-based: the physical line the record starts on (JSON Lines, CSV) or its position in a JSON array. */
  line: number;
  /** The record as written, for rejects (cut after MAX_TEXT for a record too long to keep). */
  text: string;
  /** The record's bytes as written (a view, valid until the next push). */
  bytes?: Uint8Array;
  /** CSV cells, one per header column. */
  cells?: string[];
  /** Why the record cannot be read; it is rejected. */
  bad?: string;
  /** Offset in the (decompressed) byte stream just after the record. */
  endByte: number;
  /** Physical lines read through the end of the record. */
  endLine: number;
}

export type RecordSink = (r: RawRecord) => void;

export interface RecordReader {
  push(chunk: Buffer): void;
  end(): void;
}

/** A record longer than this is rejected without being kept in memory. */
export const MAX_RECORD_BYTES = 8 * 1024 * 1024;
/** How much of an over-long record the reject report keeps. */
const MAX_TEXT = 4096;

const BOM = [0xef, 0xbb, 0xbf];

/** Strips a UTF-8 byte-order mark at the very start of a stream. */
class BomFilter {
  private head: Buffer | null;
  constructor(
    atStart: boolean,
    private readonly next: (b: Buffer, skipped: number) => void,
  ) {
    this.head = atStart ? Buffer.alloc(0) : null;
  }

  push(chunk: Buffer): void {
    if (this.head === null) {
      this.next(chunk, 0);
      return;
    }
    const head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
    if (head.length < 3 && BOM.slice(0, head.length).every((b, i) => head[i] === b)) {
      this.head = head;
      return;
    }
    this.head = null;
    if (head[0] === BOM[0] && head[1] === BOM[1] && head[2] === BOM[2]) this.next(head.subarray(3), 3);
    else this.next(head, 0);
  }

  end(): void {
    if (this.head !== null && this.head.length > 0) this.next(this.head, 0);
    this.head = null;
  }
}

function decode(buf: Buffer): { text: string; bad?: string } {
  if (isUtf8(buf)) return { text: buf.toString('utf8') };
  return { text: buf.toString('utf8'), bad: 'not valid UTF-8' };
}

function cut(buf: Buffer): string {
  return `${buf.subarray(0, MAX_TEXT).toString('utf8')}...`;
}

function isBlank(buf: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------

/** JSON Lines: one record per line; blank lines are skipped (and not counted). */
export class JsonLinesReader implements RecordReader {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private overlong = false;
  private pos: number;
  private lineNo: number;
  private readonly bom: BomFilter;

  constructor(
    private readonly sink: RecordSink,
    start: { byte: number; line: number } = { byte: 0, line: 0 },
  ) {
    this.pos = start.byte;
    this.lineNo = start.line;
    this.bom = new BomFilter(start.byte === 0, (b, skipped) => this.scan(b, skipped));
  }

  push(chunk: Buffer): void {
    this.bom.push(chunk);
  }

  private scan(chunk: Buffer, skipped: number): void {
    this.pos += skipped;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      if (this.carryBytes > 0 || this.overlong) {
        this.carry.push(chunk.subarray(start, nl));
        this.carryBytes += nl - start;
        const whole = this.overlong ? null : Buffer.concat(this.carry);
        this.pos += nl - start + 1;
        this.emitCarried(whole);
      } else {
        this.pos += nl - start + 1;
        this.emit(chunk, start, nl);
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pos += rest.length;
      this.carryBytes += rest.length;
      if (!this.overlong) {
        this.carry.push(rest);
        if (this.carryBytes > MAX_RECORD_BYTES) {
          this.overlong = true;
          this.carry = [Buffer.concat(this.carry).subarray(0, MAX_TEXT)];
        }
      }
    }
  }

  private emitCarried(whole: Buffer | null): void {
    if (whole === null) {
      this.lineNo++;
      const head = this.carry[0]!;
      this.sink({
        line: this.lineNo, text: cut(head), bad: `line is longer than ${MAX_RECORD_BYTES / 1024 / 1024} MiB`,
        endByte: this.pos, endLine: this.lineNo,
      });
    } else {
      this.emit(whole, 0, whole.length);
    }
    this.carry = [];
    this.carryBytes = 0;
    this.overlong = false;
  }

  /** One line without its newline; `pos` is already past it. */
  private emit(buf: Buffer, s: number, e: number): void {
    this.lineNo++;
    if (e > s && buf[e - 1] === 0x0d) e--;
    if (e === s || (buf[s] !== 0x7b && isBlank(buf, s, e))) return;
    if (e - s > MAX_RECORD_BYTES) {
      this.sink({
        line: this.lineNo, text: cut(buf.subarray(s, e)), bad: `line is longer than ${MAX_RECORD_BYTES / 1024 / 1024} MiB`,
        endByte: this.pos, endLine: this.lineNo,
      });
      return;
    }
    const bytes = buf.subarray(s, e);
    const d = decode(bytes);
    this.sink({ line: this.lineNo, text: d.text, bytes, bad: d.bad, endByte: this.pos, endLine: this.lineNo });
  }

  end(): void {
    this.bom.end();
    if (this.carryBytes > 0 || this.overlong) {
      this.emitCarried(this.overlong ? null : Buffer.concat(this.carry));
    }
  }
}

// ---------------------------------------------------------------------------------------------

type DocState = 'start' | 'before' | 'after' | 'element' | 'done' | 'dead';

/**
 * A .json document: one object (one record), or an array of records, read element by element.
 * A structural error (a missing comma, an unclosed array) ends the reading there: it is reported
 * as a reject at that position, and every element before it counts.
 */
export class JsonDocumentReader implements RecordReader {
  private state: DocState = 'start';
  private array = false;
  private position = 0;
  private pos = 0;
  private lines = 0;
  // the element being scanned
  private parts: Buffer[] = [];
  private partBytes = 0;
  private overlong = false;
  private depth = 0;
  private inString = false;
  private escape = false;
  private primitive = false;
  private readonly bom: BomFilter;

  constructor(private readonly sink: RecordSink) {
    this.bom = new BomFilter(true, (b, skipped) => this.scan(b, skipped));
  }

  push(chunk: Buffer): void {
    this.bom.push(chunk);
  }

  private fail(reason: string, text = ''): void {
    this.sink({ line: this.position + 1, text, bad: reason, endByte: this.pos, endLine: this.lines });
    this.state = 'dead';
  }

  private scan(chunk: Buffer, skipped: number): void {
    this.pos += skipped;
    let elemStart = this.state === 'element' ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === 0x0a) this.lines++;
      switch (this.state) {
        case 'dead':
          return;
        case 'start':
        case 'before':
        case 'after':
        case 'done': {
          if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) break;
          if (this.state === 'start') {
            if (c === 0x5b) {
              this.array = true;
              this.state = 'before';
            } else if (c === 0x7b) {
              this.state = 'element';
              elemStart = i;
              this.beginElement(false);
              this.depth = 1;
            } else {
              this.pos += i;
              this.fail('not a JSON object or array of objects', chunk.subarray(i, i + 80).toString('utf8'));
              return;
            }
            break;
          }
          if (this.state === 'done') {
            this.pos += i;
            this.fail(this.array ? 'text after the end of the JSON array' : 'text after the JSON object', chunk.subarray(i, i + 80).toString('utf8'));
            return;
          }
          if (c === 0x5d && (this.state === 'after' || this.position === 0)) {
            this.state = 'done';
            break;
          }
          if (this.state === 'after') {
            if (c === 0x2c) {
              this.state = 'before';
              break;
            }
            this.pos += i;
            this.fail(`expected "," or "]" after element ${this.position}`, chunk.subarray(i, i + 80).toString('utf8'));
            return;
          }
          // before an element
          if (c === 0x2c || c === 0x5d) {
            this.pos += i;
            this.fail('an empty element in the JSON array', '');
            return;
          }
          this.state = 'element';
          elemStart = i;
          this.beginElement(c !== 0x7b && c !== 0x5b);
          if (c === 0x7b || c === 0x5b) this.depth = 1;
          else if (c === 0x22) this.inString = true;
          break;
        }
        case 'element': {
          if (this.inString) {
            if (this.escape) this.escape = false;
            else if (c === 0x5c) this.escape = true;
            else if (c === 0x22) this.inString = false;
            break;
          }
          if (c === 0x22) {
            this.inString = true;
            break;
          }
          if (this.primitive) {
            if (c === 0x2c || c === 0x5d || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
              // the element ended just before this byte
              this.finishElement(chunk, elemStart, i);
              elemStart = -1;
              i--; // look at this byte again as a separator
              if (c === 0x0a) this.lines--;
            }
            break;
          }
          if (c === 0x7b || c === 0x5b) this.depth++;
          else if (c === 0x7d || c === 0x5d) {
            this.depth--;
            if (this.depth === 0) {
              this.finishElement(chunk, elemStart, i + 1);
              elemStart = -1;
            }
          }
          break;
        }
      }
    }
    if (this.state === 'element' && elemStart >= 0) this.keep(chunk.subarray(elemStart));
    this.pos += chunk.length;
  }

  private beginElement(primitive: boolean): void {
    this.parts = [];
    this.partBytes = 0;
    this.overlong = false;
    this.depth = 0;
    this.inString = false;
    this.escape = false;
    this.primitive = primitive;
  }

  private keep(b: Buffer): void {
    this.partBytes += b.length;
    if (this.overlong) return;
    this.parts.push(b);
    if (this.partBytes > MAX_RECORD_BYTES) {
      this.overlong = true;
      this.parts = [Buffer.concat(this.parts).subarray(0, MAX_TEXT)];
    }
  }

  /** The element is chunk[s, e) plus what was kept from earlier chunks; `pos` is still at chunk start. */
  private finishElement(chunk: Buffer, s: number, e: number): void {
    this.keep(chunk.subarray(s, e));
    this.position++;
    const endByte = this.pos + e;
    this.state = this.array ? 'after' : 'done';
    if (this.overlong) {
      this.sink({
        line: this.position, text: cut(this.parts[0]!), bad: `element is longer than ${MAX_RECORD_BYTES / 1024 / 1024} MiB`,
        endByte, endLine: this.lines,
      });
    } else {
      const bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
      const d = decode(bytes);
      this.sink({ line: this.position, text: d.text, bytes, bad: d.bad, endByte, endLine: this.lines });
    }
    this.parts = [];
    this.partBytes = 0;
  }

  end(): void {
    this.bom.end();
    if (this.state === 'element') {
      const text = this.overlong ? cut(this.parts[0]!) : Buffer.concat(this.parts).toString('utf8');
      this.position++;
      this.sink({
        line: this.position, text, bad: this.array ? `the JSON array is not closed: the file ends inside element ${this.position}` : 'the JSON object is not closed: the file ends inside it',
        endByte: this.pos, endLine: this.lines,
      });
      this.state = 'dead';
    } else if (this.array && (this.state === 'before' || this.state === 'after')) {
      this.sink({
        line: this.position + 1, text: '', bad: 'the JSON array is not closed: the file ends before its "]"',
        endByte: this.pos, endLine: this.lines,
      });
      this.state = 'dead';
    } else if (this.state === 'start') {
      // A .json file holds one object or an array of them: an empty one holds neither.
      this.sink({ line: 1, text: '', bad: 'the file is empty: a .json file holds one JSON object or an array of them', endByte: this.pos, endLine: this.lines });
      this.state = 'dead';
    }
  }
}

// ---------------------------------------------------------------------------------------------

const enum Csv {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteInQuoted,
  AfterClose,
}

/**
 * RFC 4180 CSV. The first non-blank record is the header; every later record must have as many
 * fields. A field is quoted when it starts with `"`; inside, `""` is a quote and newlines are
 * data. A record is reported at the physical line it starts on.
 */
export class CsvReader implements RecordReader {
  header: string[] | undefined;
  private state = Csv.FieldStart;
  private parts: Buffer[] = [];
  private partBytes = 0;
  private overlong = false;
  /** Cell boundaries relative to the record start: [start, end, quoted(0/1)] triples. */
  private cells: number[] = [];
  private cellStart = 0;
  private bad: string | undefined;
  private recLine = 1;
  private lineNo = 1;
  private pos = 0;
  private recBytes = 0;
  private readonly bom: BomFilter;

  constructor(private readonly sink: RecordSink) {
    this.bom = new BomFilter(true, (b, skipped) => this.scan(b, skipped));
  }

  push(chunk: Buffer): void {
    this.bom.push(chunk);
  }

  private scan(chunk: Buffer, skipped: number): void {
    this.pos += skipped;
    let recStart = 0; // where the current record starts in this chunk
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      const at = this.recBytes + (i - recStart); // offset within the record
      switch (this.state) {
        case Csv.FieldStart:
          if (c === 0x22) {
            this.state = Csv.Quoted;
            this.cellStart = at;
          } else if (c === 0x2c) {
            this.cells.push(at, at, 0);
            this.cellStart = at + 1;
          } else if (c === 0x0a) {
            this.cells.push(at, at, 0);
            this.endRecord(chunk, recStart, i);
            recStart = i + 1;
          } else {
            this.state = Csv.Unquoted;
            this.cellStart = at;
          }
          break;
        case Csv.Unquoted:
          if (c === 0x2c) {
            this.cells.push(this.cellStart, at, 0);
            this.state = Csv.FieldStart;
          } else if (c === 0x0a) {
            this.cells.push(this.cellStart, at, 0);
            this.endRecord(chunk, recStart, i);
            recStart = i + 1;
          } else if (c === 0x22) {
            this.bad ??= 'a quote (") inside a field that does not start with one';
          }
          break;
        case Csv.Quoted:
          if (c === 0x22) this.state = Csv.QuoteInQuoted;
          else if (c === 0x0a) this.lineNo++;
          break;
        case Csv.QuoteInQuoted:
          if (c === 0x22) this.state = Csv.Quoted;
          else if (c === 0x2c) {
            this.cells.push(this.cellStart, at, 1);
            this.state = Csv.FieldStart;
          } else if (c === 0x0a) {
            this.cells.push(this.cellStart, at, 1);
            this.endRecord(chunk, recStart, i);
            recStart = i + 1;
          } else if (c === 0x0d) this.state = Csv.AfterClose;
          else {
            this.bad ??= 'text after the closing quote of a field';
            this.state = Csv.Unquoted;
          }
          break;
        case Csv.AfterClose:
          if (c === 0x0a) {
            this.cells.push(this.cellStart, at - 1, 1);
            this.endRecord(chunk, recStart, i);
            recStart = i + 1;
          } else {
            this.bad ??= 'text after the closing quote of a field';
            this.state = c === 0x2c ? Csv.FieldStart : Csv.Unquoted;
            if (c === 0x2c) this.cells.push(this.cellStart, at, 0);
          }
          break;
      }
    }
    if (recStart < chunk.length) this.keep(chunk.subarray(recStart));
    this.pos += chunk.length;
  }

  private keep(b: Buffer): void {
    this.recBytes += b.length;
    if (this.overlong) return;
    this.parts.push(b);
    this.partBytes += b.length;
    if (this.partBytes > MAX_RECORD_BYTES) {
      this.overlong = true;
      this.parts = [Buffer.concat(this.parts).subarray(0, MAX_TEXT)];
    }
  }

  /** The record ends at chunk[nl] (a newline), or at the end of input when nl is -1. */
  private endRecord(chunk: Buffer | null, recStart: number, nl: number): void {
    if (chunk !== null) this.keep(chunk.subarray(recStart, nl));
    const line = this.recLine;
    const endByte = chunk === null ? this.pos : this.pos + nl + 1;
    const endLine = this.lineNo;
    this.lineNo++;
    this.recLine = this.lineNo;
    const cells = this.cells;
    let bad = this.bad;
    const overlong = this.overlong;
    const raw = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    this.partBytes = 0;
    this.overlong = false;
    this.cells = [];
    this.bad = undefined;
    this.state = Csv.FieldStart;
    this.recBytes = 0;

    // A line ending in CRLF: the \r belongs to the line end, not to the last (unquoted) cell.
    let rawEnd = raw.length;
    if (!overlong && rawEnd > 0 && raw[rawEnd - 1] === 0x0d) {
      rawEnd--;
      const last = cells.length - 3;
      if (cells[last + 2] === 0 && cells[last + 1] === raw.length) cells[last + 1] = rawEnd;
    }
    if (!overlong && cells.length === 3 && cells[2] === 0 && isBlank(raw, 0, rawEnd)) return; // a blank line

    if (overlong) {
      this.sink({ line, text: cut(raw), bad: `record is longer than ${MAX_RECORD_BYTES / 1024 / 1024} MiB`, endByte, endLine });
      return;
    }
    const body = raw.subarray(0, rawEnd);
    const d = decode(body);
    bad ??= d.bad;
    const values: string[] = [];
    if (!bad) {
      for (let k = 0; k < cells.length; k += 3) {
        const s = cells[k]!;
        const e = cells[k + 1]!;
        if (cells[k + 2] === 1) values.push(raw.toString('utf8', s + 1, e - 1).replaceAll('""', '"'));
        else values.push(raw.toString('utf8', s, e));
      }
    }
    if (this.header === undefined) {
      if (bad) {
        this.sink({ line, text: d.text, bad: `the header cannot be read: ${bad}`, endByte, endLine });
        this.header = [];
        return;
      }
      this.header = values;
      return;
    }
    if (!bad && values.length !== this.header.length) {
      bad = `has ${values.length} field${values.length === 1 ? '' : 's'}; the header has ${this.header.length}`;
    }
    this.sink(bad ? { line, text: d.text, bad, endByte, endLine } : { line, text: d.text, bytes: body, cells: values, endByte, endLine });
  }

  end(): void {
    this.bom.end();
    if (this.state === Csv.Quoted) {
      this.bad = `a quoted field is not closed: the file ends inside it`;
      this.cells.push(this.cellStart, this.recBytes, 0);
      this.endRecord(null, 0, -1);
      return;
    }
    if (this.recBytes === 0 && this.cells.length === 0 && this.state === Csv.FieldStart) return;
    const at = this.recBytes;
    if (this.state === Csv.QuoteInQuoted || this.state === Csv.AfterClose) {
      this.cells.push(this.cellStart, this.state === Csv.AfterClose ? at - 1 : at, 1);
    } else if (this.state === Csv.Unquoted) this.cells.push(this.cellStart, at, 0);
    else this.cells.push(at, at, 0);
    this.endRecord(null, 0, -1);
  }
}
