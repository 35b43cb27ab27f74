/**
 * The SQLite receipt writer. One prepared insert per receipt, in-process (no round trips):
 *
 *   INSERT ... ON CONFLICT (tenant_id, id) DO NOTHING
 *
 * One change: imported. None: the identity is stored already, and one indexed lookup compares the
 * billing content: equal is a duplicate, different a conflict (the stored receipt stays). (RETURNING
 * would tell more in one statement, but costs SQLite about 5 µs a row.) Once most receipts of a
 * parcel are known (a file sent again, --force), the lookup comes first. Rollups come from the
 * reading side as sums over the unit, less the rows that were not imported; when many were not,
 * from the rows the unit inserted (rowids above the unit's start).
 */
import type Database from 'better-sqlite3';
import { RollupAccumulator } from '../../ingest/rollups.js';
import { RECEIPT_COLUMNS, rawText, type Parcel, type ReceiptRow, type RollupDelta } from '../../ingest/types.js';
import type { ReceiptWriter, RejectRecord, UnitResult } from '../ingest.js';
import { SqlIngestStore } from '../ingest-sql.js';
import { conflictReason, rollupParams, rollupUpsertSql, versionFromReceiptRow, versionFromRow } from '../receipts-sql.js';
import type { Row } from '../sql.js';
import type { SqliteDriver } from './driver.js';

const INSERT = `INSERT INTO receipts (${RECEIPT_COLUMNS.join(', ')}) VALUES (${RECEIPT_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (tenant_id, id) DO NOTHING`;

/** 1 when the stored receipt has the same billing content, 0 when it differs. */
const SAME_CONTENT = `SELECT ts = ? AND billable = ? AND model_key IS ? AND gpu_key IS ? AND gpu_seconds = ? AND input_tokens = ?
  AND output_tokens = ? FROM receipts WHERE tenant_id = ? AND id = ?`;

/** Rows not imported that a unit remembers, to take them out of the reading side's sums. */
const NOT_IMPORTED_CAP = 20_000;

class SqliteReceiptWriter implements ReceiptWriter {
  readonly wantsRollups = true;
  readonly queueDepth = 3;
  private readonly insert: Database.Statement;
  private readonly sameContent: Database.Statement;
  private readonly lookup: Database.Statement;
  private readonly maxRowidNow: Database.Statement;
  private readonly insertedSince: Database.Statement;
  private readonly upsertRollup: Database.Statement;
  private imported = 0;
  private duplicates = 0;
  private unsplit = 0;
  private conflicts: RejectRecord[] = [];
  /** Rows added but not imported, with their rollup day, while there are few of them. */
  private notImported: { row: ReceiptRow; day: number }[] = [];
  private notImportedCount = 0;
  /** The share of the last parcel's receipts that were stored already. */
  private knownShare = 0;
  /** The largest rowid before the unit: rows above it are the unit's own (a rowid table hands out max + 1). */
  private unitStart = 0n;
  private dayOf: (tenantId: string, ts: number) => number = () => 0;

  constructor(driver: SqliteDriver) {
    // Receipt ids are random, so every insert lands somewhere else in the primary-key index: a page
    // cache that holds the hot index pages turns most of those writes into memory writes.
    driver.db.pragma(`cache_size = -${Number(process.env.BILLCTL_SQLITE_CACHE_MB ?? 32) * 1024}`);
    this.insert = driver.statement(INSERT);
    this.sameContent = driver.statement(SAME_CONTENT).pluck();
    this.lookup = driver.statement('SELECT * FROM receipts WHERE tenant_id = ? AND id = ?');
    this.maxRowidNow = driver.statement('SELECT COALESCE(MAX(rowid), 0) FROM receipts').pluck();
    this.insertedSince = driver
      .statement(
        `SELECT tenant_id, ts, billable, model_key, gpu_key, gpu_seconds, input_tokens, output_tokens, reported_cost, unsplit
         FROM receipts WHERE rowid > ?`,
      )
      .raw();
    this.upsertRollup = driver.statement(rollupUpsertSql('sqlite'));
  }

