/**
 * What providers and patients tell fhir-engage about messages (docs/messaging.md): status callbacks,
 * inbound SMS and unsubscribe clicks stored as events until a run applies them, and the patients'
 * opt-outs by address hash. Its SQL builders (pure, `{ text, values }`, values never interpolated) and
 * the methods that run them, together; the methods are part of `Store` (store.ts).
 */
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { date, q, str, type Row } from './rows';

export interface MessageEvent {
  id: number;
  kind: 'status' | 'inbound' | 'unsubscribe';
  providerId: string | null;
  status: string | null;
  errorCode: string | null;
  channel: string | null;
  addressHash: string | null;
  address: string | null;
  body: string | null;
  receivedAt: Date;
}

export const addMessageEvent = (e: Omit<MessageEvent, 'id' | 'receivedAt'> & { eventKey: string }): SqlQuery =>
  q(
    `INSERT INTO message_events (kind, event_key, provider_id, status, error_code, channel, address_hash, address, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_key) DO NOTHING RETURNING id`,
    [e.kind, e.eventKey, e.providerId, e.status, e.errorCode, e.channel, e.addressHash, e.address, e.body],
  );

export const pendingMessageEvents = (limit: number): SqlQuery =>
  q('SELECT * FROM message_events WHERE processed_at IS NULL ORDER BY id LIMIT $1', [limit]);

/** Processed: the inbound text and address are not kept beyond what was recorded from them. */
export const markEventProcessed = (id: number): SqlQuery =>
  q('UPDATE message_events SET processed_at = now(), address = NULL, body = NULL WHERE id = $1', [id]);

export const setOptOut = (channel: string, addressHash: string, optedOut: boolean, via: string): SqlQuery =>
  q(
    `INSERT INTO contact_opt_outs (channel, address_hash, opted_out, via) VALUES ($1, $2, $3, $4)
     ON CONFLICT (channel, address_hash) DO UPDATE SET opted_out = EXCLUDED.opted_out, via = EXCLUDED.via, changed_at = now()`,
    [channel, addressHash, optedOut, via],
  );

export const optedOut = (hashes: string[]): SqlQuery =>
  q(
    'SELECT channel, address_hash, changed_at FROM contact_opt_outs WHERE opted_out AND address_hash = ANY($1::text[])',
    [hashes],
  );

function toEvent(r: Row): MessageEvent {
  return {
    id: Number(r.id),
    kind: r.kind as MessageEvent['kind'],
    providerId: str(r.provider_id),
    status: str(r.status),
    errorCode: str(r.error_code),
    channel: str(r.channel),
    addressHash: str(r.address_hash),
    address: str(r.address),
    body: str(r.body),
    receivedAt: date(r.received_at),
  };
}

export function messageEventsRole({ db }: RoleContext) {
  const one = async (query: SqlQuery): Promise<boolean> => (await db.query(query)).length === 1;
  return {
    /** Stores a provider's event; false when the same event was stored before. */
    addMessageEvent: (e: Parameters<typeof addMessageEvent>[0]) => one(addMessageEvent(e)),
    async pendingMessageEvents(limit = 500): Promise<MessageEvent[]> {
      return (await db.query(pendingMessageEvents(limit))).map(toEvent);
    },
    async markEventProcessed(id: number): Promise<void> {
      await db.query(markEventProcessed(id));
    },
    async setOptOut(channel: 'sms' | 'email', addressHash: string, optedOut: boolean, via: string): Promise<void> {
      await db.query(setOptOut(channel, addressHash, optedOut, via));
    },
    /** The opted-out (channel, address hash) pairs among `hashes`, with when. */
    async optedOut(hashes: string[]): Promise<Map<string, Date>> {
      if (hashes.length === 0) return new Map();
      const rows = await db.query(optedOut(hashes));
      return new Map(rows.map((r) => [`${String(r.channel)}|${String(r.address_hash)}`, date(r.changed_at)]));
    },
  };
}

export type MessageEventsRole = ReturnType<typeof messageEventsRole>;
