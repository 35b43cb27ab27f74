/**
 * A worker thread that draws invoice PDFs, so a finalize run of many invoices uses every core:
 * the main thread keeps issuing invoices while workers render. Each message is one invoice.
 */
import { parentPort } from 'node:worker_threads';
import type { InvoiceDocument } from './invoice-document.js';
import { loadInvoiceTemplate, writeInvoicePdf } from './render-invoice.js';

export interface RenderJob {
  id: number;
  /** The InvoiceDocument as JSON. */
  document: string;
  /** null: billctl's own template. */
  templateDir: string | null;
  outPath: string;
}

export type RenderReply = { id: number; ok: true } | { id: number; ok: false; error: string };

parentPort?.on('message', (job: RenderJob) => {
  const template = loadInvoiceTemplate(job.templateDir ?? undefined);
  Promise.resolve()
    .then(() => writeInvoicePdf(JSON.parse(job.document) as InvoiceDocument, template, job.outPath))
    .then(
      () => parentPort!.postMessage({ id: job.id, ok: true } satisfies RenderReply),
      (err: unknown) => parentPort!.postMessage({ id: job.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies RenderReply),
    );
});
