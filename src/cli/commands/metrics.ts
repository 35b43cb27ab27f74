/**
 * metrics [--out FILE]: Prometheus text format, written atomically to FILE or to standard output.
 * `--format json` and `csv` print the same samples as data instead (a file given with --out is
 * always Prometheus text: it is for the textfile collector).
 */
import path from 'node:path';
import { collectMetrics, labelText, renderExposition, type MetricFamily, type Sample } from '../../app/metrics.js';
import { StoreRating } from '../../app/rating-service.js';
import { writeFileAtomic } from '../../export/atomic-file.js';
import { ExitCode } from '../../errors.js';
import type { Context } from '../context.js';

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  return ctx.withStore(async (store) => {
    const rating = await StoreRating.load(store, false);
    const report = await collectMetrics(store, rating, ctx.clock.now());
    for (const f of report.failures) ctx.warn(`${f.tenantId}: not rated (billctl_rating_failed 1): ${f.error}`);
    const out = opts.out === undefined || opts.out === '-' ? null : String(opts.out);
    if (out !== null) {
      writeFileAtomic(path.resolve(ctx.io.cwd, out), renderExposition(report.families));
      if (ctx.format === 'table') ctx.notice(`metrics written to ${out}`);
    }
    switch (ctx.format) {
      case 'table':
        if (out === null) ctx.out(renderExposition(report.families));
        break;
      case 'json':
        await ctx.record([], {
          families: report.families.map((f) => ({
            name: f.name, type: f.type, help: f.help,
            samples: f.samples.map((s) => ({ labels: Object.fromEntries(s.labels), value: s.value })),
          })),
          rating_failures: report.failures.map((f) => ({ tenant_id: f.tenantId, error: f.error })),
          out,
        });
        break;
      case 'csv':
        await ctx.rows(report.families.flatMap((f) => f.samples.map((s) => [f, s] as const)), [
          { header: 'metric', value: ([f]: readonly [MetricFamily, Sample]) => f.name },
          { header: 'type', value: ([f]) => f.type },
          { header: 'labels', value: ([, s]) => labelText(s.labels) },
          { header: 'value', value: ([, s]) => s.value },
        ]);
        break;
      default:
        ctx.format satisfies never;
    }
    // A tenant that cannot be rated is reported in the metrics themselves; the file is still complete.
    return ExitCode.ok;
  });
}
