/**
 * Programme effectiveness and efficiency over a period [from, to): pure
 * aggregates over the patients' engagement models, what fhir-engage wrote,
 * and its Tasks as the EMR reported them back. Every figure carries its
 * definition and the counts behind it (docs/programme.md).
 */
import type { EngagementModel } from '../mapping/model';
import type { TaskEvent } from '../store/types';
import type { PatientIndicators } from './compute';
import type { Tier } from './engagement';
import { median } from './programme';
import { netPromoterScore, satisfactionResponses } from './satisfaction';
import { round } from './time';

const DAY_MS = 86_400_000;

export interface Rate {
  numerator: number;
  denominator: number;
  /** numerator ÷ denominator, null when the denominator is 0. */
  rate: number | null;
}

export interface Figure<T> {
  definition: string;
  value: T;
}

export interface ProgrammeInput {
  from: Date;
  to: Date;
  /** Each patient's latest model and indicators. */
  patients: { sourceId: string; model: EngagementModel; indicators: PatientIndicators }[];
  /** What fhir-engage wrote (identifier, rule, patient). */
  written: { sourceId: string; identifierValue: string; rule: string; patientId: string }[];
  /** fhir-engage's Tasks as read back: one row per status seen. */
  taskEvents: TaskEvent[];
  /** Engagement tier in force at `from` and at `to`, per source/patient key. */
  tiersAt: { from: Map<string, Tier>; to: Map<string, Tier> };
  /** How many days after a completed outreach a kept appointment counts as its outcome. */
  outreachDays?: number;
}

export interface ProgrammeReport {
  period: { from: string; to: string };
  patients: number;
  reminderEffect: Figure<{ withReminder: Rate; withoutReminder: Rate; difference: number | null }>;
  outreachOutcome: Figure<Rate>;
  careTeam: Figure<{
    turnaroundDays: Record<string, { completed: number; median: number | null; p90: number | null }>;
    closedByPerson: Rate;
    cancelledByFhirEngage: number;
    openByOwner: Record<string, number>;
  }>;
  tierMovement: Figure<{ transitions: Record<string, number>; improved: number; worsened: number; unchanged: number }>;
  clinicalOutcome: Figure<{ withElevatedBaseline: number; response: Rate; remission: Rate }>;
  surveyResponse: Figure<Record<string, Rate>>;
  satisfaction: Figure<{ responses: number; meanRecommend: number | null; nps: number | null; meanExperience: number | null; responseRate: Rate }>;
}

const rate = (numerator: number, denominator: number): Rate => ({ numerator, denominator, rate: denominator ? round(numerator / denominator) : null });
const inPeriod = (t: number, from: Date, to: Date): boolean => t >= from.getTime() && t < to.getTime();
const key = (sourceId: string, patientId: string): string => `${sourceId}|${patientId}`;

/** The 90th percentile by the nearest-rank method. */
export function percentile90(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.ceil(0.9 * s.length) - 1] as number;
}

/** Care-team work: Tasks a person is meant to act on (not reminders or surveys, which patients and messaging platforms act on). */
const CARE_TEAM_RULES = new Set(['outreach-no-shows', 'phq9-follow-up', 'overdue-activity', 'phq9-item9-safety', 'reminder-no-channel']);
const TERMINAL = new Set(['completed', 'cancelled', 'failed', 'rejected', 'entered-in-error']);
const TIER_ORDER: Record<Tier, number> = { disengaged: 0, 'at-risk': 1, engaged: 2, unknown: -1 };

/** The events of each Task, oldest first, keyed by source and identifier. */
function byTask(events: TaskEvent[]): Map<string, TaskEvent[]> {
  const out = new Map<string, TaskEvent[]>();
  for (const e of events) {
    const k = key(e.sourceId, e.identifierValue);
    out.set(k, [...(out.get(k) ?? []), e]);
  }
  for (const list of out.values()) list.sort((a, b) => a.changedAt.getTime() - b.changedAt.getTime());
  return out;
}

