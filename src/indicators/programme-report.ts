/**
 * Programme effectiveness and efficiency over a period [from, to): pure
 * aggregates over the patients' engagement models, what fhir-engage wrote,
 * and its Tasks as the EMR reported them back. Every figure carries its
 * definition and the counts behind it (docs/programme.md).
 */
import { deliveryRates } from './delivery';
import type { EngagementModel } from '../mapping/model';
import type { TaskEvent } from '../store/types';
import type { PatientIndicators } from './compute';
import type { Tier } from './engagement';
import { median } from './programme';
import { netPromoterScore, satisfactionResponses } from './satisfaction';
import { round } from './time';
import { TERMINAL_TASK_STATUSES } from './task-status';
import { tierMovement } from './tier-movement';
import { MIN_DENOMINATOR, newcombeDifference, wilson, type Interval } from './proportions';
import type { EnrolmentFigures } from './enrolment-figures';

/** One programme's figures: the report over its patients (those enrolled at some time in the period). */
export interface ProgrammeBreakdown {
  sourceId: string;
  id: string;
  name: string;
  report: Omit<ProgrammeReport, 'programmes' | 'enrolment'> & { enrolment: Figure<EnrolmentFigures> };
}

const DAY_MS = 86_400_000;

export interface Rate {
  numerator: number;
  denominator: number;
  /** numerator ÷ denominator, null when the denominator is 0. */
  rate: number | null;
  /** Fewer than MIN_DENOMINATOR behind it: shown with "too few to judge". */
  tooFew: boolean;
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
  /** Reminders fhir-engage sent itself (docs/messaging.md): their Task, channel and final state. */
  messages?: { sourceId: string; patientId: string; taskIdentifier: string; channel: string; state: string }[];
}

export interface ProgrammeReport {
  period: { from: string; to: string };
  patients: number;
  /** Enrolment in the period (absent in entries recorded before programmes had spells). */
  enrolment?: Figure<EnrolmentFigures>;
  /** Every figure per programme of the source(s) (docs/programme.md). */
  programmes?: ProgrammeBreakdown[];
  reminderEffect: Figure<{
    withReminder: Rate & { ci: Interval | null };
    withoutReminder: Rate & { ci: Interval | null };
    /** With − without, a fraction: shown in percentage points. */
    difference: number | null;
    differenceCi: Interval | null;
    /** When reminders reached the EMR first: appointments due before it are left out of both groups. */
    remindersSince: string | null;
  }>;
  /** Reminders fhir-engage sent itself, delivered ÷ (delivered + undelivered + failed), per channel; absent without any. */
  delivery?: Figure<Record<string, Rate>>;
  outreachOutcome: Figure<Rate>;
  careTeam: Figure<{
    turnaroundDays: Record<string, { completed: number; median: number | null; p90: number | null }>;
    closedByPerson: Rate;
    cancelledByFhirEngage: number;
    openByOwner: Record<string, number>;
  }>;
  /** improved / worsened / unchanged are null without a baseline (no known tier at the period's start). */
  tierMovement: Figure<{
    transitions: Record<string, number>;
    improved: number | null;
    worsened: number | null;
    unchanged: number | null;
  }>;
  clinicalOutcome: Figure<{ withElevatedBaseline: number; response: Rate; remission: Rate }>;
  surveyResponse: Figure<Record<string, Rate>>;
  satisfaction: Figure<{
    responses: number;
    meanRecommend: number | null;
    nps: number | null;
    meanExperience: number | null;
    responseRate: Rate;
  }>;
}

export const rate = (numerator: number, denominator: number): Rate => ({
  numerator,
  denominator,
  rate: denominator ? round(numerator / denominator) : null,
  tooFew: denominator < MIN_DENOMINATOR,
});
const inPeriod = (t: number, from: Date, to: Date): boolean => t >= from.getTime() && t < to.getTime();
const key = (sourceId: string, patientId: string): string => `${sourceId}|${patientId}`;

/** The 90th percentile by the nearest-rank method. */
export function percentile90(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.ceil(0.9 * s.length) - 1] as number;
}

