/**
 * Invoice templates: a folder with `layout.yaml` (page, fonts, colours, blocks, table columns,
 * texts) and its assets. A company's template only states what it changes; the rest comes from
 * billctl's own `templates/invoice/layout.yaml`, so the defaults live in one place. Loading checks
 * everything once, reporting each problem as `field.path: problem` under the file's name, and is
 * cached per folder: rendering many invoices reads the files once.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { UsageError, ValidationError } from '../errors.js';
import { templatePath } from '../paths.js';
import { FontChain, fontFace, fontFileProblem, resolveFontFile } from './fonts.js';
import { placeholders, type GpuQuantityStyle, type NumberFormat } from './format.js';

export const LAYOUT_FILE = 'layout.yaml';

export const BLOCKS = ['header', 'details', 'lines', 'adjustments', 'totals', 'chart', 'payment'] as const;
export type BlockName = (typeof BLOCKS)[number];

export const COLUMN_FIELDS = ['description', 'catalog_version', 'used', 'included', 'billed', 'unit_price', 'amount'] as const;
export type ColumnField = (typeof COLUMN_FIELDS)[number];

/** The adjustment table's fields: what a corrected line billed before, what it bills now, and the difference. */
export const ADJUSTMENT_FIELDS = ['description', 'catalog_version', 'billed_before', 'billed_now', 'amount_before', 'amount_now', 'amount'] as const;
export type AdjustmentField = (typeof ADJUSTMENT_FIELDS)[number];

export type Align = 'left' | 'right' | 'center';

export interface TableColumn<F extends string = ColumnField> {
  field: F;
  header: string;
  /** Points, with the "*" column resolved. */
  width: number;
  align: Align;
}

/** Each text and the placeholders it may use. */
const TEXT_PLACEHOLDERS = {
  title: [],
  draft: [],
  void: [],
  paid: [],
  number: [],
  issue_date: [],
  due_date: [],
  payment_terms: [],
  net_days: ['days'],
  due_on_receipt: [],
  po_number: [],
  period: [],
  period_dates: ['first', 'last'],
  timezone: [],
  bill_to: [],
  customer_id: ['id'],
  tax_id: ['tax_id'],
  lines_heading: ['period'],
  no_usage: [],
  usage_subtotal: [],
  discount: ['description', 'base'],
  adjustments_heading: ['period'],
  adjustments_intro: ['period'],
  adjustments_total: ['period'],
  unpriced: [],
  period_total: ['period'],
  subtotal: [],
  tax: ['label', 'rate'],
  total: ['currency'],
  paid_on: ['date'],
  credit_note_row: ['number', 'date'],
  amount_due: ['currency'],
  credit_note_title: [],
  credit_note_number: [],
  corrects: [],
  invoice_date: [],
  credit_note_heading: ['number'],
  credit_note_reason: ['reason'],
  credit_note_net: [],
  credit_note_total: ['currency'],
  credit_note_applied: ['number'],
  credit_note_granted: [],
  money: ['currency', 'amount'],
  chart_title: ['currency'],
  chart_note: ['amount'],
  chart_empty: [],
  payment_heading: [],
  page: ['page', 'pages'],
  continued: ['title', 'number'],
} as const satisfies Record<string, readonly string[]>;
export type TextKey = keyof typeof TEXT_PLACEHOLDERS;
export type Texts = Record<TextKey, string>;

const SIZE_KEYS = ['body', 'small', 'table', 'heading', 'title', 'watermark'] as const;
const COLOR_KEYS = ['text', 'muted', 'accent', 'rule', 'table_header_background', 'chart_bar', 'watermark'] as const;

/** Page sizes in points (the ones pdfkit knows by these names). */
const PAGE_SIZES: Record<string, [number, number]> = {
  A3: [841.89, 1190.55],
  A4: [595.28, 841.89],
  A5: [419.53, 595.28],
  LETTER: [612, 792],
  LEGAL: [612, 1008],
};

