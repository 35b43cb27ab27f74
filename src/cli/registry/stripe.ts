/** stripe setup | link | customers sync. The push, status and reconcile register here too, later. */
import type { Command } from 'commander';
import { group, leaf, type RunState } from '../define.js';

export function registerStripe(program: Command, state: RunState): void {
  const stripe = group(
    program,
    'stripe',
    'Stripe Billing: meters and customers of self-serve (billing_mode stripe) tenants',
    ['billctl stripe setup', 'billctl stripe customers sync', 'billctl stripe link acme cus_NffrFeUfNV2Hib'],
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
    'find or create the four billing meters (sum of value, customer by id) and store their ids; running it again creates nothing',
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
}