/** Care-team work: Tasks a person is meant to act on (not reminders or surveys, which patients and messaging platforms act on). */
const CARE_TEAM_RULES = new Set([
  'outreach-no-shows',
  'phq9-follow-up',
  'overdue-activity',
  'phq9-item9-safety',
  'reminder-no-channel',
]);

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

function careTeam(input: ProgrammeContext, tasks: Map<string, TaskEvent[]>): ProgrammeReport['careTeam'] {
  const turnaround: Record<string, number[]> = {};
  let byPerson = 0;
  let cancelled = 0;
  const openByOwner: Record<string, number> = {};
  for (const list of tasks.values()) {
    const rule = list[0]?.rule;
    if (!rule || !CARE_TEAM_RULES.has(rule)) continue;
    const done = list.find((e) => e.status === 'completed');
    const ended = list.find((e) => TERMINAL_TASK_STATUSES.has(e.status));
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
    if (latest && !TERMINAL_TASK_STATUSES.has(latest.status)) {
      const owner = latest.owner ?? 'unassigned';
      openByOwner[owner] = (openByOwner[owner] ?? 0) + 1;
    }
  }
  return {
    definition:
      'Care-team Tasks (outreach, PHQ-9 follow-up and safety, overdue activity, no way to remind): turnaround in days from the Task being put in the EMR (requested) to completed by a person (median, 90th percentile, per kind); share of Tasks ended in the period that a person completed rather than fhir-engage cancelled; open Tasks per owner at the end of the period.',
    value: {
      turnaroundDays: Object.fromEntries(
        Object.entries(turnaround)
          .sort()
          .map(([k, v]) => [k, { completed: v.length, median: median(v), p90: percentile90(v) }]),
      ),
      closedByPerson: rate(byPerson, byPerson + cancelled),
      cancelledByFhirEngage: cancelled,
      openByOwner: Object.fromEntries(Object.entries(openByOwner).sort()),
    },
  };
}

/** The instrument a survey Task asked for, from its identifier (`<patient>/survey/<instrument>/<day>`, `<patient>/post-visit-survey/<visit>`). */
function surveyInstrument(identifier: string, rule: string | null, postVisitInstrument: string): string | undefined {
  if (rule === 'post-visit-survey') return postVisitInstrument;
  if (rule === 'survey-assignment') return identifier.split('/')[2];
  return undefined;
}

function surveyResponse(
  input: ProgrammeContext,
  tasks: Map<string, TaskEvent[]>,
  postVisitInstrument: string,
): ProgrammeReport['surveyResponse'] {
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
    definition:
      'Per instrument: survey Tasks answered ÷ survey Tasks whose window ended in the period (answered, or closed unanswered).',
    value: Object.fromEntries(
      Object.entries(counts)
        .sort()
        .map(([k, c]) => [k, rate(c.answered, c.ended)]),
    ),
  };
}

/** Everything of the report but the patients: small next to them (one row per write or Task status). */
export type ProgrammeContext = Omit<ProgrammeInput, 'patients'>;
export type ProgrammePatient = ProgrammeInput['patients'][number];

/** Outreach Tasks completed in the period, per patient (when each was completed). */
function completedOutreach(ctx: ProgrammeContext, tasks: Map<string, TaskEvent[]>): Map<string, number[]> {
  const done = new Map<string, number[]>();
  for (const list of tasks.values()) {
    const completed = list.find((e) => e.rule === 'outreach-no-shows' && e.status === 'completed');
    if (!completed || !inPeriod(completed.changedAt.getTime(), ctx.from, ctx.to) || !completed.patientId) continue;
    const k = key(completed.sourceId, completed.patientId);
    done.set(k, [...(done.get(k) ?? []), completed.changedAt.getTime()]);
  }
  return done;
}

const mean = (v: number[]): number | null => (v.length ? round(v.reduce((sum, x) => sum + x, 0) / v.length) : null);

/**
 * The report built one patient at a time, so that a population is read a page at a time (its
 * models never all in memory): per patient, only counts and the satisfaction scores are kept.
 */
