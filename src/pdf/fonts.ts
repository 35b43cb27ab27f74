/**
 * Fonts for invoice PDFs: finding font files (relative to the template, or inside an npm package),
 * opening them once per process, and choosing a font per character. pdfkit has no font fallback,
 * so text is cut into runs, each drawn with the first font of the style's list that has glyphs for
 * it: Latin, Greek and Cyrillic from Noto Sans, Japanese and Chinese characters from Noto Sans JP.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as fontkit from 'fontkit';
import { PACKAGE_ROOT } from '../paths.js';

/** Where a font file is, from a template's `fonts` entry; null when it cannot be found. */
export function resolveFontFile(spec: string, templateDir: string): string | null {
  const [file] = spec.split('#', 1) as [string];
  if (!file.startsWith('npm:')) {
    const p = path.resolve(templateDir, file);
    return fs.existsSync(p) ? p : null;
  }
  // npm:<package>/<file inside it>. Looked up like a module, from the template's folder and then
  // from billctl's own, but by path: font files are data and need not be in a package's exports.
  const rest = file.slice('npm:'.length);
  const parts = rest.split('/');
  const nameLength = rest.startsWith('@') ? 2 : 1;
  if (parts.length <= nameLength) return null;
  const pkg = parts.slice(0, nameLength).join('/');
  const inside = parts.slice(nameLength).join('/');
  for (const base of [templateDir, PACKAGE_ROOT]) {
    const dirs = createRequire(path.join(base, 'noop.js')).resolve.paths(pkg) ?? [];
    for (const dir of dirs) {
      const p = path.join(dir, pkg, inside);
      if (fs.existsSync(p)) return p;
    }
  }
  return null;
}

const FONT_SIGNATURES = ['00010000', '74727565' /* true */, '4f54544f' /* OTTO */, '74746366' /* ttcf */];

/** Null when the file starts like a TrueType or OpenType font (or collection), else the problem. */
export function fontFileProblem(file: string): string | null {
  let head: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      head = Buffer.alloc(4);
      fs.readSync(fd, head, 0, 4, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    return `cannot read ${file}: ${(err as Error).message}`;
  }
  return FONT_SIGNATURES.includes(head.toString('hex')) ? null : `${file} is not a TrueType or OpenType font (.ttf, .otf, .ttc)`;
}

/** Documents that share one pdfkit layout cache before it starts over (its memory stays flat). */
const LAYOUT_SHARE_DOCUMENTS = 200;

/** A font file, opened on first use and then shared by every document of the process. */
export class FontFace {
  private opened: fontkit.Font | undefined;
  private pdfkitLayouts: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  private pdfkitLayoutUses = 0;

  /** Names the face uniquely in the process (file and PostScript name). */
  readonly key: string;

  constructor(
    /** The absolute file. */
    readonly file: string,
    /** Which font of a collection (`file.ttc#PostScriptName`). */
    readonly postscriptName: string | undefined,
  ) {
    this.key = `${file}#${postscriptName ?? ''}`;
  }

  get font(): fontkit.Font {
    if (this.opened === undefined) {
      const data = fs.readFileSync(this.file);
      const opened = fontkit.create(data, this.postscriptName);
      if (!('hasGlyphForCodePoint' in opened)) {
        throw new Error(`${this.file} is a font collection: name one of its fonts as ${this.file}#PostScriptName`);
      }
      cacheLayout(opened);
      cacheSubsets(opened);
      this.opened = opened;
    }
    return this.opened;
  }

  /**
   * A layout cache for pdfkit's font object in a document. pdfkit remembers each word's glyphs and
   * scaled positions per document, and scaling them again for every invoice costs more than
   * shaping: the documents of a process share one cache per face instead (the scale depends only
   * on the font; pdfkit only reads what it cached). Every LAYOUT_SHARE_DOCUMENTS documents a
   * new one starts.
   */
  pdfkitLayoutCache(): Record<string, unknown> {
    if (++this.pdfkitLayoutUses % LAYOUT_SHARE_DOCUMENTS === 0) this.pdfkitLayouts = Object.create(null) as Record<string, unknown>;
    return this.pdfkitLayouts;
  }
}

/** What pdfkit reads of a fontkit GlyphRun: glyphs, positions and their total advance. */
class SharedRun {
  constructor(
    readonly glyphs: fontkit.Glyph[],
    readonly positions: fontkit.GlyphPosition[],
  ) {}

