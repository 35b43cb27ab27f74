/**
 * Invoice PDFs with pdfkit: an InvoiceDocument drawn with a LoadedTemplate. The same document and
 * template give the same bytes in any process: the creation and modification dates come from the
 * invoice (issue date, else the period's first day), the file /ID is pdfkit's hash of that info,
 * and font subset tags follow the order fonts are first used. Nothing reads the clock or random.
 */
import path from 'node:path';
import PDFDocument from 'pdfkit';
import { UsageError } from '../errors.js';
import { Canvas, type FontStyle } from './canvas.js';
import { compressedFontProgram, endCompressed, type PdfStreamRef } from './fonts.js';
import { chartModel, type ChartModel } from './chart.js';
import { fillText, formatAmountText, formatMoney, formatPercent, formatQuantity, formatUnitPrice } from './format.js';
import { invoiceDocumentProblems, type CreditNoteSection, type InvoiceDocument, type InvoiceDocumentLine } from './invoice-document.js';
import { readImage, type AdjustmentField, type BlockName, type LoadedTemplate, type TableColumn } from './template.js';
import { makeDirectory } from '../make-directory.js';
import { writeFileAtomic } from '../export/atomic-file.js';

export { loadInvoiceTemplate, type LoadedTemplate } from './template.js';

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;
const NUMBER = /^[A-Za-z0-9_-]{1,64}$/;

/** A copy of an issued invoice stamped with what happened to it since: `<number>.void.pdf`, `<number>.paid.pdf`. */
export type PdfStamp = 'void' | 'paid';

/**
 * Where an invoice's PDF goes: `<out>/<period>/<number>.pdf` (cli.md), and a stamped copy beside
 * it as `<number>.void.pdf` or `<number>.paid.pdf`. Only the period and the invoice number make
 * the path, never tenant text, and both are checked so that neither can leave the folder.
 */
export function invoicePdfPath(outDir: string, period: string, number: string, stamp?: PdfStamp): string {
  if (!PERIOD.test(period)) throw new RangeError(`invoice PDF path: "${period}" is not a period YYYY-MM`);
  if (!NUMBER.test(number)) throw new RangeError(`invoice PDF path: "${number}" is not an invoice number (letters, digits, - and _)`);
  return path.join(outDir, period, stamp === undefined ? `${number}.pdf` : `${number}.${stamp}.pdf`);
}

/**
 * Where a draft's PDF goes: `<out>/drafts/<period>/draft-<id>.pdf`. A draft has no number, so it
 * is named by its invoice id, in a folder of its own: the period's folder holds only what was issued.
 */
export function draftPdfPath(outDir: string, period: string, id: string): string {
  if (!PERIOD.test(period)) throw new RangeError(`draft PDF path: "${period}" is not a period YYYY-MM`);
  if (!/^\d{1,15}$/.test(id)) throw new RangeError(`draft PDF path: "${id}" is not an invoice id`);
  return path.join(outDir, 'drafts', period, `draft-${id}.pdf`);
}

const logos = new Map<string, Buffer>();

/** The issuer's logo file, read once per process. */
function issuerLogo(file: string): Buffer {
  let data = logos.get(file);
  if (data === undefined) {
    try {
      data = readImage(file);
    } catch (err) {
      throw new UsageError(`issuer.logo: ${(err as Error).message}`, 'Point issuer.logo in billctl.yaml at a PNG or JPEG file.');
    }
    logos.set(file, data);
  }
  return data;
}

/** What the document is: an invoice, or a credit note. */
function documentTitle(doc: InvoiceDocument, t: LoadedTemplate): string {
  return doc.credit_note === undefined ? t.texts.title : t.texts.credit_note_title;
}

/** The PDF's dates: the issue date, or for a draft the first day of its period, at 00:00 UTC. */
function documentDate(doc: InvoiceDocument): Date {
  const day = doc.issue_date ?? `${doc.period}-01`;
  return new Date(Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10))));
}

interface StackLine {
  text: string;
  style: FontStyle;
  size: number;
  color: string;
}

interface Cell {
  text: string;
  style: FontStyle;
  color?: string;
}

/** A row of the totals block. */
interface TotalsRow {
  label: string[];
  value: string;
  strong: boolean;
}

const CELL_PAD_X = 4;
const CELL_PAD_Y = 3;
const GAP = 16;

/** The blocks that close an invoice: kept together, with the last table row, when they fit on a page. */
const CLOSING: readonly BlockName[] = ['totals', 'payment', 'chart'];

