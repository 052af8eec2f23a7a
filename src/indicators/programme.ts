/**
 * Programme-level view: aggregates over many patients' indicators (a source
 * or the whole population), to measure the programme's effectiveness.
 */
import type { PatientIndicators } from './compute';
import type { Tier } from './engagement';
import { round } from './time';

export interface ProgrammeSummary {
  patients: number;
  tiers: Record<Tier, number>;
  medianEngagementScore: number | null;
  medianAdherence: number | null;
  /** Median of the patients' no-show rates (appointments.noShowRate; patients without appointments left out). */
  medianNoShowRate: number | null;
  /** Patients with a PHQ-9 baseline (> 9) and a later score. */
  phq9WithBaseline: number;
  /** Shares among those: response (≥ 50 % drop) and remission (< 5). */
  phq9ResponseShare: number | null;
  phq9RemissionShare: number | null;
  /** CMS159 outcomes among patients whose 12-month window has closed or been met. */
  cms159: { met: number; notMet: number; pending: number; rate: number | null };
  item9Flags: number;
  phq9FollowUpsDue: number;
  overdueActivities: number;
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : round(((s[mid - 1] as number) + (s[mid] as number)) / 2);
}

export function programmeSummary(all: PatientIndicators[]): ProgrammeSummary {
  const tiers: Record<Tier, number> = { engaged: 0, 'at-risk': 0, disengaged: 0, unknown: 0 };
  for (const p of all) tiers[p.engagement.tier]++;
  const withBaseline = all.filter((p) => p.phq9.baseline && p.phq9.response !== undefined);
  const met = all.filter((p) => p.phq9.remissionAt12Months.status === 'met').length;
  const notMet = all.filter((p) => p.phq9.remissionAt12Months.status === 'not-met').length;
  const pending = all.filter((p) => p.phq9.remissionAt12Months.status === 'pending').length;
  return {
    patients: all.length,
    tiers,
    medianEngagementScore: median(all.map((p) => p.engagement.score).filter((s): s is number => s !== null)),
    medianAdherence: median(all.map((p) => p.appointments.adherence).filter((s): s is number => s !== null)),
    medianNoShowRate: median(all.map((p) => p.appointments.noShowRate).filter((s): s is number => s !== null)),
    phq9WithBaseline: withBaseline.length,
    phq9ResponseShare: withBaseline.length ? round(withBaseline.filter((p) => p.phq9.response === 'response').length / withBaseline.length) : null,
    phq9RemissionShare: withBaseline.length ? round(withBaseline.filter((p) => p.phq9.remission).length / withBaseline.length) : null,
    cms159: { met, notMet, pending, rate: met + notMet ? round(met / (met + notMet)) : null },
    item9Flags: all.filter((p) => p.phq9.item9.flagged).length,
    phq9FollowUpsDue: all.filter((p) => p.phq9.followUp.due).length,
    overdueActivities: all.reduce((s, p) => s + p.carePlans.overdue.length, 0),
  };
}
