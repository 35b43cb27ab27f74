/** export receipts|usage|invoices|lines|credits|credit-notes [--period P] [--tenant T] [--out FILE|-] [--excel] */
import path from 'node:path';
import { periodOption, currentPeriod } from '../../app/budgets.js';
import {
  EXPORT_KINDS, countReceipts, exportCreditNotes, exportCredits, exportInvoices, exportLines, exportReceipts, exportUsage, type ExportKind,
} from '../../app/export.js';
import { dateOf } from '../../app/credits.js';
import { StoreRating } from '../../app/rating-service.js';
import { requireTenant } from '../../app/tenants.js';
import { USAGE_GROUPS, type UsageGroupBy } from '../../app/usage.js';
import { openCsvSink } from '../../export/csv-writer.js';
import { ExitCode, UsageError } from '../../errors.js';
import { INVOICE_STATUSES, type InvoiceStatus } from '../../store/invoice-repo.js';
import type { Context } from '../context.js';
import { startProgress } from '../progress.js';

const EXPORTED: Record<ExportKind, string> = {
  receipts: 'receipts', usage: 'usage rows', invoices: 'invoices', lines: 'invoice lines', credits: 'credit grants', 'credit-notes': 'credit notes',
};

export async function run(ctx: Context, args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const kind = String(args[0]) as ExportKind;
  if (!EXPORT_KINDS.includes(kind)) {
    throw new UsageError(`export: "${kind}" is not one of ${EXPORT_KINDS.join(', ')}`, 'Example: billctl export receipts --period 2026-10 --out receipts.csv');
  }
  const period = periodOption(opts.period);
  const by = opts.by as UsageGroupBy | undefined;
  if (by !== undefined && (kind !== 'usage' || !USAGE_GROUPS.includes(by))) {
    throw new UsageError(kind !== 'usage' ? '--by applies to export usage only' : `--by: "${by}" is not one of ${USAGE_GROUPS.join(', ')}`);
  }
  const status = opts.status as InvoiceStatus | undefined;
  if (status !== undefined && (!['invoices', 'lines'].includes(kind) || !INVOICE_STATUSES.includes(status))) {
    throw new UsageError(!['invoices', 'lines'].includes(kind) ? '--status applies to export invoices and lines only' : `--status: "${status}" is not one of ${INVOICE_STATUSES.join(', ')}`);
  }
  if (kind === 'credits' && period !== undefined) {
    throw new UsageError('--period does not apply to export credits: grants belong to no period', 'Export them all, or one tenant\'s: billctl export credits --tenant acme');
  }
  const out = String(opts.out ?? '-');
  const dest = out === '-' ? '-' : path.resolve(ctx.io.cwd, out);
  const excel = opts.excel === true;

  return ctx.withStore(async (store) => {
    const tenantId = opts.tenant === undefined ? undefined : String(opts.tenant);
    const tenants = tenantId === undefined ? await store.listTenants() : [await requireTenant(store, tenantId)];
    let rows = 0;
    let code: number = ExitCode.ok;
    switch (kind) {
      case 'receipts': {
        const total = ctx.showProgress ? await countReceipts(store, { tenants, period }) : 0;
        const bar = await startProgress(ctx, 'exporting receipts {bar} {percentage}% | {value}/{total}', total);
        let done = 0;
        const sink = await openCsvSink(dest, ctx.io.stdout, { excel });
        try {
          rows = await exportReceipts(store, sink, { tenants, period }, () => {
            if (++done % 5000 === 0) bar.update(done);
          });
        } finally {
          bar.stop();
        }
        break;
      }
      case 'usage': {
        const now = ctx.clock.now();
        // Without --period: the month under way (UTC); each tenant's interval is still in its own timezone.
        const p = period ?? currentPeriod({ timezone: 'UTC' }, now);
        const rating = await StoreRating.load(store, opts.allowUnpriced === true);
        const sink = await openCsvSink(dest, ctx.io.stdout, { excel });
        const r = await exportUsage(store, rating, sink, { tenants, period: p, by, now });
        rows = r.rows;
        for (const f of r.failures) ctx.io.stderr.write(`${ctx.chalk.red('failed:')} ${f.tenantId}: ${f.error}\n`);
        if (r.failures.length > 0) code = ExitCode.partial;
        break;
      }
      case 'invoices':
      case 'lines': {
        const filter = { period, tenantId, status };
        const sink = await openCsvSink(dest, ctx.io.stdout, { excel });
        rows = kind === 'invoices' ? await exportInvoices(store, sink, filter) : await exportLines(store, sink, filter);
        break;
      }
      case 'credits': {
        const sink = await openCsvSink(dest, ctx.io.stdout, { excel });
        rows = await exportCredits(store, sink, { tenantId, today: dateOf(ctx.nowIso()) });
        break;
      }
      case 'credit-notes': {
        const sink = await openCsvSink(dest, ctx.io.stdout, { excel });
        rows = await exportCreditNotes(store, sink, { tenantId, period });
        break;
      }
      default:
        kind satisfies never;
    }
    if (out !== '-') {
      if (ctx.format === 'json') await ctx.record([], { kind, rows, out });
      else ctx.notice(`exported ${rows} ${EXPORTED[kind]} to ${out}`);
    }
    return code;
  });
}
