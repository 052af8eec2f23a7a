/**
 * Engagement score 0–100 and tier. A weighted mean of the components that
 * have data (adherence, recency of contact, care-plan completion,
 * questionnaire engagement), with weights and tier cut-offs from settings.
 * Missing data lowers confidence, not the score: a component without data is
 * left out of the mean and named in `missing`. This is a programme heuristic,
 * not a validated clinical instrument (docs/indicators.md).
 */
import { percent } from '../percent';
import type { EngagementWeights, IndicatorSettings } from '../config/indicator-settings';
import { round } from './time';

export type Tier = 'engaged' | 'at-risk' | 'disengaged' | 'unknown';
export type Component = keyof EngagementWeights;

export interface EngagementInputs {
  /** Kept ÷ (kept + no-show), 0–1. */
  adherence: number | null;
  daysSinceLastContact: number | null;
  carePlanCompletion: number | null;
  /** Questionnaire completion rate when known, 0–1. */
  questionnaireCompletion: number | null;
  daysSinceLastResponse: number | null;
}

export interface EngagementScore {
  score: number | null;
  tier: Tier;
  /** Share of the total weight that had data, 0–1. */
  confidence: number;
  components: Partial<Record<Component, number>>;
  missing: Component[];
  why: string;
}

/** 1 up to `full` days, 0 from `zero` days, linear in between. */
export function decay(days: number, full: number, zero: number): number {
  if (days <= full) return 1;
  if (days >= zero) return 0;
  return (zero - days) / (zero - full);
}

export function tierOf(score: number | null, tiers: IndicatorSettings['tiers']): Tier {
  if (score === null) return 'unknown';
  if (score >= tiers.engaged) return 'engaged';
  if (score >= tiers.atRisk) return 'at-risk';
  return 'disengaged';
}

const LABEL: Record<Component, (v: number, i: EngagementInputs) => string> = {
  adherence: (v) => `attends ${percent(v)} of due appointments`,
  recency: (_v, i) => `last contact ${i.daysSinceLastContact} days ago`,
  carePlan: (v) => `care-plan activities ${percent(v)} complete`,
  questionnaires: (_v, i) =>
    i.questionnaireCompletion !== null
      ? `answers ${percent(i.questionnaireCompletion)} of questionnaires sent`
      : `last questionnaire ${i.daysSinceLastResponse} days ago`,
};

export function engagementScore(inputs: EngagementInputs, settings: IndicatorSettings): EngagementScore {
  const components: Partial<Record<Component, number>> = {};
  if (inputs.adherence !== null) components.adherence = inputs.adherence;
  if (inputs.daysSinceLastContact !== null)
    components.recency = decay(inputs.daysSinceLastContact, settings.recencyFullDays, settings.recencyZeroDays);
  if (inputs.carePlanCompletion !== null) components.carePlan = inputs.carePlanCompletion;
  if (inputs.questionnaireCompletion !== null) components.questionnaires = inputs.questionnaireCompletion;
  else if (inputs.daysSinceLastResponse !== null)
    components.questionnaires = decay(
      inputs.daysSinceLastResponse,
      settings.questionnaireRecentDays,
      settings.questionnaireStaleDays,
    );

  const all = Object.keys(settings.weights) as Component[];
  const present = all.filter((c) => components[c] !== undefined);
  const missing = all.filter((c) => components[c] === undefined);
  const totalWeight = all.reduce((s, c) => s + settings.weights[c], 0);
  const presentWeight = present.reduce((s, c) => s + settings.weights[c], 0);
  const score =
    presentWeight > 0
      ? Math.round(
          (100 * present.reduce((s, c) => s + settings.weights[c] * (components[c] as number), 0)) / presentWeight,
        )
      : null;
  const tier = tierOf(score, settings.tiers);
  // The main contributors: the weakest components first (what to act on), then the strongest.
  const ranked = [...present].sort(
    (a, b) =>
      settings.weights[b] * (1 - (components[b] as number)) - settings.weights[a] * (1 - (components[a] as number)),
  );
  const parts = ranked.slice(0, 3).map((c) => LABEL[c](components[c] as number, inputs));
  const why =
    score === null
      ? 'no appointments, contacts, care-plan activities or questionnaires to go on'
      : `${tier} (${score}): ${parts.join('; ')}${missing.length ? `; no data on ${missing.join(', ')}` : ''}`;
  return {
    score,
    tier,
    confidence: totalWeight > 0 ? round(presentWeight / totalWeight) : 0,
    components: Object.fromEntries(Object.entries(components).map(([k, v]) => [k, round(v as number)])),
    missing,
    why,
  };
}
