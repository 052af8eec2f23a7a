/**
 * Writes a person asked for (docs/care-team.md): enqueued once per request (the dashboard's request
 * id is the row's dedupe key, so a double click or a retried request finds its first row), read back
 * by id for the answer, and listed per patient for the patient's page. Its SQL builders (pure,
 * `{ text, values }`, values never interpolated) and the methods that run them, together; the
 * methods are part of `Store` (store.ts).
 */
import { internalError } from '../errors';
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { contentHash } from './content-hash';
import { q } from './rows';
import { toOutbox, type OutboxInsert } from './outbox';
import type { OutboxItem } from './types';

const PERSON_OPS = ['task-action', 'communication'];

/** The request's row: the one already there under its dedupe key, else a new one (priority 0: people wait for it). */
export const enqueuePersonWrite = (sourceId: string, item: OutboxInsert): SqlQuery =>
  q(
    `WITH existing AS (SELECT * FROM outbox WHERE source_id = $1 AND dedupe_key = $2 ORDER BY id LIMIT 1),
     added AS (
       INSERT INTO outbox (source_id, run_id, target, dedupe_key, resource_type, payload, content_hash, priority)
       SELECT $1, NULL, $3, $2, $4, $5::jsonb, $6, 0 WHERE NOT EXISTS (SELECT 1 FROM existing)
       ON CONFLICT (dedupe_key, content_hash) WHERE state IN ('pending', 'sending') DO NOTHING
       RETURNING *)
     SELECT * FROM added UNION ALL SELECT * FROM existing`,
    [sourceId, item.dedupeKey, item.target, item.resourceType, JSON.stringify(item.payload), item.contentHash],
  );

export const outboxRow = (sourceId: string, id: number): SqlQuery =>
  q('SELECT * FROM outbox WHERE source_id = $1 AND id = $2', [sourceId, id]);

export const personWritesOf = (sourceId: string, patientId: string, limit: number): SqlQuery =>
  q(
    `SELECT * FROM outbox WHERE source_id = $1 AND payload->>'patientId' = $2 AND payload->>'op' = ANY($3::text[])
     ORDER BY id DESC LIMIT $4`,
    [sourceId, patientId, PERSON_OPS, limit],
  );

export function careTeamRole({ db }: RoleContext) {
  return {
    /** Enqueues a person's write, or finds the row of the same request; returns the row. */
    async enqueuePersonWrite(sourceId: string, item: Omit<OutboxInsert, 'contentHash'>): Promise<OutboxItem> {
      const rows = await db.query(enqueuePersonWrite(sourceId, { ...item, contentHash: contentHash(item.payload) }));
      if (rows[0]) return toOutbox(rows[0]);
      // The same request is being enqueued by another call at this instant: its row is the answer.
      const [again] = await db.query(
        q('SELECT * FROM outbox WHERE source_id = $1 AND dedupe_key = $2 ORDER BY id LIMIT 1', [
          sourceId,
          item.dedupeKey,
        ]),
      );
      if (!again) throw internalError('a care-team write was neither enqueued nor found');
      return toOutbox(again);
    },

    async outboxRow(sourceId: string, id: number): Promise<OutboxItem | undefined> {
      const [row] = await db.query(outboxRow(sourceId, id));
      return row ? toOutbox(row) : undefined;
    },

    /** The patient's care-team writes (Task actions, logged calls and notes), newest first. */
    async personWritesOf(sourceId: string, patientId: string, limit = 50): Promise<OutboxItem[]> {
      return (await db.query(personWritesOf(sourceId, patientId, limit))).map(toOutbox);
    },
  };
}

export type CareTeamRole = ReturnType<typeof careTeamRole>;