function reminderEffect(input: ProgrammeInput): ProgrammeReport['reminderEffect'] {
  const reminded = new Set(input.written.filter((w) => w.rule === 'appointment-reminder').map((w) => key(w.sourceId, w.identifierValue.split('/')[2] ?? '')));
  const counts = { with: { kept: 0, due: 0 }, without: { kept: 0, due: 0 } };
  for (const p of input.patients) {
    for (const a of p.model.appointments) {
      if ((a.status !== 'kept' && a.status !== 'no-show') || !a.start || !inPeriod(Date.parse(a.start), input.from, input.to)) continue;
      const group = reminded.has(key(p.sourceId, a.id)) ? counts.with : counts.without;
      group.due++;
      if (a.status === 'kept') group.kept++;
    }
  }
  const withReminder = rate(counts.with.kept, counts.with.due);
  const withoutReminder = rate(counts.without.kept, counts.without.due);
  return {
    definition: 'Attendance (kept ÷ kept + no-show) of appointments due in the period, with at least one fhir-engage reminder written vs none.',
    value: { withReminder, withoutReminder, difference: withReminder.rate !== null && withoutReminder.rate !== null ? round(withReminder.rate - withoutReminder.rate) : null },
  };
}

function outreachOutcome(input: ProgrammeInput, tasks: Map<string, TaskEvent[]>): ProgrammeReport['outreachOutcome'] {
  const days = input.outreachDays ?? 30;
  const models = new Map(input.patients.map((p) => [key(p.sourceId, p.model.patientId), p.model]));
  let completed = 0;
  let followed = 0;
  for (const list of tasks.values()) {
    const done = list.find((e) => e.rule === 'outreach-no-shows' && e.status === 'completed');
    if (!done || !inPeriod(done.changedAt.getTime(), input.from, input.to) || !done.patientId) continue;
    completed++;
    const t = done.changedAt.getTime();
    const model = models.get(key(done.sourceId, done.patientId));
    if (model?.appointments.some((a) => a.status === 'kept' && a.start && Date.parse(a.start) > t && Date.parse(a.start) <= t + days * DAY_MS)) followed++;
  }
  return { definition: `Outreach Tasks completed by a person in the period after which the patient kept an appointment within ${days} days (÷ outreach Tasks completed).`, value: rate(followed, completed) };
}

function careTeam(input: ProgrammeInput, tasks: Map<string, TaskEvent[]>): ProgrammeReport['careTeam'] {
  const turnaround: Record<string, number[]> = {};
  let byPerson = 0;
  let cancelled = 0;
  const openByOwner: Record<string, number> = {};
  for (const list of tasks.values()) {
    const rule = list[0]?.rule;
    if (!rule || !CARE_TEAM_RULES.has(rule)) continue;
    const done = list.find((e) => e.status === 'completed');
    const ended = list.find((e) => TERMINAL.has(e.status));
    if (done && inPeriod(done.changedAt.getTime(), input.from, input.to)) {
      // From when the Task was put in the EMR (its first status seen, "requested"): authoredOn can be back-dated to its reason.
      const authored = list.find((e) => e.status === 'requested')?.changedAt ?? done.authoredOn ?? list[0]?.changedAt;
      if (authored) (turnaround[rule] ??= []).push(round((done.changedAt.getTime() - authored.getTime()) / DAY_MS));
    }
    if (ended && inPeriod(ended.changedAt.getTime(), input.from, input.to)) {
      if (ended.status === 'completed') byPerson++;
      else if (ended.status === 'cancelled') cancelled++;
    }
    const asOfTo = list.filter((e) => e.changedAt.getTime() < input.to.getTime());
    const latest = asOfTo[asOfTo.length - 1];
    if (latest && !TERMINAL.has(latest.status)) {
      const owner = latest.owner ?? 'unassigned';
      openByOwner[owner] = (openByOwner[owner] ?? 0) + 1;
    }
  }
  return {
    definition: 'Care-team Tasks (outreach, PHQ-9 follow-up and safety, overdue activity, no way to remind): turnaround in days from the Task being put in the EMR (requested) to completed by a person (median, 90th percentile, per kind); share of Tasks ended in the period that a person completed rather than fhir-engage cancelled; open Tasks per owner at the end of the period.',
    value: {
      turnaroundDays: Object.fromEntries(Object.entries(turnaround).sort().map(([k, v]) => [k, { completed: v.length, median: median(v), p90: percentile90(v) }])),
      closedByPerson: rate(byPerson, byPerson + cancelled),
      cancelledByFhirEngage: cancelled,
      openByOwner: Object.fromEntries(Object.entries(openByOwner).sort()),
    },
  };
}

function tierMovement(input: ProgrammeInput): ProgrammeReport['tierMovement'] {
  const transitions: Record<string, number> = {};
  let improved = 0;
  let worsened = 0;
  let unchanged = 0;
  for (const [k, before] of input.tiersAt.from) {
    const after = input.tiersAt.to.get(k);
    if (!after || before === 'unknown' || after === 'unknown') continue;
    const label = `${before} → ${after}`;
    transitions[label] = (transitions[label] ?? 0) + 1;
    if (TIER_ORDER[after] > TIER_ORDER[before]) improved++;
    else if (TIER_ORDER[after] < TIER_ORDER[before]) worsened++;
    else unchanged++;
  }
  return { definition: 'Engagement tier of each patient at the start of the period vs at its end (patients with a known tier at both).', value: { transitions: Object.fromEntries(Object.entries(transitions).sort()), improved, worsened, unchanged } };
}

