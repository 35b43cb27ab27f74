/**
 * The config file (`--config`, default ./billctl.yaml when present): the invoice issuer, invoice
 * numbering, Stripe meter names and the like. Secrets are never read from it: they come only
 * from the environment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError, ValidationError } from './errors.js';
import { isKnownCurrency } from './domain/money.js';
import { QUANTITIES, type TokenClass } from './domain/quantities.js';
import { isPostgresUrl, storeLocationProblem, urlPassword } from './store/location.js';

export interface Issuer {
  name: string;
  address: string;
  taxId: string;
  email: string;
  logo: string | null;
  paymentInstructions: string;
  footer: string;
}

/** billctl's Stripe meters: one per quantity of the field table that has a meter, and API calls (receipts). */
export type MeterKey = 'gpu_seconds' | TokenClass | 'api_calls';
export const METER_KEYS: readonly MeterKey[] = [
  ...QUANTITIES.flatMap((q) => (q.meter ? [q.meter.key as MeterKey] : [])),
  'api_calls',
];
/**
 * The meters of quantities added after the first wave (the token classes cached input, cache write
 * and reasoning): `stripe setup` makes one only once the store holds a receipt with the quantity,
 * and a push needs one only for usage of it. The others always exist.
 */
export const SEEN_ONLY_METER_KEYS: readonly MeterKey[] = QUANTITIES.flatMap((q) => (q.meter && q.extended ? [q.meter.key as MeterKey] : []));
export const isSeenOnlyMeter = (k: MeterKey): boolean => SEEN_ONLY_METER_KEYS.includes(k);
/** The receipts column a meter sums (null: API calls count receipts). */
export function meterColumn(k: MeterKey): string | null {
  return QUANTITIES.find((q) => q.meter?.key === k)?.column ?? null;
}

/** Event names of the meters (`stripe.meters`), by meter key. */
export type MeterNames = Record<MeterKey, string>;

export interface Config {
  /** The file it came from, or null for built-in defaults. */
  file: string | null;
  db: string | null;
  currency: string;
  issuer: Issuer;
  invoice: { prefix: string; firstNumber: number; out: string; template: string | null };
  /** Credit note numbers: their own sequence per (prefix, year). */
  creditNote: { prefix: string; firstNumber: number };
  stripe: { meters: MeterNames; expiryMarginHours: number };
  alerts: { spikeFactor: string; webhook: string | null };
}

export const DEFAULT_CONFIG_FILE = 'billctl.yaml';

/** The issuer name billctl uses until billctl.yaml names one (finalizing refuses it unless told). */
export const PLACEHOLDER_ISSUER = 'Your Company';

export function defaultConfig(): Config {
  return {
    file: null,
    db: null,
    currency: 'USD',
    issuer: {
      name: PLACEHOLDER_ISSUER,
      address: '',
      taxId: '',
      email: '',
      logo: null,
      paymentInstructions: '',
      footer: '',
    },
    invoice: { prefix: 'INV-', firstNumber: 1, out: 'invoices', template: null },
    creditNote: { prefix: 'CN-', firstNumber: 1 },
    stripe: {
      // billctl_<meter key> for every meter: billctl_gpu_seconds, billctl_input_tokens, ...
      meters: Object.fromEntries(METER_KEYS.map((k) => [k, `billctl_${k}`])) as MeterNames,
      expiryMarginHours: 24,
    },
    alerts: { spikeFactor: '2', webhook: null },
  };
}

/**
 * Multi-line text typed on one line: `\n` (a backslash and an n, as a shell passes
 * "Hauptstr. 1\n10115 Berlin") is a line break. Addresses are read this way from flags, prompts,
 * and the config file (where `init` used to write the two characters).
 */
export function typedLineBreaks(text: string): string {
  return text.replace(/\\n/g, '\n');
}

const SECRET_KEY = /(^|_)(api_?key|secret|password|token)$/i;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function findSecrets(v: unknown, at: string, out: string[]): void {
  if (!isRecord(v)) return;
  for (const [k, child] of Object.entries(v)) {
    const p = at ? `${at}.${k}` : k;
    if (SECRET_KEY.test(k) && child !== null && child !== '') out.push(p);
    findSecrets(child, p, out);
  }
}

