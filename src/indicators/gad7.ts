/**
 * GAD-7 indicators (total = LOINC 70274-6). Severity bands 0–4 minimal,
 * 5–9 mild, 10–14 moderate, 15–21 severe: Spitzer RL, Kroenke K, Williams JB,
 * Löwe B. A brief measure for assessing generalized anxiety disorder: the
 * GAD-7. Arch Intern Med 2006;166(10):1092-1097. Change from baseline (the
 * first score in the window) in points and as a fraction of the baseline.
 */
import type { EngagementModel } from '../mapping/model';
import { scoredResponses, type ScorePoint } from './phq9';
import type { IndicatorSettings } from '../config/indicator-settings';
import { DAY_MS, ms, round } from './time';

export type Gad7Band = 'minimal' | 'mild' | 'moderate' | 'severe';

export function gad7Band(total: number): Gad7Band {
  if (total <= 4) return 'minimal';
  if (total <= 9) return 'mild';
  if (total <= 14) return 'moderate';
  return 'severe';
}

export interface Gad7Indicators {
  latest?: ScorePoint & { band: Gad7Band };
  baseline?: ScorePoint;
  changePoints?: number;
  changeFraction?: number;
  scores: number;
}

export function gad7Indicators(model: EngagementModel, now: Date, settings: IndicatorSettings): Gad7Indicators {
  const scores = scoredResponses(model, 'gad7', now);
  const latest = scores[scores.length - 1];
  const from = now.getTime() - settings.phq9BaselineWindowDays * DAY_MS;
  const baseline = scores.find((s) => (ms(s.date) as number) >= from);
  const result: Gad7Indicators = { scores: scores.length };
  if (latest)
    result.latest = {
      responseId: latest.responseId,
      date: latest.date,
      total: latest.total,
      band: gad7Band(latest.total),
    };
  if (baseline) {
    result.baseline = { responseId: baseline.responseId, date: baseline.date, total: baseline.total };
    if (latest && latest !== baseline) {
      result.changePoints = latest.total - baseline.total;
      if (baseline.total > 0) result.changeFraction = round((baseline.total - latest.total) / baseline.total);
    }
  }
  return result;
}
