/**
 * The compute stage's programme side (docs/programme.md): who is enrolled in which programme at the
 * run's as-of instant, the spells that start and end, the plan options each patient's programmes give
 * (the patient's spells, the programmes' starts), and the per-run cap on new Tasks per programme.
 */
import type { Group, Patient } from '@medplum/fhirtypes';
import type { DesiredWrite, PlanOptions } from '../actions/plan';
import { DEFAULT_MAX_NEW_TASKS_PER_RUN, programmesOf, type ProgrammeDefinition } from '../config/programme-settings';
import type { SourceConfig } from '../config/types';
import { enrolledIn, enrolmentChanges, groupMembers } from '../mapping/enrolment';
import type { EngagementModel } from '../mapping/model';
import type { EnrolmentChange, OpenSpell } from '../store/enrolments';
import type { Store } from '../store/store';
import type { SyncSummary } from './events';

/** What enrolment adds to the compute stage's result. */
export interface EnrolmentCounts {
  /** Patients computed in each programme (by id), and those in none (nothing is written about them). */
  enrolled: Record<string, number>;
  notEnrolled: number;
  /** Enrolment spells started and ended by this run, per programme. */
  started: Record<string, number>;
  ended: Record<string, number>;
  /** New Tasks per programme held for later runs by maxNewTasksPerRun (planned again then, never lost). */
  deferredTasks: Record<string, number>;
}

export const emptyEnrolmentCounts = (): EnrolmentCounts => ({
  enrolled: {},
  notEnrolled: 0,
  started: {},
  ended: {},
  deferredTasks: {},
});

/** The run summary's enrolment: per programme of the source, in the order they are defined. */
export function enrolmentSummary(source: SourceConfig, c: EnrolmentCounts): NonNullable<SyncSummary['enrolment']> {
  return {
    programmes: programmesOf(source).map((p) => ({
      id: p.id,
      name: p.name,
      patients: c.enrolled[p.id] ?? 0,
      started: c.started[p.id] ?? 0,
      ended: c.ended[p.id] ?? 0,
      deferredTasks: c.deferredTasks[p.id] ?? 0,
    })),
    inNone: c.notEnrolled,
  };
}

/** One patient's enrolment at this run: the programmes they are in, those they left, the spells changed. */
export interface PatientEnrolment {
  enrolled: ProgrammeDefinition[];
  options: PlanOptions;
  started: EnrolmentChange[];
  ended: EnrolmentChange[];
}

export class ProgrammeEnrolment {
  readonly programmes: readonly ProgrammeDefinition[];
  /** Members of the Groups stored for the source (those the programmes name are read each run). */
  private readonly groups = new Map<string, Set<string>>();
  /** Each patient's identifiers as `system|value` (for programmes that list patients). */
  private readonly identifiers = new Map<string, string[]>();
  /** When each programme first enrolled anyone on the source (phased start); a new one starts now. */
  private startedAt = new Map<string, Date>();
  /** New Tasks opened so far this run per programme, against each programme's cap. */
  private readonly newTasks = new Map<string, number>();
  private readonly caps: Map<string, number>;
  private readonly episodes: boolean;

  constructor(
    source: SourceConfig,
    private readonly asOf: Date,
    private readonly counts: EnrolmentCounts,
  ) {
    this.programmes = programmesOf(source);
    this.episodes = source.episodesOfCare === true;
    this.caps = new Map(this.programmes.map((p) => [p.id, p.maxNewTasksPerRun ?? DEFAULT_MAX_NEW_TASKS_PER_RUN]));
    for (const p of this.programmes) counts.enrolled[p.id] = 0;
  }

  /** Reads the source's Groups and the programmes' start instants. */
  async load(store: Store, sourceId: string): Promise<void> {
    this.startedAt = await store.programmeStarts(sourceId);
    for (const g of (await store.resourcesOfType(sourceId, 'Group')) as unknown as Group[])
      if (g.id) this.groups.set(g.id, groupMembers(g, this.asOf));
  }

  /** The patients' identifiers, for programmes that list patients. */
  setRoster(roster: readonly Pick<Patient, 'id' | 'identifier'>[]): void {
    for (const p of roster)
      if (p.id)
        this.identifiers.set(
          p.id,
          (p.identifier ?? [])
            .filter((i) => i.value)
            .map((i) => (i.system ? `${i.system}|${i.value}` : String(i.value))),
        );
  }

  /**
   * The programmes the patient is in now (counted) with the spells that start or end. A merged record,
   * a patient who died or an inactive record is in none.
   */
  enrol(patientId: string, model: EngagementModel, merged: boolean, spells: readonly OpenSpell[]): PatientEnrolment {
    const gone = merged
      ? 'the record was merged into another'
      : model.patient.deceased === true || model.patient.active === false
        ? 'the patient died or the record is no longer active'
        : undefined;
    const facts = { groups: this.groups, identifiers: this.identifiers.get(patientId) ?? [] };
    const enrolled = gone ? [] : enrolledIn(this.programmes, model, facts, this.asOf);
    if (!merged) {
      for (const p of enrolled) this.counts.enrolled[p.id] = (this.counts.enrolled[p.id] ?? 0) + 1;
      if (enrolled.length === 0) this.counts.notEnrolled++;
    }
    const before = spells.map((s) => s.programmeId);
    const ids = enrolled.map((p) => p.id);
    const changes = enrolmentChanges(
      patientId,
      ids,
      before,
      this.programmes.map((p) => p.id),
      gone,
    );
    for (const c of changes.started) this.counts.started[c.programmeId] = (this.counts.started[c.programmeId] ?? 0) + 1;
    for (const c of changes.ended) this.counts.ended[c.programmeId] = (this.counts.ended[c.programmeId] ?? 0) + 1;
    return {
      enrolled,
      options: {
        left: this.programmes.filter((p) => before.includes(p.id) && !ids.includes(p.id)),
        startedAt: this.startedAt,
        enrolledAt: new Map(spells.map((s) => [s.programmeId, s.startedAt])),
        episodes: this.episodes,
      },
      ...changes,
    };
  }

  /**
   * The writes this run sends for a patient: new Tasks beyond their programme's maxNewTasksPerRun wait
   * (`deferred`: the patient is computed again next run, when they are planned anew); safety Tasks never wait.
   */
  cap(writes: DesiredWrite[], known: ReadonlyMap<string, unknown>): { writes: DesiredWrite[]; deferred: boolean } {
    const kept = writes.filter((w) => {
      if (w.op !== 'upsert' || w.resourceType !== 'Task' || w.priority === 0 || !w.programme) return true;
      if (known.has(w.identifier)) return true;
      const opened = (this.newTasks.get(w.programme) ?? 0) + 1;
      if (opened <= (this.caps.get(w.programme) ?? DEFAULT_MAX_NEW_TASKS_PER_RUN)) {
        this.newTasks.set(w.programme, opened);
        return true;
      }
      this.counts.deferredTasks[w.programme] = (this.counts.deferredTasks[w.programme] ?? 0) + 1;
      return false;
    });
    return { writes: kept, deferred: kept.length < writes.length };
  }
}