export function programmeReportAccumulator(
  ctx: ProgrammeContext,
  postVisitInstrument = 'satisfaction',
): { add(p: ProgrammePatient): void; result(): ProgrammeReport } {
  return new ProgrammeReportBuilder(ctx, postVisitInstrument);
}

class ProgrammeReportBuilder {
  private readonly tasks: Map<string, TaskEvent[]>;
  private patients = 0;
  /** Appointments with a fhir-engage reminder written, by source and appointment id. */
  private readonly reminded: Set<string>;
  /** Per source, when its first reminder reached the EMR: only visits due since then are compared (concurrent groups). */
  private readonly remindersSince = new Map<string, number>();
  /** Reminder effect: attendance of appointments due in the period, with a reminder written vs none. */
  private readonly attendance = { with: { kept: 0, due: 0 }, without: { kept: 0, due: 0 } };
  private readonly outreachDays: number;
  private readonly outreachDone: Map<string, number[]>;
  private readonly outreachCompleted: number;
  private followed = 0;
  /** Clinical outcome: the same population as programmeSummary (an elevated baseline and a later score). */
  private readonly phq9 = { elevated: 0, response: 0, remission: 0 };
  private readonly scores: number[] = [];
  private readonly experience: number[] = [];

  constructor(
    private readonly ctx: ProgrammeContext,
    private readonly postVisitInstrument: string,
  ) {
    this.tasks = byTask(ctx.taskEvents);
    // A reminder fhir-engage sent itself counts when it was delivered (all of an appointment's failed: none);
    // one left to the EMR or a platform counts when its Task reached the EMR.
    const appointmentOf = (sourceId: string, identifier: string): string =>
      key(sourceId, identifier.split('/')[2] ?? '');
    const messaged = new Set((ctx.messages ?? []).map((m) => appointmentOf(m.sourceId, m.taskIdentifier)));
    const delivered = new Set(
      (ctx.messages ?? [])
        .filter((m) => m.state === 'delivered')
        .map((m) => appointmentOf(m.sourceId, m.taskIdentifier)),
    );
    this.reminded = new Set(
      ctx.written
        .filter((w) => w.rule === 'appointment-reminder')
        .map((w) => appointmentOf(w.sourceId, w.identifierValue))
        .filter((k) => !messaged.has(k) || delivered.has(k)),
    );
    for (const e of ctx.taskEvents) {
      if (e.rule !== 'appointment-reminder') continue;
      const t = e.changedAt.getTime();
      if (t < (this.remindersSince.get(e.sourceId) ?? Infinity)) this.remindersSince.set(e.sourceId, t);
    }
    this.outreachDays = ctx.outreachDays ?? 30;
    this.outreachDone = completedOutreach(ctx, this.tasks);
    this.outreachCompleted = [...this.outreachDone.values()].reduce((n, l) => n + l.length, 0);
  }

  add(p: ProgrammePatient): void {
    const { from, to } = this.ctx;
    this.patients++;
    for (const a of p.model.appointments) {
      if ((a.status !== 'kept' && a.status !== 'no-show') || !a.start || !inPeriod(Date.parse(a.start), from, to))
        continue;
      // Visits from before reminders existed would compare another time, not the reminder.
      if (Date.parse(a.start) < (this.remindersSince.get(p.sourceId) ?? Infinity)) continue;
      const group = this.reminded.has(key(p.sourceId, a.id)) ? this.attendance.with : this.attendance.without;
      group.due++;
      if (a.status === 'kept') group.kept++;
    }
    // Whether an appointment was kept after a completed outreach is seen with the patient.
    const within = this.outreachDays * DAY_MS;
    for (const t of this.outreachDone.get(key(p.sourceId, p.model.patientId)) ?? []) {
      const kept = p.model.appointments.some(
        (a) => a.status === 'kept' && a.start && Date.parse(a.start) > t && Date.parse(a.start) <= t + within,
      );
      if (kept) this.followed++;
    }
    const q = p.indicators.phq9;
    if (q.baseline && q.response !== undefined) {
      this.phq9.elevated++;
      if (q.response === 'response') this.phq9.response++;
      if (q.remission) this.phq9.remission++;
    }
    for (const s of satisfactionResponses(p.model, to)) {
      if (!inPeriod(Date.parse(s.authored), from, to)) continue;
      this.scores.push(s.recommend);
      if (s.experience !== undefined) this.experience.push(s.experience);
    }
  }

