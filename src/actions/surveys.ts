/**
 * Survey assignments in the SDC questionnaire-task pattern
 * (http://hl7.org/fhir/uv/sdc/STU3/task.html): a Task whose input is the
 * canonical of the Questionnaire to complete, `for` the patient, and
 * `executionPeriod` the window to answer in. Periodic instruments (PHQ-9,
 * GAD-7) open a window every N days after the last answer (sooner after a
 * high score); a post-visit feedback survey opens after each kept visit.
 * A response of the same instrument authored inside the window completes
 * the Task (its output references the response); a window that closes
 * unanswered cancels it (not responded). Pure: `now` is a parameter.
 */
import type { Task } from '@medplum/fhirtypes';
import type { EngagementModel, ResponseItem } from '../mapping/model';
import type { WrittenResource } from '../store/types';
import type { PeriodicSurvey, SurveySettings } from '../config/action-settings';
import { addLocalDays, localDate, localDateStart, localDayStart, UTC } from '../local-time';

export interface SurveyWindow {
  kind: 'periodic' | 'post-visit';
  instrument: string;
  questionnaire: string;
  /** Stable part of the identifier: the window's first day, or the visit's appointment id. */
  key: string;
  start: string;
  end: string;
  /** The visit a post-visit survey is about. */
  appointmentId?: string;
  /** The response that answered it, if one did. */
  answeredBy?: string;
}

/**
 * The clock a survey window is computed on: the clinic's zone (windows open at the start of a local
 * day and last whole local days) and, for a programme's first patients, its phased start.
 */
export interface SurveyClock {
  zone: string;
  phase?: PhasedStart;
}

/** Phased start (docs/programme.md): first windows already due when the programme began are spread over `days`. */
export interface PhasedStart {
  /** When the programme first enrolled anyone on the source. */
  programmeStart: number;
  /** When the patient's current spell in the programme began. */
  enrolledAt: number;
  /** Days to spread over; undefined: the instrument's cadence (everyDays); 0: no phasing. */
  days?: number;
  patientId: string;
}

/** A stable spread of patients over `days` (FNV-1a of the id): the same patient always gets the same day. */
export function phaseOffset(patientId: string, days: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < patientId.length; i++) h = Math.imul(h ^ patientId.charCodeAt(i), 0x01000193) >>> 0;
  return h % days;
}

/**
 * When a patient's first window of an instrument (none written before) opens: when it is due — after
 * their last answer, or at enrolment when they never answered — except that windows already due when
 * the programme began, for the patients enrolled then, are spread over the phase's days from its first
 * day by a stable hash of the patient.
 */
function firstDue(def: PeriodicSurvey, clock: SurveyClock, due: number | undefined, t: number): number {
  const p = clock.phase;
  if (!p) return due ?? t;
  const days = p.days ?? def.everyDays;
  const startDay = localDayStart(p.programmeStart, clock.zone);
  const enrolledAtStart = localDayStart(p.enrolledAt, clock.zone) <= startDay;
  if (days <= 0 || !enrolledAtStart || (due !== undefined && due > p.programmeStart)) return due ?? p.enrolledAt;
  return addLocalDays(startDay, phaseOffset(p.patientId, days), clock.zone);
}

function completedOf(model: EngagementModel, instrument: string, now: Date): (ResponseItem & { authored: string })[] {
  return model.responses
    .filter(
      (r): r is ResponseItem & { authored: string } =>
        r.instrument === instrument &&
        r.status === 'completed' &&
        r.authored !== undefined &&
        Date.parse(r.authored) <= now.getTime(),
    )
    .sort((a, b) => Date.parse(a.authored) - Date.parse(b.authored));
}

/** The window keys already written for a survey identifier prefix (`<patient>/survey/<instrument>/`). */
function writtenKeys(written: WrittenResource[], prefix: string): string[] {
  return written
    .filter((w) => w.identifierValue.startsWith(prefix))
    .map((w) => w.identifierValue.slice(prefix.length))
    .sort();
}

/**
 * The window of a periodic survey wanted now, if any. A window already
 * written stays wanted while it is open; otherwise the next one opens
 * `everyDays` after the last answer (`soonerDays` after a score at or above
 * `soonerAtOrAbove`), or `everyDays` after the last window that went
 * unanswered; the first one opens at once. A window due long ago starts today.
 */
