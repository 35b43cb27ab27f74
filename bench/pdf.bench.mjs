// Issue 5: rendering invoice PDFs. Times N realistic 10-line invoices through billctl's renderer
// (default template, Noto Sans with the CJK fallback) against N minimal one-page pdfkit documents
// with the same embedded font, each a line of text, and prints the ratio. The two run interleaved
// in slices so drift in machine load hits both alike.
//
// The baseline hands pdfkit the font already parsed by fontkit once (pdfkit 0.20 accepts that),
// the fastest way to make a one-page document; with the font given as file data, as pdfkit's
// guide shows, pdfkit parses the font for every document and is many times slower (logged too).
// The lifecycle adds generating and finalizing on top of this (bench/invoice*).
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import PDFDocument from 'pdfkit';
import * as fontkit from 'fontkit';
import { ROOT, ratio } from './lib.mjs';

const dist = (p) => import(pathToFileURL(path.join(ROOT, 'dist', p)).href);

/**
 * A tenant's invoice with 10 lines; `i` varies names, numbers and amounts like real tenants do.
 * Whole cents in, decimal text out; the totals need not add up for a rendering benchmark.
 */
export function tenInvoice(i) {
  const cents = (n) => `${Math.floor(n / 100)}.${String(n % 100).padStart(2, '0')}`; // integers in, text out
  const models = ['Qwen-70B', 'Qwen-30B', 'Gemma-2B', 'Llama-3-8B', 'Mistral-7B'];
  const lines = [];
  for (let k = 0; k < 10; k++) {
    if (k < 2) {
      const billed = 3600 * (k + 1 + (i % 7));
      lines.push({
        kind: 'gpu', description: `${k === 0 ? 'A100 80GB' : 'RTX 4090'} GPU hours`, catalog_version: '2026-01',
        used: String(billed + 360000), included: '360000', billed: String(billed), unit: 'second',
        unit_price: k === 0 ? '4.00' : '0.90', unit_size: 3600, amount: cents((k === 0 ? 400 : 90) * (k + 1 + (i % 7))),
      });
    } else {
      const model = models[(k - 2) >> 1];
      const input = k % 2 === 0;
      const billed = 1000 * (17 + ((i * 31 + k * 7) % 900));
      lines.push({
        kind: input ? 'input_tokens' : 'output_tokens', description: `${model} ${input ? 'input' : 'output'} tokens`,
        catalog_version: '2026-01', used: String(billed + 500000), included: '500000', billed: String(billed), unit: 'token',
        unit_price: input ? '0.03' : '0.06', unit_size: 1000, amount: cents((billed / 1000) * (input ? 3 : 6)),
      });
    }
  }
  const seq = String(i + 1).padStart(6, '0');
  return {
    issuer: { name: 'Example AI Cloud GmbH', address: ['Torstraße 1', '10119 Berlin', 'Germany'], tax_id: 'DE123456789', email: 'billing@example.test', logo: null },
    customer: { tenant_id: `tenant-${i}`, name: i % 10 === 0 ? `株式会社テスト ${i}` : `Tenant ${i} Müller GmbH`, address: [`${i} Main Street`, 'Springfield'], email: `ap@tenant-${i}.test` },
    number: `INV-2026-${seq}`, status: 'finalized', period: '2026-10', issue_date: '2026-11-01', due_date: '2026-12-01', currency: 'USD',
    lines, adjustments: [], charges: [{ kind: 'fee', description: 'Pro plan fee', amount: '99.00' }],
    subtotal: '1234.56', tax: { label: 'VAT', rate: '0.19', amount: '234.57' }, total: '1469.13',
    payment_instructions: 'Please transfer the total to IBAN DE89 3704 0044 0532 0130 00, quoting the invoice number.',
    footer: 'Example AI Cloud GmbH · Torstraße 1 · 10119 Berlin',
    daily_costs: Array.from({ length: 31 }, (_, d) => ({ date: `2026-10-${String(d + 1).padStart(2, '0')}`, amount: cents(((i + d * 13) % 50) * 100 + d) })),
    net_days: 30, po_number: `PO-${seq}`, period_dates: { first: '2026-10-01', last: '2026-10-31', timezone: 'Europe/Berlin' },
    usage_subtotal: '1135.56', period_total: '1234.56', amount_due: '1469.13',
  };
}

/** A minimal one-page pdfkit document with one line of text in `font` (the baseline). */
export function minimalPdf(font, family, i) {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({ size: 'A4', info: { CreationDate: new Date(0) } });
    const chunks = [];
    doc.on('data', (c) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    doc.font(font, family).fontSize(12).text(`Invoice INV-2026-${String(i + 1).padStart(6, '0')} for Tenant ${i}: total 1469.13 USD`, 72, 72);
    doc.end();
  });
}

export async function timed(n, from, fn) {
  const start = process.hrtime.bigint();
  for (let i = from; i < from + n; i++) await fn(i);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export async function run({ smoke, log }) {
  const n = smoke ? 20 : 1000;
  const { loadInvoiceTemplate, renderInvoicePdf } = await dist('pdf/render-invoice.js');
  const template = loadInvoiceTemplate();
  const fontFile = template.fonts.regular.faces[0].file;
  const fontData = fs.readFileSync(fontFile);
  const parsed = fontkit.create(fontData);
  const ours = (i) => renderInvoicePdf(tenInvoice(i), template);
  const base = (i) => minimalPdf(parsed, 'body', i);

  // Warm up both (JIT, font tables, the CJK fallback), then alternate slices.
  await timed(smoke ? 3 : 30, 0, ours);
  await timed(smoke ? 3 : 30, 0, base);
  const slices = smoke ? 2 : 5;
  const per = Math.ceil(n / slices);
  let tBase = 0;
  let tOurs = 0;
  let bytes = 0;
  const rss0 = process.memoryUsage().rss;
  for (let s = 0; s < slices; s++) {
    tBase += await timed(per, s * per, base);
    tOurs += await timed(per, s * per, async (i) => {
      bytes += (await ours(i)).length;
    });
  }
  const total = per * slices;
  const rss1 = process.memoryUsage().rss;
  const fileData = await timed(smoke ? 3 : 30, 0, (i) => minimalPdf(fontData, undefined, i));
  log(`${total} minimal pdfkit documents: ${(tBase / 1000).toFixed(2)} s (${(tBase / total).toFixed(2)} ms each)`);
  log(`${total} 10-line invoices: ${(tOurs / 1000).toFixed(2)} s (${(tOurs / total).toFixed(2)} ms each, ${Math.round(bytes / total / 1024)} KiB each)`);
  log(`baseline with the font as file data (pdfkit re-parses it per document): ${(fileData / (smoke ? 3 : 30)).toFixed(1)} ms each`);
  log(`RSS ${Math.round(rss0 / 1e6)} MB before the timed runs, ${Math.round(rss1 / 1e6)} MB after`);
  const r = ratio(tOurs, tBase);
  // A smoke run is too small and too cold for the goal to mean anything: it only proves the bench runs.
  return [{ name: `render ${total} 10-line invoices / ${total} minimal pdfkit docs`, value: `${r}x`, goal: '<= 3x', ok: smoke ? undefined : r <= 3 }];
}
