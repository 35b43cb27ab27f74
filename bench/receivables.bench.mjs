// Issue 16: `billctl invoice aging` and `billctl report tax`, each a whole process, over a store of
// 100,000 issued invoices (goal: under 2 s each). The store is built straight in SQL: 1,000 tenants
// × 100 months of invoices with frozen documents of a real invoice's size, most paid (some in two
// parts, some payments undone), some void, and 10,000 credit notes. The figure beside each is
// `billctl --version` in the same run: what any command costs before it reads the store.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { BIN, ROOT, median, timeCommand } from './lib.mjs';

/** A frozen invoice document is about 6 KB of JSON; the store keeps one per issued invoice. */
const DOCUMENT = JSON.stringify({ lines: 'x'.repeat(6000) });

export function buildReceivables(file, { tenants, months }) {
  const invoices = tenants * months;
  if (fs.existsSync(file)) {
    const db = new Database(file, { readonly: true });
    const n = db.prepare('SELECT COUNT(*) n FROM invoices').get().n;
    db.close();
    if (n === invoices) {
      // A store built by an older billctl is upgraded first (init is idempotent).
      const up = spawnSync(process.execPath, [BIN, 'init', '--yes', '--quiet', '--db', file], { encoding: 'utf8' });
      if (up.status === 0) return file;
    }
    for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const r = spawnSync(process.execPath, [BIN, 'init', '--yes', '--quiet', '--db', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`billctl init: ${r.stderr}`);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${tenants})
    INSERT INTO tenants (id, name, tax_rate, tax_label, created_at, updated_at)
    SELECT printf('tenant-%04d', i), printf('Tenant %d', i), CASE i % 3 WHEN 0 THEN '0.19' WHEN 1 THEN '0.07' ELSE '0' END,
           CASE i % 3 WHEN 2 THEN 'Sales tax' ELSE 'VAT' END, 'x', 'x' FROM n;
  `);
  // Invoice i: tenant i % tenants, month i / tenants from 2018-01; issued on the 2nd of the next month, due 30 days later.
  db.exec(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${invoices}),
    base AS (
      SELECT i, printf('tenant-%04d', i % ${tenants}) AS tenant, i / ${tenants} AS m,
             CASE (i % ${tenants}) % 3 WHEN 0 THEN 19 WHEN 1 THEN 7 ELSE 0 END AS rate,
             9900 + (i * 7919) % 250000 AS net FROM n
    )
    INSERT INTO invoices (id, tenant_id, period, status, currency, fee, usage, discount, adjustments, credits, subtotal, tax, total,
      tax_rate, tax_label, prepaid_applied, amount_due, number, number_year, number_seq, issue_date, due_date, paid_date, voided_at,
      document, created_at, updated_at, finalized_at)
    SELECT i + 1, tenant, strftime('%Y-%m', date('2018-01-01', printf('+%d months', m))),
           CASE WHEN i % 20 = 0 THEN 'void' WHEN i % 10 < 6 THEN 'paid' ELSE 'finalized' END,
           'USD', '99.00', '0', '0', '0', '0', printf('%.2f', net / 100.0), printf('%.2f', (net * rate + 50) / 100 / 100.0),
           printf('%.2f', (net * 100 + net * rate + 50) / 100 / 100.0),
           printf('0.%02d', rate), CASE rate WHEN 0 THEN 'Sales tax' ELSE 'VAT' END, '0',
           CASE WHEN i % 20 = 0 OR i % 10 < 6 THEN '0' ELSE printf('%.2f', (net * 100 + net * rate + 50) / 100 / 100.0) END,
           printf('INV-%d-%06d', 2018 + (m + 1) / 12, i + 1), 2018 + (m + 1) / 12, i + 1,
           date('2018-01-02', printf('+%d months', m + 1)), date('2018-01-02', printf('+%d months', m + 1), '+30 days'),
           CASE WHEN i % 20 <> 0 AND i % 10 < 6 THEN date('2018-01-02', printf('+%d months', m + 1), '+20 days') END,
           CASE WHEN i % 20 = 0 THEN date('2018-01-02', printf('+%d months', m + 1), '+3 days') || 'T10:00:00.000Z' END,
           '${DOCUMENT}', 'x', 'x', 'x'
    FROM base;
    INSERT INTO invoice_payments (invoice_id, amount, paid_on, recorded_at)
      SELECT id, total, paid_date, 'x' FROM invoices WHERE status = 'paid';
    INSERT INTO invoice_payments (invoice_id, amount, paid_on, recorded_at, reversed_at)
      SELECT id, '10.00', date(issue_date, '+5 days'), 'x', CASE WHEN id % 7 = 0 THEN 'x' END FROM invoices WHERE status = 'finalized' AND id % 3 = 0;
    INSERT INTO credit_notes (number, number_year, number_seq, invoice_id, invoice_number, tenant_id, period, currency, issue_date, net, tax, total,
      tax_rate, tax_label, reason, applied, granted, document, created_at)
      SELECT printf('CN-%s-%06d', substr(issue_date, 1, 4), id), CAST(substr(issue_date, 1, 4) AS INTEGER), id, id, number, tenant_id, period,
             'USD', date(issue_date, '+10 days'), '5.00', printf('%.2f', 5 * CAST(tax_rate AS REAL) + 0.00001), printf('%.2f', 5 + 5 * CAST(tax_rate AS REAL) + 0.00001),
             tax_rate, tax_label, 'goodwill', printf('%.2f', 5 + 5 * CAST(tax_rate AS REAL) + 0.00001), '0.00', '${DOCUMENT}', 'x'
      FROM invoices WHERE status <> 'void' AND id % 9 = 1;
  `);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return file;
}