  async begin(_batchId: number, dayOf: (tenantId: string, ts: number) => number): Promise<void> {
    this.imported = 0;
    this.duplicates = 0;
    this.unsplit = 0;
    this.conflicts = [];
    this.notImported = [];
    this.notImportedCount = 0;
    this.dayOf = dayOf;
    this.unitStart = this.maxRowidNow.get() as bigint;
  }

  private skip(row: ReceiptRow, day: number): void {
    if (++this.notImportedCount <= NOT_IMPORTED_CAP) this.notImported.push({ row, day });
    else this.notImported = [];
  }

  async add(p: Parcel): Promise<void> {
    const { rows, days } = p;
    const insert = this.insert;
    // Mostly new receipts: insert first (one statement each). Mostly known ones (a file sent again,
    // --force): look up first, which costs less than a failed insert, and insert what is missing.
    const lookupFirst = this.knownShare > 0.5;
    let imported = 0;
    let unsplit = 0;
    let known = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      let same: unknown;
      if (lookupFirst) {
        same = this.sameContent.get(row[2], row[3], row[9], row[11], row[12], row[13], row[14], row[0], row[1]);
        if (same === undefined) {
          insert.run(row);
          imported++;
          unsplit += row[16];
          continue;
        }
      } else {
        if (insert.run(row).changes === 1) {
          imported++;
          unsplit += row[16];
          continue;
        }
        same = this.sameContent.get(row[2], row[3], row[9], row[11], row[12], row[13], row[14], row[0], row[1]);
      }
      known++;
      this.skip(row, days[i]!);
      if (same === 1n) {
        this.duplicates++;
        continue;
      }
      const stored = versionFromRow(this.lookup.get(row[0], row[1]) as Row);
      const incoming = versionFromReceiptRow(row);
      this.conflicts.push({
        batchId: row[17], line: p.lines[i]!, kind: 'conflict', reason: conflictReason(row[0], row[1], stored, incoming),
        text: rawText(p, i), tenantId: row[0], receiptId: row[1], stored, incoming,
      });
    }
    if (rows.length > 0) this.knownShare = known / rows.length;
    this.imported += imported;
    this.unsplit += unsplit;
  }

  async quiesce(): Promise<void> {}

  /** The unit's rollups from the rows it inserted (rowids above the unit's start). */
  private fromInserted(): RollupDelta[] {
    const acc = new RollupAccumulator();
    for (const r of this.insertedSince.iterate(this.unitStart) as Iterable<unknown[]>) {
      const [tenant, ts, billable, mk, gk, gpu, inp, out, cost, unsplit] = r as [
        string, bigint, bigint, string | null, string | null, bigint, bigint, bigint, string | null, bigint,
      ];
      acc.addReceipt(
        tenant, this.dayOf(tenant, Number(ts)), mk, gk, billable === 1n, Number(gpu), Number(inp), Number(out), cost, unsplit === 1n,
      );
    }
    return acc.deltas();
  }

  async finish(rollups: RollupDelta[][] | undefined): Promise<UnitResult> {
    let deltas: RollupDelta[];
    if (rollups !== undefined && this.notImportedCount === 0 && rollups.length === 1) deltas = rollups[0]!;
    else if (rollups === undefined || this.notImportedCount > NOT_IMPORTED_CAP || this.imported < this.notImportedCount) {
      deltas = this.fromInserted();
    } else {
      // Few rows were not imported: take them out of the sums the reading side made.
      const acc = new RollupAccumulator();
      for (const list of rollups) for (const d of list) acc.addDelta(d);
      for (const { row, day } of this.notImported) acc.add(row, day, -1);
      deltas = acc.deltas();
    }
    for (const d of deltas) this.upsertRollup.run(rollupParams(d, 'sqlite'));
    return {
      imported: this.imported, duplicates: this.duplicates, unsplit: this.unsplit, conflicts: this.conflicts,
      wantsSums: this.imported >= this.notImportedCount,
    };
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