function clinicalOutcome(input: ProgrammeInput): ProgrammeReport['clinicalOutcome'] {
  // The same population as programmeSummary: an elevated baseline and a later score.
  const elevated = input.patients.map((p) => p.indicators.phq9).filter((q) => q.baseline && q.response !== undefined);
  const n = elevated.length;
  return {
    definition: 'Among patients with an elevated PHQ-9 baseline (> 9) and a later score: response (≥ 50 % drop from baseline) and remission (latest < 5) — docs/indicators.md.',
    value: { withElevatedBaseline: n, response: rate(elevated.filter((q) => q.response === 'response').length, n), remission: rate(elevated.filter((q) => q.remission).length, n) },
  };
}

/** The instrument a survey Task asked for, from its identifier (`<patient>/survey/<instrument>/<day>`, `<patient>/post-visit-survey/<visit>`). */
function surveyInstrument(identifier: string, rule: string | null, postVisitInstrument: string): string | undefined {
  if (rule === 'post-visit-survey') return postVisitInstrument;
  if (rule === 'survey-assignment') return identifier.split('/')[2];
  return undefined;
}

function surveyResponse(input: ProgrammeInput, tasks: Map<string, TaskEvent[]>, postVisitInstrument: string): ProgrammeReport['surveyResponse'] {
  const counts: Record<string, { answered: number; ended: number }> = {};
  for (const list of tasks.values()) {
    const first = list[0];
    const instrument = first ? surveyInstrument(first.identifierValue, first.rule, postVisitInstrument) : undefined;
    const ended = list.find((e) => e.status === 'completed' || e.status === 'cancelled');
    if (!instrument || !ended || !inPeriod(ended.changedAt.getTime(), input.from, input.to)) continue;
    const c = (counts[instrument] ??= { answered: 0, ended: 0 });
    c.ended++;
    if (ended.status === 'completed') c.answered++;
  }
  return {
    definition: 'Per instrument: survey Tasks answered ÷ survey Tasks whose window ended in the period (answered, or closed unanswered).',
    value: Object.fromEntries(Object.entries(counts).sort().map(([k, c]) => [k, rate(c.answered, c.ended)])),
  };
}

function satisfaction(input: ProgrammeInput, tasks: Map<string, TaskEvent[]>): ProgrammeReport['satisfaction'] {
  const scores: number[] = [];
  const experience: number[] = [];
  for (const p of input.patients) {
    for (const s of satisfactionResponses(p.model, input.to)) {
      if (!inPeriod(Date.parse(s.authored), input.from, input.to)) continue;
      scores.push(s.recommend);
      if (s.experience !== undefined) experience.push(s.experience);
    }
  }
  let assigned = 0;
  for (const list of tasks.values()) {
    const first = list[0];
    if (first?.rule === 'post-visit-survey' && inPeriod((first.authoredOn ?? first.changedAt).getTime(), input.from, input.to)) assigned++;
  }
  const mean = (v: number[]): number | null => (v.length ? round(v.reduce((s, x) => s + x, 0) / v.length) : null);
  return {
    definition: 'Post-visit satisfaction (example instrument): mean likelihood to recommend (0-10), NPS (% promoters 9-10 − % detractors 0-6), mean experience (1-5), and response rate (satisfaction responses ÷ post-visit surveys assigned in the period).',
    value: { responses: scores.length, meanRecommend: mean(scores), nps: netPromoterScore(scores), meanExperience: mean(experience), responseRate: rate(scores.length, assigned) },
  };
}

export function programmeReport(input: ProgrammeInput, postVisitInstrument = 'satisfaction'): ProgrammeReport {
  const tasks = byTask(input.taskEvents);
  return {
    period: { from: input.from.toISOString(), to: input.to.toISOString() },
    patients: input.patients.length,
    reminderEffect: reminderEffect(input),
    outreachOutcome: outreachOutcome(input, tasks),
    careTeam: careTeam(input, tasks),
    tierMovement: tierMovement(input),
    clinicalOutcome: clinicalOutcome(input),
    surveyResponse: surveyResponse(input, tasks, postVisitInstrument),
    satisfaction: satisfaction(input, tasks),
  };
}
