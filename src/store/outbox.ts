/**
 * The outbox: planned writes, claimed under a lease, acknowledged or failed. Its SQL builders
 * (pure, `{ text, values }`, values never interpolated) and the methods that run them, together;
 * the methods are part of `Store` (store.ts).
 */
import { BATCH_ROWS, chunks, date, dateOrNull, q, str, type Row, scopeArray, type SourceScope } from './rows';
import type { SqlQuery } from './driver';
import { contentHash } from './content-hash';
import type { OutboxItem } from './types';
import type { RoleContext } from './role';

export interface OutboxInsert {
  priority?: number;
  target: string;
  dedupeKey: string;
  resourceType: string;
  payload: unknown;
  contentHash: string;
}

/** Enqueue; a live row with the same identity and content makes it a no-op. */
export const enqueueOutbox = (sourceId: string, runId: string | null, items: OutboxInsert[]): SqlQuery =>
  q(
    `INSERT INTO outbox (source_id, run_id, target, dedupe_key, resource_type, payload, content_hash, priority)
     SELECT $1, $2, t.target, t.dedupe_key, t.resource_type, t.payload::jsonb, t.content_hash, t.priority
     FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[])
       AS t(target, dedupe_key, resource_type, payload, content_hash, priority)
     ON CONFLICT (dedupe_key, content_hash) WHERE state IN ('pending', 'sending') DO NOTHING
     RETURNING id`,
    [
      sourceId,
      runId,
      items.map((i) => i.target),
      items.map((i) => i.dedupeKey),
      items.map((i) => i.resourceType),
      items.map((i) => JSON.stringify(i.payload)),
      items.map((i) => i.contentHash),
      items.map((i) => i.priority ?? 1),
    ],
  );

/**
 * Claims up to `limit` rows that are pending, or whose lease expired (their
 * worker died). SKIP LOCKED keeps concurrent workers from claiming one row twice.
 */
export const claimOutbox = (
  sourceId: SourceScope,
  workerId: string,
  limit: number,
  leaseSeconds: number,
  upToId: number | null = null,
  ids: number[] | null = null,
  ops: readonly string[] | null = null,
): SqlQuery =>
  q(
    `UPDATE outbox SET state = 'sending', claimed_by = $2, attempts = attempts + 1,
       lease_until = now() + make_interval(secs => $4)
     WHERE id IN (
       SELECT id FROM outbox
       WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[]))
         AND next_attempt_at <= now()
         AND (state = 'pending' OR (state = 'sending' AND lease_until < now()))
         AND ($5::bigint IS NULL OR id <= $5)
         AND ($6::bigint[] IS NULL OR id = ANY($6::bigint[]))
         AND ($7::text[] IS NULL OR payload->>'op' = ANY($7::text[]))
       ORDER BY priority, id
       LIMIT $3
       FOR UPDATE SKIP LOCKED
     )
     RETURNING *`,
    [scopeArray(sourceId), workerId, limit, leaseSeconds, upToId, ids, ops],
  );

export const ackOutbox = (id: number, workerId: string, result: unknown): SqlQuery =>
  q(
    `UPDATE outbox SET state = 'sent', result = $3::jsonb, sent_at = now(), lease_until = NULL
     WHERE id = $1 AND claimed_by = $2 AND state = 'sending' RETURNING id`,
    [id, workerId, JSON.stringify(result)],
  );

/** A failed attempt: back to pending after `retryInSeconds`, or failed for good. */
export const failOutbox = (id: number, workerId: string, error: unknown, retryInSeconds: number | null): SqlQuery =>
  q(
    `UPDATE outbox SET
       state = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'pending' END,
       next_attempt_at = CASE WHEN $4::float8 IS NULL THEN next_attempt_at ELSE now() + make_interval(secs => $4::float8) END,
       last_error = $3::jsonb, lease_until = NULL
     WHERE id = $1 AND claimed_by = $2 AND state = 'sending' RETURNING id, state`,
    [id, workerId, JSON.stringify(error), retryInSeconds],
  );