/** Draws one invoice: the blocks of the template in order, then footers and page numbers. */
class InvoiceDrawing {
  private readonly c: Canvas;
  private readonly left: number;
  private readonly right: number;
  private readonly width: number;
  private readonly top: number;
  private readonly bottom: number;
  private readonly footerLines: string[];
  private y: number;
  /** Where content starts on the current page (below the running header and table header). */
  private pageStart: number;
  /** Inside a table: a page break repeats its header. */
  private repeatHeader: (() => void) | null = null;
  /** The table block drawn last, and the height its last row keeps below it for the closing blocks. */
  private lastTable: BlockName | null = null;
  private keepWithLastRow = 0;

  constructor(
    private readonly pdf: PDFKit.PDFDocument,
    private readonly t: LoadedTemplate,
    private readonly doc: InvoiceDocument,
  ) {
    this.c = new Canvas(pdf, t.fonts);
    const m = t.page.margins;
    this.left = m.left;
    this.right = t.page.width - m.right;
    this.width = this.right - this.left;
    this.top = m.top;
    this.y = m.top;
    this.pageStart = m.top;
    // The footer sits above the bottom margin with the page number on its last line.
    this.footerLines = this.c.wrap(doc.footer.trim(), 'regular', t.sizes.small, this.width * 0.75);
    const footerHeight = Math.max(1, this.footerLines.length) * this.c.lineHeight(t.sizes.small);
    this.bottom = t.page.height - m.bottom - footerHeight - 8;
  }

  private get number(): string {
    return this.doc.number ?? this.t.texts.draft;
  }

  /** "Invoice", or "Credit note" on a credit note's document. */
  private get title(): string {
    return documentTitle(this.doc, this.t);
  }

  /** An amount with digit grouping. */
  private amount(a: string): string {
    return formatAmountText(a, this.t.format.amountThousands);
  }

  /** An amount with grouping and the currency ("USD 1,234.50"). */
  private money(a: string): string {
    return formatMoney(a, this.doc.currency, this.t.format.amountThousands, this.t.texts.money);
  }

  private lh(size: number): number {
    return this.c.lineHeight(size);
  }

  /** Moves to a new page when `h` more points do not fit on this one (unless it is still empty: taller than a page is drawn anyway). */
  private ensure(h: number): void {
    if (this.y + h > this.bottom && this.y > this.pageStart) this.newPage();
  }

  /** Where the running header leaves the content of a new page. */
  private get continuedTop(): number {
    return this.top + this.lh(this.t.sizes.small) + 10;
  }

  private newPage(): void {
    this.pdf.addPage();
    this.c.resetState();
    const { sizes, colors, texts } = this.t;
    this.y = this.top;
    this.c.text(this.doc.issuer.name, this.left, this.y, 'regular', sizes.small, colors.muted, 'left', this.width / 2);
    const running = fillText(texts.continued, { title: this.title, number: this.number });
    this.c.text(running, this.left, this.y, 'regular', sizes.small, colors.muted, 'right', this.width);
    this.y = this.continuedTop;
    this.repeatHeader?.();
    this.pageStart = this.y;
  }

  draw(): void {
    this.planClosing();
    for (const block of this.t.blocks) {
      switch (block) {
        case 'header':
          this.header();
          break;
        case 'details':
          this.details();
          break;
        case 'lines':
          this.lines();
          break;
        case 'adjustments':
          this.adjustments();
          break;
        case 'totals':
          this.totals();
          break;
        case 'chart':
          this.chart();
          break;
        case 'payment':
          this.payment();
          break;
        default:
          block satisfies never;
      }
    }
    this.finishPages();
  }

  /**
   * The blocks after the last table (totals, payment, chart) go on one page with the table's last
   * row when they fit on a page at all: never a Payment block, or a total, alone on the last page.
   */
  private planClosing(): void {
    const blocks = this.t.blocks;
    const tables = blocks.filter((b) => b === 'lines' || (b === 'adjustments' && this.doc.adjustments.length > 0));
    this.lastTable = tables[tables.length - 1] ?? null;
    if (this.lastTable === null) return;
    let height = 0;
    for (const b of blocks.slice(blocks.indexOf(this.lastTable) + 1)) {
      if (b === 'adjustments') continue; // none: it draws nothing
      if (!CLOSING.includes(b)) break;
      height += b === 'totals' ? this.totalsLayout().height + GAP : b === 'payment' ? this.paymentLayout().height : this.chartHeight();
    }
    // Room on a fresh page below the running header, the table header and a row or two.
    const room = this.bottom - this.continuedTop - 4 * (this.lh(this.t.sizes.table) + 2 * CELL_PAD_Y);
    if (height <= room) this.keepWithLastRow = height;
  }