export interface LoadedTemplate {
  /** The template folder and its layout file. */
  dir: string;
  file: string;
  page: { width: number; height: number; margins: { top: number; right: number; bottom: number; left: number } };
  fonts: { regular: FontChain; bold: FontChain };
  sizes: Record<(typeof SIZE_KEYS)[number], number>;
  colors: Record<(typeof COLOR_KEYS)[number], string>;
  /** The template's own logo (PNG or JPEG bytes), and the box any logo is fitted into. */
  logo: { data: Buffer | null; width: number; height: number };
  blocks: BlockName[];
  columns: TableColumn[];
  adjustmentColumns: TableColumn<AdjustmentField>[];
  chart: { height: number };
  format: NumberFormat;
  texts: Texts;
}

type Doc = Record<string, unknown>;

/** Page geometry (points, not money) for messages: at most two decimals. */
const pt = (n: number) => String(Math.round(n * 100) / 100);

function isRecord(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `over` merged onto `base`: maps key by key, anything else replaced. */
function merge(base: unknown, over: unknown): unknown {
  if (!isRecord(base) || !isRecord(over)) return over === undefined ? base : over;
  const out: Doc = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

/** Makes the file paths in a layout document absolute, relative to the folder of its file. */
function anchorPaths(doc: Doc, dir: string): Doc {
  const rel = (v: unknown) => (typeof v === 'string' && !v.startsWith('npm:') ? path.resolve(dir, v) : v);
  const out: Doc = { ...doc };
  if (isRecord(doc.fonts)) {
    const fonts: Doc = {};
    for (const [k, v] of Object.entries(doc.fonts)) fonts[k] = Array.isArray(v) ? v.map(rel) : v;
    out.fonts = fonts;
  }
  if (isRecord(doc.logo)) out.logo = { ...doc.logo, file: rel(doc.logo.file) };
  return out;
}

function readLayout(file: string): Doc {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UsageError(
        `no invoice template: ${file} does not exist`,
        `invoice.template in billctl.yaml must name a folder holding ${LAYOUT_FILE}; copy billctl's templates/invoice to start one.`,
      );
    }
    throw new UsageError(`cannot read the invoice template ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new ValidationError(file, [(err as Error).message.split('\n')[0] ?? 'not valid YAML']);
  }
  if (doc === null || doc === undefined) return {};
  if (!isRecord(doc)) throw new ValidationError(file, ['the layout must be a map of settings (page, fonts, blocks, table, texts, ...)']);
  return anchorPaths(doc, path.dirname(file));
}

const IMAGE_SIGNATURES = ['89504e47' /* PNG */, 'ffd8ff' /* JPEG */];

/** Reads a PNG or JPEG file; throws a message naming what is wrong. */
export function readImage(file: string): Buffer {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  const head = data.subarray(0, 4).toString('hex');
  if (!IMAGE_SIGNATURES.some((s) => head.startsWith(s))) throw new Error(`${file} is not a PNG or JPEG image`);
  return data;
}

/** Checks a merged layout document and builds the template, collecting every problem. */
function buildTemplate(doc: Doc, dir: string, file: string): LoadedTemplate {
  const problems: string[] = [];
  const known = (v: Doc, at: string, keys: readonly string[]) => {
    for (const k of Object.keys(v)) {
      if (!keys.includes(k)) problems.push(`${at}${k}: unknown setting (known: ${keys.join(', ')})`);
    }
  };
  const map = (v: unknown, at: string): Doc => {
    if (isRecord(v)) return v;
    problems.push(`${at}: must be a map`);
    return {};
  };
  const num = (v: unknown, at: string, min: number, max: number): number => {
    if (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max) return v;
    problems.push(`${at}: must be a number from ${min} to ${max}, not ${JSON.stringify(v)}`);
    return min;
  };
  const str = (v: unknown, at: string): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    problems.push(`${at}: must be text, not ${JSON.stringify(v)}`);
    return '';
  };
  const oneOf = <T extends string>(v: unknown, at: string, options: readonly T[]): T => {
    if (typeof v === 'string' && (options as readonly string[]).includes(v)) return v as T;
    problems.push(`${at}: must be one of ${options.join(', ')}, not ${JSON.stringify(v)}`);
    return options[0] as T;
  };

  known(doc, '', ['version', 'page', 'fonts', 'sizes', 'colors', 'logo', 'blocks', 'table', 'adjustment_table', 'chart', 'format', 'texts']);
  if (doc.version !== 1) problems.push(`version: must be 1, not ${JSON.stringify(doc.version)}`);

  // page
  const page = map(doc.page, 'page');
  known(page, 'page.', ['size', 'margins']);
  let width = PAGE_SIZES.A4?.[0] ?? 0;
  let height = PAGE_SIZES.A4?.[1] ?? 0;
  if (typeof page.size === 'string' && PAGE_SIZES[page.size.toUpperCase()]) {
    [width, height] = PAGE_SIZES[page.size.toUpperCase()] ?? [width, height];
  } else if (Array.isArray(page.size) && page.size.length === 2) {
    width = num(page.size[0], 'page.size[0]', 100, 5000);
    height = num(page.size[1], 'page.size[1]', 100, 5000);
  } else {
    problems.push(`page.size: must be one of ${Object.keys(PAGE_SIZES).join(', ')} or [width, height] in points, not ${JSON.stringify(page.size)}`);
  }
  const margins = { top: 0, right: 0, bottom: 0, left: 0 };
  if (typeof page.margins === 'number') {
    const m = num(page.margins, 'page.margins', 0, 300);
    Object.assign(margins, { top: m, right: m, bottom: m, left: m });
  } else {
    const m = map(page.margins, 'page.margins');
    known(m, 'page.margins.', ['top', 'right', 'bottom', 'left']);
    for (const side of ['top', 'right', 'bottom', 'left'] as const) margins[side] = num(m[side], `page.margins.${side}`, 0, 300);
  }
  const contentWidth = width - margins.left - margins.right;

  // fonts
  const fonts = map(doc.fonts, 'fonts');
  known(fonts, 'fonts.', ['regular', 'bold']);
  const chain = (v: unknown, at: string): FontChain => {
    if (!Array.isArray(v) || v.length === 0) {
      problems.push(`${at}: must be a list of font files (.ttf or .otf), first choice first`);
      return new FontChain([]);
    }
    const faces = [];
    for (const [i, spec] of v.entries()) {
      if (typeof spec !== 'string') {
        problems.push(`${at}[${i}]: must be a file path or npm:<package>/<file>`);
        continue;
      }
      const found = resolveFontFile(spec, dir);
      if (found === null) {
        problems.push(
          spec.startsWith('npm:')
            ? `${at}[${i}]: ${spec} not found; is the package installed (npm install ${spec.slice(4).split('/').slice(0, spec.startsWith('npm:@') ? 2 : 1).join('/')})?`
            : `${at}[${i}]: ${spec.split('#')[0]} does not exist`,
        );
        continue;
      }
      const bad = fontFileProblem(found);
      if (bad !== null) {
        problems.push(`${at}[${i}]: ${bad}`);
        continue;
      }
      faces.push(fontFace(found, spec));
    }
    return new FontChain(faces);
  };
  const regular = chain(fonts.regular, 'fonts.regular');
  const bold = fonts.bold === undefined || fonts.bold === null ? regular : chain(fonts.bold, 'fonts.bold');
  // Open the first choices now, so a broken file is reported here and not halfway through a run.
  for (const [c, at] of [[regular, 'fonts.regular[0]'], [bold, 'fonts.bold[0]']] as const) {
    const face = c.faces[0];
    if (face === undefined) continue;
    try {
      void face.font;
    } catch (err) {
      problems.push(`${at}: cannot open ${face.file}: ${(err as Error).message}`);
    }
  }

  // sizes, colors
  const sizesDoc = map(doc.sizes, 'sizes');
  known(sizesDoc, 'sizes.', SIZE_KEYS);
  const sizes = Object.fromEntries(SIZE_KEYS.map((k) => [k, num(sizesDoc[k], `sizes.${k}`, 4, 200)])) as LoadedTemplate['sizes'];
  const colorsDoc = map(doc.colors, 'colors');
  known(colorsDoc, 'colors.', COLOR_KEYS);
  const colors = Object.fromEntries(
    COLOR_KEYS.map((k) => {
      const v = colorsDoc[k];
      if (typeof v === 'string' && /^#[0-9a-fA-F]{6}$/.test(v)) return [k, v];
      problems.push(`colors.${k}: must be a colour like "#1f2328", not ${JSON.stringify(v)}`);
      return [k, '#000000'];
    }),
  ) as LoadedTemplate['colors'];

  // logo
  const logoDoc = map(doc.logo, 'logo');
  known(logoDoc, 'logo.', ['file', 'width', 'height']);
  let logoData: Buffer | null = null;
  if (logoDoc.file !== null && logoDoc.file !== undefined) {
    try {
      logoData = readImage(str(logoDoc.file, 'logo.file'));
    } catch (err) {
      problems.push(`logo.file: ${(err as Error).message}`);
    }
  }
  const logo = {
    data: logoData,
    width: num(logoDoc.width, 'logo.width', 1, contentWidth),
    height: num(logoDoc.height, 'logo.height', 1, height / 3),
  };

  // blocks
  const blocks: BlockName[] = [];
  if (!Array.isArray(doc.blocks)) problems.push(`blocks: must be a list of ${BLOCKS.join(', ')}`);
  else {
    for (const [i, b] of doc.blocks.entries()) {
      if (!(BLOCKS as readonly unknown[]).includes(b)) oneOf(b, `blocks[${i}]`, BLOCKS);
      else if (blocks.includes(b as BlockName)) problems.push(`blocks[${i}]: ${String(b)} is listed twice`);
      else blocks.push(b as BlockName);
    }
  }

  // tables
  const tableColumns = <F extends string>(v: unknown, at: string, fields: readonly F[]): TableColumn<F>[] => {
    const table = map(v, at);
    known(table, `${at}.`, ['columns']);
    const columns: TableColumn<F>[] = [];
    let star = -1;
    if (!Array.isArray(table.columns) || table.columns.length === 0) {
      problems.push(`${at}.columns: must be a list of columns (field, header, width, align)`);
      return columns;
    }
    for (const [i, c] of table.columns.entries()) {
      const cat = `${at}.columns[${i}]`;
      const col = map(c, cat);
      known(col, `${cat}.`, ['field', 'header', 'width', 'align']);
      let w = 0;
      if (col.width === '*') {
        if (star >= 0) problems.push(`${cat}.width: only one column can be "*"`);
        star = i;
      } else w = num(col.width, `${cat}.width`, 1, contentWidth);
      const header = str(col.header ?? '', `${cat}.header`);
      for (const p of placeholders(header)) {
        if (p !== 'currency') problems.push(`${cat}.header: unknown placeholder {${p}} (it can use {currency})`);
      }
      columns.push({
        field: oneOf(col.field, `${cat}.field`, fields),
        header,
        width: w,
        align: col.align === undefined ? 'left' : oneOf(col.align, `${cat}.align`, ['left', 'right', 'center'] as const),
      });
    }
    const fixed = columns.reduce((s, c) => s + c.width, 0);
    const left = contentWidth - fixed;
    const starCol = columns[star];
    if (starCol !== undefined) {
      if (left < 40) problems.push(`${at}.columns: the fixed widths (${pt(fixed)}) leave ${pt(Math.max(left, 0))} points for the "*" column of a page ${pt(contentWidth)} points wide; 40 at least`);
      starCol.width = left;
    } else if (left < 0) {
      problems.push(`${at}.columns: the widths add up to ${pt(fixed)} points, more than the ${pt(contentWidth)} between the margins`);
    }
    return columns;
  };
  const columns = tableColumns(doc.table, 'table', COLUMN_FIELDS);
  const adjustmentColumns = tableColumns(doc.adjustment_table, 'adjustment_table', ADJUSTMENT_FIELDS);

  // chart
  const chartDoc = map(doc.chart, 'chart');
  known(chartDoc, 'chart.', ['height']);
  const chart = { height: num(chartDoc.height, 'chart.height', 10, height / 2) };

  // format
  const fmt = map(doc.format, 'format');
  known(fmt, 'format.', ['thousands_separator', 'amount_thousands_separator', 'gpu_quantity', 'units']);
  const sep = (v: unknown, at: string) => {
    const s = str(v ?? '', at);
    if (/[\d.-]/.test(s) || s.length > 3) problems.push(`${at}: must be up to 3 characters and no digit, "." or "-" ("," or " " or "")`);
    return s;
  };
  const unitsDoc = map(fmt.units, 'format.units');
  known(unitsDoc, 'format.units.', ['hour', 'second', 'token', 'request', 'unit']);
  const format: NumberFormat = {
    thousands: sep(fmt.thousands_separator, 'format.thousands_separator'),
    amountThousands: sep(fmt.amount_thousands_separator, 'format.amount_thousands_separator'),
    gpuQuantity: oneOf<GpuQuantityStyle>(fmt.gpu_quantity, 'format.gpu_quantity', ['hours', 'hms', 'seconds']),
    units: {
      hour: str(unitsDoc.hour, 'format.units.hour'),
      second: str(unitsDoc.second, 'format.units.second'),
      token: str(unitsDoc.token, 'format.units.token'),
      request: str(unitsDoc.request, 'format.units.request'),
      // A metric's unit (seats, runs, gigabytes): layouts written before metrics lack it.
      unit: unitsDoc.unit === undefined ? 'unit' : str(unitsDoc.unit, 'format.units.unit'),
    },
  };

  // texts
  const textsDoc = map(doc.texts, 'texts');
  const textKeys = Object.keys(TEXT_PLACEHOLDERS) as TextKey[];
  known(textsDoc, 'texts.', textKeys);
  const texts = {} as Texts;
  for (const k of textKeys) {
    const t = str(textsDoc[k], `texts.${k}`);
    const allowed: readonly string[] = TEXT_PLACEHOLDERS[k];
    for (const p of placeholders(t)) {
      if (!allowed.includes(p)) {
        problems.push(`texts.${k}: unknown placeholder {${p}}${allowed.length ? ` (it can use ${allowed.map((a) => `{${a}}`).join(', ')})` : ' (it takes none)'}`);
      }
    }
    texts[k] = t;
  }

  if (problems.length > 0) throw new ValidationError(file, problems, 'Fix the layout file (billctl\'s templates/invoice/layout.yaml lists every setting).');
  return {
    dir,
    file,
    page: { width, height, margins },
    fonts: { regular, bold },
    sizes,
    colors,
    logo,
    blocks,
    columns,
    adjustmentColumns,
    chart,
    format,
    texts,
  };
}

const cache = new Map<string, LoadedTemplate>();

/** The folder of billctl's own template. */
export function defaultTemplateDir(): string {
  return templatePath('invoice');
}

/**
 * Loads and checks the template in `dir` (billctl's own when omitted; `Config.invoice.template`
 * when the company has one), once per folder per process.
 */
export function loadInvoiceTemplate(dir: string = defaultTemplateDir()): LoadedTemplate {
  const abs = path.resolve(dir);
  let t = cache.get(abs);
  if (t === undefined) {
    const baseFile = path.join(defaultTemplateDir(), LAYOUT_FILE);
    const file = path.join(abs, LAYOUT_FILE);
    const base = readLayout(baseFile);
    const doc = file === baseFile ? base : (merge(base, readLayout(file)) as Doc);
    t = buildTemplate(doc, abs, file);
    cache.set(abs, t);
  }
  return t;
}
