/**
 * Write-back rules and their settings, documented once (docs/actions.md).
 * Overridable under `actions:` in the sources file.
 */
export type RuleName =
  | 'engagement-score'
  | 'appointment-adherence'
  | 'questionnaire-total'
  | 'outreach-no-shows'
  | 'phq9-follow-up'
  | 'overdue-activity'
  | 'phq9-item9-safety'
  | 'appointment-reminder'
  | 'reminder-no-channel'
  | 'survey-assignment'
  | 'post-visit-survey'
  | 'patient-satisfaction'
  /** Not a rule a programme lists: an EpisodeOfCare per enrolment when the source sets `episodesOfCare` (docs/programme.md). */
  | 'programme-enrolment'
  /** Not a rule either: a Task for the care team when a patient answers a message with text (docs/messaging.md). */
  | 'patient-reply';

/** Every rule, in the order docs/actions.md and docs/programme.md describe them. */
export const RULE_NAMES: RuleName[] = [
  'engagement-score',
  'appointment-adherence',
  'questionnaire-total',
  'outreach-no-shows',
  'phq9-follow-up',
  'overdue-activity',
  'phq9-item9-safety',
  'appointment-reminder',
  'reminder-no-channel',
  'survey-assignment',
  'post-visit-survey',
  'patient-satisfaction',
];

/** Ways a reminder can reach a patient (FHIR ContactPoint.system values; a mobile phone also takes SMS). */
export type ReminderChannel = 'sms' | 'email' | 'phone';

export interface ReminderSettings {
  /** Days before the appointment at which a reminder is due, one Task each (docs/programme.md). */
  leadTimesDays: number[];
  /** Preference order of channels when the patient ranks none of them. */
  channels: ReminderChannel[];
  /** Local times (HH:MM, the clinic's zone) between which a reminder may be sent: Task.restriction.period. */
  sendWindow: { start: string; end: string };
}

export interface PeriodicSurvey {
  /** Instrument key of mappings/questionnaires (phq9, gad7). */
  instrument: string;
  /** Canonical URL of the Questionnaire to complete (Task.input, SDC questionnaire-task pattern). */
  questionnaire: string;
  everyDays: number;
  /** Sooner after a high score: at or above `soonerAtOrAbove`, the next window opens after `soonerDays`. */
  soonerDays?: number;
  soonerAtOrAbove?: number;
}

export interface SurveySettings {
  periodic: PeriodicSurvey[];
  /** Post-visit feedback after each kept appointment; undefined switches it off. */
  postVisit?: { instrument: string; questionnaire: string };
  /** Days a survey Task is open for an answer; when it closes unanswered, the Task is cancelled. */
  windowDays: number;
}

export interface ActionSettings {
  /** Identifier system of everything fhir-engage writes (its value is deterministic per patient, rule and period). */
  identifierSystem: string;
  /** Canonical URL of the CodeSystem of fhir-engage's own codes (docs/actions.md). */
  codeSystem: string;
  /** Optional Task.owner, e.g. Organization/care-team-1 or PractitionerRole/123. */
  taskOwner?: string;
  /** Rules switched off here write nothing (and close nothing). */
  disabled: RuleName[];
  /** No-shows in the lookback window (indicators.noShowLookbackDays) that trigger outreach. */
  outreachMinNoShows: number;
  reminders: ReminderSettings;
  surveys: SurveySettings;
}

export const DEFAULT_ACTION_SETTINGS: ActionSettings = Object.freeze({
  identifierSystem: 'https://fhir-engage.dev/fhir/identifier',
  codeSystem: 'https://fhir-engage.dev/fhir/CodeSystem/engagement',
  disabled: [],
  outreachMinNoShows: 2,
  reminders: {
    leadTimesDays: [7, 1],
    channels: ['sms', 'email', 'phone'],
    sendWindow: { start: '09:00', end: '19:00' },
  },
  surveys: {
    periodic: [
      // Kroenke 2001 / APA measurement-based care: repeat the PHQ-9 about monthly, sooner when moderate or worse.
      {
        instrument: 'phq9',
        questionnaire: 'http://loinc.org/q/44249-1',
        everyDays: 28,
        soonerDays: 14,
        soonerAtOrAbove: 10,
      },
      {
        instrument: 'gad7',
        questionnaire: 'http://loinc.org/q/69737-5',
        everyDays: 28,
        soonerDays: 14,
        soonerAtOrAbove: 10,
      },
    ],
    postVisit: {
      instrument: 'satisfaction',
      questionnaire: 'https://fhir-engage.dev/fhir/Questionnaire/post-visit-satisfaction',
    },
    windowDays: 7,
  },
}) as ActionSettings;
