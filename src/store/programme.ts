/**
 * The programme over time: Task events read back from the EMR, the figures recorded each day. Its
 * SQL builders (pure, `{ text, values }`, values never interpolated) and the methods that run
 * them, together; the methods are part of `Store` (store.ts).
 */
import { BATCH_ROWS, chunks, date, dateOrNull, q, str, scopeArray, type SourceScope } from './rows';
import type { SqlQuery } from './driver';
import type { TaskEvent } from './types';
import type { RoleContext } from './role';

export interface TaskEventRow {
  identifierValue: string;
  taskId: string;
  patientId: string | null;
  status: string;
  owner: string | null;
  focus: string | null;
  authoredOn: Date | null;
  changedAt: Date;
}

/** Records the statuses seen; a status already recorded for a Task keeps its first time. */
export const insertTaskEvents = (sourceId: string, rows: TaskEventRow[]): SqlQuery =>
  q(
    `INSERT INTO task_events (source_id, identifier_value, task_id, patient_id, status, owner, focus, authored_on, changed_at)
     SELECT $1, t.identifier_value, t.task_id, t.patient_id, t.status, t.owner, t.focus, t.authored_on, t.changed_at
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[])
       AS t(identifier_value, task_id, patient_id, status, owner, focus, authored_on, changed_at)
     ON CONFLICT (source_id, identifier_value, status) DO NOTHING
     RETURNING identifier_value`,
    [
      sourceId,
      rows.map((r) => r.identifierValue),
      rows.map((r) => r.taskId),
      rows.map((r) => r.patientId),
      rows.map((r) => r.status),
      rows.map((r) => r.owner),
      rows.map((r) => r.focus),
      rows.map((r) => r.authoredOn),
      rows.map((r) => r.changedAt),
    ],
  );

export const listTaskEvents = (sourceId: SourceScope): SqlQuery =>
  q(
    `SELECT e.*, w.rule FROM task_events e
     LEFT JOIN written_resources w ON w.source_id = e.source_id AND w.identifier_value = e.identifier_value
     WHERE ($1::text[] IS NULL OR e.source_id = ANY($1::text[])) ORDER BY e.source_id, e.identifier_value, e.changed_at`,
    [scopeArray(sourceId)],
  );

/** The entry of the run's day in the clinic's time zone (one per source and day). */
export const saveProgrammeHistory = (
  sourceId: string,
  asOf: Date,
  figures: unknown,
  runId: string | null,
  timeZone = 'UTC',
): SqlQuery =>
  q(
    `INSERT INTO programme_history (source_id, as_of, figures, run_id) VALUES ($1, ($2::timestamptz AT TIME ZONE $5)::date, $3::jsonb, $4)
     ON CONFLICT (source_id, as_of) DO UPDATE SET figures = EXCLUDED.figures, run_id = EXCLUDED.run_id, recorded_at = now()`,
    [sourceId, asOf, JSON.stringify(figures), runId, timeZone],
  );

export const listProgrammeHistory = (sourceId: SourceScope, from: Date, to: Date): SqlQuery =>
  q(
    `SELECT source_id, as_of::text AS as_of, figures FROM programme_history
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND as_of BETWEEN ($2::timestamptz AT TIME ZONE 'UTC')::date AND ($3::timestamptz AT TIME ZONE 'UTC')::date
     ORDER BY as_of, source_id`,
    [scopeArray(sourceId), from, to],
  );

/** The programme over time: Task events read back from the EMR, the figures recorded each day. */
export function programmeRole({ db }: RoleContext) {
  return {
    /** Records the statuses of fhir-engage's Tasks as read back from the EMR; returns how many were new. */
    async recordTaskEvents(sourceId: string, rows: TaskEventRow[]): Promise<number> {
      let n = 0;
      for (const batch of chunks(rows, BATCH_ROWS)) n += (await db.query(insertTaskEvents(sourceId, batch))).length;
      return n;
    },

    async listTaskEvents(sourceId?: string): Promise<TaskEvent[]> {
      const rows = await db.query(listTaskEvents(sourceId ?? null));
      return rows.map((r) => ({
        sourceId: String(r.source_id),
        identifierValue: String(r.identifier_value),
        taskId: String(r.task_id),
        patientId: str(r.patient_id),
        rule: str(r.rule),
        status: String(r.status),
        owner: str(r.owner),
        focus: str(r.focus),
        authoredOn: dateOrNull(r.authored_on),
        changedAt: date(r.changed_at),
      }));
    },

    async saveProgrammeHistory(
      sourceId: string,
      asOf: Date,
      figures: unknown,
      runId: string | null,
      timeZone?: string,
    ): Promise<void> {
      await db.query(saveProgrammeHistory(sourceId, asOf, figures, runId, timeZone));
    },

    async listProgrammeHistory(
      from: Date,
      to: Date,
      sourceId?: string,
    ): Promise<{ sourceId: string; asOf: string; figures: unknown }[]> {
      const rows = await db.query(listProgrammeHistory(sourceId ?? null, from, to));
      return rows.map((r) => ({ sourceId: String(r.source_id), asOf: String(r.as_of), figures: r.figures }));
    },
  };
}

export type ProgrammeRole = ReturnType<typeof programmeRole>;
