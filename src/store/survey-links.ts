/**
 * Survey links (docs/surveys.md): the row each link names, made once per survey Task, opened,
 * answered once. Its SQL builders (pure, `{ text, values }`) and the methods that run them; the
 * methods are part of `Store` (store.ts).
 */
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { openTasksWithoutMessage } from './messages';
import { ENDED_TASK_STATUSES_SQL, ISO_INSTANT, date, dateOrNull, q, type Row } from './rows';

export interface SurveyLink {
  id: string;
  sourceId: string;
  patientId: string;
  taskIdentifier: string;
  taskServerId: string;
  questionnaire: string;
  language: string;
  expiresAt: Date;
  createdAt: Date;
  openedAt: Date | null;
  birthDateFailures: number;
  submittedAt: Date | null;
  crisis: boolean;
  outboxId: number | null;
}

export type SurveyLinkInput = Pick<
  SurveyLink,
  'id' | 'sourceId' | 'patientId' | 'taskIdentifier' | 'taskServerId' | 'questionnaire' | 'language' | 'expiresAt'
>;

/** A survey Task open for an answer now, that fhir-engage wrote and the EMR holds. */
export interface SurveyTaskDue {
  identifierValue: string;
  patientId: string;
  serverId: string;
  task: unknown;
  programmes: string[];
}

const toLink = (r: Row): SurveyLink => ({
  id: String(r.id),
  sourceId: String(r.source_id),
  patientId: String(r.patient_id),
  taskIdentifier: String(r.task_identifier),
  taskServerId: String(r.task_server_id),
  questionnaire: String(r.questionnaire),
  language: String(r.language),
  expiresAt: date(r.expires_at),
  createdAt: date(r.created_at),
  openedAt: dateOrNull(r.opened_at),
  birthDateFailures: Number(r.birth_date_failures),
  submittedAt: dateOrNull(r.submitted_at),
  crisis: r.crisis === true,
  outboxId: r.outbox_id === null || r.outbox_id === undefined ? null : Number(r.outbox_id),
});

/** The Task's link: the one made before, else this new one. */
export const addSurveyLink = (l: SurveyLinkInput): SqlQuery =>
  q(
    `WITH added AS (
       INSERT INTO survey_links (id, source_id, patient_id, task_identifier, task_server_id, questionnaire, language, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (source_id, task_identifier) DO NOTHING RETURNING *)
     SELECT * FROM added
     UNION ALL SELECT * FROM survey_links WHERE source_id = $2 AND task_identifier = $4 AND NOT EXISTS (SELECT 1 FROM added)`,
    [l.id, l.sourceId, l.patientId, l.taskIdentifier, l.taskServerId, l.questionnaire, l.language, l.expiresAt],
  );

export const surveyLink = (id: string): SqlQuery => q('SELECT * FROM survey_links WHERE id = $1', [id]);

export const markOpened = (id: string, at: Date): SqlQuery =>
  q('UPDATE survey_links SET opened_at = coalesce(opened_at, $2) WHERE id = $1', [id, at]);

export const addBirthDateFailure = (id: string): SqlQuery =>
  q(
    'UPDATE survey_links SET birth_date_failures = birth_date_failures + 1 WHERE id = $1 RETURNING birth_date_failures',
    [id],
  );

/** Marks the link answered, once: the row when this call answered it, none when it was answered already. */
export const submitLink = (id: string, at: Date, crisis: boolean): SqlQuery =>
  q(`UPDATE survey_links SET submitted_at = $2, crisis = $3 WHERE id = $1 AND submitted_at IS NULL RETURNING *`, [
    id,
    at,
    crisis,
  ]);

export const setLinkOutbox = (id: string, outboxId: number): SqlQuery =>
  q('UPDATE survey_links SET outbox_id = $2 WHERE id = $1', [id, outboxId]);

export const linkedTaskIds = (sourceId: string): SqlQuery =>
  q('SELECT task_server_id FROM survey_links WHERE source_id = $1', [sourceId]);

export const linksOfPatient = (sourceId: string, patientId: string): SqlQuery =>
  q('SELECT * FROM survey_links WHERE source_id = $1 AND patient_id = $2 ORDER BY created_at DESC LIMIT 50', [
    sourceId,
    patientId,
  ]);

/**
 * Survey Tasks fhir-engage wrote that are open now (requested, inside their window) and have no
 * invitation message yet, with the patient's open programmes.
 */
export const surveyTasksToInvite = (sourceId: string, now: Date): SqlQuery =>
  q(
    `${openTasksWithoutMessage(
      `w.rule IN ('survey-assignment', 'post-visit-survey') AND (w.status IS NULL OR w.status NOT IN ${ENDED_TASK_STATUSES_SQL})`,
      'survey|',
    )}
     FROM open
     WHERE open.task->>'status' = 'requested'
       AND (CASE WHEN open.task->'executionPeriod'->>'start' ~ ${ISO_INSTANT} THEN (open.task->'executionPeriod'->>'start')::timestamptz END) <= $2
       AND (CASE WHEN open.task->'executionPeriod'->>'end' ~ ${ISO_INSTANT} THEN (open.task->'executionPeriod'->>'end')::timestamptz END) > $2
     ORDER BY open.identifier_value`,
    [sourceId, now],
  );

export function surveyLinksRole({ db }: RoleContext) {
  return {
    async addSurveyLink(l: SurveyLinkInput): Promise<SurveyLink> {
      const [row] = await db.query(addSurveyLink(l));
      return toLink(row as Row);
    },
    async surveyLink(id: string): Promise<SurveyLink | undefined> {
      const [row] = await db.query(surveyLink(id));
      return row ? toLink(row) : undefined;
    },
    async markSurveyLinkOpened(id: string, at: Date): Promise<void> {
      await db.query(markOpened(id, at));
    },
    /** Counts a wrong birth date; returns how many there have been. */
    async addBirthDateFailure(id: string): Promise<number> {
      const [row] = await db.query(addBirthDateFailure(id));
      return Number(row?.birth_date_failures ?? 0);
    },
    /** The link marked answered now; undefined when it had been answered already. */
    async submitSurveyLink(id: string, at: Date, crisis: boolean): Promise<SurveyLink | undefined> {
      const [row] = await db.query(submitLink(id, at, crisis));
      return row ? toLink(row) : undefined;
    },
    async setSurveyLinkOutbox(id: string, outboxId: number): Promise<void> {
      await db.query(setLinkOutbox(id, outboxId));
    },
    /** The survey Tasks (EMR ids) that have a link: their patients answer through the page. */
    async linkedSurveyTaskIds(sourceId: string): Promise<Set<string>> {
      return new Set((await db.query(linkedTaskIds(sourceId))).map((r) => String(r.task_server_id)));
    },
    async surveyLinksOfPatient(sourceId: string, patientId: string): Promise<SurveyLink[]> {
      return (await db.query(linksOfPatient(sourceId, patientId))).map(toLink);
    },
    async surveyTasksToInvite(sourceId: string, now: Date): Promise<SurveyTaskDue[]> {
      return (await db.query(surveyTasksToInvite(sourceId, now))).map((r) => ({
        identifierValue: String(r.identifier_value),
        patientId: String(r.patient_id),
        serverId: String(r.server_id),
        task: r.task,
        programmes: ((r.programmes as unknown[] | null) ?? []).map(String),
      }));
    },
  };
}

export type SurveyLinksRole = ReturnType<typeof surveyLinksRole>;
