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
  | 'phq9-item9-safety';

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
}

export const DEFAULT_ACTION_SETTINGS: ActionSettings = Object.freeze({
  identifierSystem: 'https://fhir-engage.dev/fhir/identifier',
  codeSystem: 'https://fhir-engage.dev/fhir/CodeSystem/engagement',
  disabled: [],
  outreachMinNoShows: 2,
}) as ActionSettings;

/** Codes of fhir-engage's own CodeSystem (documented in docs/actions.md). */
export const ENGAGE_CODES: Record<string, string> = {
  'engagement-score': 'Patient engagement score (0-100)',
  'engagement-tier': 'Patient engagement tier',
  engaged: 'Engaged',
  'at-risk': 'At risk of disengagement',
  disengaged: 'Disengaged',
  unknown: 'Unknown (no data)',
  'appointment-adherence': 'Appointment adherence (kept ÷ kept + no-show)',
  'outreach-no-shows': 'Reach out after repeated no-shows',
  'phq9-follow-up': 'PHQ-9 follow-up due',
  'overdue-activity': 'Overdue care-plan activity',
  'phq9-item9-safety': 'PHQ-9 item 9 positive: safety follow-up',
};