  /** Lines of text, each wrapped to `width`, from `y` down; returns the y below them. */
  private stack(lines: readonly StackLine[], x: number, y: number, width: number): number {
    for (const l of lines) {
      for (const part of this.c.wrap(l.text, l.style, l.size, width)) {
        this.c.text(part, x, y, l.style, l.size, l.color);
        y += this.lh(l.size);
      }
    }
    return y;
  }

  private body(text: string): StackLine {
    return { text, style: 'regular', size: this.t.sizes.body, color: this.t.colors.text };
  }

  /** The left column of the header and details blocks; the right one starts 10 points after it. */
  private get leftColumn(): number {
    return this.width * 0.55;
  }

  private header(): void {
    const { sizes, colors, texts, logo } = this.t;
    const issuer = this.doc.issuer;
    let y = this.y;
    const logoData = issuer.logo !== null ? issuerLogo(issuer.logo) : logo.data;
    if (logoData !== null) {
      this.pdf.image(logoData, this.left, y, { fit: [logo.width, logo.height] });
      y += logo.height + 8;
    }
    const lines: StackLine[] = [
      { text: issuer.name, style: 'bold', size: sizes.heading, color: colors.text },
      ...issuer.address.map((a) => this.body(a)),
      ...(issuer.tax_id ? [this.body(fillText(texts.tax_id, { tax_id: issuer.tax_id }))] : []),
      ...(issuer.email ? [this.body(issuer.email)] : []),
    ];
    const leftBottom = this.stack(lines, this.left, y, this.leftColumn);
    const titleX = this.left + this.leftColumn + 10;
    const titleW = this.right - titleX;
    let ry = this.y;
    this.c.text(this.title, titleX, ry, 'bold', sizes.title, colors.accent, 'right', titleW);
    ry += this.lh(sizes.title);
    const stamp = this.stamp();
    const shown = stamp !== '' && this.doc.number !== null ? `${this.number} · ${stamp}` : this.number;
    this.c.text(shown, titleX, ry, 'bold', sizes.heading, this.doc.number === null ? colors.watermark : colors.text, 'right', titleW);
    ry += this.lh(sizes.heading);
    this.y = Math.max(leftBottom, ry) + GAP;
  }

  /** DRAFT, VOID or PAID, or nothing on an issued invoice as it was sent. */
  private stamp(): string {
    const { texts } = this.t;
    switch (this.doc.status) {
      case 'draft':
        return texts.draft;
      case 'void':
        return texts.void;
      case 'paid':
        return texts.paid;
      case 'finalized':
        return '';
      default:
        return this.doc.status satisfies never;
    }
  }

  private details(): void {
    const { sizes, colors, texts } = this.t;
    const d = this.doc;
    const cu = d.customer;
    const leftBottom = this.stack(
      [
        { text: texts.bill_to, style: 'regular', size: sizes.small, color: colors.muted },
        { text: cu.name, style: 'bold', size: sizes.heading, color: colors.text },
        ...cu.address.map((a) => this.body(a)),
        ...(cu.tax_id ? [this.body(fillText(texts.tax_id, { tax_id: cu.tax_id }))] : []),
        this.body(fillText(texts.customer_id, { id: cu.tenant_id })),
        ...(cu.email ? [this.body(cu.email)] : []),
      ],
      this.left,
      this.y,
      this.leftColumn,
    );
    const boxX = this.left + this.leftColumn + 10;
    const boxW = this.right - boxX;
    const cn = d.credit_note;
    const rows: [string, string][] = [[cn === undefined ? texts.number : texts.credit_note_number, this.number]];
    if (d.issue_date !== null) rows.push([texts.issue_date, d.issue_date]);
    if (cn !== undefined) rows.push([texts.corrects, cn.invoice.number], [texts.invoice_date, cn.invoice.issue_date]);
    if (d.due_date !== null) rows.push([texts.due_date, d.due_date]);
    if (d.net_days !== undefined) {
      rows.push([texts.payment_terms, d.net_days === 0 ? texts.due_on_receipt : fillText(texts.net_days, { days: String(d.net_days) })]);
    }
    if (d.po_number) rows.push([texts.po_number, d.po_number]);
    if (d.period_dates !== undefined) {
      rows.push([texts.period, fillText(texts.period_dates, { first: d.period_dates.first, last: d.period_dates.last })]);
      rows.push([texts.timezone, d.period_dates.timezone]);
    } else rows.push([texts.period, d.period]);
    let ry = this.y;
    for (const [label, value] of rows) {
      this.c.text(label, boxX, ry, 'regular', sizes.body, colors.muted);
      this.c.text(value, boxX, ry, 'bold', sizes.body, colors.text, 'right', boxW);
      ry += this.lh(sizes.body) + 2;
    }
    this.y = Math.max(leftBottom, ry) + GAP;
  }

