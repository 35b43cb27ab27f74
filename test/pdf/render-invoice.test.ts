import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import * as fontkit from 'fontkit';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import type { InvoiceDocument } from '../../src/pdf/invoice-document.js';
import { invoicePdfPath, loadInvoiceTemplate, renderInvoicePdf, writeInvoicePdf } from '../../src/pdf/render-invoice.js';
import { ROOT } from '../helpers/cli.js';
import { lateUsageExample, manyLines, workedExample } from './fixtures.js';
import { pdfFonts, pdfInfo, pdfPageCount, pdfText, popplerMissing, squash } from './poppler.js';

const template = loadInvoiceTemplate();
const render = (doc: InvoiceDocument) => renderInvoicePdf(doc, template);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'billctl-pdf-'));

/** A small opaque PNG (w×h, one colour), built by hand: no image library needed. */
function png(w: number, h: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = (crcTable[(c ^ x) & 0xff] ?? 0) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(w * 3, 0x33)]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

describe('invoice PDF paths', () => {
  it('is <out>/<period>/<number>.pdf', () => {
    expect(invoicePdfPath('invoices', '2026-10', 'INV-2026-000001')).toBe(path.join('invoices', '2026-10', 'INV-2026-000001.pdf'));
    expect(invoicePdfPath('/srv/out', '2026-01', 'ACME_2026-000002')).toBe('/srv/out/2026-01/ACME_2026-000002.pdf');
  });

  it('refuses anything that is not a period and an invoice number, so no tenant text or path reaches the name', () => {
    for (const bad of ['../acme', 'acme/INV-1', 'Müller', 'INV 1', 'INV.1', '', 'a'.repeat(65)]) {
      expect(() => invoicePdfPath('out', '2026-10', bad), bad).toThrow(/not an invoice number/);
    }
    for (const bad of ['2026-13', '2026-1', '../2026-10', '2026-10/acme']) {
      expect(() => invoicePdfPath('out', bad, 'INV-2026-000001'), bad).toThrow(/not a period/);
    }
  });
});

describe('invoice view model checks', () => {
  it('refuses to draw a model with a malformed amount, quantity or date, naming each field', async () => {
    const doc = workedExample();
    const line = doc.lines[0];
    if (!line) throw new Error('fixture has lines');
    line.amount = '4,00';
    line.used = '363600.5';
    doc.due_date = '2026-12-1';
    await expect(render(doc)).rejects.toThrow(/lines\[0\]\.amount[\s\S]*lines\[0\]\.used|lines\[0\]\.used[\s\S]*lines\[0\]\.amount/);
    await expect(render(doc)).rejects.toThrow(/due_date/);
  });
});

