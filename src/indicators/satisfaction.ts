/**
 * Patient satisfaction from the post-visit survey (mappings/questionnaires/
 * satisfaction.yaml, an example instrument): per response the 0-10
 * likelihood to recommend and the mean of the 1-5 experience items; per
 * patient the latest and its change from the one before.
 *
 * Net Promoter categories (Reichheld FF, "The one number you need to grow",
 * Harv Bus Rev 2003;81(12):46-54): promoter 9-10, passive 7-8, detractor 0-6.
 */
import type { EngagementModel } from '../mapping/model';
import { ms, round } from './time';

export type NpsCategory = 'promoter' | 'passive' | 'detractor';

export interface SatisfactionResponse {
  responseId: string;
  authored: string;
  recommend: number;
  category: NpsCategory;
  /** Mean of the answered 1-5 experience items, if any. */
  experience?: number;
}

export interface SatisfactionIndicators {
  responses: number;
  latest?: SatisfactionResponse;
  /** Latest recommend score minus the previous one (positive: better). */
  trend?: number;
}

/** Items of the example instrument other than the recommend question. */
const EXPERIENCE_ITEMS = ['explained', 'listened', 'time'];

export function npsCategory(recommend: number): NpsCategory {
  return recommend >= 9 ? 'promoter' : recommend >= 7 ? 'passive' : 'detractor';
}

/** Every scored satisfaction response up to `now`, oldest first. */
export function satisfactionResponses(model: EngagementModel, now: Date): SatisfactionResponse[] {
  const out: SatisfactionResponse[] = [];
  for (const r of model.responses) {
    const recommend = r.score?.items.recommend;
    if (
      r.instrument !== 'satisfaction' ||
      r.status !== 'completed' ||
      recommend === undefined ||
      !r.authored ||
      (ms(r.authored) ?? Infinity) > now.getTime()
    )
      continue;
    if (recommend < 0 || recommend > 10) continue;
    const experience = EXPERIENCE_ITEMS.map((k) => r.score?.items[k]).filter(
      (v): v is number => v !== undefined && v >= 1 && v <= 5,
    );
    out.push({
      responseId: r.id,
      authored: r.authored,
      recommend,
      category: npsCategory(recommend),
      ...(experience.length ? { experience: round(experience.reduce((s, v) => s + v, 0) / experience.length) } : {}),
    });
  }
  return out.sort((a, b) => (ms(a.authored) ?? 0) - (ms(b.authored) ?? 0));
}

export function satisfactionIndicators(model: EngagementModel, now: Date): SatisfactionIndicators {
  const all = satisfactionResponses(model, now);
  const latest = all[all.length - 1];
  const previous = all[all.length - 2];
  return {
    responses: all.length,
    ...(latest ? { latest } : {}),
    ...(latest && previous ? { trend: latest.recommend - previous.recommend } : {}),
  };
}

/**
 * NPS of a set of recommend scores: % promoters − % detractors, −100…100;
 * null with no answers.
 */
export function netPromoterScore(scores: number[]): number | null {
  if (scores.length === 0) return null;
  const promoters = scores.filter((s) => s >= 9).length;
  const detractors = scores.filter((s) => s <= 6).length;
  return Math.round(((promoters - detractors) / scores.length) * 1000) / 10;
}
