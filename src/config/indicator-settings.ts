/**
 * Indicator settings: every threshold and weight, documented once with its
 * default. Overridable in the sources file under `indicators:` (see
 * src/config/config.schema.json); clinical cut-offs are cited in
 * docs/indicators.md and are not meant to be tuned.
 */
export interface EngagementWeights {
  adherence: number;
  recency: number;
  carePlan: number;
  questionnaires: number;
}

export interface IndicatorSettings {
  /** Appointment window for no-show rate and adherence, in days before as-of. */
  appointmentWindowDays: number;
  /** Window of the recent no-show count (outreach rule: ≥ 2 in 90 days). */
  noShowLookbackDays: number;
  /** PHQ-9 follow-up is due this many days after an elevated score with no newer response. */
  phq9FollowUpDays: number;
  /** Window in which the PHQ-9 baseline (first score > 9) is looked for, in days before as-of. */
  phq9BaselineWindowDays: number;
  /** A response to any questionnaire this recent counts fully towards questionnaire engagement. */
  questionnaireRecentDays: number;
  /** …and no response for this long counts nothing. */
  questionnaireStaleDays: number;
  /** Last contact this recent counts fully towards recency… */
  recencyFullDays: number;
  /** …and this old counts nothing (linear in between). */
  recencyZeroDays: number;
  weights: EngagementWeights;
  /** Score cut-offs: ≥ engaged → engaged; ≥ atRisk → at risk; below → disengaged. */
  tiers: { engaged: number; atRisk: number };
}

export const DEFAULT_INDICATOR_SETTINGS: IndicatorSettings = Object.freeze({
  appointmentWindowDays: 365,
  noShowLookbackDays: 90,
  phq9FollowUpDays: 30,
  // CMS159: index event within the 12 months before the measurement period, remission checked 12 months ± 60 days later.
  phq9BaselineWindowDays: 365 + 60,
  questionnaireRecentDays: 45,
  questionnaireStaleDays: 120,
  recencyFullDays: 30,
  recencyZeroDays: 180,
  weights: Object.freeze({ adherence: 0.35, recency: 0.25, carePlan: 0.2, questionnaires: 0.2 }),
  tiers: Object.freeze({ engaged: 70, atRisk: 40 }),
}) as IndicatorSettings;
