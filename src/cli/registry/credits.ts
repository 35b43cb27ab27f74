/** credit grant | list | show | revoke; credit-note list | show | pdf; report tax */
import type { Command } from 'commander';
import { group, leaf, type RunState } from '../define.js';

const credit = async () => import('../commands/credit.js');
const notes = async () => import('../commands/credit-note.js');

export function registerCredits(program: Command, state: RunState): void {
  const g = group(program, 'credit', 'credit grants: promotional credit before tax, prepaid credit after tax, balances and draws', [
    'billctl credit grant acme --amount 100 --name "Launch promotion" --expires 2027-01-01',
    'billctl credit list --tenant acme',
  ]);
  leaf(g, state, 'grant <tenant>', "give a tenant credit in its currency: drafts show what they would draw, finalizing draws it", [
    'billctl credit grant acme --amount 100 --name "Launch promotion" --start 2026-11-01 --expires 2027-01-01',
    'billctl credit grant acme --amount 5000 --kind prepaid --name "Paid in advance"',
  ], async () => ({ run: (await credit()).grantCommand }))
    .requiredOption('--amount <amount>', 'the amount, in the tenant\'s currency')
    .option('--kind <kind>', 'promotional (lowers the subtotal, before tax) or prepaid (lowers the amount due, after tax)', 'promotional')
    .option('--name <name>', 'what invoices call it ("Credit: <name>")')
    .option('--start <YYYY-MM-DD>', 'first day it can be drawn (UTC; default: today)')
    .option('--expires <YYYY-MM-DD>', 'the day it can no longer be drawn (UTC; default: never)');
  leaf(g, state, 'list', 'grants with their balances (amount less recorded draws) and status', [
    'billctl credit list',
    'billctl credit list --tenant acme --format json',
  ], async () => ({ run: (await credit()).listCommand })).option('--tenant <id>', 'one tenant');
  leaf(g, state, 'show <grant-id>', 'one grant with its draws (pending on drafts, recorded on issued invoices, returned by void)', [
    'billctl credit show 3',
    'billctl credit show 3 --format json',
  ], async () => ({ run: (await credit()).showCommand }));
  leaf(g, state, 'revoke <grant-id>', 'stop a grant from being drawn any more (draws already recorded stay)', [
    'billctl credit revoke 3 --reason "granted to the wrong tenant"',
  ], async () => ({ run: (await credit()).revokeCommand })).requiredOption('--reason <text>', 'why');

  const cn = group(program, 'credit-note', 'credit notes: list, show, and draw their PDFs (billctl invoice credit-note issues one)', [
    'billctl credit-note list --period 2026-10',
    'billctl credit-note pdf CN-2026-000001',
  ]);
  leaf(cn, state, 'list', 'list credit notes', [
    'billctl credit-note list',
    'billctl credit-note list --tenant acme --period 2026-10 --format json',
  ], async () => ({ run: (await notes()).listCommand }))
    .option('--tenant <id>', 'one tenant')
    .option('--period <YYYY-MM>', 'credit notes on invoices of this period');
  leaf(cn, state, 'show <number>', 'one credit note', ['billctl credit-note show CN-2026-000001 --format json'], async () => ({ run: (await notes()).showCommand }));
  leaf(cn, state, 'pdf <number>', "write a credit note's PDF again (the same bytes), beside its invoice's", [
    'billctl credit-note pdf CN-2026-000001                 # invoices/2026-10/CN-2026-000001.pdf',
    'billctl credit-note pdf CN-2026-000001 --out /tmp/copy',
  ], async () => ({ run: (await notes()).pdfCommand })).option('--out <dir>', 'where PDFs go (default ./invoices)');

  const report = group(program, 'report', 'reports for finance: the tax report', ['billctl report tax --from 2026-10 --to 2026-12']);
  leaf(report, state, 'tax', 'net and tax by tax label, rate and currency: invoices less credit notes, by issue date', [
    'billctl report tax --from 2026-10 --to 2026-12',
    'billctl report tax --from 2026-01 --to 2026-12 --format csv > tax-2026.csv',
  ], async () => ({ run: (await import('../commands/receivables.js')).taxCommand }))
    .requiredOption('--from <YYYY-MM>', 'first month of issue dates')
    .requiredOption('--to <YYYY-MM>', 'last month of issue dates');
}
