/**
 * Per-patient pulls, for EMRs that answer no population search (Epic refuses an Appointment or
 * QuestionnaireResponse search without a patient, and a Patient search without an identifier, _id or
 * demographics). The patients are the members of the source's Group (`perPatientGroup`, read at every
 * run), or without one the Patients already stored. Patient itself is read by `_id`, in chunks.
 *
 * A member new to the Group has no history here yet: their searches go without `_lastUpdated`, and
 * they stay "new" (kept in a checkpoint of their own) until a run has pulled every type completely, so
 * that a crash between their Patient and their Appointments loses nothing.
 */
import { createHash } from 'node:crypto';
import type { Group, Resource } from '@medplum/fhirtypes';
import type { SourceConfig } from '../config/types';
import { groupMembers } from '../mapping/enrolment';
import { describeError, HttpError } from '../errors';
import type { BatchWriter } from './batch-writer';
import type { FhirClient } from './client';
import { later, type PullContext, type TypeReport } from './pull-context';
import { Interrupted, isAuthenticationFailure, PartialPull } from './pull-errors';
import { followPages } from './search-pages';

/** Types searched per patient in per-patient mode, unless the source names them. */
const PER_PATIENT_DEFAULT = new Set(['Appointment', 'CarePlan', 'QuestionnaireResponse', 'Task']);

/** Whether a type is searched patient by patient (Patient itself when the patients are a Group's members). */
export function isPerPatient(source: SourceConfig, type: string): boolean {
  if (source.mode !== 'per-patient') return false;
  if (type === 'Patient') return !!source.perPatientGroup;
  return source.perPatientTypes ? source.perPatientTypes.includes(type as never) : PER_PATIENT_DEFAULT.has(type);
}

/** Patients read by one `Patient?_id=a,b,…` search. */
export const ID_CHUNK = 50;

/** Where the members still to be searched from the beginning are kept (a pseudo-type of pull_checkpoints). */
const NEW_MEMBERS = 'Group.members';

/** The patients a run searches one by one, and those new to the Group (searched without `_lastUpdated`). */
export interface PatientScope {
  patients: string[];
  fresh: ReadonlySet<string>;
  /** The Group they come from; none when they are the stored Patients. */
  groupId?: string;
  /** Changes when the list does: a checkpoint of another list starts its type again. */
  key: string;
}

/** One search of a per-patient pull: the patients it covers and its URL. */
export interface SearchUnit {
  patients: string[];
  url: string;
  since?: string;
}

export interface UnitsCheckpoint {
  kind: 'patients';
  /** Every unit with a smaller index is done. */
  lowWater: number;
  since?: string;
  maxLastUpdated?: string;
  /** The scope the index counts in (older checkpoints have none: the stored Patients). */
  scopeKey?: string;
}

function keyOf(patients: readonly string[], fresh: ReadonlySet<string>): string {
  return createHash('sha256')
    .update(`${patients.join(',')}|${[...fresh].sort().join(',')}`)
    .digest('base64url')
    .slice(0, 16);
}

/** `GET Group/{id}`, which must answer a Group (a server may answer an OperationOutcome with 200). */
export async function readGroup(client: FhirClient, id: string): Promise<Group> {
  const group = await client.getOk<Resource>(`Group/${encodeURIComponent(id)}`);
  if (group.resourceType !== 'Group') throw new Error(`Group/${id} answered a ${group.resourceType}`);
  return group;
}

/** The patients of this run's per-patient searches (reads the Group; records its new members). */
export async function patientScope(
  ctx: PullContext,
  group: (id: string) => Promise<Group> = (id) => readGroup(ctx.client, id),
): Promise<PatientScope> {
  const { store, source } = ctx;
  const groupId = source.perPatientGroup;
  if (!groupId) {
    const patients = await store.listResourceIds(source.id, 'Patient');
    return { patients, fresh: new Set(), key: keyOf(patients, new Set()) };
  }
  const patients = [...groupMembers(await group(groupId), ctx.asOf ?? new Date())].sort();
  const stored = new Set(await store.listResourceIds(source.id, 'Patient'));
  const carried = (await store.getCheckpoint<{ fresh: string[] }>(source.id, NEW_MEMBERS))?.state.fresh ?? [];
  const members = new Set(patients);
  const fresh = new Set([...patients.filter((p) => !stored.has(p)), ...carried.filter((p) => members.has(p))]);
  if (fresh.size > 0) await store.saveCheckpoint(source.id, NEW_MEMBERS, ctx.runId, { fresh: [...fresh].sort() });
  return { patients, fresh, groupId, key: keyOf(patients, fresh) };
}

/** After a run that pulled every type completely: no member is new any more. */
export async function settleNewMembers(ctx: PullContext): Promise<void> {
  if (ctx.source.perPatientGroup) await ctx.store.deleteCheckpoint(ctx.source.id, NEW_MEMBERS);
}

/**
 * The searches of one type: Patient by `_id` in chunks (new members first, without `_lastUpdated`),
 * other types one patient at a time.
 */