async function timed(runs, args, db) {
  const times = [];
  let out = '';
  for (let k = 0; k < runs; k++) {
    const r = await timeCommand(process.execPath, [BIN, ...args, '--db', db, '--format', 'json'], { env: { BILLCTL_NOW: '2026-06-30T12:00:00Z' } });
    if (r.code !== 0) throw new Error(`billctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    times.push(r.ms);
    out = r.stdout;
  }
  return { ms: median(times), out };
}

export async function run({ smoke, log }) {
  const tenants = smoke ? 100 : 1000;
  const months = smoke ? 20 : 100;
  const db = buildReceivables(path.join(ROOT, 'bench', '.data', `receivables-${tenants * months}.db`), { tenants, months });
  const runs = smoke ? 1 : 3;
  const startup = [];
  for (let k = 0; k < runs; k++) startup.push((await timeCommand(process.execPath, [BIN, '--version'])).ms);
  const version = { ms: median(startup) };
  const aging = await timed(runs, ['invoice', 'aging', '--as-of', '2026-06-30'], db);
  const tax = await timed(runs, ['report', 'tax', '--from', '2018-01', '--to', '2026-12'], db);
  const agingJson = JSON.parse(aging.out);
  const taxJson = JSON.parse(tax.out);
  const invoices = tenants * months;
  log(`${invoices.toLocaleString('en-US')} invoices: invoice aging ${aging.ms.toFixed(0)} ms (${agingJson.tenants.length} tenants owe), ` +
    `report tax ${tax.ms.toFixed(0)} ms (${taxJson.totals[0].invoices.toLocaleString('en-US')} invoices, ${taxJson.totals[0].credit_notes.toLocaleString('en-US')} credit notes); ` +
    `billctl --version ${version.ms.toFixed(0)} ms`);
  return [
    { name: `invoice aging, ${invoices.toLocaleString('en-US')} invoices (ms)`, value: Math.round(aging.ms), goal: '< 2000', ok: smoke ? undefined : aging.ms < 2000 },
    { name: `report tax, ${invoices.toLocaleString('en-US')} invoices (ms)`, value: Math.round(tax.ms), goal: '< 2000', ok: smoke ? undefined : tax.ms < 2000 },
    { name: 'billctl --version in the same run (ms)', value: Math.round(version.ms) },
  ];
}