/** Rows left "sending" by a dead worker go back to pending (callers hold the source's sync lock). */
export const releaseOutboxClaims = (sourceId: string): SqlQuery =>
  q(`UPDATE outbox SET state = 'pending', lease_until = NULL WHERE source_id = $1 AND state = 'sending' RETURNING id`, [
    sourceId,
  ]);

export const outboxCounts = (sourceId: SourceScope): SqlQuery =>
  q(
    `SELECT state, count(*)::int AS n FROM outbox WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) GROUP BY state`,
    [scopeArray(sourceId)],
  );

export function toOutbox(r: Row): OutboxItem {
  return {
    id: Number(r.id),
    sourceId: String(r.source_id),
    runId: str(r.run_id),
    target: String(r.target),
    dedupeKey: String(r.dedupe_key),
    resourceType: String(r.resource_type),
    payload: r.payload,
    contentHash: String(r.content_hash),
    state: r.state as OutboxItem['state'],
    attempts: Number(r.attempts),
    claimedBy: str(r.claimed_by),
    leaseUntil: dateOrNull(r.lease_until),
    lastError: r.last_error ?? null,
    result: r.result ?? null,
    createdAt: date(r.created_at),
    sentAt: dateOrNull(r.sent_at),
  };
}

/** The outbox: planned writes, claimed under a lease, acknowledged or failed. */
export function outboxRole({ db }: RoleContext) {
  return {
    /** Enqueues writes; returns how many were new (re-planning a live write is a no-op). */
    async enqueueOutbox(
      sourceId: string,
      runId: string | null,
      items: Omit<OutboxInsert, 'contentHash'>[],
    ): Promise<number> {
      let added = 0;
      for (const batch of chunks(items, BATCH_ROWS)) {
        const rows = await db.query(
          enqueueOutbox(
            sourceId,
            runId,
            batch.map((i) => ({ ...i, contentHash: contentHash(i.payload) })),
          ),
        );
        added += rows.length;
      }
      return added;
    },

    async claimOutbox(options: {
      workerId: string;
      limit: number;
      leaseSeconds: number;
      sourceId?: string;
      /** Only rows up to this id (an approved plan). */
      upToId?: number;
      /** Only these rows. */
      ids?: number[];
      /** Only rows of these payload ops. */
      ops?: readonly string[];
    }): Promise<OutboxItem[]> {
      const rows = await db.query(
        claimOutbox(
          options.sourceId ?? null,
          options.workerId,
          options.limit,
          options.leaseSeconds,
          options.upToId ?? null,
          options.ids ?? null,
          options.ops ?? null,
        ),
      );
      return rows.map(toOutbox).sort((a, b) => a.id - b.id);
    },

    /** Marks a claimed row sent. False when the claim was lost (lease expired and taken by another worker). */
    async ackOutbox(id: number, workerId: string, result: unknown): Promise<boolean> {
      const rows = await db.query(ackOutbox(id, workerId, result));
      return rows.length === 1;
    },

    /** Records a failed attempt; `retryInSeconds` null fails it for good. */
    async failOutbox(id: number, workerId: string, error: unknown, retryInSeconds: number | null): Promise<boolean> {
      const rows = await db.query(failOutbox(id, workerId, error, retryInSeconds));
      return rows.length === 1;
    },

    /** Returns rows claimed by a worker that died to pending; call only while holding the source's sync lock. */
    async releaseOutboxClaims(sourceId: string): Promise<number> {
      return (await db.query(releaseOutboxClaims(sourceId))).length;
    },

    async outboxCounts(sourceId?: string): Promise<Record<string, number>> {
      const rows = await db.query(outboxCounts(sourceId ?? null));
      return Object.fromEntries(rows.map((r) => [String(r.state), Number(r.n)]));
    },
  };
}

export type OutboxRole = ReturnType<typeof outboxRole>;