  result(): ProgrammeReport {
    const { ctx, phq9 } = this;
    return {
      period: { from: ctx.from.toISOString(), to: ctx.to.toISOString() },
      patients: this.patients,
      reminderEffect: this.reminderEffect(),
      ...(this.ctx.messages?.length ? { delivery: deliveryRates(this.ctx.messages) } : {}),
      outreachOutcome: {
        definition: `Outreach Tasks completed by a person in the period after which the patient kept an appointment within ${this.outreachDays} days (÷ outreach Tasks completed).`,
        value: rate(this.followed, this.outreachCompleted),
      },
      careTeam: careTeam(ctx, this.tasks),
      tierMovement: tierMovement(ctx),
      clinicalOutcome: {
        definition:
          'Among patients with an elevated PHQ-9 baseline (> 9) and a later score: response (≥ 50 % drop from baseline) and remission (latest < 5) — docs/indicators.md.',
        value: {
          withElevatedBaseline: phq9.elevated,
          response: rate(phq9.response, phq9.elevated),
          remission: rate(phq9.remission, phq9.elevated),
        },
      },
      surveyResponse: surveyResponse(ctx, this.tasks, this.postVisitInstrument),
      satisfaction: this.satisfaction(),
    };
  }

  /** Concurrent groups, each with its 95 % Wilson interval; the difference in percentage points with Newcombe's (proportions.ts). */
  private reminderEffect(): ProgrammeReport['reminderEffect'] {
    const w = this.attendance.with;
    const wo = this.attendance.without;
    const withReminder = { ...rate(w.kept, w.due), ci: wilson(w.kept, w.due) };
    const withoutReminder = { ...rate(wo.kept, wo.due), ci: wilson(wo.kept, wo.due) };
    const difference =
      withReminder.rate !== null && withoutReminder.rate !== null
        ? round(withReminder.rate - withoutReminder.rate)
        : null;
    const since = Math.min(...this.remindersSince.values());
    return {
      definition:
        'Attendance (kept ÷ kept + no-show) of appointments due in the period and after reminders first reached the EMR (concurrent groups), with at least one fhir-engage reminder (delivered, when fhir-engage sent it itself; written, when the EMR or a platform sends it) vs none; each with its 95 % Wilson interval, the difference in percentage points with its 95 % Newcombe interval.',
      value: {
        withReminder,
        withoutReminder,
        difference,
        differenceCi: newcombeDifference(w.kept, w.due, wo.kept, wo.due),
        remindersSince: Number.isFinite(since) ? new Date(since).toISOString() : null,
      },
    };
  }

  private satisfaction(): ProgrammeReport['satisfaction'] {
    // One response rate for the post-visit survey: the survey response figure's (one definition, one number).
    const responseRate =
      surveyResponse(this.ctx, this.tasks, this.postVisitInstrument).value[this.postVisitInstrument] ?? rate(0, 0);
    return {
      definition:
        'Post-visit satisfaction (example instrument): mean likelihood to recommend (0-10), NPS (% promoters 9-10 − % detractors 0-6), mean experience (1-5), and the post-visit survey response rate (as in survey response rates: answered ÷ survey windows that ended in the period).',
      value: {
        responses: this.scores.length,
        meanRecommend: mean(this.scores),
        nps: netPromoterScore(this.scores),
        meanExperience: mean(this.experience),
        responseRate,
      },
    };
  }
}

export function programmeReport(input: ProgrammeInput, postVisitInstrument = 'satisfaction'): ProgrammeReport {
  const acc = programmeReportAccumulator(input, postVisitInstrument);
  for (const p of input.patients) acc.add(p);
  return acc.result();
}
