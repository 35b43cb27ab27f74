/**
 * The Postgres receipt writer: no row-by-row round trips. Parcels are gathered and sent as COPY text
 * (made straight from the parcel's dictionary-coded columns, as each parcel arrives) with one COPY
 * straight into `receipts` (COPY's bulk path, as `psql \copy` uses) under a savepoint, while the
 * next ones are gathered: the server waits for no text between two COPYs.
 * When a receipt of them is stored already, the COPY fails on the primary key: back to the
 * savepoint, and parcel by parcel one query fetches the stored versions of its identities (an index
 * probe each), duplicates and conflicts are told apart here, and a COPY writes the rest. Once
 * parcels are mostly known receipts (a file sent again, --force), the lookup comes first.
 *
 * Rollups: the reading side's sums as they come, less the receipts not imported; when it does not
 * sum a unit, the sums of exactly the receipts copied (UnitRollups); written between COPYs.
 *
 * The unit's transaction holds `receipts` in SHARE ROW EXCLUSIVE mode: other writers (another
 * import) wait for the commit, so no identity can appear between a lookup and its COPY; readers
 * are not blocked.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { UnitRollups } from '../../ingest/rollups.js';
import { QUANTITIES } from '../../domain/quantities.js';
import { copyLine, RECEIPT_COLUMNS, ROW, rawText, type Parcel, type ReceiptRow, type RollupDelta } from '../../ingest/types.js';
import type { ReceiptVersion, ReceiptWriter, RejectRecord, UnitResult } from '../ingest.js';
import { SqlIngestStore } from '../ingest-sql.js';
import {
  conflictReason, DELETE_EMPTY_ROLLUPS, rollupUpsertSql, rowContent, storedContent, versionFromReceiptRow, versionFromRow,
} from '../receipts-sql.js';
import type { Row, SqlValue } from '../sql.js';
import { postgresDialect } from './dialect-adapter.js';
import type { PostgresDriver } from './driver.js';

const COPY = `COPY receipts (${RECEIPT_COLUMNS.join(', ')}) FROM STDIN`;

/** The stored versions of some identities; LATERAL ... LIMIT 1 keeps it an index probe per identity. */
const STORED = `SELECT r.* FROM unnest(?::text[], ?::text[]) AS k(tenant_id, id)
  CROSS JOIN LATERAL (
    SELECT * FROM receipts r WHERE r.tenant_id = k.tenant_id COLLATE "C" AND r.id = k.id COLLATE "C" LIMIT 1
  ) r`;

/** Receipts per COPY statement (three parcels: large enough to pay for its round trips, small enough for memory). */
const COPY_ROWS = 6_144;

/** The array type of each rollup column (RollupDelta order): quantity sums are numeric. */
const ROLLUP_ARRAY_TYPES = ['text', 'int', 'text', 'text', 'bigint', 'bigint', 'text', 'bigint', ...QUANTITIES.map(() => 'numeric')];

/** Adds rollup sums given as arrays (one per column). */
const ROLLUP_UPSERT = rollupUpsertSql(postgresDialect).replace(
  /VALUES \([^)]*\)/,
  `SELECT * FROM unnest(${ROLLUP_ARRAY_TYPES.map((t) => `?::${t}[]`).join(', ')})`,
);

class PostgresReceiptWriter implements ReceiptWriter {
  readonly wantsRollups = true;
  /**
   * Deep enough that reading goes on through a COPY and a unit's end (its rollup upserts, the
   * commit); each parcel waiting costs ~2 MB (its records as written, their COPY text).
   */
  readonly queueDepth = 6;
  private imported = 0;
  private notImported = 0;
  private duplicates = 0;
  private unsplit = 0;
  private conflicts: RejectRecord[] = [];
  /** Whether the reading side sums this unit (known from its first parcel). */
  private summing: boolean | undefined;
  private rollups: UnitRollups;
  /** Rollup sums waiting for the connection: written between two COPYs (and at the end). */
  private sums: RollupDelta[][] = [];
  /** The share of the last parcel's receipts that were stored already. */
  private knownShare = 0;
  /** Parcels gathered for the next COPY. */
  private pending: Parcel[] = [];
  private pendingRows = 0;
  /** The COPY on its way, its parcels, and the rollup sums written after it. */
  private inflight: { parcels: Parcel[]; sums: RollupDelta[][]; promise: Promise<void> } | undefined;

  constructor(
    private readonly driver: PostgresDriver,
    private readonly rollupKeys?: number,
  ) {
    this.rollups = this.newRollups();
  }

  private newRollups(): UnitRollups {
    return new UnitRollups((deltas) => this.sums.push(deltas), this.rollupKeys);
  }

  async begin(_batchId: number): Promise<void> {
    this.imported = 0;
    this.notImported = 0;
    this.duplicates = 0;
    this.unsplit = 0;
    this.conflicts = [];
    this.summing = undefined;
    this.rollups = this.newRollups();
    this.sums = [];
    this.pending = [];
    this.pendingRows = 0;
    this.inflight = undefined;
    await this.driver.exec('LOCK TABLE receipts IN SHARE ROW EXCLUSIVE MODE');
  }

  async add(p: Parcel): Promise<void> {
    this.summing ??= p.summing;
    if (p.summing && p.rollups) this.rollups.given(p.rollups);
    if (p.count === 0) return;
    if (this.knownShare > 0.5) {
      await this.quiesce();
      await this.lookupAndCopy(p);
      await this.writePendingSums();
      return;
    }
    // Most likely all new: gathered into one COPY, and the primary key says if not. Its text is
    // made now, while the COPY before it runs, so the server waits for no text between COPYs.
    p.copyText();
    this.pending.push(p);
    this.pendingRows += p.count;
    if (this.pendingRows >= COPY_ROWS) await this.launch();
  }

