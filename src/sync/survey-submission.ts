/**
 * A survey answered through its link (docs/surveys.md, "The answer"): the link marked answered and the
 * QuestionnaireResponse put in the outbox in one transaction — from then on nothing is lost and the
 * patient is told "received" — then, without keeping the patient waiting, the response sent to the EMR
 * (with a Provenance naming the patient as author) and a run for that patient alone: the survey Task
 * completed with the response as its output, the total Observation, and — item 9 above 0 — the stat
 * safety Task and its alert, all within seconds. When the EMR refuses or is away, the outbox keeps the
 * response and the next run sends it; when a run of the source is under way, the patient's run waits
 * for it (up to PATIENT_RUN_WAIT_MS), else the next run does the rest.
 */
import type { QuestionnaireResponseItem } from '@medplum/fhirtypes';
import type { AppConfig, SourceConfig } from '../config/types';
import { logger } from '../log/logger';
import type { Store } from '../store/store';
import type { SurveyLink } from '../store/survey-links';
import type { OutboxItem } from '../store/types';
import { responseIdentifier, surveyResponse } from '../surveys/response';
import type { QuestionnaireResponsePayload } from '../writeback/outbox-item';
import { sendNow } from './care-team';
import { SyncBusyError, syncSource } from './run';

/** How long the patient's run waits for a run of the source under way before leaving it to the next. */
export const PATIENT_RUN_WAIT_MS = 120_000;
const RETRY_MS = 1_000;

export interface SurveySubmission {
  /** received: stored now; already: the link had been answered (nothing stored). */
  state: 'received' | 'already';
  /** Settles when the EMR has the response and the patient's run is done, or was left to the next run. */
  followUp: Promise<void>;
}

const target = (source: SourceConfig): string => source.writeTarget?.baseUrl ?? source.baseUrl;

async function store(
  db: Store,
  source: SourceConfig,
  link: SurveyLink,
  payload: QuestionnaireResponsePayload,
  crisis: boolean,
  now: Date,
): Promise<OutboxItem | undefined> {
  return db.transaction(async (tx) => {
    if (!(await tx.submitSurveyLink(link.id, now, crisis))) return undefined;
    const row = await tx.enqueuePersonWrite(source.id, {
      target: target(source),
      dedupeKey: `${target(source)}|${payload.identifier}`,
      resourceType: 'QuestionnaireResponse',
      payload,
    });
    await tx.setSurveyLinkOutbox(link.id, row.id);
    return row;
  });
}

/** The patient's run, once any run of the source under way has ended (or left to the next one). */
async function patientRun(db: Store, config: AppConfig, source: SourceConfig, patientId: string, now: () => Date) {
  const until = Date.now() + PATIENT_RUN_WAIT_MS;
  for (;;) {
    try {
      const summary = await syncSource(db, config, source, { asOf: now(), patients: [patientId] });
      logger().info(
        { event: 'survey-answer-run', sourceId: source.id, runId: summary.runId, status: summary.status },
        'the run for a survey answered through its link finished',
      );
      return;
    } catch (err) {
      if (!(err instanceof SyncBusyError) || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
}

export async function submitSurvey(input: {
  store: Store;
  config: AppConfig;
  link: SurveyLink;
  items: QuestionnaireResponseItem[];
  crisis: boolean;
  now: () => Date;
}): Promise<SurveySubmission> {
  const { link, config } = input;
  const source = config.sources.find((s) => s.id === link.sourceId);
  if (!source) throw new Error(`the link's source ${link.sourceId} is no longer configured`);
  const at = input.now();
  const payload: QuestionnaireResponsePayload = {
    op: 'questionnaire-response',
    identifierSystem: config.actions.identifierSystem,
    identifier: responseIdentifier(link.id),
    rule: 'survey-response',
    patientId: link.patientId,
    resourceType: 'QuestionnaireResponse',
    resource: surveyResponse(link, input.items, config.actions.identifierSystem, at),
    actor: { kind: 'patient', id: link.patientId, display: 'the patient (survey link)' },
    entities: [`Task/${link.taskServerId}`],
  };
  const row = await store(input.store, source, link, payload, input.crisis, at);
  if (!row) return { state: 'already', followUp: Promise.resolve() };
  const followUp = (async () => {
    const sent = await sendNow(input.store, source, row);
    if (sent.state !== 'written' && sent.state !== 'unchanged') {
      logger().warn(
        { event: 'survey-answer-queued', sourceId: source.id, writeId: row.id, state: sent.state },
        'a survey answer is kept in the outbox: the EMR did not take it now; the next run sends it',
      );
      return;
    }
    await patientRun(input.store, config, source, link.patientId, input.now);
  })().catch((err: unknown) =>
    logger().error(
      { err, event: 'survey-answer-follow-up-failed', sourceId: source.id, writeId: row.id },
      'the follow-up of a survey answer failed; the next run does it',
    ),
  );
  return { state: 'received', followUp };
}
