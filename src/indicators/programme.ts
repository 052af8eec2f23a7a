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

/**
 * The summary built one patient at a time: a population is read a page at a time and only the
 * numbers the medians need are kept (three per patient), never the patients' indicators.
 */
export function programmeSummaryAccumulator(): { add(p: PatientIndicators): void; result(): ProgrammeSummary } {
  const tiers: Record<Tier, number> = { engaged: 0, 'at-risk': 0, disengaged: 0, unknown: 0 };
  const scores: number[] = [];
  const adherence: number[] = [];
  const noShow: number[] = [];
  const n = {
    patients: 0,
    withBaseline: 0,
    response: 0,
    remission: 0,
    met: 0,
    notMet: 0,
    pending: 0,
    item9: 0,
    followUps: 0,
    overdue: 0,
  };
  return {
    add(p) {
      n.patients++;
      tiers[p.engagement.tier]++;
      if (p.engagement.score !== null) scores.push(p.engagement.score);
      if (p.appointments.adherence !== null) adherence.push(p.appointments.adherence);
      if (p.appointments.noShowRate !== null) noShow.push(p.appointments.noShowRate);
      if (p.phq9.baseline && p.phq9.response !== undefined) {
        n.withBaseline++;
        if (p.phq9.response === 'response') n.response++;
        if (p.phq9.remission) n.remission++;
      }
      const status = p.phq9.remissionAt12Months.status;
      if (status === 'met') n.met++;
      else if (status === 'not-met') n.notMet++;
      else if (status === 'pending') n.pending++;
      if (p.phq9.item9.flagged) n.item9++;
      if (p.phq9.followUp.due) n.followUps++;
      n.overdue += p.carePlans.overdue.length;
    },
    result() {
      return {
        patients: n.patients,
        tiers: { ...tiers },
        medianEngagementScore: median(scores),
        medianAdherence: median(adherence),
        medianNoShowRate: median(noShow),
        phq9WithBaseline: n.withBaseline,
        phq9ResponseShare: n.withBaseline ? round(n.response / n.withBaseline) : null,
        phq9RemissionShare: n.withBaseline ? round(n.remission / n.withBaseline) : null,
        cms159: {
          met: n.met,
          notMet: n.notMet,
          pending: n.pending,
          rate: n.met + n.notMet ? round(n.met / (n.met + n.notMet)) : null,
        },
        item9Flags: n.item9,
        phq9FollowUpsDue: n.followUps,
        overdueActivities: n.overdue,
      };
    },
  };
}

export function programmeSummary(all: PatientIndicators[]): ProgrammeSummary {
  const acc = programmeSummaryAccumulator();
  for (const p of all) acc.add(p);
  return acc.result();
}
