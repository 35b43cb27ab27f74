/**
 * The SQL both databases share for imports: batches, rejects, tenant timezones. The receipt
 * writer is the dialect's own (sqlite/ingest.ts, postgres/ingest.ts).
 */
import type { Checkpoint } from '../ingest/types.js';
import type {
  BatchCounts, BatchKind, BatchRecord, BatchStatus, IngestStore, NewBatch, ReceiptVersion, ReceiptWriter, RejectRecord,
} from './ingest.js';
import { placeholders, toNumber, toStringOrNull, type Row, type SqlDriver, type SqlValue } from './sql.js';

const COUNT_COLUMNS: [keyof BatchCounts, string][] = [
  ['lines', 'lines'], ['imported', 'imported'], ['duplicates', 'duplicates'], ['conflicts', 'conflicts'],
  ['rejected', 'rejected'], ['newTenants', 'new_tenants'], ['unsplitTokens', 'unsplit_tokens'], ['outOfRange', 'out_of_range'],
];

function batchRow(r: Row): BatchRecord {
  const counts = {} as BatchCounts;
  for (const [k, col] of COUNT_COLUMNS) counts[k] = toNumber(r[col]);
  return {
    id: toNumber(r.id),
    kind: String(r.kind) as BatchKind,
    path: String(r.path),
    display: String(r.display),
    format: String(r.format),
    settings: String(r.settings),
    size: r.size === null || r.size === undefined ? null : toNumber(r.size),
    sha256: toStringOrNull(r.sha256),
    fingerprint: toStringOrNull(r.fingerprint),
    status: String(r.status) as BatchStatus,
    counts,
    checkpoint: { records: toNumber(r.checkpoint_records), line: toNumber(r.checkpoint_line), byte: toNumber(r.checkpoint_byte) },
    startedAt: String(r.started_at),
    finishedAt: toStringOrNull(r.finished_at),
  };
}

function countValues(c: BatchCounts, k: Checkpoint): SqlValue[] {
  return [...COUNT_COLUMNS.map(([key]) => c[key]), k.records, k.line, k.byte];
}

const SET_PROGRESS = `${COUNT_COLUMNS.map(([, col]) => `${col} = ?`).join(', ')}, checkpoint_records = ?, checkpoint_line = ?, checkpoint_byte = ?`;

/** Rejects are inserted this many to a statement. */
const REJECT_ROWS = 200;

export abstract class SqlIngestStore implements IngestStore {
  constructor(protected readonly db: SqlDriver) {}

  abstract writer(options?: { rollupKeys?: number }): ReceiptWriter;

  async findBatches(q: { path?: string; sha256?: string }): Promise<BatchRecord[]> {
    const rows = q.path !== undefined
      ? await this.db.all<Row>('SELECT * FROM ingest_batches WHERE path = ? ORDER BY id', [q.path])
      : await this.db.all<Row>('SELECT * FROM ingest_batches WHERE sha256 = ? ORDER BY id', [q.sha256 ?? '']);
    return rows.map(batchRow);
  }

  async completeBatchOfSize(size: number): Promise<boolean> {
    const row = await this.db.get<Row>(
      `SELECT 1 AS hit FROM ingest_batches WHERE (size = ? OR size IS NULL) AND status = 'complete' LIMIT 1`,
      [size],
    );
    return row !== undefined;
  }