describe.skipIf(popplerMissing)('invoice PDFs read back with pdftotext', () => {
  it('shows every amount, the number, dates, period and parties of the worked example', async () => {
    const pdf = await render(workedExample());
    const text = pdfText(pdf);
    for (const amount of ['99.00', '4.00', '0.00', '6.60', '109.60', '20.82', '130.42']) expect(text).toContain(amount);
    for (const s of ['INV-2026-000001', '2026-11-01', '2026-12-01', 'Acme Robotics Inc.', 'Customer ID: acme', 'Example AI Cloud GmbH', 'Torstraße 1', 'Tax ID: DE123456789']) {
      expect(text).toContain(s);
    }
    const flat = squash(text);
    for (const row of ['Payment terms Net 30', 'Period 2026-10-01 – 2026-10-31', 'Time zone Europe/Berlin']) expect(flat).toContain(row);
    // The line table: the plan fee, then used, included, billed, unit price, amount per usage line, then the usage subtotal.
    expect(flat).toContain('Description Used Included Billed Unit price Amount (USD) Pro plan fee 99.00 A100 80GB GPU hours');
    expect(flat).toContain('A100 80GB GPU hours 101.00 h 100.00 h 1.00 h 4.00 / h 4.00');
    expect(flat).toContain('Qwen-70B input tokens 9,400,000 9,400,000 0 0.003 / 1,000 tokens 0.00');
    expect(flat).toContain('Qwen-70B output tokens 1,700,000 600,000 1,100,000 0.006 / 1,000 tokens 6.60 Usage subtotal 10.60');
    expect(flat).toContain('Subtotal 109.60 VAT 19 % 20.82 Total USD 130.42 Amount due USD 130.42 Due date 2026-12-01');
    expect(flat).toContain('Please transfer the total to IBAN DE89');
    expect(flat).toContain('Registered at Amtsgericht Charlottenburg');
    expect(flat).toContain('Usage charges per day (USD) 10.60');
    expect(flat).toContain('The days add up to the usage charges above: 10.60.');
    expect(flat).toContain('Page 1 of 1');
    expect(pdfPageCount(pdf)).toBe(1);
    const info = pdfInfo(pdf);
    expect(info.Title).toBe('Invoice INV-2026-000001');
    expect(info.CreationDate).toMatch(/^2026-11-01T00:00:00/);
  });

  it('writes amounts with grouping and the currency, in 0, 2 and 3 digit currencies', async () => {
    const doc = workedExample();
    for (const [currency, amount, due] of [['JPY', '1234567', 'JPY 1,234,567'], ['KWD', '1234567.125', 'KWD 1,234,567.125'], ['USD', '-1234.50', 'USD -1,234.50']]) {
      const flat = squash(pdfText(await render({ ...doc, currency: currency!, total: amount!, amount_due: amount! })));
      expect(flat).toContain(`Total ${due} Amount due ${due}`);
      expect(flat).toContain(`Amount (${currency})`);
    }
  });

  it('shows the discount with the usage subtotal it is a percentage of', async () => {
    const doc = workedExample();
    doc.charges = [
      { kind: 'fee', description: 'Enterprise plan fee', amount: '2500.00' },
      { kind: 'discount', description: 'Usage discount 10%', amount: '-1.06', base: '10.60' },
    ];
    const flat = squash(pdfText(await render(doc)));
    expect(flat).toContain('Enterprise plan fee 2,500.00 A100 80GB GPU hours');
    expect(flat).toContain('Usage subtotal 10.60 Usage discount 10% of 10.60 -1.06');
  });

  it('draws names in any script: Latin with diacritics, Japanese, Greek, Cyrillic, apostrophes', async () => {
    const doc = workedExample();
    doc.customer.name = 'Müller GmbH';
    doc.customer.address = ['株式会社テスト', "O'Brien & Søn", 'Ελληνικά 12', 'Кириллица, д. 5'];
    doc.issuer.name = 'Zoë Æsir Ltd';
    const pdf = await render(doc);
    const text = pdfText(pdf);
    for (const s of ['Müller GmbH', '株式会社テスト', "O'Brien & Søn", 'Ελληνικά 12', 'Кириллица, д. 5', 'Zoë Æsir Ltd']) expect(text).toContain(s);
    const fonts = pdfFonts(pdf).map((f) => f.name);
    expect(fonts).toContain('NotoSansJP-Regular');
    expect(pdfFonts(pdf).every((f) => f.embedded && f.subset)).toBe(true);
  });

  it('mixes scripts within one name and keeps Latin-only invoices free of the CJK font', async () => {
    const doc = workedExample();
    doc.customer.name = 'テスト Müller 株式会社';
    const text = pdfText(await render(doc));
    expect(text).toContain('テスト Müller 株式会社');
    const latin = await render(workedExample());
    expect(pdfFonts(latin).map((f) => f.name).sort()).toEqual(['NotoSans-Bold', 'NotoSans-Regular']);
    expect(latin.length).toBeLessThan(60_000);
  });

  it('runs a 300-line invoice over several pages, repeating the table header and numbering every page', async () => {
    const doc = manyLines(300);
    const pdf = await render(doc);
    const pages = pdfPageCount(pdf);
    expect(pages).toBeGreaterThan(1);
    for (let p = 1; p <= pages; p++) {
      const text = pdfText(pdf, { first: p, last: p });
      expect(text, `page ${p}`).toContain(`Page ${p} of ${pages}`);
      if (p > 1) expect(text, `page ${p}`).toContain('Invoice INV-2026-000001, continued');
    }
    // The table header is on every page the table runs onto.
    const tablePages = Array.from({ length: pages }, (_, i) => pdfText(pdf, { first: i + 1, last: i + 1 })).filter((t) => /Model \d{3} output tokens/.test(t));
    expect(tablePages.length).toBeGreaterThan(1);
    for (const t of tablePages) expect(squash(t)).toContain('Description Used Included Billed Unit price Amount');
    const all = squash(pdfText(pdf));
    for (let i = 1; i <= 300; i++) expect(all).toContain(`Model ${String(i).padStart(3, '0')} output tokens`);
    for (const line of doc.lines) expect(all).toContain(` ${line.amount}`);
    expect(all).toContain('Total USD 45,150.00');
  });

  it('never leaves the totals or the Payment block alone on the last page: they go with the table\'s last row', async () => {
    for (let n = 18; n <= 120; n += 3) {
      const pdf = await render(manyLines(n));
      const pages = pdfPageCount(pdf);
      const last = squash(pdfText(pdf, { first: pages, last: pages }));
      expect(last, `${n} lines`).toMatch(/Model \d{3} output tokens/);
      for (const block of ['Amount due', 'Payment Please transfer', 'Usage charges per day']) expect(last, `${n} lines`).toContain(block);
    }
  });

  it('marks a draft DRAFT, in place of the number and across every page, and a void invoice VOID', async () => {
    const draft: InvoiceDocument = { ...manyLines(80), status: 'draft', number: null, issue_date: null, due_date: null };
    const pdf = await render(draft);
    const pages = pdfPageCount(pdf);
    expect(pages).toBeGreaterThan(1);
    for (let p = 1; p <= pages; p++) expect(pdfText(pdf, { first: p, last: p })).toContain('DRAFT');
    const text = squash(pdfText(pdf));
    expect(text).toContain('Invoice number DRAFT');
    expect(text).not.toContain('INV-');
    expect(text).not.toContain('Due date');
    expect(pdfInfo(pdf).Title).toBe('Invoice DRAFT');
    // A draft's PDF dates are the first day of its period.
    expect(pdfInfo(pdf).CreationDate).toMatch(/^2026-10-01T00:00:00/);
    const voided = pdfText(await render({ ...workedExample(), status: 'void' }));
    expect(voided).toContain('VOID');
    expect(voided).toContain('INV-2026-000001');
  });

  it('shows each adjustment as billed before, billed now and the change, a total per corrected period (late-usage worked example)', async () => {
    const doc = lateUsageExample();
    doc.adjustments.push({
      period: '2026-09',
      lines: [
        { ...doc.adjustments[0]!.lines[0]!, amount: '-0.30', used: '-100000', included: '0', billed: '-100000',
          before: { billed: '400000', amount: '1.20' }, now: { billed: '300000', amount: '0.90' } },
        {
          kind: 'fee', description: 'Pro plan fee', catalog_version: null, used: '0', included: '0', billed: '0',
          unit: null, unit_price: null, unit_size: null, amount: '10.00', before: { billed: '0', amount: '89.00' }, now: { billed: '0', amount: '99.00' },
        },
      ],
      total: '9.70',
    });
    Object.assign(doc, { subtotal: '11.20', total: '11.20', amount_due: '11.20' });
    const text = squash(pdfText(await render(doc)));
    const oct = text.indexOf('Adjustments for 2026-10 Usage of 2026-10 recorded after its invoice was issued');
    const sep = text.indexOf('Adjustments for 2026-09 Usage of 2026-09 recorded after its invoice was issued');
    expect(oct).toBeGreaterThan(text.indexOf('Charges for 2026-11'));
    expect(sep).toBeGreaterThan(oct);
    expect(text).toContain('Description Billed before Billed now Amount before Amount now Change (USD)');
    expect(text).toContain('Qwen-70B input tokens 0 300,000 0.00 0.90 0.90 Qwen-70B output tokens 0 100,000 0.00 0.60 0.60 Adjustments for 2026-10 1.50');
    // Less usage billed now: fewer units and a negative change, never a negative allowance.
    expect(text).toContain('Qwen-70B input tokens 400,000 300,000 1.20 0.90 -0.30');
    // A fee adjustment has no quantities: only what it billed before and now.
    expect(text).toContain('Pro plan fee 89.00 99.00 10.00 Adjustments for 2026-09 9.70');
    expect(text).toContain('Charges for 2026-11 0.00 Adjustments for 2026-10 1.50 Adjustments for 2026-09 9.70 Subtotal 11.20 Tax 0 % 0.00 Total USD 11.20');
    // The heading says which period; the lines do not repeat it, and nothing shows a negative allowance.
    expect(text).not.toContain('Adjustment for 2026-');
    expect(text).not.toContain('-100,000');
  });

  it('says an unpriced line is not charged, in words, and charts only what was charged', async () => {
    const doc = workedExample();
    doc.lines.push({
      kind: 'gpu', description: 'H200 GPU hours', catalog_version: '2026-01', used: '7200', included: '0', billed: '7200',
      unit: 'second', unit_price: '0', unit_size: 3600, amount: '0.00', unpriced: true,
    });
    const text = squash(pdfText(await render(doc)));
    expect(text).toContain('H200 GPU hours 2.00 h 0.00 h 2.00 h Not charged 0.00');
    expect(text).not.toContain('UNPRICED');
    // Nothing charged (or a document frozen before daily charges, whose series was at list prices): no chart.
    for (const d of [{ ...workedExample(), daily_costs: [] }, { ...workedExample(), daily_costs: [{ date: '2026-10-05', amount: '0.00' }] }, { ...workedExample(), usage_subtotal: undefined }]) {
      expect(pdfText(await render(d))).not.toContain('Usage charges per day');
    }
    const oneDay = squash(pdfText(await render({ ...workedExample(), daily_costs: [{ date: '2026-10-31', amount: '10.60' }] })));
    expect(oneDay).toContain('Usage charges per day (USD) 10.60');
  });

  it('stamps a VOID copy and a PAID copy (with the payment and nothing due) on every page', async () => {
    const voided = await render({ ...manyLines(40), status: 'void', amount_due: '0.00' });
    for (let p = 1; p <= pdfPageCount(voided); p++) expect(pdfText(voided, { first: p, last: p }, 'raw')).toMatch(/^VOID$/m);
    expect(squash(pdfText(voided))).toContain('INV-2026-000001 · VOID');
    const paid = squash(pdfText(await render({ ...workedExample(), status: 'paid', payments: [{ date: '2026-11-20', amount: '-130.42' }], amount_due: '0.00' }), undefined, 'raw'));
    expect(paid).toContain('INV-2026-000001 · PAID');
    expect(paid).toContain('Total USD 130.42 Paid on 2026-11-20 -130.42 Amount due USD 0.00 Payment');
  });

  it('places the issuer logo from the config, and names a logo that is not an image', async () => {
    const logo = path.join(tmp, 'logo.png');
    fs.writeFileSync(logo, png(60, 20));
    const doc = workedExample();
    doc.issuer.logo = logo;
    const pdf = await render(doc);
    expect(pdf.includes(Buffer.from('/Subtype /Image'))).toBe(true);
    const bad = path.join(tmp, 'logo.txt');
    fs.writeFileSync(bad, 'not an image');
    await expect(render({ ...doc, issuer: { ...doc.issuer, logo: bad } })).rejects.toThrow(UsageError);
    await expect(render({ ...doc, issuer: { ...doc.issuer, logo: bad } })).rejects.toThrow(/issuer\.logo: .*logo\.txt is not a PNG or JPEG/);
  });
});