  private heading(text: string): void {
    const { sizes, colors } = this.t;
    // Keep a heading with at least the table header and one row below it.
    this.ensure(this.lh(sizes.heading) + 3 * this.lh(sizes.table) + 4 * CELL_PAD_Y);
    this.c.text(text, this.left, this.y, 'bold', sizes.heading, colors.accent);
    this.y += this.lh(sizes.heading) + 4;
  }

  private tableHeader(columns: readonly TableColumn<string>[]): void {
    const { sizes, colors } = this.t;
    const h = this.lh(sizes.table) + 2 * CELL_PAD_Y;
    this.pdf.rect(this.left, this.y, this.width, h).fill(colors.table_header_background);
    this.c.resetState();
    let x = this.left;
    for (const col of columns) {
      const header = fillText(col.header, { currency: this.doc.currency });
      this.c.text(header, x + CELL_PAD_X, this.y + CELL_PAD_Y, 'bold', sizes.table, colors.text, col.align, col.width - 2 * CELL_PAD_X);
      x += col.width;
    }
    this.y += h;
  }

  private cell(line: InvoiceDocumentLine, col: TableColumn): Cell {
    const f = this.t.format;
    switch (col.field) {
      case 'description':
        return { text: line.description, style: 'regular' };
      case 'catalog_version':
        return { text: line.catalog_version ?? '', style: 'regular' };
      case 'used':
      case 'included':
      case 'billed':
        return { text: formatQuantity(line[col.field], line.unit, f), style: 'regular' };
      case 'unit_price':
        return {
          text: line.unpriced ? this.t.texts.unpriced : line.price_words ?? formatUnitPrice(line.unit_price, line.unit, line.unit_size, f),
          style: 'regular',
        };
      case 'amount':
        return { text: this.amount(line.amount), style: 'regular' };
      default:
        return col.field satisfies never;
    }
  }

  private adjustmentCell(line: InvoiceDocumentLine, col: TableColumn<AdjustmentField>): Cell {
    const quantity = (q: string | undefined) => (q === undefined ? '' : formatQuantity(q, line.unit, this.t.format));
    const amount = (a: string | undefined) => (a === undefined ? '' : this.amount(a));
    switch (col.field) {
      case 'description':
        return { text: line.description, style: 'regular' };
      case 'catalog_version':
        return { text: line.catalog_version ?? '', style: 'regular' };
      case 'billed_before':
        return { text: quantity(line.before?.billed), style: 'regular' };
      case 'billed_now':
        return { text: quantity(line.now?.billed), style: 'regular' };
      case 'amount_before':
        return { text: amount(line.before?.amount), style: 'regular' };
      case 'amount_now':
        return { text: amount(line.now?.amount), style: 'regular' };
      case 'amount':
        return { text: this.amount(line.amount), style: 'regular' };
      default:
        return col.field satisfies never;
    }
  }

  /** A row with only a label and an amount (a fee, a subtotal, a discount). */
  private summaryRow(columns: readonly TableColumn<string>[], label: string, amount: string, style: FontStyle = 'regular'): Cell[] {
    return columns.map((col) => ({ text: col.field === 'description' ? label : col.field === 'amount' ? amount : '', style }));
  }

  /** One table row of cells (wrapped), its height found first so it never splits across pages; `keep` more points stay below it. */
  private row(columns: readonly TableColumn<string>[], cells: readonly Cell[], keep: number): void {
    const { sizes, colors } = this.t;
    const lh = this.lh(sizes.table);
    const wrapped = cells.map((cell, i) => this.c.wrap(cell.text, cell.style, sizes.table, (columns[i]?.width ?? 0) - 2 * CELL_PAD_X));
    const h = Math.max(1, ...wrapped.map((w) => w.length)) * lh + 2 * CELL_PAD_Y;
    this.ensure(h + keep);
    let x = this.left;
    wrapped.forEach((parts, i) => {
      const col = columns[i];
      const cell = cells[i];
      if (col === undefined || cell === undefined) return;
      parts.forEach((part, j) => {
        this.c.text(part, x + CELL_PAD_X, this.y + CELL_PAD_Y + j * lh, cell.style, sizes.table, cell.color ?? colors.text, col.align, col.width - 2 * CELL_PAD_X);
      });
      x += col.width;
    });
    this.y += h;
    this.pdf.moveTo(this.left, this.y).lineTo(this.right, this.y).lineWidth(0.4).stroke(colors.rule);
  }

