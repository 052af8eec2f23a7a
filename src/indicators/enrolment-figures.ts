/**
 * Enrolment over a period (docs/programme.md, "Enrolment over time"): from the spells that overlap
 * [from, to), who was in each programme, and how many were enrolled at its end, started and ended in
 * it. Pure.
 */
import type { EnrolmentSpell } from '../store/enrolments';

export interface EnrolmentFigures {
  /** Patients enrolled at the end of the period. */
  enrolled: number;
  /** Spells that started in the period (new enrolments). */
  started: number;
  /** Spells that ended in the period (disenrolments). */
  ended: number;
}

export const ENROLMENT_DEFINITION =
  'Patients enrolled at the end of the period; enrolments that started (new) and ended (disenrolled: no longer meeting the criteria, merged, deceased or the programme removed) in the period. Over all programmes: distinct patients enrolled, and the sums of starts and ends.';

/** A programme of a source: `sourceId` and programme id joined (the programme ids of two sources may repeat). */
export const programmeKey = (sourceId: string, programmeId: string): string => `${sourceId}\u0000${programmeId}`;
export const patientKey = (sourceId: string, patientId: string): string => `${sourceId}|${patientId}`;

export interface PeriodEnrolment {
  /** Per programme key: its figures. */
  byProgramme: Map<string, EnrolmentFigures>;
  /** Per programme key: the patients (patientKey) in it at some time in the period. */
  members: Map<string, Set<string>>;
  /** Over every programme. */
  overall: EnrolmentFigures;
}

export function periodEnrolment(spells: readonly EnrolmentSpell[], from: Date, to: Date): PeriodEnrolment {
  const byProgramme = new Map<string, EnrolmentFigures>();
  const members = new Map<string, Set<string>>();
  const enrolledAtEnd = new Set<string>();
  const overall: EnrolmentFigures = { enrolled: 0, started: 0, ended: 0 };
  const inPeriod = (d: Date | null): boolean => d !== null && d >= from && d < to;
  for (const s of spells) {
    const k = programmeKey(s.sourceId, s.programmeId);
    const f = byProgramme.get(k) ?? { enrolled: 0, started: 0, ended: 0 };
    const patient = patientKey(s.sourceId, s.patientId);
    if (s.startedAt < to && (s.endedAt === null || s.endedAt >= from)) {
      const set = members.get(k) ?? new Set<string>();
      set.add(patient);
      members.set(k, set);
    }
    if (s.startedAt < to && (s.endedAt === null || s.endedAt >= to)) {
      f.enrolled++;
      enrolledAtEnd.add(patient);
    }
    if (inPeriod(s.startedAt)) f.started++;
    if (inPeriod(s.endedAt)) f.ended++;
    byProgramme.set(k, f);
  }
  for (const f of byProgramme.values()) {
    overall.started += f.started;
    overall.ended += f.ended;
  }
  overall.enrolled = enrolledAtEnd.size;
  return { byProgramme, members, overall };
}