describe('deterministic output', () => {
  it('renders the same bytes twice in one process (cold and warm caches)', async () => {
    const doc = workedExample();
    doc.customer.name = 'Müller GmbH 株式会社テスト';
    const a = await render(doc);
    const b = await render(doc);
    expect(a.equals(b)).toBe(true);
    // No clock and no random id: the file's /ID and dates are the same for the same invoice.
    expect(a.includes(Buffer.from('(D:20261101000000Z)'))).toBe(true);
  });

  it('embeds each font program compressed, whole and readable (the compression made once is reused)', async () => {
    const doc = workedExample();
    doc.customer.name = 'Müller GmbH 株式会社テスト';
    await render(doc);
    const pdf = await render(doc);
    const text = pdf.toString('latin1');
    const fontFiles = [...text.matchAll(/\/FontFile2 (\d+) 0 R/g)].map((m) => m[1]);
    // Regular, bold and the CJK fallback.
    expect(fontFiles).toHaveLength(3);
    for (const id of fontFiles) {
      const m = new RegExp(`\\n${id} 0 obj\\n<<\\n/Length (\\d+)\\n/Filter /FlateDecode\\n>>\\nstream\\n`).exec(text);
      expect(m).not.toBeNull();
      const start = m!.index + m![0].length;
      const stream = pdf.subarray(start, start + Number(m![1]));
      expect(pdf.subarray(start + Number(m![1]), start + Number(m![1]) + 10).toString('latin1')).toBe('\nendstream');
      const program = fontkit.create(inflateSync(stream)) as fontkit.Font;
      // The seeded printable ASCII and the missing glyph at least, for the Latin faces.
      expect(program.numGlyphs).toBeGreaterThan(fontFiles.indexOf(id) < 2 ? 95 : 5);
    }
  });

  it('renders the same bytes in a separate process, in another timezone', async () => {
    const doc = manyLines(60);
    doc.customer.address = ['株式会社テスト', 'Ελληνικά'];
    const docFile = path.join(tmp, 'doc.json');
    fs.writeFileSync(docFile, JSON.stringify(doc));
    const out = path.join(tmp, 'child', '2026-10', 'INV-2026-000001.pdf');
    const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/pdf/render-child.ts'), docFile, out], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, TZ: 'Pacific/Kiritimati' },
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const here = await render(doc);
    expect(fs.readFileSync(out).equals(here)).toBe(true);
  });

  it('writes the file atomically, leaving no temporary file, and rewrites it byte for byte', async () => {
    const out = invoicePdfPath(path.join(tmp, 'invoices'), '2026-10', 'INV-2026-000001');
    // What a crash between writing the temporary file and renaming it would leave behind
    // (its pid, above Linux's largest, runs no process).
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(path.join(path.dirname(out), '.INV-2026-000001.pdf.4194305.tmp'), 'half a PDF');
    await writeInvoicePdf(workedExample(), template, out);
    const first = fs.readFileSync(out);
    await writeInvoicePdf(workedExample(), template, out);
    expect(fs.readFileSync(out).equals(first)).toBe(true);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['INV-2026-000001.pdf']);
    expect(first.subarray(0, 5).toString()).toBe('%PDF-');
  });
});