  /** A heading (and a note under it), then the table header and rows; a page break inside repeats the header. */
  private table(block: BlockName, last: boolean, heading: string, note: string, columns: readonly TableColumn<string>[], rows: readonly Cell[][]): void {
    this.heading(heading);
    if (note !== '') {
      const { sizes, colors } = this.t;
      this.y = this.stack([{ text: note, style: 'regular', size: sizes.small, color: colors.muted }], this.left, this.y, this.width) + 4;
    }
    this.tableHeader(columns);
    this.repeatHeader = () => this.tableHeader(columns);
    const keepLast = last && this.lastTable === block ? this.keepWithLastRow : 0;
    rows.forEach((cells, i) => this.row(columns, cells, i === rows.length - 1 ? keepLast : 0));
    this.repeatHeader = null;
    this.y += GAP;
  }

  /** The plan fee, the period's usage, the usage subtotal and the discount (with its base); on a credit note, what it credits. */
  private lines(): void {
    const { texts, colors, columns } = this.t;
    const d = this.doc;
    const cn = d.credit_note;
    if (cn !== undefined) {
      // Two columns: what is credited, and the amount (the quantity columns would stay empty).
      const amountCol = columns.find((c) => c.field === 'amount');
      const descCol = columns.find((c) => c.field === 'description');
      const two = amountCol && descCol ? [{ ...descCol, width: this.width - amountCol.width }, amountCol] : columns;
      const note = cn.line === null ? '' : fillText(texts.credit_note_reason, { reason: cn.reason });
      const rows = [this.summaryRow(two, cn.line ?? cn.reason, this.amount(cn.net))];
      this.table('lines', true, fillText(texts.credit_note_heading, { number: cn.invoice.number }), note, two, rows);
      return;
    }
    const fees = d.charges.filter((c) => c.kind === 'fee');
    const discounts = d.charges.filter((c) => c.kind === 'discount');
    const rows: Cell[][] = fees.map((c) => this.summaryRow(columns, c.description, this.amount(c.amount)));
    if (d.lines.length > 0) rows.push(...d.lines.map((l) => columns.map((col) => this.cell(l, col))));
    else rows.push(columns.map((_, i) => ({ text: i === 0 ? texts.no_usage : '', style: 'regular' as const, color: colors.muted })));
    if (d.usage_subtotal !== undefined && d.lines.length > 0 && fees.length + discounts.length > 0) {
      rows.push(this.summaryRow(columns, texts.usage_subtotal, this.amount(d.usage_subtotal), 'bold'));
    }
    for (const c of discounts) {
      const label = c.base === undefined ? c.description : fillText(texts.discount, { description: c.description, base: this.amount(c.base) });
      rows.push(this.summaryRow(columns, label, this.amount(c.amount)));
    }
    for (const c of d.charges.filter((x) => x.kind === 'commitment')) rows.push(this.summaryRow(columns, c.description, this.amount(c.amount)));
    this.table('lines', true, fillText(texts.lines_heading, { period: d.period }), '', columns, rows);
  }

  /** Per corrected period: each line billed before and now, the change, and the period's total. */
  private adjustments(): void {
    const { texts, adjustmentColumns: columns } = this.t;
    this.doc.adjustments.forEach((group, g) => {
      const rows = group.lines.map((l) => columns.map((col) => this.adjustmentCell(l, col)));
      if (group.total !== undefined) {
        rows.push(this.summaryRow(columns, fillText(texts.adjustments_total, { period: group.period }), this.amount(group.total), 'bold'));
      }
      this.table('adjustments', g === this.doc.adjustments.length - 1, fillText(texts.adjustments_heading, { period: group.period }),
        fillText(texts.adjustments_intro, { period: group.period }), columns, rows);
    });
  }

