/**
 * Runs of each source and where they are: sources, runs, watermarks, pull checkpoints, schedule
 * slots. Its SQL builders (pure, `{ text, values }`, values never interpolated) and the methods
 * that run them, together; the methods are part of `Store` (store.ts).
 */
import { date, dateOrNull, q, str, type Row, scopeArray, type SourceScope } from './rows';
import type { SqlQuery } from './driver';
import type { RunRecord, RunStatus, SourceRecord } from './types';
import { storeError } from '../errors';
import type { RoleContext } from './role';

export const upsertSource = (id: string, name: string | null, baseUrl: string): SqlQuery =>
  q(
    `INSERT INTO sources (id, name, base_url) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, base_url = EXCLUDED.base_url, updated_at = now()
     WHERE sources.name IS DISTINCT FROM EXCLUDED.name OR sources.base_url <> EXCLUDED.base_url`,
    [id, name, baseUrl],
  );

export const listSources = (): SqlQuery =>
  q('SELECT id, name, base_url, created_at, updated_at FROM sources ORDER BY id');

export const insertRun = (id: string, sourceId: string, asOf: Date, options: unknown): SqlQuery =>
  q(
    `INSERT INTO sync_runs (id, source_id, status, as_of, options) VALUES ($1, $2, 'running', $3, $4::jsonb)
     RETURNING *`,
    [id, sourceId, asOf, JSON.stringify(options)],
  );

export const finishRun = (id: string, status: string, counts: unknown, error: unknown): SqlQuery =>
  q(
    `UPDATE sync_runs SET status = $2, counts = $3::jsonb, error = $4::jsonb, finished_at = now(), heartbeat_at = now()
     WHERE id = $1 RETURNING *`,
    [id, status, JSON.stringify(counts), error === undefined ? null : JSON.stringify(error)],
  );

export const heartbeatRun = (id: string, counts: unknown): SqlQuery =>
  q(`UPDATE sync_runs SET heartbeat_at = now(), counts = $2::jsonb WHERE id = $1 AND status = 'running'`, [
    id,
    JSON.stringify(counts),
  ]);

export const getRun = (id: string): SqlQuery => q('SELECT * FROM sync_runs WHERE id = $1', [id]);

export const listRuns = (sourceId: SourceScope, limit: number, status: string | null = null, offset = 0): SqlQuery =>
  q(
    `SELECT * FROM sync_runs WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND ($3::text IS NULL OR status = $3)
     ORDER BY started_at DESC, id DESC LIMIT $2 OFFSET $4`,
    [scopeArray(sourceId), limit, status, offset],
  );

/** Runs still marked running whose heartbeat is older than `staleSeconds`: their process died. */
export const markStaleRunsInterrupted = (sourceId: string, staleSeconds: number): SqlQuery =>
  q(
    `UPDATE sync_runs SET status = 'interrupted', finished_at = now()
     WHERE source_id = $1 AND status = 'running' AND heartbeat_at < now() - make_interval(secs => $2)
     RETURNING *`,
    [sourceId, staleSeconds],
  );

export const getWatermark = (sourceId: string, resourceType: string): SqlQuery =>
  q('SELECT last_updated FROM watermarks WHERE source_id = $1 AND resource_type = $2', [sourceId, resourceType]);

/** Watermarks only move forward: a late page with older resources cannot pull them back. */
export const advanceWatermark = (sourceId: string, resourceType: string, lastUpdated: Date): SqlQuery =>
  q(
    `INSERT INTO watermarks (source_id, resource_type, last_updated) VALUES ($1, $2, $3)
     ON CONFLICT (source_id, resource_type) DO UPDATE
       SET last_updated = GREATEST(watermarks.last_updated, EXCLUDED.last_updated), updated_at = now()`,
    [sourceId, resourceType, lastUpdated],
  );

/**
 * Two pages of a search may be stored at once and commit in either order (fhir/pull.ts followPages):
 * a page checkpoint of the same run never goes back to fewer pages. Another run's, or a checkpoint
 * of another kind (per patient, bulk), always replaces it.
 */
export const CHECKPOINT_MOVES_FORWARD = `pull_checkpoints.run_id IS DISTINCT FROM EXCLUDED.run_id
         OR NOT (pull_checkpoints.state ? 'pages' AND EXCLUDED.state ? 'pages')
         OR (pull_checkpoints.state->>'pages')::numeric < (EXCLUDED.state->>'pages')::numeric`;

export const saveCheckpoint = (
  sourceId: string,
  resourceType: string,
  runId: string | null,
  state: unknown,
): SqlQuery =>
  q(
    `INSERT INTO pull_checkpoints (source_id, resource_type, run_id, state) VALUES ($1, $2, $3, $4::jsonb)
     ON CONFLICT (source_id, resource_type) DO UPDATE SET run_id = EXCLUDED.run_id, state = EXCLUDED.state, updated_at = now()
     WHERE ${CHECKPOINT_MOVES_FORWARD}`,
    [sourceId, resourceType, runId, JSON.stringify(state)],
  );

