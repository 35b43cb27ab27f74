/**
 * The SQLite receipt writer. One prepared insert per receipt, in-process (no round trips):
 *
 *   INSERT ... ON CONFLICT (tenant_id, id) DO NOTHING
 *
 * One change: imported. None: the identity is stored already, and one indexed lookup compares the
 * billing content: equal is a duplicate, different a conflict (the stored receipt stays). (RETURNING
 * would tell more in one statement, but costs SQLite about 5 µs a row.) Once most receipts of a
 * parcel are known (a file sent again, --force), the lookup comes first. Rollups: the reading
 * side's sums as they come, less the rows not imported (UnitRollups).
 */
import type Database from 'better-sqlite3';
import { UnitRollups } from '../../ingest/rollups.js';
import { RECEIPT_COLUMNS, ROW, rawText, type Parcel, type RollupDelta } from '../../ingest/types.js';
import type { ReceiptWriter, RejectRecord, UnitResult } from '../ingest.js';
import { SqlIngestStore } from '../ingest-sql.js';
import {
  conflictReason, DELETE_EMPTY_ROLLUPS, rollupParams, rollupUpsertSql, SAME_CONTENT_SQL, sameContentParams, versionFromReceiptRow,
  versionFromRow,
} from '../receipts-sql.js';
import type { Row } from '../sql.js';
import { sqliteDialect } from './dialect-adapter.js';
import type { SqliteDriver } from './driver.js';

const INSERT = `INSERT INTO receipts (${RECEIPT_COLUMNS.join(', ')}) VALUES (${RECEIPT_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (tenant_id, id) DO NOTHING`;


class SqliteReceiptWriter implements ReceiptWriter {
  readonly wantsRollups = true;
  readonly queueDepth = 3;
  private readonly insert: Database.Statement;
  private readonly sameContent: Database.Statement;
  private readonly lookup: Database.Statement;
  private readonly upsertRollup: Database.Statement;
  private readonly deleteEmpty: Database.Statement;
  private imported = 0;
  private notImported = 0;
  private duplicates = 0;
  private unsplit = 0;
  private conflicts: RejectRecord[] = [];
  private rollups: UnitRollups;
  /** The share of the last parcel's receipts that were stored already. */
  private knownShare = 0;

  constructor(
    driver: SqliteDriver,
    private readonly rollupKeys?: number,
  ) {
    // Receipt ids are random, so every insert lands somewhere else in the primary-key index: a page
    // cache that holds the hot index pages turns most of those writes into memory writes.
    driver.db.pragma(`cache_size = -${Number(process.env.BILLCTL_SQLITE_CACHE_MB ?? 32) * 1024}`);
    this.insert = driver.statement(INSERT);
    this.sameContent = driver.statement(SAME_CONTENT_SQL).pluck();
    this.lookup = driver.statement('SELECT * FROM receipts WHERE tenant_id = ? AND id = ?');
    this.upsertRollup = driver.statement(rollupUpsertSql(sqliteDialect));
    this.deleteEmpty = driver.statement(DELETE_EMPTY_ROLLUPS);
    this.rollups = this.newRollups();
  }

  private newRollups(): UnitRollups {
    return new UnitRollups((deltas) => {
      for (const d of deltas) this.upsertRollup.run(rollupParams(d, sqliteDialect));
    }, this.rollupKeys);
  }

  async begin(_batchId: number): Promise<void> {
    this.imported = 0;
    this.notImported = 0;
    this.duplicates = 0;
    this.unsplit = 0;
    this.conflicts = [];
    this.rollups = this.newRollups();
  }

  async add(p: Parcel): Promise<void> {
    const { rows, days } = p;
    const insert = this.insert;
    const rollups = this.rollups;
    const summed = p.summing;
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
        same = this.sameContent.get(sameContentParams(row));
      } else if (insert.run(row).changes === 0) {
        same = this.sameContent.get(sameContentParams(row));
      }
      if (same === undefined) {
        if (lookupFirst) insert.run(row);
        imported++;
        unsplit += row[ROW.unsplit];
        if (!summed) rollups.row(row, days[i]!, 1);
        continue;
      }
      known++;
      if (summed) rollups.row(row, days[i]!, -1);
      if (same === 1n) {
        this.duplicates++;
        continue;
      }
      const tenantId = row[ROW.tenantId];
      const id = row[ROW.id];
      const stored = versionFromRow(this.lookup.get(tenantId, id) as Row);
      const incoming = versionFromReceiptRow(row);
      this.conflicts.push({
        batchId: row[ROW.batchId], line: p.lines[i]!, kind: 'conflict', reason: conflictReason(tenantId, id, stored, incoming),
        text: rawText(p, i), tenantId, receiptId: id, stored, incoming,
      });
    }
    if (rows.length > 0) this.knownShare = known / rows.length;
    this.imported += imported;
    this.notImported += known;
    this.unsplit += unsplit;
    if (summed && p.rollups) rollups.given(p.rollups);
  }

  async addSums(deltas: RollupDelta[]): Promise<void> {
    this.rollups.given(deltas);
  }

  async quiesce(): Promise<void> {}

  async finish(): Promise<UnitResult> {
    this.rollups.flush();
    if (this.rollups.tookOut) this.deleteEmpty.run();
    return {
      imported: this.imported, duplicates: this.duplicates, unsplit: this.unsplit, conflicts: this.conflicts,
      wantsSums: this.imported >= this.notImported,
    };
  }
}

export class SqliteIngestStore extends SqlIngestStore {
  constructor(private readonly driver: SqliteDriver) {
    super(driver);
  }

  writer(options: { rollupKeys?: number } = {}): ReceiptWriter {
    return new SqliteReceiptWriter(this.driver, options.rollupKeys);
  }
}