  get advanceWidth(): number {
    let w = 0;
    for (const p of this.positions) w += p.xAdvance;
    return w;
  }
}

const copyPosition = (p: fontkit.GlyphPosition): fontkit.GlyphPosition => ({
  xAdvance: p.xAdvance,
  yAdvance: p.yAdvance,
  xOffset: p.xOffset,
  yOffset: p.yOffset,
});

/** Distinct texts whose shaping a font remembers; past this the memory starts over (stays flat). */
const LAYOUT_CACHE_LIMIT = 20_000;

/** A text's glyphs and their positions in font units. */
interface Shaped {
  glyphs: fontkit.Glyph[];
  positions: fontkit.GlyphPosition[];
}

/**
 * The characters of the texts that are new on each invoice: numbers, amounts, dates, times,
 * invoice numbers, tenant ids, e-mail addresses.
 */
const COMPOSABLE = /^[0-9A-Za-z.,:\-/_@ ]+$/;
const ALPHANUMERIC = /[0-9A-Za-z]/;

/** Texts of COMPOSABLE characters a font shapes itself before it starts composing them. */
const COMPOSE_AFTER = 100;
/** Composed texts that are also shaped, to check the font really shapes them alike. */
const COMPOSE_CHECKS = 50;

const sameShape = (a: Shaped, b: Shaped): boolean =>
  a.glyphs.length === b.glyphs.length &&
  a.glyphs.every((g, i) => g.id === b.glyphs[i]?.id) &&
  a.positions.every((p, i) => {
    const q = b.positions[i];
    return q !== undefined && p.xAdvance === q.xAdvance && p.yAdvance === q.yAdvance && p.xOffset === q.xOffset && p.yOffset === q.yOffset;
  });

const joined = (parts: Shaped[]): Shaped => ({
  glyphs: parts.flatMap((p) => p.glyphs),
  positions: parts.flatMap((p) => p.positions.map(copyPosition)),
});

/**
 * Builds the shaping of a text from its characters' glyphs side by side, where that is exactly
 * what the font's shaper gives: every character shapes alone as one glyph, every pair of
 * neighbours was shaped once and came out as the two glyphs side by side (no kerning, ligature or
 * contextual form between them), and no two non-alphanumerics stand together (no run of
 * punctuation such as `...` could form a longer ligature). Characters and pairs are checked when
 * first met and remembered, a few hundred shapings per font and thread in all. The first
 * composed texts are also shaped, and one difference turns composing off for the font.
 */
class Composer {
  private readonly alone = new Map<string, Shaped | null>();
  private readonly pairs = new Map<string, boolean>();
  private seen = 0;
  private checks = 0;
  private off = false;

  constructor(private readonly shape: (text: string) => Shaped) {}

  private char(ch: string): Shaped | null {
    let s = this.alone.get(ch);
    if (s === undefined) {
      const shaped = this.shape(ch);
      s = shaped.glyphs.length === 1 ? shaped : null;
      this.alone.set(ch, s);
    }
    return s;
  }

  private pair(a: string, sa: Shaped, b: string, sb: Shaped): boolean {
    const key = a + b;
    let ok = this.pairs.get(key);
    if (ok === undefined) {
      ok = sameShape(this.shape(key), joined([sa, sb]));
      this.pairs.set(key, ok);
    }
    return ok;
  }

  /** The text's shaping composed from its characters, or undefined where it must be shaped. */
  compose(text: string): Shaped | undefined {
    if (this.off || !COMPOSABLE.test(text) || ++this.seen <= COMPOSE_AFTER) return undefined;
    const parts: Shaped[] = [];
    let prev = '';
    let prevShape: Shaped | null = null;
    for (const ch of text) {
      const s = this.char(ch);
      if (s === null) return undefined;
      if (prevShape !== null) {
        if (!ALPHANUMERIC.test(prev) && !ALPHANUMERIC.test(ch)) return undefined;
        if (!this.pair(prev, prevShape, ch, s)) return undefined;
      }
      parts.push(s);
      prev = ch;
      prevShape = s;
    }
    const composed = joined(parts);
    if (this.checks < COMPOSE_CHECKS) {
      this.checks++;
      const shaped = this.shape(text);
      if (!sameShape(shaped, composed)) {
        this.off = true;
        return shaped;
      }
    }
    return composed;
  }
}

