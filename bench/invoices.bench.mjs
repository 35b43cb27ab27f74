// Issue 5: generating, finalizing and rendering the month's invoices for 1,000 tenants
// (`billctl invoice generate --period P --all --finalize`, a whole process, on a store of 50,000
// receipts) against rendering 1,000 minimal one-page pdfkit documents with the same embedded font
// (goal <= 3x); and peak memory for 250 and for 1,000 tenants (flat in the number of tenants).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as fontkit from 'fontkit';
import { BIN, ROOT, ratio, timeCommand } from './lib.mjs';
import { minimalPdf, timed } from './pdf.bench.mjs';
import { buildStore, PERIOD } from './store-2m.mjs';

async function finalizeAll(base, tenants) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'billctl-bench-inv-'));
  const db = path.join(dir, 'billing.db');
  fs.copyFileSync(base, db);
  // An issuer, as finance has one (finalizing refuses the placeholder).
  fs.writeFileSync(path.join(dir, 'billctl.yaml'), 'issuer:\n  name: "Bench Cloud GmbH"\n  address: "Torstraße 1\\n10119 Berlin"\n');
  const r = await timeCommand(process.execPath, [BIN, 'invoice', 'generate', '--period', PERIOD, '--all', '--finalize',
    '--issue-date', '2026-11-01', '--yes', '--quiet', '--format', 'json', '--db', db, '--out', path.join(dir, 'invoices')], { rss: true, cwd: dir });
  if (r.code !== 0) throw new Error(`invoice generate exited ${r.code}: ${r.stderr}`);
  const pdfs = fs.readdirSync(path.join(dir, 'invoices', PERIOD)).length;
  if (pdfs !== tenants) throw new Error(`expected ${tenants} PDFs, found ${pdfs}`);
  fs.rmSync(dir, { recursive: true, force: true });
  return r;
}

export async function run({ smoke, log }) {
  const tenants = smoke ? 30 : 1000;
  const small = smoke ? 10 : 250;
  const data = path.join(ROOT, 'bench', '.data');
  const base = buildStore(path.join(data, `invoices-${tenants}.db`), { receipts: tenants * 50, tenants });
  const baseSmall = buildStore(path.join(data, `invoices-${small}.db`), { receipts: small * 50, tenants: small });
  await timeCommand(process.execPath, [BIN, 'init', '--yes', '--quiet', '--db', base]);
  await timeCommand(process.execPath, [BIN, 'init', '--yes', '--quiet', '--db', baseSmall]);

  const { loadInvoiceTemplate } = await import(pathToFileURL(path.join(ROOT, 'dist', 'pdf', 'render-invoice.js')).href);
  const font = fontkit.create(fs.readFileSync(loadInvoiceTemplate().fonts.regular.faces[0].file));
  await timed(smoke ? 3 : 30, 0, (i) => minimalPdf(font, 'body', i));
  const runs = smoke ? 1 : 3;
  const ours = [];
  const baseline = [];
  let rssLarge = 0;
  for (let k = 0; k < runs; k++) {
    baseline.push(await timed(tenants, 0, (i) => minimalPdf(font, 'body', i)));
    const r = await finalizeAll(base, tenants);
    ours.push(r.ms);
    rssLarge = Math.max(rssLarge, r.rssMb);
  }
  const rSmall = await finalizeAll(baseSmall, small);
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  log(`${tenants} minimal pdfkit documents: ${med(baseline).toFixed(0)} ms; generate + finalize + render ${tenants} invoices: ${med(ours).toFixed(0)} ms`);
  log(`peak RSS: ${rSmall.rssMb.toFixed(0)} MB for ${small} tenants, ${rssLarge.toFixed(0)} MB for ${tenants}`);
  const r = ratio(med(ours), med(baseline));
  const growth = ratio(rssLarge, rSmall.rssMb);
  return [
    { name: `generate+finalize+render ${tenants} invoices / ${tenants} minimal PDFs`, value: `${r}x`, goal: '<= 3x', ok: smoke ? undefined : r <= 3 },
    { name: `peak RSS, ${tenants} tenants / ${small} tenants`, value: `${growth}x`, goal: 'flat', ok: smoke ? undefined : growth <= 1.5 },
  ];
}