export function unitsFor(
  type: string,
  scope: PatientScope,
  since: string | undefined,
  url: (params: URLSearchParams) => string,
): SearchUnit[] {
  const params = (name: string, value: string, from: string | undefined): URLSearchParams => {
    const p = new URLSearchParams({ [name]: value });
    if (from) p.set('_lastUpdated', `gt${from}`);
    return p;
  };
  if (type !== 'Patient')
    return scope.patients.map((id) => {
      const from = scope.fresh.has(id) ? undefined : since;
      return { patients: [id], url: url(params('patient', id, from)), ...(from ? { since: from } : {}) };
    });
  const units: SearchUnit[] = [];
  const fresh = scope.patients.filter((p) => scope.fresh.has(p));
  const known = scope.patients.filter((p) => !scope.fresh.has(p));
  for (const [ids, from] of [
    [fresh, undefined],
    [known, since],
  ] as const)
    for (let i = 0; i < ids.length; i += ID_CHUNK) {
      const chunk = ids.slice(i, i + ID_CHUNK);
      units.push({ patients: chunk, url: url(params('_id', chunk.join(','), from)), ...(from ? { since: from } : {}) });
    }
  return units;
}

/** Runs a type's units with `concurrency` workers, a checkpoint after each; failed patients are held back. */
export class PerPatientPull {
  /** Set when the server refused `_id` with several values: Patients are then read one id at a time. */
  private singleIds = false;

  constructor(
    private readonly ctx: PullContext,
    private readonly writer: BatchWriter,
    private readonly failedPatients: Set<string>,
  ) {}

  async run(
    type: string,
    scope: PatientScope,
    units: SearchUnit[],
    resume: UnitsCheckpoint | undefined,
    report: TypeReport,
  ): Promise<string | undefined> {
    const { store, source, runId } = this.ctx;
    // The members of a Group may change between a crash and the resumed run: an index into another list
    // would skip some. The stored Patients only grow at the end (sorted ids), as before.
    const resumable = resume !== undefined && (!scope.groupId || resume.scopeKey === scope.key);
    let maxLastUpdated = resumable ? resume.maxLastUpdated : undefined;
    const start = resumable ? resume.lowWater : 0;
    const done = new Set<number>();
    let lowWater = start;
    let cursor = start;
    const worker = async (): Promise<void> => {
      for (;;) {
        if (this.ctx.signal?.aborted) throw new Interrupted('interrupted');
        const i = cursor++;
        const unit = units[i];
        if (!unit) return;
        try {
          maxLastUpdated = later(maxLastUpdated, await this.search(type, unit, report));
        } catch (err) {
          // One patient's failure holds back that patient only; credentials and shutdown stop everything.
          if (err instanceof Interrupted || isAuthenticationFailure(err)) throw err;
          report.failedPatients += unit.patients.length;
          for (const p of unit.patients) this.failedPatients.add(p);
          report.error ??= describeError(err);
        }
        done.add(i);
        while (done.has(lowWater)) lowWater++;
        await store.saveCheckpoint(source.id, type, runId, {
          kind: 'patients',
          lowWater,
          since: report.since,
          maxLastUpdated,
          scopeKey: scope.key,
        } satisfies UnitsCheckpoint);
      }
    };
    const workers = Array.from({ length: Math.max(1, Math.min(source.rateLimit.concurrency, units.length)) }, worker);
    const failed = (await Promise.allSettled(workers)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const n = scope.patients.length;
    if (start > 0)
      report.notes.push(`resumed after ${start} of ${units.length} ${type === 'Patient' ? 'searches' : 'patients'}`);
    if (scope.groupId) {
      report.notes.push(`${n} member(s) of Group/${scope.groupId}`);
      const fresh = scope.patients.filter((p) => scope.fresh.has(p)).length;
      if (fresh) report.notes.push(`${fresh} new member(s) searched from the beginning`);
    }
    if (report.failedPatients > 0) {
      report.status = 'partial';
      report.notes.push(
        `${report.failedPatients} of ${n} patients could not be searched; they are held back and searched again next run`,
      );
      throw new PartialPull(maxLastUpdated);
    }
    return maxLastUpdated;
  }

  /** One unit; a Patient chunk the server refuses (400: one `_id` value only) is read one id at a time. */
  private async search(type: string, unit: SearchUnit, report: TypeReport): Promise<string | undefined> {
    const state = { since: unit.since };
    if (!(type === 'Patient' && unit.patients.length > 1 && this.singleIds)) {
      try {
        return await followPages(this.ctx, this.writer, report, unit.url, state, false);
      } catch (err) {
        if (!(type === 'Patient' && unit.patients.length > 1 && err instanceof HttpError && err.status === 400))
          throw err;
        if (!this.singleIds)
          report.notes.push('the server refused _id with several values; Patients are read one id at a time');
        this.singleIds = true;
      }
    }
    let max: string | undefined;
    for (const id of unit.patients) {
      const one = new URL(unit.url);
      one.searchParams.set('_id', id);
      max = later(max, await followPages(this.ctx, this.writer, report, one.toString(), state, false));
    }
    return max;
  }
}
