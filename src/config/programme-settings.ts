/**
 * Programmes (docs/programme.md): who is enrolled and what each programme does. A source lists its
 * programmes under `programmes:`; with none, the default programme enrols every patient with an
 * engagement signal and runs every rule.
 */
import type { ActionSettings, RuleName } from './action-settings';
import type { Delivery } from './messaging-settings';

/**
 * Who a programme enrols. Codes are `system|code` or a bare `code` (any system); references are
 * `Type/id`; windows are days before (and, for appointments, after) the run's as-of instant.
 */
export type EnrolmentCriterion =
  /** Members of a FHIR Group on the source (the cohort an Epic or Oracle Health registration names); the Group is read each run. */
  | { group: string }
  /** A CarePlan (active unless `statuses` says otherwise) whose category matches one of `codes` (any, when none are given). */
  | { carePlan: { codes?: string[]; statuses?: string[] } }
  /** An appointment (kept, missed or booked) within the window whose service type, specialty or appointment type, practitioner or location matches. */
  | {
      appointment: {
        codes?: string[];
        actors?: string[];
        /** Days back from the as-of instant (default 365). */
        withinDays?: number;
        /** Days ahead: booked visits count (default 365). */
        aheadDays?: number;
      };
    }
  /** A questionnaire answered within the window (by instrument key or canonical URL; any, when neither is given). */
  | { questionnaire: { instruments?: string[]; questionnaires?: string[]; withinDays?: number } }
  /** An explicit list: patient ids (`Patient/123`) or identifiers (`system|value`). */
  | { patients: string[] }
  | { any: EnrolmentCriterion[] }
  | { all: EnrolmentCriterion[] };

export interface ProgrammeDefinition {
  id: string;
  name: string;
  enrol: EnrolmentCriterion;
  /** Rules this programme runs (default: every rule). */
  rules?: RuleName[];
  /** This programme's settings over the file's `actions:` (reminders, surveys, outreach threshold, Task owner). */
  actions?: Partial<Pick<ActionSettings, 'taskOwner' | 'outreachMinNoShows'>> & {
    reminders?: Partial<ActionSettings['reminders']>;
    surveys?: Partial<ActionSettings['surveys']>;
  };
  /** The programme's IANA time zone, over the source's. */
  timeZone?: string;
  /** Survey windows due when the programme starts are spread over `days` (default: the cadence; 0: off). */
  phasedStart?: { days: number };
  /** New Tasks one run opens for the programme at most (default 1000; safety Tasks are never held). */
  maxNewTasksPerRun?: number;
  /** How its reminders reach patients (default tasks-only; direct: fhir-engage sends them, docs/messaging.md). */
  delivery?: Delivery;
}

/** New Tasks a run opens per programme at most, when neither the programme nor its source says. */
export const DEFAULT_MAX_NEW_TASKS_PER_RUN = 1000;

/**
 * The default programme, when a source defines none: a patient with no engagement signal — no
 * CarePlan, no appointment in the last 12 months or booked ahead, no questionnaire answered in the
 * last 12 months — is in no programme, and fhir-engage writes nothing about them.
 */
export const DEFAULT_PROGRAMME: ProgrammeDefinition = Object.freeze({
  id: 'default',
  name: 'Engaged patients (default)',
  enrol: {
    any: [
      { carePlan: {} },
      { appointment: { withinDays: 365, aheadDays: 365 } },
      { questionnaire: { withinDays: 365 } },
    ],
  },
}) as ProgrammeDefinition;

/**
 * The programmes a source runs, each with the source's time zone, phased start and cap where it sets
 * none of its own: its `programmes:`, or the default programme.
 */
export function programmesOf(source: {
  programmes?: ProgrammeDefinition[];
  timeZone?: string;
  phasedStart?: { days: number };
  maxNewTasksPerRun?: number;
  delivery?: Delivery;
}): ProgrammeDefinition[] {
  const inherited = {
    ...(source.delivery ? { delivery: source.delivery } : {}),
    ...(source.timeZone ? { timeZone: source.timeZone } : {}),
    ...(source.phasedStart ? { phasedStart: source.phasedStart } : {}),
    ...(source.maxNewTasksPerRun ? { maxNewTasksPerRun: source.maxNewTasksPerRun } : {}),
  };
  return (source.programmes ?? [DEFAULT_PROGRAMME]).map((p) => ({ ...inherited, ...p }));
}

/**
 * The zone of a source's day (recomputation, the programme history day, report periods): the source's
 * time zone, else the zone its programmes share, else UTC.
 */
export function clinicZone(source: { programmes?: ProgrammeDefinition[]; timeZone?: string }): string {
  if (source.timeZone) return source.timeZone;
  const zones = new Set((source.programmes ?? []).map((p) => p.timeZone ?? 'UTC'));
  return zones.size === 1 ? ([...zones][0] as string) : 'UTC';
}

/** The zone report periods are read in: the source's (clinicZone), or the zone every source shares; else UTC. */
export function reportZone(
  sources: readonly { id: string; programmes?: ProgrammeDefinition[]; timeZone?: string }[],
  sourceId?: string,
): string {
  const zones = new Set(sources.filter((s) => !sourceId || s.id === sourceId).map(clinicZone));
  return zones.size === 1 ? ([...zones][0] as string) : 'UTC';
}

/** Every Questionnaire canonical a source's survey Tasks may name: the file's surveys and each programme's over them. */
export function assignedQuestionnaires(
  surveys: ActionSettings['surveys'],
  source: Parameters<typeof programmesOf>[0],
): string[] {
  const of = (s: Partial<ActionSettings['surveys']> | undefined): string[] => [
    ...(s?.periodic ?? surveys.periodic).map((p) => p.questionnaire),
    ...((s && 'postVisit' in s ? s.postVisit : surveys.postVisit)
      ? [(s?.postVisit ?? surveys.postVisit)!.questionnaire]
      : []),
  ];
  return [...new Set([...of(undefined), ...programmesOf(source).flatMap((p) => of(p.actions?.surveys))])];
}
