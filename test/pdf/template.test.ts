import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError, ValidationError } from '../../src/errors.js';
import { renderInvoicePdf } from '../../src/pdf/render-invoice.js';
import { defaultTemplateDir, loadInvoiceTemplate } from '../../src/pdf/template.js';
import { workedExample } from './fixtures.js';
import { pdfFonts, pdfText, popplerMissing, squash } from './poppler.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'billctl-template-'));
let n = 0;

/** A template folder holding `layout` as its layout.yaml (and optional extra files). */
function templateDir(layout: string, files: Record<string, string | Buffer> = {}): string {
  const dir = path.join(root, `t${++n}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'layout.yaml'), layout);
  for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), data);
  return dir;
}

/** The problems a layout is refused with. */
function problems(layout: string, files: Record<string, string | Buffer> = {}): string[] {
  const dir = templateDir(layout, files);
  try {
    loadInvoiceTemplate(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    const v = err as ValidationError;
    expect(v.source).toBe(path.join(dir, 'layout.yaml'));
    expect(v.message).toContain(path.join(dir, 'layout.yaml'));
    return [...v.problems];
  }
  throw new Error('the layout was accepted');
}

describe('invoice templates', () => {
  it('loads billctl\'s own template once per process', () => {
    const t = loadInvoiceTemplate();
    expect(loadInvoiceTemplate(defaultTemplateDir())).toBe(t);
    expect(t.blocks).toEqual(['header', 'details', 'lines', 'adjustments', 'totals', 'payment', 'chart']);
    expect(t.columns.map((c) => c.field)).toEqual(['description', 'used', 'included', 'billed', 'unit_price', 'amount']);
    expect(t.adjustmentColumns.map((c) => c.field)).toEqual(['description', 'billed_before', 'billed_now', 'amount_before', 'amount_now', 'amount']);
    // The "*" column takes what the others leave between the margins.
    for (const columns of [t.columns, t.adjustmentColumns]) {
      expect(columns.reduce((s, c) => s + c.width, 0)).toBeCloseTo(t.page.width - t.page.margins.left - t.page.margins.right, 6);
    }
    expect(t.format).toMatchObject({ thousands: ',', amountThousands: ',', gpuQuantity: 'hours' });
    expect(t.fonts.regular.faces.map((f) => path.basename(f.file))).toEqual(['NotoSans_400Regular.ttf', 'NotoSansJP_400Regular.ttf']);
  });

  it('takes what a company template leaves out from billctl\'s, and resolves its files from its own folder', () => {
    const regular = path.join(path.dirname(loadInvoiceTemplate().fonts.regular.faces[0]!.file));
    const dir = templateDir(
      [
        'page: { size: Letter }',
        'fonts:',
        `  regular: [fonts/Regular.ttf, "npm:@expo-google-fonts/noto-sans-jp/400Regular/NotoSansJP_400Regular.ttf"]`,
        'texts: { title: Rechnung, page: "Seite {page} von {pages}" }',
        'blocks: [details, header, lines, totals]',
        'table:',
        '  columns:',
        '    - { field: description, header: Leistung, width: "*" }',
        '    - { field: catalog_version, header: Katalog, width: 60 }',
        '    - { field: amount, header: "Betrag ({currency})", width: 80, align: right }',
      ].join('\n'),
    );
    fs.mkdirSync(path.join(dir, 'fonts'));
    fs.copyFileSync(path.join(regular, 'NotoSans_400Regular.ttf'), path.join(dir, 'fonts', 'Regular.ttf'));
    const t = loadInvoiceTemplate(dir);
    expect(t.page.width).toBe(612);
    expect(t.fonts.regular.faces[0]!.file).toBe(path.join(dir, 'fonts', 'Regular.ttf'));
    expect(t.fonts.bold.faces[0]!.file).toMatch(/NotoSans_700Bold\.ttf$/);
    expect(t.texts.title).toBe('Rechnung');
    expect(t.texts.due_date).toBe('Due date');
    expect(t.blocks).toEqual(['details', 'header', 'lines', 'totals']);
    expect(t.columns.map((c) => c.align)).toEqual(['left', 'left', 'right']);
  });

  it.skipIf(popplerMissing)('changes the PDF without touching code', async () => {
    const dir = templateDir(
      [
        'texts: { title: Rechnung, page: "Seite {page} von {pages}", tax: "{label} ({rate} %)" }',
        `format: { amount_thousands_separator: "'", gpu_quantity: seconds }`,
        'table:',
        '  columns:',
        '    - { field: description, header: Leistung, width: "*" }',
        '    - { field: catalog_version, header: Katalog, width: 60 }',
        '    - { field: used, header: Verbraucht, width: 70, align: right }',
        '    - { field: amount, header: "Betrag ({currency})", width: 80, align: right }',
      ].join('\n'),
    );
    const doc = workedExample();
    doc.charges[0]!.amount = '1234.00';
    const text = squash(pdfText(await renderInvoicePdf(doc, loadInvoiceTemplate(dir))));
    expect(text).toContain('Rechnung');
    expect(text).toContain('Seite 1 von 1');
    expect(text).toContain('Leistung Katalog Verbraucht Betrag (USD)');
    expect(text).toContain('A100 80GB GPU hours 2026-01 363,600 s 4.00');
    expect(text).toContain("1'234.00");
    expect(text).toContain('VAT (19 %) 20.82');
  });

  it.skipIf(popplerMissing)('draws bold with the regular fonts when a template has no bold list, embedding each font once', async () => {
    const pdf = await renderInvoicePdf(workedExample(), loadInvoiceTemplate(templateDir('fonts: { bold: null }')));
    expect(pdfFonts(pdf).map((f) => f.name)).toEqual(['NotoSans-Regular']);
    expect(squash(pdfText(pdf))).toContain('Total USD 130.42');
  });

  it('names the file, the field and the problem for each mistake', () => {
    const p = problems(
      [
        'colours: { text: red }',
        'colors: { text: red }',
        'page: { size: A9, margins: { top: -1 } }',
        'blocks: [header, lines, footer, lines]',
        'sizes: { body: 0 }',
        'format: { gpu_quantity: minutes, thousands_separator: "1" }',
        'adjustment_table: { columns: [{ field: used, header: U, width: 60 }] }',
        'texts: { page: "Page {page} of {total}", title: "Invoice {number}" }',
        'table:',
        '  columns:',
        '    - { field: description, header: D, width: "*" }',
        '    - { field: price, header: P, width: "*" }',
        '    - { field: amount, header: "A ({curency})", width: 60, align: middle, color: red }',
      ].join('\n'),
    );
    const expected = [
      /^colours: unknown setting/,
      /^colors\.text: must be a colour like "#1f2328", not "red"/,
      /^page\.size: must be one of A3, A4, A5, LETTER, LEGAL or \[width, height\]/,
      /^page\.margins\.top: must be a number from 0 to 300, not -1/,
      /^blocks\[2\]: must be one of header, details, lines, adjustments, totals, chart, payment, not "footer"/,
      /^adjustment_table\.columns\[0\]\.field: must be one of description, catalog_version, billed_before, billed_now, amount_before, amount_now, amount, not "used"/,
      /^blocks\[3\]: lines is listed twice/,
      /^sizes\.body: must be a number from 4 to 200, not 0/,
      /^format\.gpu_quantity: must be one of hours, hms, seconds, not "minutes"/,
      /^format\.thousands_separator: must be up to 3 characters and no digit/,
      /^texts\.page: unknown placeholder \{total\} \(it can use \{page\}, \{pages\}\)/,
      /^texts\.title: unknown placeholder \{number\} \(it takes none\)/,
      /^table\.columns\[1\]\.width: only one column can be "\*"/,
      /^table\.columns\[1\]\.field: must be one of description, catalog_version, used/,
      /^table\.columns\[2\]\.color: unknown setting/,
      /^table\.columns\[2\]\.align: must be one of left, right, center, not "middle"/,
      /^table\.columns\[2\]\.header: unknown placeholder \{curency\} \(it can use \{currency\}\)/,
    ];
    for (const re of expected) expect(p.some((x) => re.test(x)), `${re} in\n${p.join('\n')}`).toBe(true);
    expect(p, p.join("\n")).toHaveLength(expected.length);
  });

  it('refuses columns wider than the page', () => {
    const p = problems('table:\n  columns:\n    - { field: description, header: D, width: 400 }\n    - { field: amount, header: A, width: 200 }\n');
    expect(p).toEqual([expect.stringMatching(/^table\.columns: the widths add up to 600 points, more than the 499\.28 between the margins/)]);
    const star = problems('table:\n  columns:\n    - { field: description, header: D, width: "*" }\n    - { field: amount, header: A, width: 480 }\n');
    expect(star).toEqual([expect.stringMatching(/^table\.columns: the fixed widths \(480\) leave 19\.28 points for the "\*" column/)]);
  });

  it('names fonts and logos that are missing or of the wrong kind', () => {
    const p = problems(
      [
        'fonts:',
        '  regular: [missing.ttf, "npm:no-such-font-package/Font.ttf", not-a-font.ttf]',
        '  bold: []',
        'logo: { file: logo.png }',
      ].join('\n'),
      { 'not-a-font.ttf': 'hello', 'logo.png': 'GIF89a' },
    );
    expect(p).toEqual([
      'fonts.regular[0]: missing.ttf does not exist'.replace('missing.ttf', path.join(root, `t${n}`, 'missing.ttf')),
      'fonts.regular[1]: npm:no-such-font-package/Font.ttf not found; is the package installed (npm install no-such-font-package)?',
      `fonts.regular[2]: ${path.join(root, `t${n}`, 'not-a-font.ttf')} is not a TrueType or OpenType font (.ttf, .otf, .ttc)`,
      'fonts.bold: must be a list of font files (.ttf or .otf), first choice first',
      `logo.file: ${path.join(root, `t${n}`, 'logo.png')} is not a PNG or JPEG image`,
    ]);
  });

  it('reports YAML syntax errors and a folder without layout.yaml', () => {
    const p = problems('texts: { title: "Invoice }\n');
    expect(p).toHaveLength(1);
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    expect(() => loadInvoiceTemplate(empty)).toThrow(UsageError);
    expect(() => loadInvoiceTemplate(empty)).toThrow(`no invoice template: ${path.join(empty, 'layout.yaml')} does not exist`);
    expect(problems('- a list\n')).toEqual([expect.stringMatching(/^the layout must be a map/)]);
  });
});