/**
 * Shaping (OpenType GSUB/GPOS) is most of the cost of drawing text, and pdfkit remembers it only
 * per document; invoices repeat the same words, labels and numbers. So the shared font remembers
 * each text's glyphs and positions for the whole process. pdfkit scales the positions it gets in
 * place, so every call hands out fresh position objects; the glyphs are read-only.
 *
 * The texts that are new on each invoice (numbers, dates, ids) are built by a Composer once a
 * run has shaped many of them: the same glyphs and positions the shaper gives, without running it.
 */
function cacheLayout(font: fontkit.Font): void {
  const shape = font.layout.bind(font);
  const shapeText = (text: string): Shaped => {
    const s = shape(text);
    return { glyphs: s.glyphs, positions: s.positions.map(copyPosition) };
  };
  const runs = new Map<string, Shaped>();
  const composer = new Composer(shapeText);
  font.layout = (text, features, ...rest) => {
    if ((features !== undefined && (!Array.isArray(features) || features.length > 0)) || rest.length > 0) {
      return shape(text, features, ...rest);
    }
    let run = runs.get(text);
    if (run === undefined) {
      run = composer.compose(text) ?? shapeText(text);
      if (runs.size >= LAYOUT_CACHE_LIMIT) runs.clear();
      runs.set(text, run);
    }
    // A structural stand-in for fontkit's GlyphRun class, with the members pdfkit uses.
    return new SharedRun(run.glyphs, run.positions.map(copyPosition)) as unknown as fontkit.GlyphRun;
  };
}

/** Distinct glyph lists whose encoded subset a font remembers; past this it starts over. */
const SUBSET_CACHE_LIMIT = 64;

/** What fontkit's subsets hold besides the two members its types list. */
interface SubsetState {
  glyphs: number[];
}

/**
 * Encoding a font subset (reading each glyph's outline, writing the tables) is the other big
 * cost of an invoice PDF. A subset is a function of its glyph list, in order; since every
 * document first includes the same seed glyphs in the same order (Canvas), most invoices
 * ask for a list already encoded, and get the same bytes back without the work.
 */
function cacheSubsets(font: fontkit.Font): void {
  const make = font.createSubset.bind(font);
  const encoded = new Map<string, Uint8Array>();
  font.createSubset = () => {
    const subset = make();
    const encode = subset.encode.bind(subset);
    subset.encode = () => {
      const key = (subset as unknown as SubsetState).glyphs.join(',');
      let bytes = encoded.get(key);
      if (bytes === undefined) {
        bytes = encode();
        if (encoded.size >= SUBSET_CACHE_LIMIT) encoded.clear();
        encoded.set(key, bytes);
        remembered.add(bytes);
      }
      return bytes;
    };
    return subset;
  };
}

/** Font programs handed out by cacheSubsets (only these are worth compressing once). */
const remembered = new WeakSet<Uint8Array>();
const compressed = new WeakMap<Uint8Array, Buffer>();

/**
 * A remembered font program, compressed as pdfkit compresses a stream (zlib's deflate with its
 * defaults), once for all the documents that embed it; undefined for any other bytes.
 */
export function compressedFontProgram(bytes: Uint8Array): Buffer | undefined {
  if (!remembered.has(bytes)) return undefined;
  let packed = compressed.get(bytes);
  if (packed === undefined) {
    packed = zlib.deflateSync(bytes);
    compressed.set(bytes, packed);
  }
  return packed;
}

const faces = new Map<string, FontFace>();

/** The shared face of a resolved font file (`spec` may end in `#PostScriptName`). */
export function fontFace(file: string, spec: string): FontFace {
  const hash = spec.indexOf('#');
  const candidate = new FontFace(file, hash < 0 ? undefined : spec.slice(hash + 1));
  const face = faces.get(candidate.key);
  if (face !== undefined) return face;
  faces.set(candidate.key, candidate);
  return candidate;
}

export interface TextRun {
  /** Index of the face in the chain. */
  face: number;
  text: string;
}

/** Spaces, punctuation and marks stay in the font of the text around them when it has them. */
const NEUTRAL = /^[\p{Z}\p{P}\p{M}\p{Cf}\p{Cc}]$/u;

/**
 * A style's fonts in order of preference. Which face draws a code point is remembered, so the
 * coverage lookups happen once per distinct character per process (a bounded set).
 */
