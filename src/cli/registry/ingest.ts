/** import, backfill. */
import { Option, type Command } from 'commander';
import { leaf, type RunState } from '../define.js';

const sharedFlags = (cmd: Command): Command =>
  cmd
    .option('--covenant-map <file>', 'CSV covenant_id,tenant_id: the tenant of receipts that name only a covenant')
    .option('--assume-utc', 'read timestamps without a UTC offset as UTC (otherwise they are rejected)')
    .option('--rejects <file>', 'write every rejected or conflicting record, verbatim with its reason, as JSON Lines')
    .option('--strict', 'import nothing from a file that has any reject')
    .option('--dry-run', 'read, validate and count; write nothing')
    .option('--force', 'read files again even when already imported (still idempotent)')
    .addOption(
      new Option('--input-format <format>', 'format of standard input, or of a named file whose extension does not say').choices([
        'jsonl', 'json', 'csv',
      ]),
    );

const EXIT_NOTE =
  '\nA file already imported completely (same content, same settings) is skipped; running the same command\n' +
  'after an interruption resumes where it stopped. Exit status 3 when a record was rejected or in conflict.\n';

export function registerIngest(program: Command, state: RunState): void {
  sharedFlags(
    leaf(
      program,
      state,
      'import <inputs...>',
      'import receipt files (.jsonl .ndjson .json .csv, optionally .gz), directories, or - for standard input',
      [
        'billctl import receipts/2026-10/ --rejects rejects.jsonl',
        'billctl import gateway.jsonl legacy.csv.gz --covenant-map covenants.csv',
        'zcat today.jsonl.gz | billctl import - --format json',
        'billctl import export.csv --strict --dry-run',
      ],
      async () => ({ run: (await import('../commands/import.js')).run }),
    ),
  ).addHelpText('after', EXIT_NOTE);
  sharedFlags(
    leaf(
      program,
      state,
      'backfill <inputs...>',
      'import archives (many files, e.g. *.jsonl.gz), only receipts in a time window; resumes where it stopped',
      [
        'billctl backfill archive/2025/ --since 2025-01-01 --until 2025-12-31',
        'billctl backfill archive/ --covenant-map covenants.csv --rejects backfill-rejects.jsonl --format json',
      ],
      async () => ({ run: (await import('../commands/backfill.js')).run }),
    ),
  )
    .option('--since <date>', 'only receipts at or after this date (YYYY-MM-DD, UTC) or instant')
    .option('--until <date>', 'only receipts before the end of this date (UTC), or before this instant')
    .addHelpText('after', `\n--since is inclusive; --until DATE includes that whole day (UTC), --until INSTANT excludes it.${EXIT_NOTE}`);
}