  /** The totals of a credit note: net, tax, total credited, and where the credit went. */
  private creditNoteTotals(cn: CreditNoteSection): { label: string; value: string; strong?: boolean }[] {
    const { texts } = this.t;
    const rows: { label: string; value: string; strong?: boolean }[] = [
      { label: texts.credit_note_net, value: this.amount(cn.net) },
      { label: fillText(texts.tax, { label: cn.tax.label, rate: formatPercent(cn.tax.rate) }), value: this.amount(cn.tax.amount) },
      { label: fillText(texts.credit_note_total, { currency: this.doc.currency }), value: this.money(cn.total), strong: true },
    ];
    // Where the credit went: the invoice's amount due, the customer's credit balance, or both.
    const zero = (a: string) => /^0(\.0+)?$/.test(a);
    if (!zero(cn.applied)) rows.push({ label: fillText(texts.credit_note_applied, { number: cn.invoice.number }), value: this.amount(cn.applied) });
    if (!zero(cn.granted)) rows.push({ label: texts.credit_note_granted, value: this.amount(cn.granted) });
    return rows;
  }

  /** The totals block: its rows (labels wrapped beside their values) and its height. */
  private totalsLayout(): { rows: TotalsRow[]; height: number; lh: number } {
    const { sizes, texts } = this.t;
    const d = this.doc;
    const rows: { label: string; value: string; strong?: boolean }[] = [];
    const credits = d.credits ?? [];
    if (d.credit_note !== undefined) rows.push(...this.creditNoteTotals(d.credit_note));
    else {
      // The period's charges, each corrected period and each credit: the lines the subtotal adds up.
      if (d.period_total !== undefined && (d.adjustments.length > 0 || credits.length > 0)) {
        rows.push({ label: fillText(texts.period_total, { period: d.period }), value: this.amount(d.period_total) });
        for (const g of d.adjustments) {
          if (g.total !== undefined) rows.push({ label: fillText(texts.adjustments_total, { period: g.period }), value: this.amount(g.total) });
        }
      }
      for (const c of credits) rows.push({ label: c.description, value: this.amount(c.amount) });
      rows.push({ label: texts.subtotal, value: this.amount(d.subtotal) });
      rows.push({ label: fillText(texts.tax, { label: d.tax.label, rate: formatPercent(d.tax.rate) }), value: this.amount(d.tax.amount) });
      rows.push({ label: fillText(texts.total, { currency: d.currency }), value: this.money(d.total), strong: true });
    }
    if (d.amount_due !== undefined && d.credit_note === undefined) {
      for (const p of d.prepaid ?? []) rows.push({ label: p.description, value: this.amount(p.amount) });
      for (const n of d.credit_notes ?? []) rows.push({ label: fillText(texts.credit_note_row, { number: n.number, date: n.date }), value: this.amount(n.amount) });
      for (const p of d.payments ?? []) rows.push({ label: fillText(texts.paid_on, { date: p.date }), value: this.amount(p.amount) });
      rows.push({ label: fillText(texts.amount_due, { currency: d.currency }), value: this.money(d.amount_due), strong: true });
    }
    // A due date only while something is due (not on a VOID or PAID copy).
    if (d.due_date !== null && d.status !== 'void' && d.status !== 'paid') rows.push({ label: texts.due_date, value: d.due_date });
    const lh = this.lh(sizes.body) + 3;
    const w = this.width * 0.5;
    let height = 8;
    const out = rows.map((r) => {
      const style: FontStyle = r.strong ? 'bold' : 'regular';
      const label = this.c.wrap(r.label, style, sizes.body, w - this.c.width(r.value, style, sizes.body) - 8);
      height += Math.max(1, label.length) * lh + (r.strong ? 3 : 0);
      return { label, value: r.value, strong: r.strong === true };
    });
    return { rows: out, height, lh };
  }

  private totals(): void {
    const { sizes, colors } = this.t;
    const { rows, height, lh } = this.totalsLayout();
    this.ensure(height);
    const x = this.left + this.width * 0.5;
    const w = this.right - x;
    for (const r of rows) {
      if (r.strong) {
        this.pdf.moveTo(x, this.y + 1).lineTo(this.right, this.y + 1).lineWidth(0.8).stroke(colors.text);
        this.y += 3;
      }
      const style: FontStyle = r.strong ? 'bold' : 'regular';
      r.label.forEach((part, i) => this.c.text(part, x, this.y + i * lh, style, sizes.body, r.strong ? colors.text : colors.muted));
      this.c.text(r.value, x, this.y, style, sizes.body, colors.text, 'right', w);
      this.y += Math.max(1, r.label.length) * lh;
    }
    this.y += GAP;
  }