export class FontChain {
  private readonly choice = new Map<number, number>();
  private readonly covered: Map<number, boolean>[];

  constructor(readonly faces: readonly FontFace[]) {
    this.covered = faces.map(() => new Map());
  }

  private has(face: number, cp: number): boolean {
    const seen = this.covered[face];
    if (seen === undefined) return false;
    let has = seen.get(cp);
    if (has === undefined) {
      has = this.faces[face]?.font.hasGlyphForCodePoint(cp) ?? false;
      seen.set(cp, has);
    }
    return has;
  }

  /** The first face with a glyph for `cp`; the first face when none has one (it draws a box). */
  faceFor(cp: number): number {
    let face = this.choice.get(cp);
    if (face === undefined) {
      face = 0;
      for (let i = 0; i < this.faces.length; i++) {
        if (this.has(i, cp)) {
          face = i;
          break;
        }
      }
      this.choice.set(cp, face);
    }
    return face;
  }

  /** Cuts text into runs of one face each. */
  runs(text: string): TextRun[] {
    const out: TextRun[] = [];
    let face = -1;
    let start = 0;
    let i = 0;
    for (const ch of text) {
      const cp = ch.codePointAt(0) ?? 0;
      const best = this.faceFor(cp);
      const f = best !== face && face >= 0 && NEUTRAL.test(ch) && this.has(face, cp) ? face : best;
      if (f !== face) {
        if (i > start) out.push({ face, text: text.slice(start, i) });
        face = f;
        start = i;
      }
      i += ch.length;
    }
    if (i > start) out.push({ face: Math.max(face, 0), text: text.slice(start, i) });
    return out;
  }
}

/** The members of a pdfkit stream object (PDFReference) that the caches here use. */
export interface PdfStreamRef {
  data: Record<string, unknown>;
  compress: boolean;
  write(chunk: Uint8Array): void;
  end(chunk?: Uint8Array | string): void;
}

/** The members of pdfkit's per-document font object (EmbeddedFont) that shareToUnicode uses. */
export interface PdfkitFont {
  unicode: number[][];
  document: { ref(data?: Record<string, unknown>): PdfStreamRef };
  toUnicodeCmap(): PdfStreamRef;
}

/** Distinct glyph-to-text maps whose compressed CMap is remembered; past this it starts over. */
const CMAP_CACHE_LIMIT = 64;
const cmaps = new Map<string, Buffer>();

/**
 * Writes a stream pdfkit would have compressed, from bytes already compressed the way pdfkit
 * compresses (zlib's deflate with its defaults): the same object, byte for byte. Length comes
 * before Filter in the dictionary, as pdfkit orders them.
 */
export function endCompressed(ref: PdfStreamRef, packed: Buffer): void {
  ref.compress = false;
  ref.write(packed);
  ref.data.Filter = 'FlateDecode';
  ref.end();
}

/**
 * The ToUnicode CMap of each embedded font (which text each glyph stands for, so text can be
 * copied and searched) is built and compressed by pdfkit for every document. It depends only on
 * the glyphs' code points in subset order, which the seeded subsets make the same invoice after
 * invoice: this makes `font` write the remembered compressed CMap when it has one, and remember
 * the one pdfkit builds when not.
 */
export function shareToUnicode(font: PdfkitFont): void {
  const build = font.toUnicodeCmap.bind(font);
  font.toUnicodeCmap = () => {
    const key = font.unicode.map((cps) => cps.join(' ')).join(',');
    const doc = font.document;
    const packed = cmaps.get(key);
    if (packed !== undefined) {
      const ref = doc.ref();
      endCompressed(ref, packed);
      return ref;
    }
    // pdfkit's own: the stream it makes first is the CMap, ended with its text.
    const makeRef = doc.ref;
    doc.ref = (data) => {
      doc.ref = makeRef;
      const ref = makeRef.call(doc, data);
      const end = ref.end.bind(ref);
      ref.end = (chunk) => {
        if (typeof chunk === 'string' && ref.compress) {
          if (cmaps.size >= CMAP_CACHE_LIMIT) cmaps.clear();
          cmaps.set(key, zlib.deflateSync(Buffer.from(`${chunk}\n`, 'latin1')));
        }
        end(chunk);
      };
      return ref;
    };
    try {
      return build();
    } finally {
      doc.ref = makeRef;
    }
  };
}
