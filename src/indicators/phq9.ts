/**
 * PHQ-9 indicators (total = LOINC 44261-6).
 *
 * - Severity bands 0–4 none/minimal, 5–9 mild, 10–14 moderate, 15–19
 *   moderately severe, 20–27 severe: Kroenke K, Spitzer RL, Williams JB. The
 *   PHQ-9: validity of a brief depression severity measure. J Gen Intern Med
 *   2001;16(9):606-613.
 * - Baseline: the first score > 9 in the window (the index event of CMS159,
 *   "Depression Remission at Twelve Months", eCQI Resource Center).
 * - Response: a drop of ≥ 50 % from baseline; partial response 25–50 %
 *   (Kroenke 2001; as used by MN Community Measurement and CMS159's
 *   companion measures).
 * - Remission: latest score < 5 (CMS159). CMS159's own measure — remission
 *   at 12 months ± 60 days after the index event — is `remissionAt12Months`.
 * - Follow-up due: an elevated score (> 9) with no newer response after the
 *   configured interval.
 * - Item 9 safety flag: item 9 (thoughts of being better off dead or of
 *   self-harm) answered above 0 in the latest response.
 */
import type { EngagementModel, ResponseItem } from '../mapping/model';
import type { IndicatorSettings } from '../config/indicator-settings';
import { addDays, addMonths, DAY_MS, ms, round } from './time';

export type Phq9Band = 'none-minimal' | 'mild' | 'moderate' | 'moderately-severe' | 'severe';

/** Kroenke 2001 severity band of a PHQ-9 total (0–27). */
export function phq9Band(total: number): Phq9Band {
  if (total <= 4) return 'none-minimal';
  if (total <= 9) return 'mild';
  if (total <= 14) return 'moderate';
  if (total <= 19) return 'moderately-severe';
  return 'severe';
}

/** PHQ-9 > 9: the CMS159 index threshold. */
export const PHQ9_ELEVATED_ABOVE = 9;
/** Remission: PHQ-9 < 5 (CMS159). */
export const PHQ9_REMISSION_BELOW = 5;
/** CMS159 assessment window: 12 months after the index event, ± 60 days. */
export const CMS159_WINDOW_DAYS = 60;

export type ResponseCategory = 'response' | 'partial-response' | 'no-response';

/** Relative drop from baseline: ≥ 50 % response, 25–50 % partial response. */
export function responseCategory(baseline: number, latest: number): ResponseCategory {
  const drop = (baseline - latest) / baseline;
  if (drop >= 0.5) return 'response';
  if (drop >= 0.25) return 'partial-response';
  return 'no-response';
}

export interface ScorePoint {
  responseId: string;
  date: string;
  total: number;
}

export type Cms159Status =
  | { status: 'no-index-event' }
  | { status: 'pending'; indexDate: string; windowStart: string; windowEnd: string }
  | { status: 'met' | 'not-met'; indexDate: string; windowStart: string; windowEnd: string; assessment?: ScorePoint };

export interface Phq9Indicators {
  latest?: ScorePoint & { band: Phq9Band };
  baseline?: ScorePoint;
  /** Fraction of the baseline gone (0.5 = halved); negative when worse. */
  changeFromBaseline?: number;
  response?: ResponseCategory;
  remission?: boolean;
  remissionAt12Months: Cms159Status;
  followUp: { due: boolean; dueSince?: string; after?: ScorePoint };
  item9: { flagged: boolean; value?: number; responseId?: string; date?: string };
  scores: number;
}

/** Scored, completed responses of one instrument, oldest first. */
export function scoredResponses(
  model: EngagementModel,
  instrument: string,
  now: Date,
): (ScorePoint & { response: ResponseItem })[] {
  return model.responses
    .filter(
      (r) =>
        r.instrument === instrument &&
        r.status === 'completed' &&
        r.score?.total !== undefined &&
        (ms(r.authored) ?? Infinity) <= now.getTime(),
    )
    .map((r) => ({ responseId: r.id, date: r.authored as string, total: r.score?.total as number, response: r }))
    .sort((a, b) => (ms(a.date) as number) - (ms(b.date) as number) || (a.responseId < b.responseId ? -1 : 1));
}

const point = (p: ScorePoint): ScorePoint => ({ responseId: p.responseId, date: p.date, total: p.total });

/**
 * CMS159: with the index event on D, remission is met when the most recent
 * PHQ-9 in [D + 12 months − 60 days, D + 12 months + 60 days] is < 5.
 */
export function remissionAt12Months(scores: ScorePoint[], index: ScorePoint | undefined, now: Date): Cms159Status {
  if (!index) return { status: 'no-index-event' };
  const anniversary = addMonths(new Date(index.date), 12);
  const windowStart = addDays(anniversary, -CMS159_WINDOW_DAYS);
  const windowEnd = addDays(anniversary, CMS159_WINDOW_DAYS);
  const base = { indexDate: index.date, windowStart: windowStart.toISOString(), windowEnd: windowEnd.toISOString() };
  const inWindow = scores.filter((s) => {
    const t = ms(s.date) as number;
    return t >= windowStart.getTime() && t <= windowEnd.getTime() && t <= now.getTime();
  });
  const assessment = inWindow[inWindow.length - 1];
  if (assessment && assessment.total < PHQ9_REMISSION_BELOW)
    return { status: 'met', ...base, assessment: point(assessment) };
  if (now.getTime() <= windowEnd.getTime()) return { status: 'pending', ...base };
  return { status: 'not-met', ...base, ...(assessment ? { assessment: point(assessment) } : {}) };
}

export function phq9Indicators(model: EngagementModel, now: Date, settings: IndicatorSettings): Phq9Indicators {
  const scores = scoredResponses(model, 'phq9', now);
  const latest = scores[scores.length - 1];
  const from = now.getTime() - settings.phq9BaselineWindowDays * DAY_MS;
  const baseline = scores.find((s) => s.total > PHQ9_ELEVATED_ABOVE && (ms(s.date) as number) >= from);
  const result: Phq9Indicators = {
    remissionAt12Months: remissionAt12Months(scores, baseline, now),
    followUp: { due: false },
    item9: { flagged: false },
    scores: scores.length,
  };
  if (latest) {
    result.latest = { ...point(latest), band: phq9Band(latest.total) };
    result.remission = latest.total < PHQ9_REMISSION_BELOW;
    if (latest.total > PHQ9_ELEVATED_ABOVE) {
      const dueAt = addDays(new Date(latest.date), settings.phq9FollowUpDays);
      result.followUp = { due: now.getTime() >= dueAt.getTime(), dueSince: dueAt.toISOString(), after: point(latest) };
    }
  }
  if (baseline) {
    result.baseline = point(baseline);
    if (latest && latest !== baseline) {
      result.changeFromBaseline = round((baseline.total - latest.total) / baseline.total);
      result.response = responseCategory(baseline.total, latest.total);
    }
  }
  // Item 9 is read from the latest PHQ-9 answered at all: an incomplete response can still carry it.
  const latestAny = model.responses
    .filter((r) => r.instrument === 'phq9' && r.status !== 'other' && (ms(r.authored) ?? Infinity) <= now.getTime())
    .sort((a, b) => (ms(b.authored) ?? 0) - (ms(a.authored) ?? 0))[0];
  const item9 = latestAny?.score?.items.item9;
  if (latestAny && item9 !== undefined && item9 > 0) {
    result.item9 = {
      flagged: true,
      value: item9,
      responseId: latestAny.id,
      ...(latestAny.authored ? { date: latestAny.authored } : {}),
    };
  }
  return result;
}
