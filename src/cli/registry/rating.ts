/** usage: what tenants used and what it costs, from the rating engine. */
import type { Command } from 'commander';
import { leaf, type RunState } from '../define.js';

export function registerRating(program: Command, state: RunState): void {
  leaf(program, state, 'usage', "a period's usage and rated amount (before tax) per tenant, or per model, GPU, day, user or provider", [
    'billctl usage --period 2026-10',
    'billctl usage --period 2026-10 --tenant acme --by model',
    'billctl usage --period 2026-11 --by day --tenant acme          # a bar chart on a terminal',
    'billctl usage --period 2026-10 --compare-reported --format csv   # reconciliation after a backfill',
  ], async () => ({ run: (await import('../commands/usage.js')).run }))
    .requiredOption('--period <YYYY-MM>', "the period, in each tenant's timezone")
    .option('--tenant <id>', 'one tenant')
    .option('--by <group>', 'model, gpu, day, user or provider')
    .option('--compare-reported', 'show the cost the receipts reported beside the rated amount, and the difference')
    .option('--allow-unpriced', 'rate usage without a price at 0.00 instead of failing the tenant');
}