export const getCheckpoint = (sourceId: string, resourceType: string): SqlQuery =>
  q('SELECT state, run_id FROM pull_checkpoints WHERE source_id = $1 AND resource_type = $2', [sourceId, resourceType]);

export const deleteCheckpoint = (sourceId: string, resourceType: string): SqlQuery =>
  q('DELETE FROM pull_checkpoints WHERE source_id = $1 AND resource_type = $2', [sourceId, resourceType]);

export const claimSlot = (sourceId: string, slot: Date, instance: string): SqlQuery =>
  q(
    `INSERT INTO scheduled_slots (source_id, slot, claimed_by) VALUES ($1, $2, $3)
     ON CONFLICT (source_id, slot) DO NOTHING RETURNING claimed_by`,
    [sourceId, slot, instance],
  );

function toRun(r: Row): RunRecord {
  return {
    id: String(r.id),
    sourceId: String(r.source_id),
    status: r.status as RunStatus,
    asOf: date(r.as_of),
    options: (r.options ?? {}) as Record<string, unknown>,
    counts: (r.counts ?? {}) as Record<string, unknown>,
    error: (r.error as RunRecord['error']) ?? null,
    startedAt: date(r.started_at),
    heartbeatAt: date(r.heartbeat_at),
    finishedAt: dateOrNull(r.finished_at),
  };
}

/** Runs of each source and where they are: sources, runs, watermarks, pull checkpoints, schedule slots. */
export function runsRole({ db }: RoleContext) {
  return {
    async upsertSource(source: { id: string; name?: string; baseUrl: string }): Promise<void> {
      await db.query(upsertSource(source.id, source.name ?? null, source.baseUrl));
    },

    async listSources(): Promise<SourceRecord[]> {
      const rows = await db.query(listSources());
      return rows.map((r) => ({
        id: String(r.id),
        name: str(r.name),
        baseUrl: String(r.base_url),
        createdAt: date(r.created_at),
        updatedAt: date(r.updated_at),
      }));
    },

    async createRun(run: {
      id: string;
      sourceId: string;
      asOf: Date;
      options?: Record<string, unknown>;
    }): Promise<RunRecord> {
      const rows = await db.query(insertRun(run.id, run.sourceId, run.asOf, run.options ?? {}));
      return toRun(rows[0] as Row);
    },

    async finishRun(id: string, status: RunStatus, counts: unknown, error?: unknown): Promise<RunRecord> {
      const rows = await db.query(finishRun(id, status, counts, error));
      if (rows.length === 0) {
        throw storeError(`no sync run ${id}`);
      }
      return toRun(rows[0] as Row);
    },

    async heartbeatRun(id: string, counts: unknown): Promise<void> {
      await db.query(heartbeatRun(id, counts));
    },

    async getRun(id: string): Promise<RunRecord | undefined> {
      const rows = await db.query(getRun(id));
      return rows[0] ? toRun(rows[0]) : undefined;
    },

    /** Newest first; `status` filters, `offset` pages. */
    async listRuns(
      options: { sourceId?: SourceScope; limit?: number; status?: string; offset?: number } = {},
    ): Promise<RunRecord[]> {
      const rows = await db.query(
        listRuns(options.sourceId ?? null, options.limit ?? 50, options.status ?? null, options.offset ?? 0),
      );
      return rows.map(toRun);
    },

    /** Marks runs of a dead process as interrupted and returns them (resumed by the caller). */
    async markStaleRunsInterrupted(sourceId: string, staleSeconds: number): Promise<RunRecord[]> {
      const rows = await db.query(markStaleRunsInterrupted(sourceId, staleSeconds));
      return rows.map(toRun);
    },

    async getWatermark(sourceId: string, resourceType: string): Promise<Date | undefined> {
      const rows = await db.query(getWatermark(sourceId, resourceType));
      return rows[0] ? date(rows[0].last_updated) : undefined;
    },

    async advanceWatermark(sourceId: string, resourceType: string, lastUpdated: Date): Promise<void> {
      await db.query(advanceWatermark(sourceId, resourceType, lastUpdated));
    },

    async saveCheckpoint(sourceId: string, resourceType: string, runId: string | null, state: unknown): Promise<void> {
      await db.query(saveCheckpoint(sourceId, resourceType, runId, state));
    },

    async getCheckpoint<T = unknown>(
      sourceId: string,
      resourceType: string,
    ): Promise<{ state: T; runId: string | null } | undefined> {
      const rows = await db.query(getCheckpoint(sourceId, resourceType));
      return rows[0] ? { state: rows[0].state as T, runId: str(rows[0].run_id) } : undefined;
    },

    async deleteCheckpoint(sourceId: string, resourceType: string): Promise<void> {
      await db.query(deleteCheckpoint(sourceId, resourceType));
    },

    /** True for the one instance that claims this scheduled tick of the source. */
    async claimSlot(sourceId: string, slot: Date, instance: string): Promise<boolean> {
      return (await db.query(claimSlot(sourceId, slot, instance))).length === 1;
    },
  };
}

export type RunsRole = ReturnType<typeof runsRole>;
