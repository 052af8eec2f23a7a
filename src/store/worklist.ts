/**
 * The care team's open work (docs/programme.md, "Worklist"): every open fhir-engage Task a person acts
 * on (reminders are for messaging platforms, not people), with what the list shows beside it — the
 * patient's record, tier and score, programmes, who owns the Task and since when it is in the EMR.
 * Its SQL builders (pure, `{ text, values }`, values never interpolated) and the methods that run
 * them, together; the methods are part of `Store` (store.ts).
 */
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { ENDED_TASK_STATUSES_SQL, dateOrNull, q, str, scopeArray, type SourceScope } from './rows';

export interface WorklistTask {
  sourceId: string;
  identifierValue: string;
  patientId: string;
  rule: string;
  status: string | null;
  serverId: string | null;
  /** When the Task was first seen in the EMR (read back), else when fhir-engage last wrote it. */
  since: Date | null;
  owner: string | null;
  tier: string | null;
  score: number | null;
  indicators: unknown;
  programmes: string[];
  patient: unknown;
  /** The Task as last read from the EMR (its status, owner, due date), when read back. */
  task: unknown;
}

export const worklistTasks = (sourceId: SourceScope): SqlQuery =>
  q(
    `SELECT w.source_id, w.identifier_value, w.patient_id, w.rule, w.status, w.server_id,
       coalesce((SELECT min(e.changed_at) FROM task_events e
                 WHERE e.source_id = w.source_id AND e.identifier_value = w.identifier_value), w.updated_at) AS since,
       (SELECT e.owner FROM task_events e WHERE e.source_id = w.source_id AND e.identifier_value = w.identifier_value
        ORDER BY e.changed_at DESC LIMIT 1) AS owner,
       m.indicators,
       array(SELECT s.programme_id FROM programme_enrolments s
             WHERE s.source_id = w.source_id AND s.patient_id = w.patient_id AND s.ended_at IS NULL
             ORDER BY s.programme_id) AS programmes,
       p.resource AS patient, t.resource AS task
     FROM written_resources w
     LEFT JOIN patient_models m ON m.source_id = w.source_id AND m.patient_id = w.patient_id
     LEFT JOIN resources p ON p.source_id = w.source_id AND p.resource_type = 'Patient' AND p.resource_id = w.patient_id
     LEFT JOIN resources t ON t.source_id = w.source_id AND t.resource_type = 'Task' AND t.resource_id = w.server_id
     WHERE ($1::text[] IS NULL OR w.source_id = ANY($1::text[])) AND w.resource_type = 'Task'
       AND w.state IN ('open', 'handled-by-person') AND (w.status IS NULL OR w.status NOT IN ${ENDED_TASK_STATUSES_SQL})
       AND w.rule <> 'appointment-reminder'
     ORDER BY w.source_id, w.identifier_value`,
    [scopeArray(sourceId)],
  );

export function worklistRole({ db }: RoleContext) {
  return {
    async worklistTasks(sourceId?: SourceScope): Promise<WorklistTask[]> {
      return (await db.query(worklistTasks(sourceId ?? null))).map((r) => {
        const ind = r.indicators as { engagement?: { tier?: string; score?: number | null } } | null;
        return {
          sourceId: String(r.source_id),
          identifierValue: String(r.identifier_value),
          patientId: String(r.patient_id),
          rule: String(r.rule),
          status: str(r.status),
          serverId: str(r.server_id),
          since: dateOrNull(r.since),
          owner: str(r.owner),
          tier: ind?.engagement?.tier ?? null,
          score: ind?.engagement?.score ?? null,
          indicators: r.indicators ?? null,
          programmes: ((r.programmes as unknown[] | null) ?? []).map(String),
          patient: r.patient ?? null,
          task: r.task ?? null,
        };
      });
    },
  };
}

export type WorklistRole = ReturnType<typeof worklistRole>;

export interface PatientListRow {
  sourceId: string;
  patientId: string;
  indicators: unknown;
  patient: unknown;
  openTasks: number;
}

/** Patients with their indicators, the least engaged first, optionally of one tier; a page at a time, with the total. */
export const patientList = (sourceId: SourceScope, tier: string | null, limit: number, offset: number): SqlQuery =>
  q(
    `SELECT m.source_id, m.patient_id, m.indicators, p.resource AS patient, count(*) OVER () AS total,
       (SELECT count(*) FROM written_resources w WHERE w.source_id = m.source_id AND w.patient_id = m.patient_id
          AND w.resource_type = 'Task' AND w.state IN ('open', 'handled-by-person') AND w.rule <> 'appointment-reminder'
          AND (w.status IS NULL OR w.status NOT IN ${ENDED_TASK_STATUSES_SQL}))::int AS open_tasks
     FROM patient_models m
     LEFT JOIN resources p ON p.source_id = m.source_id AND p.resource_type = 'Patient' AND p.resource_id = m.patient_id
     WHERE m.indicators IS NOT NULL AND ($1::text[] IS NULL OR m.source_id = ANY($1::text[]))
       AND ($2::text IS NULL OR m.indicators->'engagement'->>'tier' = $2)
     ORDER BY (m.indicators->'engagement'->>'score')::numeric ASC NULLS LAST, m.source_id, m.patient_id
     LIMIT $3 OFFSET $4`,
    [scopeArray(sourceId), tier, limit, offset],
  );

export function patientListRole({ db }: RoleContext) {
  return {
    async patientList(options: {
      sourceId?: SourceScope;
      tier?: string;
      limit: number;
      offset: number;
    }): Promise<{ total: number; rows: PatientListRow[] }> {
      const rows = await db.query(
        patientList(options.sourceId ?? null, options.tier ?? null, options.limit, options.offset),
      );
      return {
        total: Number(rows[0]?.total ?? 0),
        rows: rows.map((r) => ({
          sourceId: String(r.source_id),
          patientId: String(r.patient_id),
          indicators: r.indicators,
          patient: r.patient ?? null,
          openTasks: Number(r.open_tasks),
        })),
      };
    },
  };
}

export type PatientListRole = ReturnType<typeof patientListRole>;
