/**
 * init: create or upgrade the store (idempotent). On a terminal without --yes it is a short
 * wizard: store location, invoice issuer, currency, the sample catalog. Without a terminal it
 * never prompts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { importCatalog } from '../../app/catalogs.js';
import { configYaml, DEFAULT_CONFIG_FILE, PLACEHOLDER_ISSUER, typedLineBreaks } from '../../config.js';
import { isKnownCurrency } from '../../domain/money.js';
import { UsageError } from '../../errors.js';
import { isPostgresUrl, redactUrl, resolveStoreLocation, storeLocationProblem, urlPassword } from '../../store/location.js';
import { createDatabaseIfMissing, openStore } from '../../store/open.js';
import { templatePath } from '../../paths.js';
import type { Context } from '../context.js';

interface Answers {
  db?: string;
  createDatabase: boolean;
  issuerName?: string;
  issuerAddress?: string;
  currency?: string;
  sampleCatalog: boolean;
  writeConfig: boolean;
}

async function wizard(ctx: Context, configFile: string, configExists: boolean): Promise<Answers> {
  const prompts = await import('../prompts.js');
  if (configExists) {
    ctx.notice(`Using the settings in ${configFile}.`);
    return {
      sampleCatalog: await prompts.confirm('Load the sample catalog (templates/catalog.example.yaml)?', true),
      writeConfig: false,
      createDatabase: false,
    };
  }
  const defaultDb = ctx.opts.db ?? ctx.io.env.BILLCTL_DB ?? 'billing.db';
  const db = (await prompts.input('Store (a SQLite file, or a postgres:// URL):', redactUrl(defaultDb) === defaultDb ? defaultDb : undefined,
    (v) => storeLocationProblem(v.trim()) ?? true)).trim();
  const createDatabase = isPostgresUrl(db) && (await prompts.confirm('Create the database if it does not exist?', true));
  const issuerName = await prompts.input('Issuer name on invoices (your company):', PLACEHOLDER_ISSUER);
  const issuerAddress = await prompts.input('Issuer address (use \\n between lines):', '');
  const currency = await prompts.input('Currency (ISO 4217):', 'USD', (v) =>
    isKnownCurrency(v.trim().toUpperCase()) ? true : 'an ISO 4217 code, like USD or EUR',
  );
  const sampleCatalog = await prompts.confirm('Load the sample catalog (templates/catalog.example.yaml)?', true);
  return { db, createDatabase, issuerName, issuerAddress, currency: currency.trim().toUpperCase(), sampleCatalog, writeConfig: true };
}

function writeConfigFile(ctx: Context, configFile: string, answers: Answers): string {
  let db = answers.db ?? ctx.opts.db ?? ctx.io.env.BILLCTL_DB ?? 'billing.db';
  if (urlPassword(db)) {
    ctx.warn('the database URL has a password, which never goes in the config file: set BILLCTL_DB in the environment instead');
    db = 'billing.db';
  }
  fs.writeFileSync(
    configFile,
    configYaml({
      db,
      currency: answers.currency ?? 'USD',
      issuerName: answers.issuerName ?? PLACEHOLDER_ISSUER,
      issuerAddress: typedLineBreaks(answers.issuerAddress ?? ''),
    }),
    { flag: 'wx' },
  );
  return configFile;
}

export async function run(ctx: Context, _args: unknown[], opts: Record<string, unknown>): Promise<number> {
  const configFile = path.resolve(ctx.io.cwd, ctx.opts.config ?? DEFAULT_CONFIG_FILE);
  const configExists = fs.existsSync(configFile);
  const interactive = !ctx.opts.yes && ctx.io.stdinIsTTY && ctx.io.stderrIsTTY;
  let answers: Answers;
  if (interactive) answers = await wizard(ctx, configFile, configExists);
  else {
    const flags = ['issuerName', 'issuerAddress', 'currency'].filter((k) => opts[k] !== undefined);
    if (flags.length > 0 && configExists) {
      throw new UsageError(`${configFile} already exists`, 'Edit it, or run init without --issuer-name/--issuer-address/--currency.');
    }
    const currency = opts.currency === undefined ? undefined : String(opts.currency).toUpperCase();
    if (currency !== undefined && !isKnownCurrency(currency)) {
      throw new UsageError(`--currency: "${String(opts.currency)}" is not an ISO 4217 code (like USD)`);
    }
    answers = {
      issuerName: opts.issuerName as string | undefined,
      issuerAddress: opts.issuerAddress as string | undefined,
      currency,
      sampleCatalog: opts.sampleCatalog === true,
      writeConfig: flags.length > 0,
      createDatabase: opts.createDatabase === true,
    };
  }

  const location = answers.db && !urlPassword(answers.db)
    ? resolveStoreLocation(answers.db, ctx.io.cwd, 'store')
    : answers.writeConfig && !ctx.opts.db && !ctx.io.env.BILLCTL_DB
      ? path.resolve(path.dirname(configFile), 'billing.db') // what the settings file about to be written names
      : await ctx.dbLocation();
  const databaseCreated = (answers.createDatabase || opts.createDatabase === true) && (await createDatabaseIfMissing(location));
  const store = await openStore(location, { create: true, skipSchemaCheck: true });
  try {
    const outcome = await store.migrate();
    let sample: string | null = null;
    if (answers.sampleCatalog) {
      const r = await importCatalog(store, templatePath('catalog.example.yaml'), {
        replace: false,
        at: ctx.nowIso(),
        isUsedByFinalizedInvoice: (v) => store.catalogUsedByFinalizedInvoice(v),
      });
      sample = r.outcome;
    }
    // The settings file is written once the store is ready: a failed init leaves nothing to undo.
    const configWritten = answers.writeConfig ? writeConfigFile(ctx, configFile, answers) : null;
    if (outcome.applied.length > 0 || sample === 'created' || databaseCreated) {
      await ctx.audit(store, 'init', {
        store: store.location,
        ...(databaseCreated ? { database_created: true } : {}),
        schema_from: outcome.from,
        schema_to: outcome.to,
        migrations_applied: outcome.applied.length,
        sample_catalog: sample,
      });
    }
    const json = {
      store: store.location,
      backend: store.dialect,
      schema_version: outcome.to,
      migrations_applied: outcome.applied.map((m) => ({ version: m.version, name: m.name })),
      sample_catalog: sample,
      config: configWritten,
    };
    if (ctx.format === 'json') await ctx.record([], json);
    else {
      const what =
        outcome.from === 0
          ? `created (schema version ${outcome.to})`
          : outcome.applied.length > 0
            ? `upgraded from schema version ${outcome.from} to ${outcome.to}`
            : `already up to date (schema version ${outcome.to})`;
      if (databaseCreated) ctx.out(`database created: ${store.location}\n`);
      ctx.out(`store ${store.location}: ${what}\n`);
      if (sample) ctx.out(`sample catalog: ${sample === 'created' ? 'loaded' : 'already loaded'}\n`);
      if (configWritten) ctx.out(`settings written to ${configWritten}\n`);
      if (outcome.from === 0) ctx.notice('Next: billctl catalog import <file>, billctl tenant add <id>, billctl import <receipts>');
    }
    return 0;
  } finally {
    await store.close();
  }
}
