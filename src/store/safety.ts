/**
 * Patients with a safety flag (docs/indicators.md, "Safety"): an open PHQ-9 item 9 safety Task
 * fhir-engage wrote (open until a person ends it in the EMR), or a flag in their current indicators.
 * Its SQL builders (pure, `{ text, values }`, values never interpolated) and the methods that run
 * them, together; the methods are part of `Store` (store.ts).
 */
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { ENDED_TASK_STATUSES_SQL, dateOrNull, q, scopeArray, type SourceScope } from './rows';

export interface SafetyPatient {
  sourceId: string;
  patientId: string;
  /** Open safety Tasks fhir-engage wrote for the patient. */
  openSafetyTasks: number;
  /** When the oldest of them first reached the EMR (null when only the indicators flag the patient). */
  since: Date | null;
  indicators: unknown;
}

/** Patients with an open safety Task or a flag in their indicators, the longest-waiting Task first. */
export const safetyPatients = (sourceId: SourceScope): SqlQuery =>
  q(
    `WITH tasks AS (
       -- Open until a person ends it: a Task claimed or started (handled by a person) still counts;
       -- its status is the EMR's as last read back. Since: when it first reached the EMR.
       SELECT w.source_id, w.patient_id, count(*)::int AS n,
         min(coalesce((SELECT min(e.changed_at) FROM task_events e
                       WHERE e.source_id = w.source_id AND e.identifier_value = w.identifier_value), w.updated_at)) AS since
       FROM written_resources w
       LEFT JOIN resources r ON r.source_id = w.source_id AND r.resource_type = 'Task' AND r.resource_id = w.server_id
       WHERE w.rule = 'phq9-item9-safety' AND w.resource_type = 'Task' AND w.state IN ('open', 'handled-by-person')
         AND coalesce(r.resource->>'status', w.status, 'requested') NOT IN ${ENDED_TASK_STATUSES_SQL}
         AND ($1::text[] IS NULL OR w.source_id = ANY($1::text[]))
       GROUP BY w.source_id, w.patient_id
     ), flagged AS (
       SELECT source_id, patient_id FROM patient_models
       WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND (indicators->'safety'->>'flagged') = 'true'
     ), ids AS (SELECT source_id, patient_id FROM tasks UNION SELECT source_id, patient_id FROM flagged)
     SELECT ids.source_id, ids.patient_id, coalesce(t.n, 0) AS n, t.since, m.indicators
     FROM ids
     LEFT JOIN tasks t ON t.source_id = ids.source_id AND t.patient_id = ids.patient_id
     LEFT JOIN patient_models m ON m.source_id = ids.source_id AND m.patient_id = ids.patient_id
     ORDER BY t.since NULLS LAST, ids.source_id, ids.patient_id`,
    [scopeArray(sourceId)],
  );

export function safetyRole({ db }: RoleContext) {
  return {
    /** Every patient with a safety flag, the longest-waiting open safety Task first. */
    async safetyPatients(sourceId?: SourceScope): Promise<SafetyPatient[]> {
      return (await db.query(safetyPatients(sourceId ?? null))).map((r) => ({
        sourceId: String(r.source_id),
        patientId: String(r.patient_id),
        openSafetyTasks: Number(r.n),
        since: dateOrNull(r.since),
        indicators: r.indicators ?? null,
      }));
    },
  };
}

export type SafetyRole = ReturnType<typeof safetyRole>;
