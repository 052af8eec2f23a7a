/**
 * Dead letters: what could not be used, with its OperationOutcome; retried or dismissed. Its SQL
 * builders (pure, `{ text, values }`, values never interpolated) and the methods that run them,
 * together; the methods are part of `Store` (store.ts).
 */
import { BATCH_ROWS, chunks, date, q, str, type Row, scopeArray, type SourceScope } from './rows';
import type { SqlQuery } from './driver';
import { contentHash } from './content-hash';
import { replaceForbiddenCharacters, storableCopy } from '../validation/json-safety';
import type { DeadLetter, DeadLetterInput } from './types';
import type { RoleContext } from './role';

export interface DeadLetterInsert {
  payloadHash: string | null;
  sourceId: string;
  runId: string | null;
  stage: string;
  resourceType: string | null;
  resourceId: string | null;
  payload: unknown;
  outcome: unknown;
}

export const insertDeadLetters = (items: DeadLetterInsert[]): SqlQuery =>
  q(
    `INSERT INTO dead_letters (source_id, run_id, stage, resource_type, resource_id, payload, outcome, payload_hash)
     SELECT t.source_id, t.run_id, t.stage, t.resource_type, t.resource_id, t.payload::jsonb, t.outcome::jsonb, t.payload_hash
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
       AS t(source_id, run_id, stage, resource_type, resource_id, payload, outcome, payload_hash)
     ON CONFLICT (source_id, stage, resource_type, resource_id, payload_hash)
       WHERE resolved_at IS NULL AND payload_hash IS NOT NULL DO NOTHING
     RETURNING id`,
    [
      items.map((i) => i.sourceId),
      items.map((i) => i.runId),
      items.map((i) => i.stage),
      items.map((i) => i.resourceType),
      items.map((i) => i.resourceId),
      items.map((i) => (i.payload === undefined ? null : JSON.stringify(i.payload))),
      items.map((i) => JSON.stringify(i.outcome)),
      items.map((i) => i.payloadHash),
    ],
  );

export interface DeadLetterFilter {
  sourceId: SourceScope;
  runId: string | null;
  resourceType: string | null;
  stage: string | null;
}

export const listDeadLetters = (f: DeadLetterFilter, limit: number): SqlQuery =>
  q(
    `SELECT * FROM dead_letters
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND ($2::text IS NULL OR run_id = $2) AND resolved_at IS NULL
       AND ($3::text IS NULL OR resource_type = $3) AND ($4::text IS NULL OR stage = $4)
     ORDER BY id DESC LIMIT $5`,
    [scopeArray(f.sourceId), f.runId, f.resourceType, f.stage, limit],
  );

export const dismissDeadLetter = (id: number, reason: string, by: string): SqlQuery =>
  q(
    'UPDATE dead_letters SET resolved_at = now(), dismissed_reason = $2, dismissed_by = $3 WHERE id = $1 AND resolved_at IS NULL RETURNING id',
    [id, reason, by],
  );

export const getDeadLetter = (id: number): SqlQuery => q('SELECT * FROM dead_letters WHERE id = $1', [id]);

export const resolveDeadLetter = (id: number): SqlQuery =>
  q(
    'UPDATE dead_letters SET resolved_at = now(), retried_at = now() WHERE id = $1 AND resolved_at IS NULL RETURNING id',
    [id],
  );

export const countDeadLetters = (sourceId: SourceScope, runId: string | null): SqlQuery =>
  q(
    `SELECT count(*)::int AS n FROM dead_letters
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND ($2::text IS NULL OR run_id = $2) AND resolved_at IS NULL`,
    [scopeArray(sourceId), runId],
  );

function toDeadLetter(r: Row): DeadLetter {
  return {
    id: Number(r.id),
    sourceId: String(r.source_id),
    runId: str(r.run_id),
    stage: r.stage as DeadLetter['stage'],
    resourceType: str(r.resource_type),
    resourceId: str(r.resource_id),
    payload: r.payload ?? null,
    outcome: r.outcome as DeadLetter['outcome'],
    createdAt: date(r.created_at),
  };
}

/** Dead letters: what could not be used, with its OperationOutcome; retried or dismissed. */
export function deadLettersRole({ db }: RoleContext) {
  return {
    async addDeadLetters(items: DeadLetterInput[]): Promise<number> {
      let n = 0;
      for (const batch of chunks(items, BATCH_ROWS)) {
        const rows = await db.query(
          insertDeadLetters(
            batch.map((i) => {
              // What a dead letter keeps must be storable whatever the EMR sent (a NUL, an unpaired
              // surrogate, a resource nested 500 deep): it is why the resource is a dead letter.
              const payload = storableCopy(i.payload);
              const resourceId = i.resourceId == null ? null : replaceForbiddenCharacters(i.resourceId);
              return {
                sourceId: i.sourceId,
                runId: i.runId ?? null,
                stage: i.stage,
                resourceType: i.resourceType == null ? null : replaceForbiddenCharacters(i.resourceType),
                resourceId,
                payload,
                outcome: storableCopy(i.outcome),
                // Only a resource has an identity to deduplicate on; other dead letters are all kept.
                payloadHash: resourceId && payload !== undefined ? contentHash(payload) : null,
              };
            }),
          ),
        );
        n += rows.length;
      }
      return n;
    },

    async listDeadLetters(
      options: { sourceId?: SourceScope; runId?: string; resourceType?: string; stage?: string; limit?: number } = {},
    ): Promise<DeadLetter[]> {
      const filter = {
        sourceId: options.sourceId ?? null,
        runId: options.runId ?? null,
        resourceType: options.resourceType ?? null,
        stage: options.stage ?? null,
      };
      const rows = await db.query(listDeadLetters(filter, options.limit ?? 100));
      return rows.map(toDeadLetter);
    },

    /** Closes an open dead letter without retrying it, keeping the reason and who dismissed it; false when not open. */
    async dismissDeadLetter(id: number, reason: string, by: string): Promise<boolean> {
      return (await db.query(dismissDeadLetter(id, reason, by))).length === 1;
    },

    async getDeadLetter(id: number): Promise<DeadLetter | undefined> {
      const rows = await db.query(getDeadLetter(id));
      return rows[0] ? toDeadLetter(rows[0]) : undefined;
    },

    async resolveDeadLetter(id: number): Promise<boolean> {
      return (await db.query(resolveDeadLetter(id))).length === 1;
    },

    async countDeadLetters(options: { sourceId?: string; runId?: string } = {}): Promise<number> {
      const rows = await db.query(countDeadLetters(options.sourceId ?? null, options.runId ?? null));
      return Number(rows[0]?.n ?? 0);
    },
  };
}

export type DeadLettersRole = ReturnType<typeof deadLettersRole>;
