/** metrics [--out FILE]: Prometheus text format, written atomically to FILE or to standard output. */
import path from 'node:path';
import { collectMetrics, renderExposition } from '../../app/metrics.js';
import { StoreRating } from '../../app/rating-service.js';
import { writeFileAtomic } from '../../export/atomic-file.js';
import { ExitCode } from '../../errors.js';
import type { Context } from '../context.js';

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return ctx.withStore(async (store) => {
    const rating = await StoreRating.load(store, false);
    const report = await collectMetrics(store, rating, ctx.clock.now());
    const text = renderExposition(report.families);
    for (const f of report.failures) ctx.warn(`${f.tenantId}: not rated (billctl_rating_failed 1): ${f.error}`);
    if (opts.out === undefined || opts.out === '-') ctx.out(text);
    else {
      writeFileAtomic(path.resolve(ctx.io.cwd, String(opts.out)), text);
      ctx.notice(`metrics written to ${String(opts.out)}`);
    }
    // A tenant that cannot be rated is reported in the metrics themselves; the file is still complete.
    return ExitCode.ok;
  });
}