  private chartModelMemo: ChartModel | null | undefined;

  /**
   * The chart: what the usage lines charged per day, or null when there is none to draw: nothing
   * was charged, or the document is older than its daily charges (it held list-price costs).
   */
  private get chartData(): ChartModel | null {
    if (this.chartModelMemo === undefined) {
      const model = this.doc.usage_subtotal === undefined ? null : chartModel(this.doc.period, this.doc.daily_costs);
      this.chartModelMemo = model?.max === null ? null : model;
    }
    return this.chartModelMemo;
  }

  private chartHeight(): number {
    if (this.chartData === null) return 0;
    const { sizes, chart } = this.t;
    const small = this.lh(sizes.small);
    return this.lh(sizes.heading) + 4 + small + chart.height + small + 4 + small + GAP;
  }

  private chart(): void {
    const model = this.chartData;
    if (model === null || model.max === null) return;
    const { sizes, colors, texts, chart } = this.t;
    const small = this.lh(sizes.small);
    this.ensure(this.chartHeight() - GAP);
    this.c.text(fillText(texts.chart_title, { currency: this.doc.currency }), this.left, this.y, 'bold', sizes.heading, colors.accent);
    this.y += this.lh(sizes.heading) + 4;
    const plotTop = this.y + small;
    const base = plotTop + chart.height;
    this.c.text(this.amount(model.max), this.left, this.y, 'regular', sizes.small, colors.muted);
    this.pdf.moveTo(this.left, plotTop).lineTo(this.right, plotTop).dash(1.5, { space: 2 }).lineWidth(0.4).stroke(colors.rule).undash();
    const slot = this.width / model.bars.length;
    const barW = Math.min(slot * 0.7, 24);
    // All bars make one path, filled once.
    model.bars.forEach((bar, i) => {
      if (bar.permille <= 0) return;
      // Pixel geometry only: thousandths of the tallest day (exact, chart.ts) to points.
      const h = Math.max(0.6, (bar.permille * chart.height) / 1000);
      this.pdf.rect(this.left + i * slot + (slot - barW) / 2, base - h, barW, h);
    });
    this.pdf.fill(colors.chart_bar);
    this.c.resetState();
    const first = model.bars[0];
    const last = model.bars[model.bars.length - 1];
    if (first !== undefined) this.c.text(first.date, this.left, base + 2, 'regular', sizes.small, colors.muted);
    if (last !== undefined && last !== first) this.c.text(last.date, this.left, base + 2, 'regular', sizes.small, colors.muted, 'right', this.width);
    this.pdf.moveTo(this.left, base).lineTo(this.right, base).lineWidth(0.6).stroke(colors.muted);
    this.y = base + small + 4;
    this.c.text(fillText(texts.chart_note, { amount: this.amount(this.doc.usage_subtotal!) }), this.left, this.y, 'regular', sizes.small, colors.muted);
    this.y += small + GAP;
  }

  /** The payment block's instructions, wrapped, and its height (0 without instructions). */
  private paymentLayout(): { lines: string[]; height: number } {
    const { sizes } = this.t;
    // A credit note asks for no payment.
    const text = this.doc.credit_note === undefined ? this.doc.payment_instructions.trim() : '';
    if (text === '') return { lines: [], height: 0 };
    const lines = this.c.wrap(text, 'regular', sizes.body, this.width);
    return { lines, height: this.lh(sizes.heading) + 4 + lines.length * this.lh(sizes.body) + GAP };
  }

  private payment(): void {
    const { sizes, colors, texts } = this.t;
    const { lines } = this.paymentLayout();
    if (lines.length === 0) return;
    const lh = this.lh(sizes.body);
    this.ensure(this.lh(sizes.heading) + 4 + Math.min(lines.length, 3) * lh);
    this.c.text(texts.payment_heading, this.left, this.y, 'bold', sizes.heading, colors.accent);
    this.y += this.lh(sizes.heading) + 4;
    for (const l of lines) {
      this.ensure(lh);
      this.c.text(l, this.left, this.y, 'regular', sizes.body, colors.text);
      this.y += lh;
    }
    this.y += GAP;
  }

