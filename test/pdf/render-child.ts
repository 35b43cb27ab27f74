/**
 * Renders an invoice view model in a process of its own, for the byte-identity test:
 * `node --import tsx test/pdf/render-child.ts <document.json> <out.pdf> [template dir]`.
 */
import fs from 'node:fs';
import type { InvoiceDocument } from '../../src/pdf/invoice-document.js';
import { loadInvoiceTemplate, writeInvoicePdf } from '../../src/pdf/render-invoice.js';

const [docFile, outFile, templateDir] = process.argv.slice(2);
if (docFile === undefined || outFile === undefined) throw new Error('usage: render-child.ts <document.json> <out.pdf> [template dir]');
const doc = JSON.parse(fs.readFileSync(docFile, 'utf8')) as InvoiceDocument;
await writeInvoicePdf(doc, loadInvoiceTemplate(templateDir), outFile);