  async addSums(deltas: RollupDelta[]): Promise<void> {
    this.rollups.given(deltas);
  }

  private async copy(chunks: Uint8Array[]): Promise<void> {
    try {
      await pipeline(Readable.from(chunks), this.driver.client.query(copyFrom(COPY)));
    } catch (err) {
      throw this.driver.translate(err);
    }
  }

  /** Writes the rollup sums waiting (nothing may be in flight). */
  private async writePendingSums(): Promise<void> {
    const sums = this.sums;
    this.sums = [];
    await this.writeSums(sums);
  }

  /** Writes rollup sums: one statement per list, the sums as arrays, unnested. */
  private async writeSums(lists: RollupDelta[][]): Promise<void> {
    for (const deltas of lists) {
      const column = (k: number) => deltas.map((d) => (typeof d[k] === 'bigint' ? d[k].toString() : d[k])) as unknown as SqlValue;
      await this.driver.run(ROLLUP_UPSERT, ROLLUP_ARRAY_TYPES.map((_, k) => column(k)));
    }
  }

  /**
   * Sends the gathered parcels as one COPY under a savepoint, and then the rollup sums waiting,
   * without waiting: at most one in flight.
   */
  private async launch(): Promise<void> {
    await this.quiesce();
    const parcels = this.pending;
    const sums = this.sums;
    if (parcels.length === 0 && sums.length === 0) return;
    this.pending = [];
    this.pendingRows = 0;
    this.sums = [];
    const promise = (async () => {
      if (parcels.length > 0) {
        await this.driver.exec('SAVEPOINT billctl_copy');
        await this.copy(parcels.map((p) => p.copyText()));
        await this.driver.exec('RELEASE SAVEPOINT billctl_copy');
      }
      await this.writeSums(sums);
    })();
    promise.catch(() => {}); // settled, and its error handled, in quiesce()
    this.inflight = { parcels, sums, promise };
  }

  async quiesce(): Promise<void> {
    const inflight = this.inflight;
    if (!inflight) return;
    this.inflight = undefined;
    try {
      await inflight.promise;
      for (const p of inflight.parcels) {
        this.imported += p.count;
        this.unsplit += p.unsplit;
        if (!this.summing) for (let i = 0; i < p.count; i++) this.rollups.row(p.rows[i]!, p.days[i]!, 1);
      }
      if (inflight.parcels.length > 0) this.knownShare = 0;
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '23505') throw err;
      await this.driver.exec('ROLLBACK TO SAVEPOINT billctl_copy');
      await this.driver.exec('RELEASE SAVEPOINT billctl_copy');
    }
    // A receipt of these parcels is stored already: parcel by parcel, with lookups; the sums that
    // were to follow the COPY go with the next statement.
    this.sums.unshift(...inflight.sums);
    for (const p of inflight.parcels) await this.lookupAndCopy(p);
  }

  /** One parcel against what is stored: duplicates and conflicts counted here, the rest copied. */
  private async lookupAndCopy(p: Parcel): Promise<void> {
    const { rows } = p;
    const stored = new Map<string, Row>();
    const found = await this.driver.all<Row>(STORED, [
      rows.map((r) => r[ROW.tenantId]) as unknown as SqlValue, rows.map((r) => r[ROW.id]) as unknown as SqlValue,
    ]);
    for (const r of found) stored.set(`${String(r.tenant_id)}\u0000${String(r.id)}`, r);
    /** Identities first seen in this parcel, with their row. */
    const seen = new Map<string, ReceiptRow>();
    let text = '';
    let fresh = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const key = `${row[ROW.tenantId]}\u0000${row[ROW.id]}`;
      const old = stored.get(key);
      const first = old ? undefined : seen.get(key);
      if (!old && !first) {
        seen.set(key, row);
        text += copyLine(row);
        fresh++;
        this.unsplit += row[ROW.unsplit];
        if (!this.summing) this.rollups.row(row, p.days[i]!, 1);
        continue;
      }
      this.notImported++;
      if (this.summing) this.rollups.row(row, p.days[i]!, -1);
      if ((old ? storedContent(old) : rowContent(first!)) === rowContent(row)) {
        this.duplicates++;
        continue;
      }
      const version: ReceiptVersion = old ? versionFromRow(old) : versionFromReceiptRow(first!);
      const incoming = versionFromReceiptRow(row);
      this.conflicts.push({
        batchId: row[ROW.batchId], line: p.lines[i]!, kind: 'conflict',
        reason: conflictReason(row[ROW.tenantId], row[ROW.id], version, incoming), text: rawText(p, i), tenantId: row[ROW.tenantId],
        receiptId: row[ROW.id], stored: version, incoming,
      });
    }
    if (fresh > 0) await this.copy([Buffer.from(text)]);
    this.imported += fresh;
    this.knownShare = (rows.length - fresh) / rows.length;
  }

  async finish(): Promise<UnitResult> {
    await this.launch();
    await this.quiesce();
    this.rollups.flush();
    await this.writePendingSums();
    if (this.rollups.tookOut) await this.driver.run(DELETE_EMPTY_ROLLUPS);
    return {
      imported: this.imported, duplicates: this.duplicates, unsplit: this.unsplit, conflicts: this.conflicts,
      wantsSums: this.imported >= this.notImported,
    };
  }
}

export class PostgresIngestStore extends SqlIngestStore {
  constructor(private readonly driver: PostgresDriver) {
    super(driver);
  }

  writer(options: { rollupKeys?: number } = {}): ReceiptWriter {
    return new PostgresReceiptWriter(this.driver, options.rollupKeys);
  }
}
