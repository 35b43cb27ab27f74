import fs from 'node:fs';
import fc from 'fast-check';
import * as fontkit from 'fontkit';
import { describe, expect, it } from 'vitest';
import { FontFace } from '../../src/pdf/fonts.js';
import { loadInvoiceTemplate } from '../../src/pdf/render-invoice.js';

const template = loadInvoiceTemplate();

/** A font opened by fontkit alone: no remembered shaping, no remembered subsets. */
function plainFont(face: FontFace): fontkit.Font {
  return fontkit.create(fs.readFileSync(face.file)) as fontkit.Font;
}

/** What a shaping result amounts to: glyph ids and positions. */
function shapeOf(run: fontkit.GlyphRun) {
  return {
    glyphs: run.glyphs.map((g) => g.id),
    positions: run.positions.map((p) => [p.xAdvance, p.yAdvance, p.xOffset, p.yOffset]),
  };
}

describe('shared fonts', () => {
  for (const style of ['regular', 'bold'] as const) {
    it(`${style}: numbers, dates, ids and names built from their characters match the shaper exactly`, () => {
      const src = template.fonts[style].faces[0]!;
      // A fresh face, so this test sees the moment it starts composing.
      const shared = new FontFace(src.file, src.postscriptName).font;
      const plain = plainFont(src);
      // More texts than a font shapes before it composes them.
      for (let i = 0; i < 150; i++) expect(shapeOf(shared.layout(`${i * 7919},${i}`))).toEqual(shapeOf(plain.layout(`${i * 7919},${i}`)));
      const numeric = fc.stringMatching(/^[0-9.,:\-/ ]{1,16}$/);
      const ids = fc.stringMatching(/^[0-9A-Za-z.,:\-/_@ ]{1,16}$/);
      fc.assert(
        fc.property(fc.oneof(numeric, ids), (text) => {
          expect(shapeOf(shared.layout(text))).toEqual(shapeOf(plain.layout(text)));
        }),
        { numRuns: 400 },
      );
      for (const text of ['1,234,567.89 ', '2026-10-31', '7:11:48', '...', '--', '1/2', '..5..', ' 0 ', 'INV-2026-000017', 'AVA', 'office', 'Ty.Vo@we-7.test', 'T.', 'fi fl ff']) {
        expect(shapeOf(shared.layout(text))).toEqual(shapeOf(plain.layout(text)));
      }
    });
  }

  it('a subset encoded once is handed out again, byte for byte what encoding it anew gives', () => {
    const src = template.fonts.regular.faces[0]!;
    const shared = new FontFace(src.file, src.postscriptName).font;
    const plain = plainFont(src);
    const encode = (font: fontkit.Font, text: string) => {
      const subset = font.createSubset();
      for (const g of font.layout(text).glyphs) subset.includeGlyph(g);
      return Buffer.from(subset.encode());
    };
    const first = encode(shared, 'Invoice 2026-10');
    expect(encode(shared, 'Invoice 2026-10').equals(first)).toBe(true);
    expect(encode(plain, 'Invoice 2026-10').equals(first)).toBe(true);
    // Another glyph list is another subset.
    expect(encode(shared, 'Invoice 2026-19').equals(first)).toBe(false);
    expect(encode(shared, 'Invoice 2026-19').equals(encode(plain, 'Invoice 2026-19'))).toBe(true);
  });
});
