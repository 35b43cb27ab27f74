/** export, budget, alerts, quota, metrics, recommend: the operations around billing. */
import type { Command } from 'commander';
import { group, leaf, type RunState } from '../define.js';

export function registerOps(program: Command, state: RunState): void {
  leaf(program, state, 'export <kind>', 'CSV of receipts, usage, invoices or invoice lines (RFC 4180, streamed; formula cells neutralised)', [
    'billctl export receipts --period 2026-10 --out receipts-2026-10.csv',
    'billctl export receipts --tenant acme > acme.csv',
    'billctl export usage --period 2026-10 --by model --out usage.csv --excel',
    'billctl export invoices --period 2026-10 --out invoices.csv',
    'billctl export lines --period 2026-10 --tenant acme --out lines.csv',
  ], async () => ({ run: (await import('../commands/export.js')).run }))
    .option('--period <YYYY-MM>', "only this period (receipts: its interval in each tenant's timezone; usage: default the month under way)")
    .option('--tenant <id>', 'one tenant')
    .option('--out <file>', 'where to write: a file (written to a temporary name, then renamed) or - for standard output', '-')
    .option('--excel', 'start with a UTF-8 byte order mark, so Excel reads the file as UTF-8')
    .option('--by <group>', 'usage only: one row per model, gpu, day, user or provider')
    .option('--status <status>', 'invoices and lines only: draft, finalized, paid or void')
    .option('--allow-unpriced', 'usage only: rate usage without a price at 0.00 instead of failing the tenant');

  const budget = group(program, 'budget', 'monthly budgets per tenant, with the thresholds alerts check watches', [
    'billctl budget set acme --monthly 5000 --thresholds 50,80,100',
    'billctl budget list',
  ]);
  leaf(budget, state, 'set <tenant>', "set (or replace) a tenant's monthly budget, in its currency, before tax", [
    'billctl budget set acme --monthly 5000',
    'billctl budget set acme --monthly 1200.50 --thresholds 75,90,100,110',
    'billctl budget set acme --monthly 200 --user alice@acme.example   # one user of acme (usage --by user)',
  ], async () => ({ run: (await import('../commands/budget.js')).setCommand }))
    .requiredOption('--monthly <amount>', "the monthly amount in the tenant's currency, compared with the rated amount before tax")
    .option('--user <user-id>', "a budget for one user of the tenant, compared with what usage --by user rates for them (quota check --user enforces it)")
    .option('--thresholds <list>', 'whole percentages that raise an alert (default 50,80,100; kept when the budget is replaced)');
  leaf(budget, state, 'list', "every budget and where its tenant stands in the period under way", [
    'billctl budget list',
    'billctl budget list --format json',
  ], async () => ({ run: (await import('../commands/budget.js')).listCommand }))
    .option('--period <YYYY-MM>', "compare with this period instead of each tenant's period under way");
  leaf(budget, state, 'remove <tenant>', "remove a tenant's budget (alerts already fired stay recorded)", [
    'billctl budget remove acme',
    'billctl budget remove acme --user alice@acme.example',
  ], async () => ({ run: (await import('../commands/budget.js')).removeCommand }))
    .option('--user <user-id>', "remove the budget of this user of the tenant instead");

  const alerts = group(program, 'alerts', 'budget, allowance and spike alerts (each fires once)', [
    'billctl alerts check --webhook https://hooks.slack.com/services/T000/B000/XXXX',
    'billctl alerts list --period 2026-10',
  ]);
  leaf(alerts, state, 'check', 'raise new alerts: budgets, projected month end, plan allowances, cost spikes (for cron)', [
    'billctl alerts check',
    'billctl alerts check --format json',
    'billctl alerts check --webhook https://hooks.slack.com/services/T000/B000/XXXX   # or alerts.webhook in billctl.yaml',
    'billctl alerts check --period 2026-10 --spike-factor 3',
  ], async () => ({ run: (await import('../commands/alerts.js')).checkCommand }))
    .option('--period <YYYY-MM>', "check this period (default: each tenant's period under way)")
    .option('--tenant <id>', 'one tenant')
    .option('--webhook <url>', 'post each new alert (and any earlier one whose post failed) as JSON with a "text" field (Slack-compatible)')
    .option('--spike-factor <x>', "a day costing more than x times the mean of the 7 days before is a spike (default 2, or alerts.spike_factor)");
  leaf(alerts, state, 'list', 'alerts recorded so far', [
    'billctl alerts list',
    'billctl alerts list --tenant acme --period 2026-10 --format json',
  ], async () => ({ run: (await import('../commands/alerts.js')).listCommand }))
    .option('--period <YYYY-MM>', 'one period')
    .option('--tenant <id>', 'one tenant')
    .option('--kind <kind>', 'budget, budget_projected, allowance_gpu_hours, allowance_tokens, allowance_api_calls or spike');

  const quota = group(program, 'quota', 'may a tenant use more now? (exit 0 yes, 4 no)', ['billctl quota check --tenant acme']);
  leaf(quota, state, 'check', 'whether a tenant may use N more units now: exit 0 allowed, exit 4 refused (hard cap reached, budget exhausted)', [
    'billctl quota check --tenant acme --format json',
    'billctl quota check --tenant acme --metric tokens --amount 20000',
    'billctl quota check --tenant acme --metric gpu_hours --amount 0.5',
    'billctl quota check --tenant acme --metric cost --amount 12.50',
    'billctl quota check --tenant acme --user alice@acme.example',
  ], async () => ({ run: (await import('../commands/quota.js')).run }))
    .requiredOption('--tenant <id>', 'the tenant')
    .option('--metric <metric>', 'api_calls, tokens, gpu_hours or cost (the budget)', 'api_calls')
    .option('--amount <n>', 'how much more: API calls and tokens whole, GPU hours and cost decimal (default 1)')
    .option('--user <user-id>', "also check this user's own budget (budget set --user)");

  leaf(program, state, 'metrics', 'Prometheus text format for the node_exporter textfile collector (usage, amounts, invoices, Stripe, alerts)', [
    'billctl metrics',
    'billctl metrics --out /var/lib/node_exporter/textfile_collector/billctl.prom',
  ], async () => ({ run: (await import('../commands/metrics.js')).run }))
    .option('--out <file>', 'write to this file atomically (temporary file, then rename) instead of standard output');

  leaf(program, state, 'recommend', 'what a period would have cost on each plan, the cheapest when it saves 10 % or more, and the costliest models', [
    'billctl recommend',
    'billctl recommend --period 2026-10 --tenant acme --format json',
  ], async () => ({ run: (await import('../commands/recommend.js')).run }))
    .option('--period <YYYY-MM>', "the period (default: each tenant's last complete period)")
    .option('--tenant <id>', 'one tenant');
}