/** Parses a config document; relative paths in it are relative to the file's folder. */
export function parseConfig(doc: unknown, file: string): Config {
  const config = defaultConfig();
  config.file = file;
  if (doc === null || doc === undefined) return config;
  if (!isRecord(doc)) throw new ValidationError(file, ['the config must be a map of settings']);
  const problems: string[] = [];
  const secrets: string[] = [];
  findSecrets(doc, '', secrets);
  for (const s of secrets) {
    problems.push(`${s}: secrets are never read from the config file; set them in the environment (STRIPE_API_KEY, BILLCTL_DB)`);
  }
  const dir = path.dirname(path.resolve(file));
  const str = (v: unknown, p: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' || typeof v === 'number') return String(v);
    problems.push(`${p}: must be text`);
    return undefined;
  };
  const rel = (v: string | undefined) => (v === undefined ? undefined : path.resolve(dir, v));

  const db = str(doc.db, 'db');
  if (db !== undefined) {
    const problem = storeLocationProblem(db);
    if (problem) problems.push(`db: ${problem}`);
    if (urlPassword(db)) problems.push('db: a database URL with a password belongs in BILLCTL_DB, not in the config file');
    config.db = isPostgresUrl(db) ? db : (rel(db) ?? null);
  }
  const currency = str(doc.currency, 'currency');
  if (currency !== undefined) {
    if (!isKnownCurrency(currency.toUpperCase())) problems.push(`currency: "${currency}" is not an ISO 4217 code`);
    config.currency = currency.toUpperCase();
  }
  if (doc.issuer !== undefined) {
    if (!isRecord(doc.issuer)) problems.push('issuer: must be a map (name, address, tax_id, email, logo)');
    else {
      const i = doc.issuer;
      config.issuer = {
        name: str(i.name, 'issuer.name') ?? config.issuer.name,
        address: typedLineBreaks(str(i.address, 'issuer.address') ?? ''),
        taxId: str(i.tax_id, 'issuer.tax_id') ?? '',
        email: str(i.email, 'issuer.email') ?? '',
        logo: rel(str(i.logo, 'issuer.logo')) ?? null,
        paymentInstructions: str(i.payment_instructions, 'issuer.payment_instructions') ?? '',
        footer: str(i.footer, 'issuer.footer') ?? '',
      };
    }
  }
  /** A number sequence's prefix and first number (invoice, credit_note). */
  const numbering = (section: Record<string, unknown>, name: string, example: string, into: { prefix: string; firstNumber: number }) => {
    const prefix = str(section.prefix, `${name}.prefix`);
    if (prefix !== undefined) {
      if (!/^[A-Za-z0-9_-]{0,16}$/.test(prefix)) problems.push(`${name}.prefix: letters, digits, - and _ only, at most 16 (like "${example}")`);
      into.prefix = prefix;
    }
    if (section.first_number !== undefined) {
      const n = Number(section.first_number);
      if (!Number.isSafeInteger(n) || n < 1 || n > 999_999) problems.push(`${name}.first_number: a whole number from 1 to 999999`);
      else into.firstNumber = n;
    }
  };
  if (doc.invoice !== undefined) {
    if (!isRecord(doc.invoice)) problems.push('invoice: must be a map (prefix, first_number, out, template)');
    else {
      const inv = doc.invoice;
      numbering(inv, 'invoice', 'INV-', config.invoice);
      config.invoice.out = rel(str(inv.out, 'invoice.out')) ?? config.invoice.out;
      config.invoice.template = rel(str(inv.template, 'invoice.template')) ?? null;
    }
  }
  if (doc.credit_note !== undefined) {
    if (!isRecord(doc.credit_note)) problems.push('credit_note: must be a map (prefix, first_number)');
    else numbering(doc.credit_note, 'credit_note', 'CN-', config.creditNote);
  }
  if (doc.stripe !== undefined) {
    if (!isRecord(doc.stripe)) problems.push('stripe: must be a map');
    else {
      const meters = doc.stripe.meters;
      if (meters !== undefined) {
        if (!isRecord(meters)) problems.push('stripe.meters: must be a map');
        else {
          for (const k of Object.keys(config.stripe.meters) as (keyof MeterNames)[]) {
            const name = str(meters[k], `stripe.meters.${k}`);
            if (name === undefined) continue;
            if (!/^[A-Za-z0-9_-]{1,100}$/.test(name)) problems.push(`stripe.meters.${k}: letters, digits, - and _ only`);
            else config.stripe.meters[k] = name;
          }
        }
      }
      if (doc.stripe.expiry_margin_hours !== undefined) {
        const n = Number(doc.stripe.expiry_margin_hours);
        if (!Number.isSafeInteger(n) || n < 0 || n > 24 * 30) problems.push('stripe.expiry_margin_hours: whole hours, 0..720');
        else config.stripe.expiryMarginHours = n;
      }
    }
  }
  if (doc.alerts !== undefined) {
    if (!isRecord(doc.alerts)) problems.push('alerts: must be a map');
    else {
      const f = str(doc.alerts.spike_factor, 'alerts.spike_factor');
      if (f !== undefined) {
        if (!/^\d+(\.\d+)?$/.test(f)) problems.push('alerts.spike_factor: a positive decimal like 2 or 1.5');
        else config.alerts.spikeFactor = f;
      }
      config.alerts.webhook = str(doc.alerts.webhook, 'alerts.webhook') ?? null;
    }
  }
  if (config.creditNote.prefix === config.invoice.prefix) {
    problems.push(`credit_note.prefix: "${config.creditNote.prefix}" is the invoice prefix too; credit notes need a prefix of their own (like "CN-")`);
  }
  if (problems.length > 0) throw new ValidationError(file, problems);
  return config;
}

/** Loads `--config FILE` (which must exist), else ./billctl.yaml when present, else the defaults. */
export async function loadConfig(explicit: string | undefined, cwd: string): Promise<Config> {
  const file = explicit ?? path.join(cwd, DEFAULT_CONFIG_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (explicit === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return defaultConfig();
    throw new UsageError(`cannot read the config file ${file}: ${(err as Error).message}`, 'Check the --config path.');
  }
  const YAML = await import('yaml');
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new ValidationError(file, [(err as Error).message.split('\n')[0] ?? 'not valid YAML']);
  }
  return parseConfig(doc, file);
}

/** A config file as `init` writes it. */
export function configYaml(c: { db: string; currency: string; issuerName: string; issuerAddress: string }): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    '# billctl settings. Secrets (STRIPE_API_KEY, database passwords) go in the environment, never here.',
    `db: ${q(c.db)}`,
    `currency: ${c.currency}`,
    'issuer:',
    `  name: ${q(c.issuerName)}`,
    `  address: ${q(c.issuerAddress)}`,
    '  tax_id: ""',
    '  email: ""',
    '  # logo: logo.png',
    'invoice:',
    '  prefix: "INV-"',
    '  first_number: 1',
    '  out: invoices',
    '',
  ].join('\n');
}
