/**
 * Stripe events as received (webhook, or a later `stripe events sync`): each stored once by its
 * id, with its raw body, so a replay is a no-op. What an event says about a Stripe invoice or
 * subscription of a tenant is kept as that object's latest state (the newest event wins, so
 * events arriving out of order never move a state back).
 */
import { toBigInt, toNumber, toStringOrNull, type Row, type SqlDriver } from './sql.js';

export interface StoredStripeEvent {
  id: string;
  type: string;
  /** Stripe's `created`, seconds since the epoch. */
  created: number;
  livemode: boolean;
  /** The event's JSON as Stripe sent it. */
  payload: string;
  /** 'webhook' or 'sync'. */
  source: string;
  receivedAt: string;
  tenantId: string | null;
  /** What applying it did, in words (recorded, ignored and why). */
  outcome: string;
}

export interface StripeObjectState {
  objectId: string;
  objectType: 'invoice' | 'subscription';
  tenantId: string;
  status: string;
  eventId: string;
  eventCreated: number;
  /** A few fields of the object (number, amounts, currency, hosted URL) as JSON. */
  fields: Record<string, unknown>;
  updatedAt: string;
  /**
   * How far along its life the state is (an invoice: open 1, payment failed 2, paid or void 3; a
   * subscription: canceled 9, else 1): a state never gives way to one less far along, whatever
   * the order its events arrive in; between equals, the newer event wins.
   */
  rank: number;
}

export interface StripeEventRepo {
  /** Stores the event unless its id is stored already; true when it was new. */
  insert(e: StoredStripeEvent): Promise<boolean>;
  get(id: string): Promise<StoredStripeEvent | undefined>;
  count(): Promise<number>;
  /** Every stored event id (tests and reconciliation). */
  ids(): Promise<string[]>;
  /** Sets an object's state unless a state further along, or as far along from a newer event, is there; true when it changed. */
  putObject(s: StripeObjectState): Promise<boolean>;
  objects(tenantId: string): Promise<StripeObjectState[]>;
}

export const STRIPE_EVENT_MIGRATION_SQL = `
  CREATE TABLE stripe_events (
    id {key} PRIMARY KEY,
    type TEXT NOT NULL,
    created {bigint} NOT NULL,
    livemode INTEGER NOT NULL,
    payload TEXT NOT NULL,
    source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    tenant_id TEXT,
    outcome TEXT NOT NULL
  );
  CREATE TABLE stripe_objects (
    object_id {key} PRIMARY KEY,
    object_type TEXT NOT NULL,
    tenant_id {key} NOT NULL,
    status TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_created {bigint} NOT NULL,
    fields TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX stripe_objects_tenant ON stripe_objects (tenant_id, object_type);
`;

function eventRow(r: Row): StoredStripeEvent {
  return {
    id: String(r.id),
    type: String(r.type),
    created: toNumber(r.created),
    livemode: toNumber(r.livemode) === 1,
    payload: String(r.payload),
    source: String(r.source),
    receivedAt: String(r.received_at),
    tenantId: toStringOrNull(r.tenant_id),
    outcome: String(r.outcome),
  };
}

function objectRow(r: Row): StripeObjectState {
  return {
    objectId: String(r.object_id),
    objectType: String(r.object_type) as StripeObjectState['objectType'],
    tenantId: String(r.tenant_id),
    status: String(r.status),
    eventId: String(r.event_id),
    eventCreated: Number(toBigInt(r.event_created)),
    fields: JSON.parse(String(r.fields)) as Record<string, unknown>,
    updatedAt: String(r.updated_at),
    rank: toNumber(r.state_rank),
  };
}

export class SqlStripeEventRepo implements StripeEventRepo {
  constructor(private readonly db: SqlDriver) {}

  async insert(e: StoredStripeEvent): Promise<boolean> {
    const n = await this.db.run(
      `INSERT INTO stripe_events (id, type, created, livemode, payload, source, received_at, tenant_id, outcome)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      [e.id, e.type, e.created, e.livemode ? 1 : 0, e.payload, e.source, e.receivedAt, e.tenantId, e.outcome],
    );
    return n > 0;
  }

  async get(id: string): Promise<StoredStripeEvent | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM stripe_events WHERE id = ?', [id]);
    return r ? eventRow(r) : undefined;
  }

  async count(): Promise<number> {
    return toNumber((await this.db.get<Row>('SELECT COUNT(*) AS n FROM stripe_events'))?.n);
  }

  async ids(): Promise<string[]> {
    return (await this.db.all<Row>('SELECT id FROM stripe_events ORDER BY id')).map((r) => String(r.id));
  }

  async putObject(s: StripeObjectState): Promise<boolean> {
    // A state further along wins; between equals the newest event, and of two in the same second
    // the later-received one.
    const n = await this.db.run(
      `INSERT INTO stripe_objects (object_id, object_type, tenant_id, status, event_id, event_created, fields, updated_at, state_rank)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (object_id) DO UPDATE SET status = excluded.status, event_id = excluded.event_id,
         event_created = excluded.event_created, fields = excluded.fields, updated_at = excluded.updated_at, tenant_id = excluded.tenant_id,
         state_rank = excluded.state_rank
       WHERE stripe_objects.state_rank < excluded.state_rank
          OR (stripe_objects.state_rank = excluded.state_rank AND stripe_objects.event_created <= excluded.event_created)`,
      [s.objectId, s.objectType, s.tenantId, s.status, s.eventId, s.eventCreated, JSON.stringify(s.fields), s.updatedAt, s.rank],
    );
    return n > 0;
  }

  async objects(tenantId: string): Promise<StripeObjectState[]> {
    return (await this.db.all<Row>('SELECT * FROM stripe_objects WHERE tenant_id = ? ORDER BY object_type, object_id', [tenantId])).map(objectRow);
  }
}

/** Migration 14: states ranked by how far along their life they are (see StripeObjectState.rank). */
export const STRIPE_OBJECT_RANK_MIGRATION_SQL = `
  ALTER TABLE stripe_objects ADD COLUMN state_rank INTEGER NOT NULL DEFAULT 0;
  UPDATE stripe_objects SET state_rank = CASE status
    WHEN 'paid' THEN 3 WHEN 'void' THEN 3 WHEN 'payment_failed' THEN 2 WHEN 'canceled' THEN 9 ELSE 1 END;
`;
