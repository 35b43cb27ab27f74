/**
 * Rendering many invoice PDFs: on worker threads (one per core, up to four) when there are enough
 * to pay for starting them, so the main thread keeps issuing invoices while workers draw; else in
 * this thread. Same bytes either way.
 */
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { InvoiceDocument } from './invoice-document.js';
import type { RenderJob, RenderReply } from './render-worker.js';

export interface PdfJob {
  /** The frozen InvoiceDocument as stored (JSON): parsed where it is drawn, cheaper to hand a worker than the object. */
  document: string;
  outPath: string;
}

/** Below this many PDFs, starting workers costs more than it saves. */
const WORKER_THRESHOLD = 24;

export interface PdfRenderer {
  /** Resolves with null when written, or why it failed. */
  render(job: PdfJob): Promise<string | null>;
  close(): Promise<void>;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A renderer for about `expected` PDFs. */
export async function pdfRenderer(templateDir: string | null, expected: number): Promise<PdfRenderer> {
  const url = new URL('./render-worker.js', import.meta.url);
  // Run from TypeScript sources (tests) there is no compiled worker: render here.
  const compiled = fs.existsSync(fileURLToPath(url));
  const count = compiled ? Math.min(4, os.availableParallelism(), Math.ceil(expected / WORKER_THRESHOLD)) : 1;
  if (count <= 1) {
    const { loadInvoiceTemplate, writeInvoicePdf } = await import('./render-invoice.js');
    const template = loadInvoiceTemplate(templateDir ?? undefined);
    return {
      render: async (j) => {
        try {
          await writeInvoicePdf(JSON.parse(j.document) as InvoiceDocument, template, j.outPath);
          return null;
        } catch (err) {
          return message(err);
        }
      },
      close: async () => {},
    };
  }
  const workers = Array.from({ length: count }, () => ({ w: new Worker(url), busy: 0 }));
  const waiting = new Map<number, (r: string | null) => void>();
  let failure: Error | undefined;
  for (const x of workers) {
    x.w.on('message', (r: RenderReply) => {
      x.busy--;
      const done = waiting.get(r.id);
      waiting.delete(r.id);
      done?.(r.ok ? null : r.error);
    });
    x.w.on('error', (e) => {
      failure = e;
      for (const done of waiting.values()) done(`the PDF worker failed: ${e.message}`);
      waiting.clear();
    });
  }
  let next = 0;
  return {
    render(j) {
      if (failure) return Promise.resolve(`the PDF worker failed: ${failure.message}`);
      const id = next++;
      // The least busy worker takes it.
      const x = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
      x.busy++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        x.w.postMessage({ id, document: j.document, templateDir, outPath: j.outPath } satisfies RenderJob);
      });
    },
    async close() {
      await Promise.all(workers.map((x) => x.w.terminate()));
    },
  };
}
