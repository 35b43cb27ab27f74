/** stripe setup | link | customers sync | catalog sync | subscribe | unsubscribe | events sync | push | status | reconcile. */
import { Option, type Command } from 'commander';
import { group, leaf, type RunState } from '../define.js';

export function registerStripe(program: Command, state: RunState): void {
  const stripe = group(
    program,
    'stripe',
    'Stripe Billing: meters and customers of self-serve (billing_mode stripe) tenants',
    ['billctl stripe setup', 'billctl stripe customers sync', 'billctl stripe link acme cus_NffrFeUfNV2Hib', 'billctl stripe push --yes --quiet --format json'],
  );
  stripe.addHelpText(
    'after',
    '\nFirst export STRIPE_API_KEY=sk_test_… (the secret key: read from the environment only, never\n' +
      'printed). STRIPE_API_BASE (like http://127.0.0.1:12111) sends the calls to another server,\n' +
      'such as a mock. Meter event names come from billctl.yaml (stripe.meters).\n',
  );
  leaf(
    stripe,
    state,
    'setup',
    'find or create the billing meters (sum of value, customer by id: GPU seconds, input and output tokens, API calls, and one per ' +
      'token class the store holds receipts of: cached input, cache write, reasoning) and store their ids; running it again creates nothing ' +
      '(run it again when a new token class arrives: stripe push says so)',
    ['billctl stripe setup', 'billctl stripe setup --dry-run --format json'],
    async () => ({ run: (await import('../commands/stripe-setup.js')).run }),
  ).option('--dry-run', 'show what would be created, change nothing');
  leaf(
    stripe,
    state,
    'link <tenant> <customer>',
    "set a tenant's Stripe customer (cus_…), checked in Stripe; the billing mode is not changed",
    ['billctl stripe link acme cus_NffrFeUfNV2Hib', 'billctl stripe link acme cus_Q9nMZ3ZyKLQ5Wq --replace', 'billctl stripe link acme cus_NffrFeUfNV2Hib --offline'],
    async () => ({ run: (await import('../commands/stripe-link.js')).run }),
  )
    .option('--replace', 'replace a customer the tenant is already linked to')
    .option('--offline', 'do not check the customer in Stripe (no STRIPE_API_KEY needed)');
  const customers = group(stripe, 'customers', 'Stripe customers of stripe-mode tenants', [
    'billctl stripe customers sync',
    'billctl stripe customers sync --tenant acme --dry-run',
  ]);
  leaf(
    customers,
    state,
    'sync',
    'find or create a Stripe customer for every stripe-mode tenant without one (name, email, metadata tenant_id) and store its id',
    ['billctl stripe customers sync', 'billctl stripe customers sync --dry-run --format json', 'billctl stripe customers sync --tenant acme'],
    async () => ({ run: (await import('../commands/stripe-customers.js')).syncCommand }),
  )
    .option('--tenant <id>', 'only this tenant')
    .option('--dry-run', 'look up, but create and store nothing');
  const catalog = group(stripe, 'catalog', 'products and prices of catalog versions in Stripe', ['billctl stripe catalog sync']);
  leaf(
    catalog,
    state,
    'sync [version]',
    'find or create the products and prices of a catalog version (default: each currency\'s version in effect now, and later ones) (a price per plan and meter, the fee as a licensed price); ' +
      'running it again creates nothing; plans Stripe cannot bill exactly are refused with the reason (exit 3)',
    ['billctl stripe catalog sync', 'billctl stripe catalog sync 2026-10 --dry-run --format json'],
    async () => ({ run: (await import('../commands/stripe-catalog.js')).syncCommand }),
  ).option('--dry-run', 'look up, but create and record nothing');
  leaf(
    stripe,
    state,
    'subscribe [tenant]',
    "create or update a stripe-mode tenant's subscription: a metered item per meter and the monthly fee, at the prices of its plan " +
      'and catalog version now; after tenant set-plan, run it again (or --all from cron) to swap the items as of the change, prorated',
    ['billctl stripe subscribe acme', 'billctl stripe subscribe --all --format json', 'billctl stripe subscribe acme --dry-run'],
    async () => ({ run: (await import('../commands/stripe-subscribe.js')).subscribeCommand }),
  )
    .option('--all', 'every stripe-mode tenant (tenants that cannot be subscribed are reported; exit 3)')
    .option('--dry-run', 'look up, but create and change nothing');
  leaf(
    stripe,
    state,
    'unsubscribe <tenant>',
    "cancel a tenant's Stripe subscription at the end of its current period (Stripe invoices that period's usage then), or --now",
    ['billctl stripe unsubscribe acme --yes', 'billctl stripe unsubscribe acme --now --yes'],
    async () => ({ run: (await import('../commands/stripe-subscribe.js')).unsubscribeCommand }),
  )
    .option('--now', 'cancel at once: Stripe invoices the usage so far (the fee already paid is not refunded)')
    .option('--dry-run', 'say what would be done');
  const events = group(stripe, 'events', "Stripe's events (invoices, subscriptions) into the store", ['billctl stripe events sync']);
  leaf(
    events,
    state,
    'sync',
    "read Stripe's events since the last run, oldest first, and handle each new one as the webhook of billctl serve does " +
      '(invoice and subscription states, payment failure alerts); events received before change nothing (safe from cron beside the webhook)',
    ['billctl stripe events sync', 'billctl stripe events sync --since 2026-11-01 --format json'],
    async () => ({ run: (await import('../commands/stripe-events.js')).syncCommand }),
  ).option('--since <date>', 'read from this date or instant instead of the stored cursor (Stripe keeps events 30 days)');
  leaf(
    stripe,
    state,
    'push',
    "send stripe-mode tenants' billable usage to Stripe's billing meters, exactly once (safe to run from cron every hour)",
    [
      'billctl stripe push',
      'billctl stripe push --dry-run',
      'billctl stripe push --yes --quiet --format json',
      'billctl stripe push --until 2026-11-21T12:00:00Z --concurrency 16 --rate 200',
      'billctl stripe push --retry-budget 600   # a large backfill: keep retrying for 10 minutes',
    ],
    async () => ({ run: (await import('../commands/stripe-push.js')).run }),
  )
    .option('--until <time>', 'push receipts before this instant (RFC 3339, or a date for its UTC midnight; default now)')
    .addOption(new Option('--bucket <size>', 'UTC bucket per event (fixed by the first push; default hour)').choices(['hour', 'day']))
    .option('--concurrency <n>', 'requests in flight (never two for one customer and meter)', '8')
    .option('--rate <n>', 'requests started per second at most (test mode allows 25; live meter events 1000)', '25')
    .option(
      '--retry-budget <seconds>',
      'seconds after the first request during which failed requests are retried; after it, the first failure ends the run and what was not sent is left for the next run (0: no retries)',
      '60',
    )
    .option('--dry-run', 'show what would be sent (no STRIPE_API_KEY, meters or customers needed); send and record nothing');
  stripe.commands.find((c) => c.name() === 'push')!.addHelpText(
    'after',
    '\nExit codes: 0 everything sent, or a dry run; 3 some usage expired, is uncertain, or some\n' +
      'tenant failed or has events left for the next run (the report says which and how many:\n' +
      'left_for_next_run in JSON; the next run retries what can be retried); 5 another push holds the\n' +
      'lock (nothing was done); 2 used wrongly (no confirmation for a live key, meters not set up);\n' +
      '1 failed (database, bug). A live key (sk_live_) asks for confirmation unless --yes.\n',
  );
  leaf(
    stripe,
    state,
    'status',
    'the push ledger per tenant and meter: pending, sent, failed, expired and uncertain usage, and the last push',
    ['billctl stripe status', 'billctl stripe status --format json', 'billctl stripe status --list expired --format csv'],
    async () => ({ run: (await import('../commands/stripe-status.js')).run }),
  )
    .option('--tenant <id>', 'only this tenant')
    .addOption(new Option('--list <status>', 'list the revisions of one status instead').choices(['pending', 'sent', 'failed', 'expired', 'uncertain']));
  leaf(
    stripe,
    state,
    'reconcile',
    "compare Stripe's meter event summaries for a UTC month with what the ledger sent; list the differences (exit 3 when any)",
    ['billctl stripe reconcile --period 2026-10', 'billctl stripe reconcile --period 2026-10 --tenant acme --format json'],
    async () => ({ run: (await import('../commands/stripe-reconcile.js')).run }),
  )
    .requiredOption('--period <YYYY-MM>', 'the UTC calendar month')
    .option('--tenant <id>', 'only this tenant');
}
