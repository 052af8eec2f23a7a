/** The payload of an outbox row: one desired write, as planned. */
import type {
  Communication,
  EpisodeOfCare,
  Observation,
  Questionnaire,
  QuestionnaireResponse,
  Task,
} from '@medplum/fhirtypes';
import type { Actor, TaskActionName, TaskChange } from '../actions/care-team';
import type { RuleName } from '../config/action-settings';

export interface UpsertPayload {
  op: 'upsert';
  identifierSystem: string;
  identifier: string;
  rule: RuleName;
  patientId: string;
  resourceType: 'Observation' | 'Task' | 'EpisodeOfCare';
  resource: Observation | Task | EpisodeOfCare;
  entities: string[];
  contentHash: string;
  /** The programme that asked for it; absent in rows queued before programmes existed. */
  programme?: string;
}

export interface ClosePayload {
  op: 'close';
  identifierSystem: string;
  identifier: string;
  rule: RuleName;
  patientId: string;
  resourceType: 'Task';
  /** failed: a message fhir-engage sent for it could not be delivered (docs/messaging.md). */
  status: 'cancelled' | 'completed' | 'failed';
  reason: string;
  serverId: string | null;
  entities: string[];
  /** The closed Task's lastModified (the as-of of the run that decided it); absent in rows queued before it existed. */
  at?: string;
  /** The programme the patient left, when that is why the Task closes. */
  programme?: string;
}

/**
 * A person's action on one of fhir-engage's Tasks (docs/care-team.md): the change applies to the Task
 * as the person saw it; a Task that moved since is a conflict, shown to them, and nothing is written.
 */
export interface TaskActionPayload {
  op: 'task-action';
  identifierSystem: string;
  identifier: string;
  rule: string;
  patientId: string;
  resourceType: 'Task';
  serverId: string;
  action: TaskActionName;
  /** The Task as the person saw it: its status and owner (by name). Another version with the same is no conflict. */
  seen: { status: string | null; owner: string | null };
  change: TaskChange;
  actor: Actor;
  /** When the person acted. */
  at: string;
  entities: string[];
}

/**
 * A Communication created once (conditional create by its identifier): a call or note the care team
 * logged (with who), or a message fhir-engage sent to or received from a patient (docs/messaging.md).
 */
export interface CommunicationPayload {
  op: 'communication';
  identifierSystem: string;
  identifier: string;
  rule: 'care-team-contact' | 'patient-message';
  patientId: string;
  resourceType: 'Communication';
  resource: Communication;
  /** Who logged it; absent for a message fhir-engage sent or received. */
  actor?: Actor;
  entities: string[];
}

/**
 * A patient's answers to a survey through its link (docs/surveys.md): a QuestionnaireResponse created
 * once (conditional create by its identifier), the patient its author in the Provenance.
 */
export interface QuestionnaireResponsePayload {
  op: 'questionnaire-response';
  identifierSystem: string;
  identifier: string;
  rule: 'survey-response';
  patientId: string;
  resourceType: 'QuestionnaireResponse';
  resource: QuestionnaireResponse;
  actor: Actor;
  entities: string[];
}

/** Rows a person asked for: sent at once, and never held with a plan that waits for approval. */
export type PersonPayload = TaskActionPayload | CommunicationPayload | QuestionnaireResponsePayload;
export const PERSON_OPS: readonly PersonPayload['op'][] = ['task-action', 'communication', 'questionnaire-response'];

/**
 * A Questionnaire a survey Task names, written once to a source that allows it (`writeQuestionnaires`):
 * a conditional create on its url and version (docs/surveys.md, "Questionnaires").
 */
export interface DefinitionPayload {
  op: 'definition';
  /** Unused by its conditional create (by url and version); kept for the outbox's common fields. */
  identifierSystem: string;
  identifier: string;
  rule: 'questionnaire-definition';
  patientId: '';
  resourceType: 'Questionnaire';
  resource: Questionnaire;
  entities: string[];
}

export type OutboxPayload = UpsertPayload | ClosePayload | PersonPayload | DefinitionPayload;
