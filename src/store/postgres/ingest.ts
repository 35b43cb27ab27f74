/**
 * The Postgres receipt writer: no row-by-row round trips. Each parcel is streamed with COPY into a
 * temporary staging table; at the end of a unit one statement inserts the staged receipts that are
 * new (ON CONFLICT DO NOTHING), sums the inserted ones into the rollups, and counts them; a second
 * finds the staged receipts whose stored twin has other billing content (conflicts). The rest are
 * duplicates. A receipt whose identity repeats inside one unit waits for a later round, so every
 * staged identity is unique and the first occurrence is the one that counts.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { RECEIPT_COLUMNS, rawText, type Parcel, type ReceiptRow } from '../../ingest/types.js';
import type { ReceiptWriter, RejectRecord, UnitResult } from '../ingest.js';
import { SqlIngestStore } from '../ingest-sql.js';
import { conflictReason, rollupUpsertSql, versionFromReceiptRow, versionFromRow } from '../receipts-sql.js';
import { toNumber, type Row } from '../sql.js';
import type { PostgresDriver } from './driver.js';

const STAGE = 'billctl_stage';

const CREATE_STAGE = `CREATE TEMP TABLE IF NOT EXISTS ${STAGE} (
  seq integer NOT NULL,
  tenant_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, ts bigint NOT NULL, billable integer NOT NULL,
  status text, user_id text, project_id text, provider text, model text, model_key text COLLATE "C", gpu_type text,
  gpu_key text COLLATE "C", gpu_seconds bigint NOT NULL, input_tokens bigint NOT NULL, output_tokens bigint NOT NULL,
  reported_cost text, unsplit integer NOT NULL, batch_id bigint NOT NULL, day integer NOT NULL
)`;

const COLS = RECEIPT_COLUMNS.join(', ');

/** One statement: insert what is new, add it to the rollups, count it. */
const MERGE = `WITH ins AS (
    INSERT INTO receipts (${COLS}) SELECT ${COLS} FROM ${STAGE}
    ON CONFLICT (tenant_id, id) DO NOTHING
    RETURNING tenant_id, id
  ), agg AS (
    SELECT s.tenant_id, s.day, COALESCE(s.model_key, '') AS model_key, COALESCE(s.gpu_key, '') AS gpu_key,
      count(*) AS receipts,
      count(*) FILTER (WHERE s.billable = 1) AS requests,
      COALESCE(sum(s.gpu_seconds) FILTER (WHERE s.billable = 1), 0) AS gpu_seconds,
      COALESCE(sum(s.input_tokens) FILTER (WHERE s.billable = 1), 0) AS input_tokens,
      COALESCE(sum(s.output_tokens) FILTER (WHERE s.billable = 1), 0) AS output_tokens,
      trim_scale(COALESCE(sum(s.reported_cost::numeric) FILTER (WHERE s.billable = 1), 0))::text AS reported_cost,
      count(*) FILTER (WHERE s.unsplit = 1) AS unsplit
    FROM ${STAGE} s JOIN ins ON ins.tenant_id = s.tenant_id AND ins.id = s.id
    GROUP BY 1, 2, 3, 4
  ), up AS (
    ${rollupUpsertSql('postgres').replace(/VALUES \([^)]*\)/, 'SELECT * FROM agg')}
  )
  SELECT COALESCE(sum(receipts), 0) AS imported, COALESCE(sum(unsplit), 0) AS unsplit FROM agg`;

const CONTENT = ['ts', 'billable', 'model_key', 'gpu_key', 'gpu_seconds', 'input_tokens', 'output_tokens'];
const CONFLICTS = `SELECT s.seq, r.* FROM ${STAGE} s JOIN receipts r ON r.tenant_id = s.tenant_id AND r.id = s.id
  WHERE (${CONTENT.map((c) => `r.${c}`).join(', ')}) IS DISTINCT FROM (${CONTENT.map((c) => `s.${c}`).join(', ')})`;

const SPECIAL = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value in COPY's text format. */
function copyValue(v: string | number | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  return SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]!) : v;
}

interface Staged {
  seq: number;
  row: ReceiptRow;
  day: number;
}

