/**
 * What the dashboard's views show, built from stored rows (pure): each
 * response carries only what its view displays — no identifier values, no
 * free text from the EMR; a patient's name and phone only in the patient's
 * own view (its route records the read in the access log).
 */
import { taskView } from './task-view';
import type { RunRecord, TaskEvent, WrittenResource } from '../store/types';
import type { Task } from '@medplum/fhirtypes';
import type { PatientIndicators } from '../indicators/compute';
import type { EngagementModel } from '../mapping/model';
import { phq9Band, scoredResponses } from '../indicators/phq9';
import { gad7Band } from '../indicators/gad7';
import { TERMINAL_TASK_STATUSES } from '../indicators/task-status';
import { safetyFlag, safetyReasons } from '../indicators/safety';
import type { Sendable } from './reply';
import type { PatientHeader } from './patient-header';
import type { PatientOverview } from './schemas/patients';
import type { RunView } from './schemas/runs';

export interface Band {
  band: string;
  from: number;
  to: number;
}

/** Contiguous score ranges of a banding function: the bands shown behind a chart come from the clinical definition itself. */
export function bandsOf(band: (total: number) => string, max: number): Band[] {
  const out: Band[] = [];
  for (let t = 0; t <= max; t++) {
    const b = band(t);
    const last = out[out.length - 1];
    if (last && last.band === b) last.to = t;
    else out.push({ band: b, from: t, to: t });
  }
  return out;
}

/** The last run of a source as the dashboard lists it (from the summary stored with the run). */
export function runView(run: RunRecord): Sendable<RunView> {
  const s = run.counts as {
    pull?: {
      resourceType: string;
      status: string;
      mode: string;
      received: number;
      new: number;
      changed: number;
      deadLettered: number;
    }[];
    stages?: Record<string, number>;
    deadLetters?: { thisRun: number; open: number };
    writes?: Record<string, Record<string, number>>;
    durationMs?: number;
    heldBack?: { patients: number; reasons: string[] };
    pullMethod?: string;
    patients?: { recomputed: number; total: number };
  };
  return {
    id: run.id,
    sourceId: run.sourceId,
    status: run.status,
    asOf: run.asOf,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: s.durationMs ?? (run.finishedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : null),
    pullMethod: s.pullMethod ?? null,
    pull: (s.pull ?? []).map((t) => ({
      resourceType: t.resourceType,
      status: t.status,
      mode: t.mode,
      received: t.received,
      new: t.new,
      changed: t.changed,
      deadLettered: t.deadLettered,
    })),
    stages: s.stages ?? null,
    deadLetters: s.deadLetters ?? null,
    writes: s.writes ?? null,
    heldBack: s.heldBack ?? null,
    patients: s.patients ?? null,
    error: run.error ?? null,
  };
}

export interface PatientOverviewInput {
  sourceId: string;
  patientId: string;
  asOf: Date;
  model: EngagementModel;
  indicators: PatientIndicators;
  history: { indicator: string; value: unknown; asOf: Date }[];
  written: WrittenResource[];
  taskEvents: TaskEvent[];
  /** Who the patient is (patient-header.ts): the overview route records the read in the access log. */
  header: PatientHeader;
  /** fhir-engage's Tasks as last read from the EMR, by their id there. */
  tasks?: Map<string, Task>;
}

/**
 * The status of each of fhir-engage's Tasks in the EMR. A Task fhir-engage closed carries the EMR's
 * answer to the close; a read-back seen before the close still says "requested". Only a terminal
 * status read back (the same, or a person's) is newer than the close. (The EMR's times and ours are
 * different clocks: they are not compared.)
 */
function statusReader(taskEvents: TaskEvent[]): (w: WrittenResource) => string | null {
  const lastStatus = new Map<string, TaskEvent>();
  for (const e of [...taskEvents].sort((a, b) => a.changedAt.getTime() - b.changedAt.getTime()))
    lastStatus.set(e.identifierValue, e);
  return (w) => {
    const seen = lastStatus.get(w.identifierValue)?.status;
    if (
      w.state === 'closed' &&
      w.status !== null &&
      TERMINAL_TASK_STATUSES.has(w.status) &&
      (seen === undefined || !TERMINAL_TASK_STATUSES.has(seen))
    )
      return w.status;
    return seen ?? w.status;
  };
}