  /** Footer, page numbers and the DRAFT, VOID or PAID mark, on every page once their count is known. */
  private finishPages(): void {
    const { sizes, colors, texts, page } = this.t;
    const range = this.pdf.bufferedPageRange();
    const pages = range.count;
    const mark = this.stamp();
    for (let i = 0; i < pages; i++) {
      this.pdf.switchToPage(range.start + i);
      this.c.resetState();
      let y = this.bottom + 8;
      this.pdf.moveTo(this.left, y - 4).lineTo(this.right, y - 4).lineWidth(0.4).stroke(colors.rule);
      for (const l of this.footerLines) {
        this.c.text(l, this.left, y, 'regular', sizes.small, colors.muted);
        y += this.lh(sizes.small);
      }
      const pageText = fillText(texts.page, { page: String(i + 1), pages: String(pages) });
      const lastLine = this.bottom + 8 + (Math.max(1, this.footerLines.length) - 1) * this.lh(sizes.small);
      this.c.text(pageText, this.left, lastLine, 'regular', sizes.small, colors.muted, 'right', this.width);
      if (mark !== '') {
        const cx = page.width / 2;
        const cy = page.height / 2;
        this.pdf.save();
        this.pdf.rotate(-35, { origin: [cx, cy] });
        this.pdf.fillOpacity(0.12);
        this.c.resetState();
        this.c.text(mark, 0, cy - this.lh(sizes.watermark) / 2, 'bold', sizes.watermark, colors.watermark, 'center', page.width);
        this.pdf.restore();
        this.c.resetState();
      }
    }
  }
}

/**
 * pdfkit compresses every stream as the document ends, the embedded font programs included:
 * the biggest streams of an invoice, and (fonts.ts) the same bytes invoice after invoice. A stream
 * ended with a font program fonts.ts remembers gets that program's compressed bytes, made once:
 * the very bytes pdfkit would write, without compressing them again.
 */
function reuseCompressedFonts(pdf: PDFKit.PDFDocument): void {
  const doc = pdf as unknown as { ref(data?: Record<string, unknown>): PdfStreamRef };
  const ref = doc.ref.bind(doc);
  doc.ref = (data) => {
    const r = ref(data);
    const end = r.end.bind(r);
    r.end = (chunk) => {
      const packed = chunk instanceof Uint8Array && r.compress ? compressedFontProgram(chunk) : undefined;
      r.end = end;
      if (packed === undefined) end(chunk);
      else endCompressed(r, packed);
    };
    return r;
  };
}

/** Renders an invoice to PDF bytes. */
export function renderInvoicePdf(doc: InvoiceDocument, template: LoadedTemplate): Promise<Buffer> {
  const problems = invoiceDocumentProblems(doc);
  if (problems.length > 0) {
    return Promise.reject(new Error(`invoice ${doc.number ?? `draft ${doc.period}`} cannot be drawn (a bug in building it):\n  - ${problems.join('\n  - ')}`));
  }
  const date = documentDate(doc);
  const pdf = new PDFDocument({
    size: [template.page.width, template.page.height],
    margin: 0,
    bufferPages: true,
    // No default font: pdfkit would parse Helvetica's metrics for every document, unused.
    font: '',
    info: {
      Title: `${documentTitle(doc, template)} ${doc.number ?? template.texts.draft}`,
      Author: doc.issuer.name,
      Creator: 'billctl',
      Producer: 'billctl',
      CreationDate: date,
      ModDate: date,
    },
  });
  reuseCompressedFonts(pdf);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    pdf.on('data', (chunk: Buffer) => chunks.push(chunk));
    pdf.on('end', () => resolve(Buffer.concat(chunks)));
    pdf.on('error', reject);
    try {
      new InvoiceDrawing(pdf, template, doc).draw();
      pdf.end();
    } catch (err) {
      reject(err as Error);
    }
  });
}

/** Directories this thread has made sure exist. */
const made = new Set<string>();

/**
 * Renders an invoice and writes it to `outPath` atomically (src/export/atomic-file.ts), so a crash
 * leaves the old file or the new one, never half. What a killed run left behind (a temporary file
 * of a pid that no longer runs) is removed when a thread first writes to the directory, so a
 * re-run ends with exactly what one clean run leaves (once per directory: sweeping per file would
 * read the whole directory for each of a thousand invoices).
 */
export async function writeInvoicePdf(doc: InvoiceDocument, template: LoadedTemplate, outPath: string): Promise<void> {
  const bytes = await renderInvoicePdf(doc, template);
  const dir = path.dirname(outPath);
  if (!made.has(dir)) {
    makeDirectory(dir);
    made.add(dir);
  }
  writeFileAtomic(outPath, bytes, { sweep: 'directory' });
}