class PostgresReceiptWriter implements ReceiptWriter {
  readonly wantsRollups = false;
  /** Every parcel of the unit, with the sequence number of its first row. */
  private parcels: { base: number; p: Parcel }[] = [];
  private nextSeq = 0;
  private seen = new Set<string>();
  private repeats: Staged[] = [];
  private staged = 0;

  constructor(private readonly driver: PostgresDriver) {}

  async begin(_batchId: number, _dayOf: (tenantId: string, ts: number) => number): Promise<void> {
    this.parcels = [];
    this.nextSeq = 0;
    this.seen = new Set();
    this.repeats = [];
    this.staged = 0;
    await this.driver.exec(CREATE_STAGE);
    await this.driver.exec(`TRUNCATE ${STAGE}`);
  }

  private async copy(items: Iterable<Staged>): Promise<number> {
    const lines: string[] = [];
    for (const { seq, row, day } of items) {
      let line = String(seq);
      for (let c = 0; c < row.length; c++) line += `\t${copyValue(row[c]!)}`;
      lines.push(`${line}\t${day}\n`);
    }
    if (lines.length === 0) return 0;
    const stream = this.driver.client.query(copyFrom(`COPY ${STAGE} (seq, ${COLS}, day) FROM STDIN`));
    await pipeline(Readable.from([lines.join('')]), stream);
    return lines.length;
  }

  async add(p: Parcel): Promise<void> {
    const base = this.nextSeq;
    this.parcels.push({ base, p });
    this.nextSeq += p.rows.length;
    const firsts: Staged[] = [];
    for (let i = 0; i < p.rows.length; i++) {
      const row = p.rows[i]!;
      const key = `${row[0]}\u0000${row[1]}`;
      const item = { seq: base + i, row, day: p.days[i]! };
      if (this.seen.has(key)) this.repeats.push(item);
      else {
        this.seen.add(key);
        firsts.push(item);
      }
    }
    this.staged += await this.copy(firsts);
  }

  /** The parcel and index of a sequence number. */
  private locate(seq: number): { p: Parcel; i: number } {
    let lo = 0;
    let hi = this.parcels.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.parcels[mid]!.base <= seq) lo = mid;
      else hi = mid - 1;
    }
    const { base, p } = this.parcels[lo]!;
    return { p, i: seq - base };
  }

  /** Merges what is staged; returns the outcome of the round. */
  private async merge(staged: number): Promise<UnitResult> {
    const m = await this.driver.get<Row>(MERGE);
    const imported = toNumber(m?.imported);
    const unsplit = toNumber(m?.unsplit);
    const conflicts: RejectRecord[] = [];
    if (imported < staged) {
      for (const r of await this.driver.all<Row>(CONFLICTS)) {
        const { p, i } = this.locate(toNumber(r.seq));
        const row = p.rows[i]!;
        const stored = versionFromRow(r);
        const incoming = versionFromReceiptRow(row);
        conflicts.push({
          batchId: row[17], line: p.lines[i]!, kind: 'conflict', reason: conflictReason(row[0], row[1], stored, incoming),
          text: rawText(p, i), tenantId: row[0], receiptId: row[1], stored, incoming,
        });
      }
    }
    return { imported, unsplit, duplicates: staged - imported - conflicts.length, conflicts, wantsSums: false };
  }

  async finish(): Promise<UnitResult> {
    const total = await this.merge(this.staged);
    // Identities repeated inside the unit: again, in rounds, each staging one occurrence per identity.
    let pending = this.repeats;
    while (pending.length > 0) {
      await this.driver.exec(`TRUNCATE ${STAGE}`);
      const keys = new Set<string>();
      const round: Staged[] = [];
      const later: Staged[] = [];
      for (const item of pending) {
        const key = `${item.row[0]}\u0000${item.row[1]}`;
        if (keys.has(key)) later.push(item);
        else {
          keys.add(key);
          round.push(item);
        }
      }
      const r = await this.merge(await this.copy(round));
      total.imported += r.imported;
      total.unsplit += r.unsplit;
      total.duplicates += r.duplicates;
      total.conflicts.push(...r.conflicts);
      pending = later;
    }
    total.conflicts.sort((a, b) => a.line - b.line);
    return total;
  }
}

export class PostgresIngestStore extends SqlIngestStore {
  constructor(private readonly driver: PostgresDriver) {
    super(driver);
  }

  writer(): ReceiptWriter {
    return new PostgresReceiptWriter(this.driver);
  }
}
