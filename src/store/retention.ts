/**
 * Retention and maintenance: purges by age or by source, monitoring gauges, planner statistics, a
 * source's data reset. Its SQL builders (pure, `{ text, values }`, values never interpolated) and
 * the methods that run them, together; the methods are part of `Store` (store.ts).
 */
import { dateOrNull, q } from './rows';
import type { LockBusy, SqlQuery } from './driver';
import type { RoleContext } from './role';

/**
 * What `purge --older-than` removes, table by table: history and records that are finished. Never
 * pulled resources (each patient's current picture), open dead letters, open written resources or
 * writes not yet acknowledged (outbox rows pending or sending).
 */
export const purgeBefore = (before: Date): { table: string; query: SqlQuery }[] => [
  // A value is kept while it is the latest at the cut-off: trends from the cut-off on stay right.
  {
    table: 'indicator_history',
    query: q(
      `DELETE FROM indicator_history h WHERE h.as_of < $1 AND EXISTS (
         SELECT 1 FROM indicator_history n WHERE n.source_id = h.source_id AND n.patient_id = h.patient_id AND n.indicator = h.indicator
           AND n.as_of <= $1 AND (n.as_of > h.as_of OR (n.as_of = h.as_of AND n.id > h.id)))
       RETURNING id`,
      [before],
    ),
  },
  {
    table: 'programme_history',
    query: q(
      "DELETE FROM programme_history WHERE as_of < ($1::timestamptz AT TIME ZONE 'UTC')::date RETURNING source_id",
      [before],
    ),
  },
  { table: 'task_events', query: q('DELETE FROM task_events WHERE changed_at < $1 RETURNING source_id', [before]) },
  {
    table: 'outbox',
    query: q(
      "DELETE FROM outbox WHERE state IN ('sent', 'failed') AND coalesce(sent_at, created_at) < $1 RETURNING id",
      [before],
    ),
  },
  {
    table: 'dead_letters',
    query: q('DELETE FROM dead_letters WHERE resolved_at IS NOT NULL AND resolved_at < $1 RETURNING id', [before]),
  },
  {
    table: 'written_resources',
    query: q("DELETE FROM written_resources WHERE state <> 'open' AND updated_at < $1 RETURNING source_id", [before]),
  },
  {
    table: 'sync_runs',
    query: q("DELETE FROM sync_runs WHERE status <> 'running' AND started_at < $1 RETURNING id", [before]),
  },
  // Messages whose outcome is final and recorded in the EMR; providers' events once applied.
  {
    table: 'messages',
    query: q(
      `DELETE FROM messages WHERE state IN ('delivered', 'undelivered', 'failed', 'cancelled', 'received')
         AND (recorded_state IS NOT DISTINCT FROM state OR state = 'cancelled') AND coalesce(ended_at, created_at) < $1 RETURNING id`,
      [before],
    ),
  },
  {
    table: 'message_events',
    query: q('DELETE FROM message_events WHERE processed_at IS NOT NULL AND processed_at < $1 RETURNING id', [before]),
  },
  // Links past their window: answered ones are in the EMR by then, unanswered ones can no longer be used.
  {
    table: 'survey_links',
    query: q('DELETE FROM survey_links WHERE expires_at < $1 RETURNING id', [before]),
  },
  { table: 'access_log', query: q('DELETE FROM access_log WHERE at < $1 RETURNING id', [before]) },
];

/**
 * Every table that holds a source's rows, for `purge --source` (a clinic leaving the programme). The
 * access log is not among them: it is the audit record of who read what, kept for its own retention
 * (FHIR_ENGAGE_AUDIT_RETENTION_DAYS) and holding patient ids, never names or identifier values.
 */
export const SOURCE_TABLES = [
  'resources',
  'patients_to_compute',
  'patient_models',
  'indicator_history',
  'outbox',
  'dead_letters',
  'written_resources',
  'task_events',
  'programme_history',
  'pull_checkpoints',
  'watermarks',
  'scheduled_slots',
  'bulk_export_files',
  'bulk_exports',
  'write_approvals',
  'programme_enrolments',
  'safety_alerts',
  'messages',
  'survey_links',
  'sync_runs',
] as const;

export type SourceTable = (typeof SOURCE_TABLES)[number];

