/**
 * The QuestionnaireResponse of a survey answered through its link (docs/surveys.md, "The answer"):
 * completed, the form's canonical, the patient as subject and source, `authored` at submission,
 * `basedOn` the survey Task, and fhir-engage's identifier (one per link: the EMR's conditional create
 * makes a retried write the same resource). Pure.
 */
import type { QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';

export interface AnsweredLink {
  id: string;
  patientId: string;
  taskServerId: string;
  questionnaire: string;
}

export const responseIdentifier = (linkId: string): string => `survey-response/${linkId}`;

export function surveyResponse(
  link: AnsweredLink,
  items: QuestionnaireResponseItem[],
  identifierSystem: string,
  now: Date,
): QuestionnaireResponse {
  const patient = { reference: `Patient/${link.patientId}` };
  return {
    resourceType: 'QuestionnaireResponse',
    identifier: { system: identifierSystem, value: responseIdentifier(link.id) },
    basedOn: [{ reference: `Task/${link.taskServerId}` } as never],
    questionnaire: link.questionnaire,
    status: 'completed',
    subject: patient,
    authored: now.toISOString(),
    source: patient,
    item: items,
  };
}
