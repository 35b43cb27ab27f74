/**
 * The SQLite receipt writer. One prepared upsert per receipt, in-process (no round trips):
 *
 *   INSERT ... ON CONFLICT (tenant_id, id) DO UPDATE SET batch_id = receipts.batch_id
 *     WHERE <the stored billing content differs>
 *
 * changes = 0: a duplicate (same identity, same content); changes = 1 with a new rowid: imported;
 * changes = 1 with the connection's last rowid unchanged: a conflict (the no-op update touched the
 * stored row, which stays as it was). Rollups come from the reading side as sums over the unit,
 * less the rows that were not imported.
 */
import type Database from 'better-sqlite3';
import { Decimal } from '../../domain/money.js';
import { RollupAccumulator } from '../../ingest/pipeline.js';
import { RECEIPT_COLUMNS, rawText, type Parcel, type ReceiptRow, type RollupDelta } from '../../ingest/types.js';
import type { ReceiptWriter, RejectRecord, UnitResult } from '../ingest.js';
import { SqlIngestStore } from '../ingest-sql.js';
import { conflictReason, rollupUpsertSql, versionFromReceiptRow, versionFromRow } from '../receipts-sql.js';
import type { Row } from '../sql.js';
import type { SqliteDriver } from './driver.js';

const registered = new WeakSet<Database.Database>();

/**
 * billctl_dec_add(a, b): exact decimal sum of two decimal texts, without trailing zeros (like
 * Postgres trim_scale), so rollups read the same whatever order receipts came in.
 * billctl_dec_sum(x): the aggregate, '0' over no values.
 */
export function registerIngestFunctions(db: Database.Database): void {
  if (registered.has(db)) return;
  registered.add(db);
  const dec = (v: unknown) => Decimal.parse(String(v));
  db.function('billctl_dec_add', { deterministic: true }, (a: unknown, b: unknown) => {
    if (a === null || a === undefined) return b === null || b === undefined ? null : dec(b).normalize().toString();
    if (b === null || b === undefined) return dec(a).normalize().toString();
    return dec(a).add(dec(b)).normalize().toString();
  });
  db.aggregate('billctl_dec_sum', {
    start: () => Decimal.ZERO,
    step: (total: Decimal, v: unknown) => (v === null || v === undefined ? total : total.add(dec(v))),
    result: (total: Decimal) => total.normalize().toString(),
  });
}

const DIFFERS = ['ts', 'billable', 'model_key', 'gpu_key', 'gpu_seconds', 'input_tokens', 'output_tokens']
  .map((c) => `receipts.${c} IS NOT excluded.${c}`)
  .join(' OR ');

const INSERT = `INSERT INTO receipts (${RECEIPT_COLUMNS.join(', ')}) VALUES (${RECEIPT_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (tenant_id, id) DO UPDATE SET batch_id = receipts.batch_id WHERE ${DIFFERS}`;

class SqliteReceiptWriter implements ReceiptWriter {
  readonly wantsRollups = true;
  private readonly insert: Database.Statement;
  private readonly lookup: Database.Statement;
  private readonly lastRowid: Database.Statement;
  private readonly maxRowid: Database.Statement;
  private readonly rowidOf: Database.Statement;
  private readonly upsertRollup: Database.Statement;
  private imported = 0;
  private duplicates = 0;
  private unsplit = 0;
  private conflicts: RejectRecord[] = [];
  /** Rows added but not imported, with their rollup day: taken back out of the unit's sums. */
  private notImported: { row: ReceiptRow; day: number }[] = [];

  constructor(private readonly driver: SqliteDriver) {
    registerIngestFunctions(driver.db);
    // Receipt ids are random, so every insert lands somewhere else in the primary-key index: a page
    // cache that holds the hot index pages turns most of those writes into memory writes.
    driver.db.pragma(`cache_size = -${Number(process.env.BILLCTL_SQLITE_CACHE_MB ?? 32) * 1024}`);
    this.insert = driver.statement(INSERT);
    this.lookup = driver.statement('SELECT * FROM receipts WHERE tenant_id = ? AND id = ?');
    this.lastRowid = driver.statement('SELECT last_insert_rowid()').pluck();
    this.maxRowid = driver.statement('SELECT COALESCE(MAX(rowid), 0) FROM receipts').pluck();
    this.rowidOf = driver.statement('SELECT rowid FROM receipts WHERE tenant_id = ? AND id = ?').pluck();
    this.upsertRollup = driver.statement(rollupUpsertSql('sqlite'));
  }

  async begin(): Promise<void> {
    this.imported = 0;
    this.duplicates = 0;
    this.unsplit = 0;
    this.conflicts = [];
    this.notImported = [];
  }

  async add(p: Parcel): Promise<void> {
    const { rows, days } = p;
    const insert = this.insert;
    // Other inserts (tenants, rejects) move the connection's last rowid: read it afresh. A new
    // receipt always gets a rowid above every stored one; when the last rowid came from another
    // table and happens to equal the next receipt's, an unchanged value is ambiguous, and the
    // receipt's own rowid decides.
    let last = this.lastRowid.get() as bigint;
    let maxReceipt = this.maxRowid.get() as bigint;
    let imported = 0;
    let unsplit = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const r = insert.run(row);
      const rowid = r.lastInsertRowid as bigint;
      const isNew = r.changes !== 0 &&
        (rowid !== last || (rowid > maxReceipt && (this.rowidOf.get(row[0], row[1]) as bigint) === rowid));
      if (r.changes === 0) {
        this.duplicates++;
        this.notImported.push({ row, day: days[i]! });
      } else if (isNew) {
        last = rowid;
        if (rowid > maxReceipt) maxReceipt = rowid;
        imported++;
        unsplit += row[16];
      } else {
        this.notImported.push({ row, day: days[i]! });
        const stored = versionFromRow(this.lookup.get(row[0], row[1]) as Row);
        const incoming = versionFromReceiptRow(row);
        this.conflicts.push({
          batchId: row[17], line: p.lines[i]!, kind: 'conflict', reason: conflictReason(row[0], row[1], stored, incoming),
          text: rawText(p, i), tenantId: row[0], receiptId: row[1], stored, incoming,
        });
      }
    }
    this.imported += imported;
    this.unsplit += unsplit;
  }

  async finish(rollups: RollupDelta[][]): Promise<UnitResult> {
    let deltas: RollupDelta[];
    if (this.notImported.length === 0 && rollups.length === 1) deltas = rollups[0]!;
    else {
      const acc = new RollupAccumulator();
      for (const list of rollups) for (const d of list) acc.addDelta(d);
      for (const { row, day } of this.notImported) acc.add(row, day, -1);
      deltas = acc.deltas();
    }
    for (const d of deltas) this.upsertRollup.run(d);
    return { imported: this.imported, duplicates: this.duplicates, unsplit: this.unsplit, conflicts: this.conflicts };
  }
}

export class SqliteIngestStore extends SqlIngestStore {
  constructor(private readonly driver: SqliteDriver) {
    super(driver);
  }

  writer(): ReceiptWriter {
    return new SqliteReceiptWriter(this.driver);
  }
}