/** A source's rows in one table: counted, or removed and counted (never returned: there may be millions). */
export const sourceRows = (table: SourceTable, sourceId: string, remove: boolean): SqlQuery =>
  remove
    ? q(`WITH gone AS (DELETE FROM ${table} WHERE source_id = $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`, [
        sourceId,
      ])
    : q(`SELECT count(*)::int AS n FROM ${table} WHERE source_id = $1`, [sourceId]);

export const deleteSource = (sourceId: string): SqlQuery =>
  q('DELETE FROM sources WHERE id = $1 RETURNING id', [sourceId]);

/** Per source: open dead letters, writes not yet acknowledged, and the end of the last successful run. */
export const monitoringGauges = (): SqlQuery =>
  q(
    `SELECT s.id AS source_id,
       (SELECT count(*)::int FROM dead_letters d WHERE d.source_id = s.id AND d.resolved_at IS NULL) AS open_dead_letters,
       (SELECT count(*)::int FROM outbox o WHERE o.source_id = s.id AND o.state IN ('pending', 'sending')) AS outbox_depth,
       (SELECT max(r.finished_at) FROM sync_runs r WHERE r.source_id = s.id AND r.status = 'succeeded') AS last_success
     FROM sources s ORDER BY s.id`,
    [],
  );

export const ANALYZED_TABLES = ['resources', 'patients_to_compute', 'patient_models', 'indicator_history'] as const;

/** Fresh planner statistics: PGlite never gathers them by itself, nor does PostgreSQL with autovacuum off. */
export const analyze = (table: (typeof ANALYZED_TABLES)[number]): SqlQuery => q(`ANALYZE ${table}`, []);

/** Everything stored for a source except its run history and schedule (the sandbox is a new EMR each time it starts). */
export const resetSourceData = (sourceId: string): SqlQuery[] =>
  SOURCE_TABLES.filter((table) => table !== 'sync_runs' && table !== 'scheduled_slots').map((table) =>
    q(`DELETE FROM ${table} WHERE source_id = $1`, [sourceId]),
  );

/** Retention and maintenance: purges by age or by source, monitoring gauges, planner statistics, a source's data reset. */
export function retentionRole({ db, store }: RoleContext) {
  return {
    /** Removes history and finished records older than `before`, in one transaction; rows removed per table. */
    async purgeBefore(before: Date): Promise<Record<string, number>> {
      return store.transaction(async (tx) => {
        const removed: Record<string, number> = {};
        for (const { table, query } of purgeBefore(before)) removed[table] = (await tx.db.query(query)).length;
        return removed;
      });
    },

    /**
     * Every row of a source, table by table: counted, or with `remove` deleted in one transaction
     * (the `sources` row too). Under the source's sync lock, so that no run of it writes meanwhile.
     */
    async purgeSource(sourceId: string, remove: boolean): Promise<Record<SourceTable, number> | LockBusy> {
      return store.tryWithAdvisoryLock(`sync:${sourceId}`, () =>
        store.transaction(async (tx) => {
          const rows = {} as Record<SourceTable, number>;
          for (const table of SOURCE_TABLES)
            rows[table] = Number((await tx.db.query(sourceRows(table, sourceId, remove)))[0]?.n ?? 0);
          if (remove) await tx.db.query(deleteSource(sourceId));
          return rows;
        }),
      );
    },

    async monitoringGauges(): Promise<
      { sourceId: string; openDeadLetters: number; outboxDepth: number; lastSuccess: Date | null }[]
    > {
      return (await db.query(monitoringGauges())).map((r) => ({
        sourceId: String(r.source_id),
        openDeadLetters: Number(r.open_dead_letters),
        outboxDepth: Number(r.outbox_depth),
        lastSuccess: dateOrNull(r.last_success),
      }));
    },

    /** Forgets everything stored for a source but its run history, in one transaction. */
    async resetSourceData(sourceId: string): Promise<void> {
      await store.transaction(async (tx) => {
        for (const query of resetSourceData(sourceId)) await tx.db.query(query);
      });
    },

    /**
     * Refreshes the planner's statistics of the tables a sync grows. Without them, after a first load
     * the per-page lookup of stored versions took ~130 ms instead of <1 ms (10,000 patients, PostgreSQL
     * with autovacuum off; PGlite has no autovacuum at all).
     */
    async analyze(tables: readonly (typeof ANALYZED_TABLES)[number][] = ANALYZED_TABLES): Promise<void> {
      for (const t of tables) await db.query(analyze(t));
    },
  };
}

export type RetentionRole = ReturnType<typeof retentionRole>;
