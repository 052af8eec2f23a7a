/**
 * Programmes (docs/programme.md): who is enrolled and what each programme does. A source lists its
 * programmes under `programmes:`; with none, the default programme enrols every patient with an
 * engagement signal and runs every rule.
 */
import type { ActionSettings, RuleName } from './action-settings';

/**
 * Who a programme enrols. Codes are `system|code` or a bare `code` (any system); references are
 * `Type/id`; windows are days before (and, for appointments, after) the run's as-of instant.
 */
export type EnrolmentCriterion =
  /** Members of a FHIR Group on the source (the cohort an Epic or Oracle Health registration names); the Group is read each run. */
  | { group: string }
  /** A CarePlan (active unless `statuses` says otherwise) whose category matches one of `codes` (any, when none are given). */
  | { carePlan: { codes?: string[]; statuses?: string[] } }
  /** An appointment (kept, missed or booked) within the window whose service type, specialty or appointment type, practitioner or location matches. */
  | {
      appointment: {
        codes?: string[];
        actors?: string[];
        /** Days back from the as-of instant (default 365). */
        withinDays?: number;
        /** Days ahead: booked visits count (default 365). */
        aheadDays?: number;
      };
    }
  /** A questionnaire answered within the window (by instrument key or canonical URL; any, when neither is given). */
  | { questionnaire: { instruments?: string[]; questionnaires?: string[]; withinDays?: number } }
  /** An explicit list: patient ids (`Patient/123`) or identifiers (`system|value`). */
  | { patients: string[] }
  | { any: EnrolmentCriterion[] }
  | { all: EnrolmentCriterion[] };

export interface ProgrammeDefinition {
  id: string;
  name: string;
  enrol: EnrolmentCriterion;
  /** Rules this programme runs (default: every rule). */
  rules?: RuleName[];
  /** This programme's settings over the file's `actions:` (reminders, surveys, outreach threshold, Task owner). */
  actions?: Partial<Pick<ActionSettings, 'taskOwner' | 'outreachMinNoShows' | 'reminders' | 'surveys'>>;
}

/**
 * The default programme, when a source defines none: a patient with no engagement signal — no
 * CarePlan, no appointment in the last 12 months or booked ahead, no questionnaire answered in the
 * last 12 months — is in no programme, and fhir-engage writes nothing about them.
 */
export const DEFAULT_PROGRAMME: ProgrammeDefinition = Object.freeze({
  id: 'default',
  name: 'Engaged patients (default)',
  enrol: {
    any: [
      { carePlan: {} },
      { appointment: { withinDays: 365, aheadDays: 365 } },
      { questionnaire: { withinDays: 365 } },
    ],
  },
}) as ProgrammeDefinition;