/** The patient view's charts: PHQ-9 and GAD-7 scores with their bands, adherence and satisfaction over time. */
function overviewCharts({ model, asOf, history }: PatientOverviewInput): Sendable<PatientOverview['charts']> {
  const series = (name: string, pick: (v: unknown) => number | null): { date: string; value: number }[] =>
    history
      .filter((h) => h.indicator === name)
      .map((h) => ({ date: h.asOf.toISOString(), value: pick(h.value) }))
      .filter((p): p is { date: string; value: number } => p.value !== null);
  return {
    phq9: {
      points: scoredResponses(model, 'phq9', asOf).map((p) => ({ date: p.date, value: p.total })),
      bands: bandsOf(phq9Band, 27),
      max: 27,
    },
    gad7: {
      points: scoredResponses(model, 'gad7', asOf).map((p) => ({ date: p.date, value: p.total })),
      bands: bandsOf(gad7Band, 21),
      max: 21,
    },
    adherence: series('appointments.adherence', (v) => (typeof v === 'number' ? v : null)),
    satisfaction: series('satisfaction.latest', (v) =>
      typeof (v as { recommend?: unknown })?.recommend === 'number' ? (v as { recommend: number }).recommend : null,
    ),
  };
}

/** The patient view: tier and why, trends, upcoming appointments with their reminders, what fhir-engage wrote and its status in the EMR. */
/**
 * One state per written resource, in words, from fhir-engage's record and the EMR's status read back:
 * who ended a Task (fhir-engage, or a person in the EMR) is spelled out, never two columns that
 * seem to disagree.
 */
export function stateInWords(resourceType: string, state: string, status: string | null): string {
  if (resourceType !== 'Task') return 'written';
  const ended = status !== null && TERMINAL_TASK_STATUSES.has(status);
  if (state === 'closed') return `closed by fhir-engage (${status ?? 'cancelled'})`;
  if (state === 'handled-by-person' || (status && status !== 'requested'))
    return ended ? `${status} by a person in the EMR` : `taken on by a person (${status ?? 'in progress'})`;
  return 'open, waiting for a person';
}

/** The safety flag of the patient's page: the indicators' reasons and the open safety Tasks (open until a person ends them). */
function overviewSafety(
  ind: PatientIndicators,
  written: WrittenResource[],
  statusInEmr: (w: WrittenResource) => string | null,
): { flagged: boolean; reasons: string[]; openSafetyTasks: number } {
  const flag = ind.safety ?? safetyFlag(ind.phq9);
  // Claimed or started by a person, a safety Task is still open until they end it.
  const openSafetyTasks = written.filter((w) => {
    const status = statusInEmr(w);
    return (
      w.rule === 'phq9-item9-safety' && w.state !== 'closed' && !(status !== null && TERMINAL_TASK_STATUSES.has(status))
    );
  }).length;
  const reasons = safetyReasons(flag, openSafetyTasks);
  return { flagged: reasons.length > 0, reasons, openSafetyTasks };
}

export function patientOverview(input: PatientOverviewInput): Sendable<PatientOverview> {
  const { model, indicators: ind, asOf } = input;
  const reminders = input.written.filter((w) => w.rule === 'appointment-reminder');
  const statusInEmr = statusReader(input.taskEvents);
  return {
    sourceId: input.sourceId,
    patientId: input.patientId,
    asOf: asOf.toISOString(),
    tier: ind.engagement.tier,
    score: ind.engagement.score,
    why: ind.engagement.why,
    patient: input.header,
    safety: overviewSafety(ind, input.written, statusInEmr),
    figures: {
      adherence: ind.appointments.adherence,
      noShowRate: ind.appointments.noShowRate,
      carePlanCompletion: ind.carePlans.completionRate,
      phq9: ind.phq9.latest
        ? {
            total: ind.phq9.latest.total,
            band: ind.phq9.latest.band,
            date: ind.phq9.latest.date,
            response: ind.phq9.response ?? null,
          }
        : null,
      gad7: ind.gad7.latest
        ? { total: ind.gad7.latest.total, band: ind.gad7.latest.band, date: ind.gad7.latest.date }
        : null,
      satisfaction: ind.satisfaction.latest
        ? { recommend: ind.satisfaction.latest.recommend, date: ind.satisfaction.latest.authored }
        : null,
    },
    charts: overviewCharts(input),
    upcoming: model.appointments
      .filter((a) => a.start && Date.parse(a.start) >= asOf.getTime() && a.status === 'upcoming')
      .sort((a, b) => Date.parse(a.start as string) - Date.parse(b.start as string))
      .slice(0, 20)
      .map((a) => ({
        id: a.id,
        start: a.start as string,
        status: a.status,
        reminders: reminders
          .filter((r) => r.identifierValue.includes(`/appointment-reminder/${a.id}/`))
          .map((r) => ({ state: r.state, status: statusInEmr(r) })),
      })),
    written: input.written.map((w) => ({
      resourceType: w.resourceType,
      rule: w.rule,
      state: w.state,
      statusInEmr: statusInEmr(w),
      inWords: stateInWords(w.resourceType, w.state, statusInEmr(w)),
      serverId: w.serverId,
      updatedAt: w.updatedAt,
      task:
        w.resourceType === 'Task' && w.serverId
          ? taskView(w.serverId, input.tasks?.get(w.serverId), statusInEmr(w))
          : null,
    })),
  };
}
