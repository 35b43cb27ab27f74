/** init, catalog, tenant, audit. */
import type { Command } from 'commander';
import { group, leaf, type RunState } from '../define.js';

const tenantFlags = (cmd: Command, withPlan: boolean): Command => {
  cmd.option('--name <name>', 'display name on invoices (default: the id)');
  if (withPlan) {
    cmd.option('--plan <plan>', "plan from the catalog (default: the catalog's default_plan)");
    cmd.option('--from <YYYY-MM>', 'first period of that plan (default: every period)');
  }
  return cmd
    .option('--timezone <tz>', 'IANA timezone its periods follow (default UTC)')
    .option('--tax-rate <rate>', 'tax as a decimal in [0, 1): 0.19 for 19 % (default 0)')
    .option('--tax-label <label>', 'tax name on invoices (default Tax)')
    .option('--net-days <days>', 'days from issue to due date (default 30)')
    .option('--email <email>', 'billing email')
    .option('--address <address>', 'billing address (\\n between lines)')
    .option('--tax-id <id>', "the customer's tax id (VAT id) on its invoices")
    .option('--po-number <po>', 'purchase order number on its invoices')
    .option('--currency <code>', "must equal the catalog's currency")
    .option('--billing-mode <mode>', 'invoice (enterprise invoices) or stripe (usage pushed to Stripe)')
    .option('--stripe-customer <cus_id>', 'the Stripe customer id (cus_…)');
};

export function registerFoundation(program: Command, state: RunState): void {
  leaf(
    program,
    state,
    'init',
    'create or upgrade the store (idempotent; a short wizard on a terminal)',
    [
      'billctl init --yes',
      'billctl init --yes --sample-catalog --db billing.db',
      'billctl init --yes --db postgres://postgres@127.0.0.1:5432/billing --create-database',
      'billctl init --yes --issuer-name "Acme AI GmbH" --issuer-address "Hauptstr. 1\\n10115 Berlin" --currency EUR',
    ],
    async () => ({ run: (await import('../commands/init.js')).run }),
  )
    .option('--sample-catalog', 'also load templates/catalog.example.yaml')
    .option('--create-database', 'with a postgres:// URL: create its database when it does not exist')
    .option('--issuer-name <name>', 'write billctl.yaml with this invoice issuer name')
    .option('--issuer-address <address>', 'issuer address for billctl.yaml (\\n between lines)')
    .option('--currency <code>', 'currency for billctl.yaml (ISO 4217, default USD)');

  const catalog = group(program, 'catalog', 'versioned price catalogs and plans', [
    'billctl catalog import templates/catalog.example.yaml',
    'billctl catalog list',
    'billctl catalog show 2026-01 --format json',
  ]);
  leaf(
    catalog,
    state,
    'import <file>',
    'add a catalog version from YAML or JSON (the same version again is a no-op)',
    ['billctl catalog import templates/catalog.example.yaml', 'billctl catalog import prices-2027.json'],
    async () => ({ run: (await import('../commands/catalog.js')).importCommand }),
  ).option('--replace', 'replace a version with the same label, if no finalized invoice used it');
  leaf(catalog, state, 'list', 'list catalog versions, oldest first', ['billctl catalog list --format json'], async () => ({
    run: (await import('../commands/catalog.js')).listCommand,
  }));
  leaf(
    catalog,
    state,
    'show [version]',
    'show a catalog version (default: the newest)',
    ['billctl catalog show', 'billctl catalog show 2026-01 --format json'],
    async () => ({ run: (await import('../commands/catalog.js')).showCommand }),
  );

  const tenant = group(program, 'tenant', 'tenants: billing terms, timezones, tax, plans', [
    'billctl tenant add acme --name "Acme GmbH" --plan pro --timezone Europe/Berlin --tax-rate 0.19',
    'billctl tenant list',
  ]);
  tenantFlags(
    leaf(
      tenant,
      state,
      'add <id>',
      'add a tenant',
      [
        'billctl tenant add acme --name "Acme GmbH" --plan pro --from 2026-10 --timezone Europe/Berlin --tax-rate 0.19 --tax-label VAT',
        'billctl tenant add selfserve-1 --billing-mode stripe --stripe-customer cus_NffrFeUfNV2Hib',
      ],
      async () => ({ run: (await import('../commands/tenant.js')).addCommand }),
    ),
    true,
  );
  tenantFlags(
    leaf(
      tenant,
      state,
      'update <id>',
      "change a tenant's terms (plans change with set-plan)",
      [
        'billctl tenant update acme --tax-rate 0.2 --net-days 14',
        'billctl tenant update acme --email billing@acme.example',
        'billctl tenant update acme --tax-id DE123456789 --po-number PO-4711',
        'billctl tenant update acme --billing-mode stripe --stripe-since 2026-12   # invoiced until November',
      ],
      async () => ({ run: (await import('../commands/tenant.js')).updateCommand }),
    ),
    false,
  ).option('--stripe-since <YYYY-MM>', 'moving to Stripe: the first period whose usage goes to Stripe (default: the current one)');
  leaf(
    tenant,
    state,
    'set-plan <id> <plan>',
    'put a tenant on a plan from a period or a day on (the history keeps every change); a day inside a period prorates it',
    [
      'billctl tenant set-plan acme enterprise --from 2026-12',
      'billctl tenant set-plan acme team --from 2026-10-22   # October splits: the old plan to the 21st, team from the 22nd (local midnight)',
    ],
    async () => ({ run: (await import('../commands/tenant.js')).setPlanCommand }),
  ).requiredOption('--from <YYYY-MM|YYYY-MM-DD>', 'first period, or first local day, on the new plan');
  leaf(
    tenant,
    state,
    'import <file>',
    'add or update many tenants from CSV (all rows or none)',
    [
      'billctl tenant import tenants.csv   # columns: id,name,plan,from,timezone,tax_rate,tax_label,net_days,email,address,tax_id,po_number,currency,billing_mode,stripe_customer,stripe_since',
      'billctl tenant list --format csv > tenants.csv && billctl tenant import tenants.csv   # round trip: nothing changes',
    ],
    async () => ({ run: (await import('../commands/tenant.js')).importCommand }),
  );
  leaf(tenant, state, 'list', 'list tenants', ['billctl tenant list', 'billctl tenant list --format csv > tenants.csv'], async () => ({
    run: (await import('../commands/tenant.js')).listCommand,
  }));
  leaf(tenant, state, 'show <id>', 'show one tenant with its plan history', ['billctl tenant show acme --format json'], async () => ({
    run: (await import('../commands/tenant.js')).showCommand,
  }));

  leaf(
    program,
    state,
    'demo',
    'the whole monthly job on a sample store in a new folder: import, usage, invoices with PDFs, late usage',
    ['billctl demo', 'billctl demo --out /tmp/billctl-demo'],
    async () => ({ run: (await import('../commands/demo.js')).run }),
  ).option('--out <dir>', 'the new folder to make it in (default ./billctl-demo)');
  leaf(
    program,
    state,
    'audit',
    'who changed what in the store, and when',
    ['billctl audit', 'billctl audit --since 2026-11-01 --format json'],
    async () => ({ run: (await import('../commands/audit.js')).run }),
  ).option('--since <date>', 'only entries at or after this date or instant');
}
