/** invoice preview | generate | finalize | list | show | pdf | void | mark-paid */
import type { Command } from 'commander';
import { group, leaf, type RunState } from '../define.js';

const load = async () => import('../commands/invoice.js');

export function registerInvoices(program: Command, state: RunState): void {
  const invoice = group(program, 'invoice', 'enterprise invoices: drafts, gapless numbers, PDFs, paid and void', [
    'billctl invoice generate --period 2026-10 --all',
    'billctl invoice finalize --period 2026-10 --all --yes',
  ]);
  leaf(invoice, state, 'preview', 'the full rated invoice of a tenant-period, without storing anything', [
    'billctl invoice preview --tenant acme --period 2026-10',
    'billctl invoice preview --tenant acme --period 2026-10 --format json',
  ], async () => ({ run: (await load()).previewCommand }))
    .requiredOption('--tenant <id>', 'the tenant')
    .requiredOption('--period <YYYY-MM>', 'the period, in the tenant\'s timezone')
    .option('--allow-unpriced', 'bill usage without a price at 0.00, marked UNPRICED, instead of refusing');
  leaf(invoice, state, 'generate', 'make or remake draft invoices (with --finalize, issue them too)', [
    'billctl invoice generate --period 2026-10 --all',
    'billctl invoice generate --period 2026-10 --tenant acme',
    'billctl invoice generate --period 2026-10 --all --finalize --issue-date 2026-11-01 --out invoices --yes',
  ], async () => ({ run: (await load()).generateCommand }))
    .requiredOption('--period <YYYY-MM>', 'the period')
    .option('--tenant <id>', 'one tenant')
    .option('--all', 'every tenant billed by invoice')
    .option('--finalize', 'finalize the drafts right away')
    .option('--issue-date <YYYY-MM-DD>', 'issue date when finalizing (default: today, UTC)')
    .option('--out <dir>', 'where PDFs go (default ./invoices, or invoice.out in billctl.yaml)')
    .option('--allow-unpriced', 'bill usage without a price at 0.00, marked UNPRICED')
    .option('--allow-open-period', 'a draft of a month not begun yet; with --finalize, issue a month not ended yet')
    .option('--allow-placeholder-issuer', 'with --finalize: issue without an issuer name and address in billctl.yaml')
    .option('--allow-incomplete-customer', 'with --finalize: issue to tenants with no name and no address');
  leaf(invoice, state, 'finalize [invoice-id]', 'issue drafts: number, issue and due dates, frozen lines, PDF', [
    'billctl invoice finalize 12',
    'billctl invoice finalize --period 2026-10 --all --issue-date 2026-11-01 --yes',
  ], async () => ({ run: (await load()).finalizeCommand }))
    .option('--period <YYYY-MM>', 'with --all: the period whose drafts to finalize')
    .option('--all', 'every draft of the period')
    .option('--issue-date <YYYY-MM-DD>', 'issue date (default: today, UTC)')
    .option('--out <dir>', 'where PDFs go (default ./invoices)')
    .option('--allow-unpriced', 'accept usage without a price (drafts generated with it keep it)')
    .option('--allow-open-period', 'issue invoices of a month that has not ended yet')
    .option('--allow-placeholder-issuer', 'issue without an issuer name and address in billctl.yaml')
    .option('--allow-incomplete-customer', 'issue to tenants with no name and no address');
  leaf(invoice, state, 'list', 'list invoices', [
    'billctl invoice list --period 2026-10',
    'billctl invoice list --status finalized --format json',
  ], async () => ({ run: (await load()).listCommand }))
    .option('--period <YYYY-MM>', 'one period')
    .option('--tenant <id>', 'one tenant')
    .option('--status <status>', 'draft, finalized, paid or void');
  leaf(invoice, state, 'show <number-or-id>', 'one invoice with its lines', [
    'billctl invoice show INV-2026-000001',
    'billctl invoice show 12 --format json',
  ], async () => ({ run: (await load()).showCommand }));
  leaf(invoice, state, 'pdf <number-or-id>', 'write an invoice\'s PDF: an issued one again, byte-identical, with its VOID or PAID copy; a draft marked DRAFT', [
    'billctl invoice pdf INV-2026-000001                 # invoices/2026-10/INV-2026-000001.pdf (and .void.pdf or .paid.pdf)',
    'billctl invoice pdf INV-2026-000001 --out /tmp/copy # a copy elsewhere; the recorded path stays',
    'billctl invoice pdf 12                              # a draft: invoices/drafts/2026-10/draft-12.pdf',
  ], async () => ({ run: (await load()).pdfCommand })).option('--out <dir>', 'where PDFs go (default ./invoices)');
  leaf(invoice, state, 'void <number>', 'void a finalized invoice (its number stays used; a VOID copy of its PDF is written beside it)', [
    'billctl invoice void INV-2026-000007 --reason "wrong billing address" --yes',
  ], async () => ({ run: (await load()).voidCommand })).option('--reason <text>', 'why (required)');
  leaf(invoice, state, 'mark-paid <number>', 'record that a finalized invoice was paid (asks on a terminal; a PAID copy of its PDF is written beside it)', [
    'billctl invoice mark-paid INV-2026-000001 --date 2026-11-20',
    'billctl invoice mark-paid INV-2026-000001 --date 2026-11-20 --yes   # no question on a terminal',
  ], async () => ({ run: (await load()).markPaidCommand })).option('--date <YYYY-MM-DD>', 'payment date, on or after the issue date (default: today, UTC)');
}
