/**
 * Text on a pdfkit document with font fallback: each text is cut into runs by glyph coverage
 * (fonts.ts), measured, wrapped and drawn run by run on a shared baseline. All positions are page
 * coordinates in points, y growing downwards, as pdfkit has them.
 */
import type { Font } from 'fontkit';
import { shareToUnicode, type FontChain, type PdfkitFont, type TextRun } from './fonts.js';

export type FontStyle = 'regular' | 'bold';

/** Line height as a multiple of the font size, and where the baseline sits in the line. */
export const LINE_HEIGHT = 1.32;
const BASELINE = 1.02;

/** CJK characters can break anywhere; other text breaks at spaces. */
const TOKEN = /\s+|[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uffef]|[^\s\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uffef]+/gu;
const SPACE = /^\s+$/;

/**
 * pdfkit 0.20 takes a fontkit font object as a font source (PDFFontFactory.open checks for
 * `layout`), which spares it re-parsing the font file for every document; its types only list
 * paths and buffers.
 */
function fontSource(font: Font): PDFKit.Mixins.PDFFontSource {
  return font as unknown as PDFKit.Mixins.PDFFontSource;
}

/** A text cut into font runs, with each run's width at one size. */
interface Measured {
  runs: TextRun[];
  widths: number[];
  total: number;
}

/**
 * Printable ASCII, included in this order in every document's subset of each style's first face
 * before any text: the subset then depends only on the glyphs an invoice adds beyond these, and
 * invoices in plain Latin text share one encoded subset (fonts.ts caches it by glyph list).
 */
const SEED = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));

/** pdfkit's current font in a document: encoding text includes its glyphs in the subset. */
interface EmbeddedFont extends PdfkitFont {
  encode(text: string): unknown;
  layoutCache?: Record<string, unknown>;
}

export class Canvas {
  private fontKey = '';
  /** Faces in use in this document: given the shared layout cache, and (first faces) their seed glyphs. */
  private readonly seeded = new Set<string>();
  private size = 0;
  private fill = '';
  /** Texts measured in this document (most are measured to wrap or align, then drawn). */
  private readonly measured = new Map<string, Measured>();

  constructor(
    readonly pdf: PDFKit.PDFDocument,
    private readonly fonts: Record<FontStyle, FontChain>,
  ) {}

  lineHeight(size: number): number {
    return size * LINE_HEIGHT;
  }

  private use(style: FontStyle, face: number, size: number): void {
    const f = this.fonts[style].faces[face];
    if (f === undefined) throw new Error(`no font ${face} in the ${style} list`);
    if (f.key !== this.fontKey) {
      // The family argument doubles as pdfkit's per-document cache key for the font: one key per
      // face, so a face in both lists (bold: null) is one font in the document.
      this.pdf.font(fontSource(f.font), f.key);
      this.fontKey = f.key;
      if (!this.seeded.has(f.key)) {
        this.seeded.add(f.key);
        const embedded = (this.pdf as unknown as { _font: EmbeddedFont })._font;
        if (embedded.layoutCache !== undefined) embedded.layoutCache = f.pdfkitLayoutCache();
        shareToUnicode(embedded);
        if (face === 0) for (const ch of SEED) if (f.font.hasGlyphForCodePoint(ch.charCodeAt(0))) embedded.encode(ch);
      }
    }
    if (size !== this.size) {
      this.pdf.fontSize(size);
      this.size = size;
    }
  }

  color(hex: string): void {
    if (hex !== this.fill) {
      this.pdf.fillColor(hex);
      this.fill = hex;
    }
  }

  /** Forget the fill colour after a graphics-state restore or a page switch. */
  resetState(): void {
    this.fill = '';
  }

  private measure(text: string, style: FontStyle, size: number): Measured {
    const key = `${style}\u0000${size}\u0000${text}`;
    let m = this.measured.get(key);
    if (m === undefined) {
      const runs = this.fonts[style].runs(text);
      let total = 0;
      const widths = runs.map((r) => {
        this.use(style, r.face, size);
        const w = this.pdf.widthOfString(r.text);
        total += w;
        return w;
      });
      m = { runs, widths, total };
      this.measured.set(key, m);
    }
    return m;
  }

  width(text: string, style: FontStyle, size: number): number {
    return this.measure(text, style, size).total;
  }

  /** Draws one line of text whose line box starts at `top`. With `width`, aligns inside [x, x+width]. */
  text(text: string, x: number, top: number, style: FontStyle, size: number, color: string, align: 'left' | 'right' | 'center' = 'left', width = 0): void {
    if (text === '') return;
    const { runs, widths, total } = this.measure(text, style, size);
    const baseline = top + size * BASELINE;
    this.color(color);
    let cx = align === 'right' ? x + width - total : align === 'center' ? x + (width - total) / 2 : x;
    runs.forEach((r, i) => {
      this.use(style, r.face, size);
      this.pdf.text(r.text, cx, baseline, { lineBreak: false, baseline: 'alphabetic' });
      cx += widths[i] ?? 0;
    });
  }

  /** Breaks text into lines no wider than `width` (at spaces, between CJK characters, inside over-long words). */
  wrap(text: string, style: FontStyle, size: number, width: number): string[] {
    const out: string[] = [];
    for (const para of text.split(/\r?\n/)) {
      if (this.width(para, style, size) <= width) {
        out.push(para);
        continue;
      }
      let line = '';
      for (const token of para.match(TOKEN) ?? []) {
        if (SPACE.test(token)) {
          if (line !== '') line += token;
          continue;
        }
        if (this.width(line + token, style, size) <= width) {
          line += token;
          continue;
        }
        if (line.trim() !== '') out.push(line.trimEnd());
        line = '';
        if (this.width(token, style, size) <= width) {
          line = token;
          continue;
        }
        for (const ch of token) {
          if (line !== '' && this.width(line + ch, style, size) > width) {
            out.push(line);
            line = '';
          }
          line += ch;
        }
      }
      if (line.trim() !== '') out.push(line.trimEnd());
    }
    return out;
  }
}
