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

const DAY_MS = 86_400_000;

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

const dayStart = (t: number): number => Math.floor(t / DAY_MS) * DAY_MS;
const isoDay = (t: number): string => new Date(t).toISOString().slice(0, 10);

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
): SurveyWindow | undefined {
  const t = now.getTime();
  const completed = completedOf(model, def.instrument, now);
  const last = completed[completed.length - 1];
  const lastKey = writtenKeys(written, prefix).pop();
  const prevStart = lastKey ? Date.parse(`${lastKey}T00:00:00Z`) : undefined;
  let start: number | undefined;
  if (prevStart !== undefined && !Number.isNaN(prevStart) && t < prevStart + windowDays * DAY_MS) {
    start = prevStart;
  } else {
    const high =
      last?.score?.total !== undefined && def.soonerAtOrAbove !== undefined && last.score.total >= def.soonerAtOrAbove;
    const interval = (high ? (def.soonerDays ?? def.everyDays) : def.everyDays) * DAY_MS;
    const candidates: number[] = [];
    if (last) candidates.push(Date.parse(last.authored) + interval);
    if (prevStart !== undefined && !Number.isNaN(prevStart)) {
      const answeredPrev = last !== undefined && Date.parse(last.authored) >= prevStart;
      candidates.push(prevStart + (answeredPrev ? interval : def.everyDays * DAY_MS));
    }
    const next = candidates.length ? Math.max(...candidates) : t;
    if (next > t) return undefined;
    // A new window must still be open now: one that would already have closed starts today instead.
    start = dayStart(next) + windowDays * DAY_MS <= t ? dayStart(t) : dayStart(next);
  }
  const end = start + windowDays * DAY_MS;
  const answer = completed.find((r) => Date.parse(r.authored) >= start && Date.parse(r.authored) < end);
  return {
    kind: 'periodic',
    instrument: def.instrument,
    questionnaire: def.questionnaire,
    key: isoDay(start),
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
    const end = v.at + windowDays * DAY_MS;
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