export function periodicWindow(
  model: EngagementModel,
  def: PeriodicSurvey,
  written: WrittenResource[],
  windowDays: number,
  now: Date,
  prefix: string,
  clock: SurveyClock = { zone: UTC },
): SurveyWindow | undefined {
  const t = now.getTime();
  const { zone } = clock;
  const completed = completedOf(model, def.instrument, now);
  const last = completed[completed.length - 1];
  const lastKey = writtenKeys(written, prefix).pop();
  const prev = lastKey ? localDateStart(lastKey, zone) : Number.NaN;
  const prevStart = Number.isNaN(prev) ? undefined : prev;
  let start: number | undefined;
  if (prevStart !== undefined && t < addLocalDays(prevStart, windowDays, zone)) {
    start = prevStart;
  } else {
    const high =
      last?.score?.total !== undefined && def.soonerAtOrAbove !== undefined && last.score.total >= def.soonerAtOrAbove;
    const interval = high ? (def.soonerDays ?? def.everyDays) : def.everyDays;
    const candidates: number[] = [];
    if (last) candidates.push(addLocalDays(Date.parse(last.authored), interval, zone));
    if (prevStart !== undefined) {
      const answeredPrev = last !== undefined && Date.parse(last.authored) >= prevStart;
      candidates.push(addLocalDays(prevStart, answeredPrev ? interval : def.everyDays, zone));
    }
    const due = candidates.length ? Math.max(...candidates) : undefined;
    // The first window of the instrument: phased for a programme's first patients.
    const next = prevStart === undefined ? firstDue(def, clock, due, t) : (due as number);
    if (next > t) return undefined;
    // A new window must still be open now: one that would already have closed starts today instead.
    const dueDay = localDayStart(next, zone);
    start = addLocalDays(dueDay, windowDays, zone) <= t ? localDayStart(t, zone) : dueDay;
  }
  const end = addLocalDays(start, windowDays, zone);
  const answer = completed.find((r) => Date.parse(r.authored) >= start && Date.parse(r.authored) < end);
  return {
    kind: 'periodic',
    instrument: def.instrument,
    questionnaire: def.questionnaire,
    key: localDate(start, zone),
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    ...(answer ? { answeredBy: answer.id } : {}),
  };
}

/**
 * Post-visit feedback windows wanted now: one per kept visit whose window
 * (from the visit's end, `windowDays` long) is open. Each response answers
 * at most one window, earliest first.
 */
export function postVisitWindows(
  model: EngagementModel,
  def: NonNullable<SurveySettings['postVisit']>,
  windowDays: number,
  now: Date,
  zone = UTC,
): SurveyWindow[] {
  const t = now.getTime();
  const out: SurveyWindow[] = [];
  const responses = completedOf(model, def.instrument, now);
  const used = new Set<string>();
  const visits = model.appointments
    .filter((a) => a.status === 'kept' && (a.end ?? a.start) !== undefined)
    .map((a) => ({ id: a.id, at: Date.parse((a.end ?? a.start) as string) }))
    .filter((v) => v.at <= t)
    .sort((a, b) => a.at - b.at);
  for (const v of visits) {
    const end = addLocalDays(v.at, windowDays, zone);
    // A closed window is not wanted any more: its Task is cancelled as unanswered (unless it was completed).
    if (t >= end) continue;
    const answer = responses.find(
      (r) => !used.has(r.id) && Date.parse(r.authored) >= v.at && Date.parse(r.authored) < end,
    );
    if (answer) used.add(answer.id);
    out.push({
      kind: 'post-visit',
      instrument: def.instrument,
      questionnaire: def.questionnaire,
      key: v.id,
      appointmentId: v.id,
      start: new Date(v.at).toISOString(),
      end: new Date(end).toISOString(),
      ...(answer ? { answeredBy: answer.id } : {}),
    });
  }
  return out;
}

/** The fields of a survey Task beyond the common ones: what to answer, in which window, and the answer once there is one. */
/**
 * SDC's code for a Task asking a patient to complete a questionnaire (the SDC Task Code value set,
 * Structured Data Capture "questionnaire-task" pattern): a patient app that follows SDC finds the Task by it.
 */
export const SDC_COMPLETE_QUESTIONNAIRE = {
  system: 'http://hl7.org/fhir/uv/sdc/CodeSystem/temp',
  code: 'complete-questionnaire',
  display: 'Complete Questionnaire',
};

export function surveyTaskFields(w: SurveyWindow, codeSystem: string): Partial<Task> {
  return {
    description:
      w.kind === 'post-visit'
        ? 'Post-visit feedback survey for the patient to complete.'
        : `Questionnaire (${w.instrument}) for the patient to complete.`,
    executionPeriod: { start: w.start, end: w.end },
    input: [
      {
        type: {
          coding: [{ system: 'http://hl7.org/fhir/uv/sdc/CodeSystem/temp', code: 'questionnaire' }],
          text: 'questionnaire',
        },
        valueCanonical: w.questionnaire,
      },
    ],
    ...(w.appointmentId ? { focus: { reference: `Appointment/${w.appointmentId}` } } : {}),
    ...(w.answeredBy
      ? {
          status: 'completed' as const,
          statusReason: { coding: [{ system: codeSystem, code: 'survey-assignment' }], text: 'answered' },
          output: [
            {
              type: {
                coding: [{ system: 'http://hl7.org/fhir/uv/sdc/CodeSystem/temp', code: 'questionnaire-response' }],
                text: 'questionnaire response',
              },
              valueReference: { reference: `QuestionnaireResponse/${w.answeredBy}` },
            },
          ],
        }
      : {}),
  };
}
