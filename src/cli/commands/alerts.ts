/** alerts check [--period P] [--tenant T] [--webhook URL] [--spike-factor X] | alerts list */
import { POST_EXPIRY_DAYS, alertJson, checkAlerts } from '../../app/alerts.js';
import { periodOption } from '../../app/budgets.js';
import { StoreRating } from '../../app/rating-service.js';
import { requireTenant } from '../../app/tenants.js';
import { Decimal } from '../../domain/money.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { AlertRecord } from '../../store/alert-repo.js';
import type { Context } from '../context.js';
import type { Column } from '../render.js';

const COLUMNS: Column<AlertRecord>[] = [
  { header: 'tenant', value: (a) => a.tenantId },
  { header: 'period', value: (a) => a.period },
  { header: 'kind', value: (a) => a.kind },
  { header: 'threshold', value: (a) => a.threshold },
  { header: 'alert', value: (a) => a.text },
];

function spikeFactor(text: string, flag: string): Decimal {
  if (!/^\d+(\.\d+)?$/.test(text) || Decimal.parse(text).sign() <= 0) {
    throw new UsageError(`${flag}: "${text}" is not a positive number`, 'Write it like 2 or 1.5.');
  }
  return Decimal.parse(text);
}

function webhookUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError('--webhook: not a URL', 'Write it like https://hooks.slack.com/services/...');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new UsageError('--webhook: only http and https URLs can be posted to');
  return text;
}

export async function checkCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const period = periodOption(opts.period);
  const config = await ctx.config();
  const factor = opts.spikeFactor === undefined
    ? spikeFactor(config.alerts.spikeFactor, 'alerts.spike_factor')
    : spikeFactor(String(opts.spikeFactor), '--spike-factor');
  const webhookText = opts.webhook === undefined ? config.alerts.webhook : String(opts.webhook);
  const webhook = webhookText === null || webhookText === '' ? null : webhookUrl(webhookText);
  return ctx.withStore(async (store) => {
    const tenants = opts.tenant === undefined ? undefined : [await requireTenant(store, String(opts.tenant))];
    const rating = await StoreRating.load(store, false);
    const report = await checkAlerts(store, rating, { period, tenants, now: ctx.clock.now(), clock: () => ctx.clock.now(), spikeFactor: factor, webhook });
    if (report.fired.length > 0 || (report.webhook?.sent ?? 0) > 0) {
      await ctx.audit(store, 'alerts check', {
        fired: report.fired.length, posted: report.webhook?.sent ?? 0, post_failures: report.webhook?.failed ?? 0,
        failed_tenants: report.failures.map((f) => f.tenantId),
      });
    }
    const wh = report.webhook;
    const json = {
      checked: report.checked,
      new_alerts: report.fired.map(alertJson),
      webhook: wh === null ? null : {
        target: wh.display, sent: wh.sent, failed: wh.failed, errors: wh.errors, pending_other_webhooks: wh.pendingElsewhere, expired: wh.expired,
      },
      failures: report.failures.map((f) => ({ tenant_id: f.tenantId, error: f.error })),
    };
    if (ctx.format === 'json') await ctx.record([], json);
    else if (report.fired.length > 0 || ctx.format === 'csv') await ctx.rows(report.fired, COLUMNS, json);
    else if (ctx.format === 'table') ctx.notice(`no new alerts (${report.checked} tenant${report.checked === 1 ? '' : 's'} checked)`);
    for (const f of report.failures) ctx.io.stderr.write(`${ctx.chalk.red('failed:')} ${f.tenantId}: ${f.error}\n`);
    if (wh) {
      if (wh.sent > 0) ctx.notice(`posted ${wh.sent} alert${wh.sent === 1 ? '' : 's'} to ${wh.display}`);
      for (const e of wh.errors) ctx.warn(`webhook ${wh.display}: ${e}`);
      if (wh.pendingElsewhere > 0) ctx.warn(`${wh.pendingElsewhere} alert post(s) wait for another webhook URL than this run's`);
      if (wh.expired > 0) {
        ctx.warn(`${wh.expired} alert post(s) given up: still not posted ${POST_EXPIRY_DAYS} days after the alert fired (billctl alerts list shows them)`);
      }
    }
    return report.failures.length > 0 || (wh !== null && (wh.failed > 0 || wh.expired > 0)) ? ExitCode.partial : ExitCode.ok;
  });
}

export async function listCommand(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const period = periodOption(opts.period);
  return ctx.withStore(async (store) => {
    const list = await store.alerts.list({
      period,
      tenantId: opts.tenant === undefined ? undefined : String(opts.tenant),
      kind: opts.kind === undefined ? undefined : String(opts.kind),
    });
    await ctx.rows(list, COLUMNS, list.map(alertJson));
    return ExitCode.ok;
  });
}