  async createBatch(b: NewBatch): Promise<number> {
    const row = await this.db.get<Row>(
      `INSERT INTO ingest_batches (kind, path, display, format, settings, size, sha256, fingerprint, status, started_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      [b.kind, b.path, b.display, b.format, b.settings, b.size, b.sha256, b.fingerprint, b.status, b.startedAt],
    );
    return toNumber(row!.id);
  }

  async moveBatch(id: number, path: string, display: string, fingerprint: string | null): Promise<void> {
    await this.db.run('UPDATE ingest_batches SET path = ?, display = ?, fingerprint = ? WHERE id = ?', [path, display, fingerprint, id]);
  }

  async saveProgress(id: number, counts: BatchCounts, checkpoint: Checkpoint): Promise<void> {
    await this.db.run(`UPDATE ingest_batches SET ${SET_PROGRESS} WHERE id = ?`, [...countValues(counts, checkpoint), id]);
  }

  async finishBatch(
    id: number,
    f: { status: BatchStatus; counts: BatchCounts; checkpoint: Checkpoint; sha256: string | null; size: number | null; at: string },
  ): Promise<void> {
    await this.db.run(
      `UPDATE ingest_batches SET ${SET_PROGRESS}, status = ?, sha256 = COALESCE(?, sha256), size = COALESCE(?, size), finished_at = ?
       WHERE id = ?`,
      [...countValues(f.counts, f.checkpoint), f.status, f.sha256, f.size, f.at, id],
    );
  }

  async addRejects(entries: RejectRecord[]): Promise<void> {
    for (let i = 0; i < entries.length; i += REJECT_ROWS) {
      const part = entries.slice(i, i + REJECT_ROWS);
      const values: SqlValue[] = [];
      for (const e of part) {
        // A record with a NUL (which a Postgres text cannot hold) is kept as a JSON string literal, on every store alike.
        const escaped = e.text.includes('\u0000');
        values.push(
          e.batchId, e.line, e.kind, e.reason, escaped ? JSON.stringify(e.text) : e.text, escaped ? 1 : 0, e.tenantId, e.receiptId,
          e.stored || e.incoming ? JSON.stringify({ stored: e.stored, incoming: e.incoming }) : null,
        );
      }
      await this.db.run(
        `INSERT INTO ingest_rejects (batch_id, line, kind, reason, text, text_escaped, tenant_id, receipt_id, stored)
         VALUES ${part.map(() => `(${placeholders(9)})`).join(', ')}`,
        values,
      );
    }
  }

  async listRejects(batchId: number, afterLine: number, limit: number): Promise<RejectRecord[]> {
    const rows = await this.db.all<Row>(
      'SELECT * FROM ingest_rejects WHERE batch_id = ? AND line > ? ORDER BY line LIMIT ?',
      [batchId, afterLine, limit],
    );
    return rows.map((r) => {
      const versions = r.stored === null || r.stored === undefined
        ? { stored: null, incoming: null }
        : (JSON.parse(String(r.stored)) as { stored: ReceiptVersion | null; incoming: ReceiptVersion | null });
      return {
        batchId: toNumber(r.batch_id),
        line: toNumber(r.line),
        kind: String(r.kind) as RejectRecord['kind'],
        reason: String(r.reason),
        text: toNumber(r.text_escaped) === 1 ? (JSON.parse(String(r.text)) as string) : String(r.text),
        tenantId: toStringOrNull(r.tenant_id),
        receiptId: toStringOrNull(r.receipt_id),
        stored: versions.stored,
        incoming: versions.incoming,
      };
    });
  }

  async tenantTimezones(lock = false): Promise<Map<string, string>> {
    const forShare = lock ? this.db.dialect.rowLock('share') : '';
    const rows = await this.db.all<Row>(`SELECT id, timezone FROM tenants${forShare}`);
    return new Map(rows.map((r) => [String(r.id), String(r.timezone)]));
  }
}

/** The ingest side of a store, with its dialect's receipt writer (loaded on demand). */
export async function openIngestStore(db: SqlDriver): Promise<IngestStore> {
  return db.dialect.ingestStore(db);
}

/** Recomputes a tenant's rollups (SQLite's decimal functions come with every connection: sqlite/functions.ts). */
export async function rebuildRollups(db: SqlDriver, tenantId: string, timezone: string): Promise<void> {
  const { rebuildTenantRollups } = await import('./receipts-sql.js');
  await rebuildTenantRollups(db, tenantId, timezone);
}
