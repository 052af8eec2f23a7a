/**
 * Who is enrolled in which programme (docs/programme.md): each criterion evaluated on the patient's
 * engagement model, the Groups named by programmes and the patient's identifiers, at the run's as-of
 * instant. Pure.
 */
import type { EnrolmentCriterion, ProgrammeDefinition } from '../config/programme-settings';
import type { Group } from '@medplum/fhirtypes';
import type { EngagementModel } from './model';
import { patientIdFromReference } from './patient-of';

const DAY_MS = 86_400_000;

export interface EnrolmentFacts {
  /** Group id → the ids of its member patients (Groups named by the source's programmes). */
  groups: ReadonlyMap<string, ReadonlySet<string>>;
  /** The patient's identifiers as `system|value`. */
  identifiers: readonly string[];
}

/** A criterion's code (`system|code`, or a bare `code` for any system) against a model coding (`system|code` or `code`). */
function codeMatches(wanted: string, coding: string): boolean {
  if (wanted.includes('|')) return wanted === coding;
  return wanted === coding.slice(coding.lastIndexOf('|') + 1);
}

const anyCode = (wanted: readonly string[] | undefined, codes: readonly string[] | undefined): boolean =>
  !wanted?.length || wanted.some((w) => (codes ?? []).some((c) => codeMatches(w, c)));

function inWindow(at: string | undefined, now: Date, backDays: number, aheadDays: number): boolean {
  if (!at) return false;
  const t = Date.parse(at);
  return t >= now.getTime() - backDays * DAY_MS && t <= now.getTime() + aheadDays * DAY_MS;
}

/** Whether the patient meets `c` at `now`. */
export function meets(c: EnrolmentCriterion, model: EngagementModel, facts: EnrolmentFacts, now: Date): boolean {
  if ('any' in c) return c.any.some((x) => meets(x, model, facts, now));
  if ('all' in c) return c.all.every((x) => meets(x, model, facts, now));
  if ('group' in c) return facts.groups.get(c.group)?.has(model.patientId) ?? false;
  if ('patients' in c)
    return c.patients.some((p) => p === `Patient/${model.patientId}` || facts.identifiers.includes(p));
  if ('carePlan' in c) {
    const statuses = c.carePlan.statuses ?? ['active'];
    return model.carePlans.some((p) => statuses.includes(p.status ?? '') && anyCode(c.carePlan.codes, p.codes));
  }
  if ('appointment' in c) {
    const { codes, actors, withinDays = 365, aheadDays = 365 } = c.appointment;
    return model.appointments.some(
      (a) =>
        (a.status === 'kept' || a.status === 'no-show' || a.status === 'upcoming') &&
        inWindow(a.start, now, withinDays, aheadDays) &&
        anyCode(codes, a.codes) &&
        (!actors?.length || actors.some((x) => a.actors?.includes(x))),
    );
  }
  const { instruments, questionnaires, withinDays = 365 } = c.questionnaire;
  return model.responses.some(
    (r) =>
      r.status === 'completed' &&
      inWindow(r.authored, now, withinDays, 0) &&
      (!instruments?.length || (r.instrument !== undefined && instruments.includes(r.instrument))) &&
      (!questionnaires?.length || questionnaires.includes((r.questionnaire ?? '').split('|')[0] as string)),
  );
}

/** The programmes the patient is enrolled in at `now`, in the order they are defined. */
export function enrolledIn(
  programmes: readonly ProgrammeDefinition[],
  model: EngagementModel,
  facts: EnrolmentFacts,
  now: Date,
): ProgrammeDefinition[] {
  return programmes.filter((p) => meets(p.enrol, model, facts, now));
}

/** The Groups the programmes name (read from the source each run). */
export function groupsNamed(programmes: readonly ProgrammeDefinition[]): string[] {
  const out = new Set<string>();
  const walk = (c: EnrolmentCriterion): void => {
    if ('group' in c) out.add(c.group);
    else if ('any' in c) c.any.forEach(walk);
    else if ('all' in c) c.all.forEach(walk);
  };
  for (const p of programmes) walk(p.enrol);
  return [...out].sort();
}

/** The patients a Group lists as members now (members marked inactive, or whose period has ended, are not). */
export function groupMembers(group: Group, now: Date): Set<string> {
  const out = new Set<string>();
  for (const m of group.member ?? []) {
    if (m.inactive === true) continue;
    if (m.period?.end && Date.parse(m.period.end) < now.getTime()) continue;
    const id = patientIdFromReference(m.entity?.reference);
    if (id) out.add(id);
  }
  return out;
}

/** Why a spell ends when the patient still exists but no longer meets the programme's criteria. */
export const NO_LONGER_MEETS = 'no longer meets the enrolment criteria';

/**
 * The spells that start and end for one patient: programmes enrolled in now against those open
 * before. A spell of a programme no longer configured ends saying so; `endReason` overrides the
 * reason for every ending (a merged record, a patient who died).
 */
export function enrolmentChanges(
  patientId: string,
  now: readonly string[],
  before: readonly string[],
  configured: readonly string[],
  endReason?: string,
): {
  started: { patientId: string; programmeId: string }[];
  ended: { patientId: string; programmeId: string; endReason: string }[];
} {
  return {
    started: now.filter((id) => !before.includes(id)).map((programmeId) => ({ patientId, programmeId })),
    ended: before
      .filter((id) => !now.includes(id))
      .map((programmeId) => ({
        patientId,
        programmeId,
        endReason:
          endReason ?? (configured.includes(programmeId) ? NO_LONGER_MEETS : 'the programme is no longer configured'),
      })),
  };
}

/**
 * The patients whose membership differs between two versions of a Group: added, removed, or with a
 * changed member entry (made inactive, its period ended). They are computed again at once.
 */
export function groupMembersMoved(before: Group | undefined, after: Group): string[] {
  const entries = (g: Group | undefined): Map<string, string> => {
    const out = new Map<string, string>();
    for (const m of g?.member ?? []) {
      const id = patientIdFromReference(m.entity?.reference);
      if (id) out.set(id, `${out.get(id) ?? ''}${JSON.stringify(m)}`);
    }
    return out;
  };
  const a = entries(before);
  const b = entries(after);
  return [...new Set([...a.keys(), ...b.keys()])].filter((id) => a.get(id) !== b.get(id)).sort();
}
