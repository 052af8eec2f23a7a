/**
 * The compute stage of a run: for the patients whose data changed (or whose
 * day moved), build the engagement model, compute indicators, plan actions,
 * and commit indicators, history and the outbox rows they cause in one
 * transaction per batch. Only patients the EMR returned are computed; the
 * data of merged (replaced) records counts for their survivor; resources
 * about unknown patients are dead-lettered.
 */
import type { Questionnaire, Resource } from '@medplum/fhirtypes';
import type { AppConfig, SourceConfig } from '../config/types';
import { planPatient } from '../actions/plan';
import { computeIndicators, historyValues, type PatientIndicators } from '../indicators/compute';
import { buildModel, questionnaireLookup } from '../mapping/build-model';
import type { MappingSet } from '../mapping/load';
import type { EngagementModel } from '../mapping/model';
import { buildRoster, planCompute, resourcesOfUnit } from '../mapping/patient-roster';
import { patientDeadLetter } from '../mapping/patient-of';
import type { InstrumentDefinition } from '../mapping/scoring';
import type { Store } from '../store/store';
import type { DeadLetterInput, WrittenResource } from '../store/types';
import type { ResourceValidator } from '../validation/validator';
import { prepareWrites, type PreparedWrites } from '../writeback/enqueue';
import type { OutboxPayload } from '../writeback/outbox-item';
import type { HoldBack } from './completeness';
import type { SyncEvent } from './events';

/** Patients computed and committed together: bounded memory whatever the EMR's size. */
const COMPUTE_BATCH = 200;

export interface ComputeContext {
  store: Store;
  config: AppConfig;
  source: SourceConfig;
  runId: string;
  asOf: Date;
  dryRun: boolean;
  strict?: boolean;
  mappings: MappingSet;
  instruments: InstrumentDefinition[];
  validator: ResourceValidator;
  emit: (e: SyncEvent) => void;
  /** Checked between batches: a stop request ends the stage after the batch in progress. */
  aborted: () => boolean;
}

export interface ComputeResult {
  recomputed: number;
  heldBack: number;
  unknownPatients: number;
  mergedPatients: number;
  planned: number;
  deadLettersAdded: number;
  /** Dry run only: what would be sent. */
  payloads: OutboxPayload[];
  /** Where the time went (ms): loading resources, mapping, indicators, planning, committing. */
  timings: { loadMs: number; mapMs: number; indicatorsMs: number; planMs: number; storeMs: number };
}

/** A merged record is written about no more: an inactive stand-in makes every open Task of it close. */
function mergedModel(sourceId: string, patientId: string): EngagementModel {
  return {
    sourceId,
    patientId,
    patient: { active: false },
    appointments: [],
    activities: [],
    responses: [],
    requests: [],
  };
}

export async function computeStage(ctx: ComputeContext, hold: HoldBack): Promise<ComputeResult> {
  const { store, source, runId, asOf } = ctx;
  const result: ComputeResult = {
    recomputed: 0,
    heldBack: 0,
    unknownPatients: 0,
    mergedPatients: 0,
    planned: 0,
    deadLettersAdded: 0,
    payloads: [],
    timings: { loadMs: 0, mapMs: 0, indicatorsMs: 0, planMs: 0, storeMs: 0 },
  };
  const time = <T>(key: keyof ComputeResult['timings'], fn: () => T): T => {
    const t = performance.now();
    try {
      return fn();
    } finally {
      result.timings[key] += performance.now() - t;
    }
  };
  const pending = await store.patientsToRecompute(source.id, asOf);
  if (hold.all) {
    result.heldBack = pending.length;
    return result;
  }
  const plan = planCompute(pending, buildRoster(await store.patientRoster(source.id)));
  const held = (ids: string[]): boolean => ids.some((id) => hold.patients.has(id));
  const compute = plan.compute.filter((c) => !held(c.dataOf));
  const merged = plan.merged.filter((id) => !hold.patients.has(id));
  result.heldBack = plan.compute.length - compute.length + plan.merged.length - merged.length;
  result.mergedPatients = merged.length;
  result.unknownPatients = plan.unknown.length;

  const lookup = questionnaireLookup(
    (await store.resourcesOfType(source.id, 'Questionnaire')) as unknown as Questionnaire[],
  );
  const target = source.writeTarget?.baseUrl ?? source.baseUrl;

  if (plan.unknown.length) {
    const letters: DeadLetterInput[] = [];
    for (const list of (await store.resourcesOfPatients(source.id, plan.unknown)).values()) {
      for (const r of list as unknown as Resource[]) {
        letters.push(
          patientDeadLetter(
            source.id,
            runId,
            r,
            `unknown patient: this ${r.resourceType} refers to a patient the source did not return (absent, filtered or restricted); nothing is computed or written for it`,
          ),
        );
      }
    }
    if (!ctx.dryRun && letters.length) result.deadLettersAdded += await store.addDeadLetters(letters);
  }

  const units = [
    ...compute.map((c) => ({ ...c, merged: false })),
    ...merged.map((id) => ({ patientId: id, dataOf: [id], merged: true })),
  ];
  type Unit = (typeof units)[number];
  const batches: Unit[][] = [];
  for (let i = 0; i < units.length; i += COMPUTE_BATCH) batches.push(units.slice(i, i + COMPUTE_BATCH));
  const load = (batch: Unit[]) => {
    const loading = Promise.all([
      store.resourcesOfPatients(source.id, [...new Set(batch.flatMap((u) => u.dataOf))]),
      store.listWrittenForPatients(
        source.id,
        batch.map((u) => u.patientId),
      ),
    ]);
    // Awaited in turn below; until then a failure must not count as unhandled.
    loading.catch(() => undefined);
    return loading;
  };
  // Three batches at work at once, as in the pull: the next one loading and the previous one committing
  // while this one is computed. Batches still commit one at a time and in order (bounded memory; the
  // progress counts committed patients).
  let next = batches.length ? load(batches[0] as Unit[]) : undefined;
  let committing: { done: Promise<number>; patients: number } | undefined;
  const settleCommit = async (): Promise<void> => {
    if (!committing) return;
    const { done, patients } = committing;
    committing = undefined;
    const storeStart = performance.now();
    result.deadLettersAdded += await done;
    result.timings.storeMs += performance.now() - storeStart;
    result.recomputed += patients;
    ctx.emit({ type: 'computed', patients: result.recomputed, total: compute.length });
  };
  try {
    for (let b = 0; b < batches.length; b++) {
      if (ctx.aborted()) break;
      const batch = batches[b] as Unit[];
      const loadStart = performance.now();
      const [resources, written] = await (next as ReturnType<typeof load>);
      result.timings.loadMs += performance.now() - loadStart;
      next = b + 1 < batches.length ? load(batches[b + 1] as Unit[]) : undefined;
      const writtenById = new Map(written.map((w) => [w.identifierValue, w]));
      const writtenByPatient = new Map<string, WrittenResource[]>();
      for (const w of written) writtenByPatient.set(w.patientId, [...(writtenByPatient.get(w.patientId) ?? []), w]);
      const results: { patientId: string; model: EngagementModel; indicators: PatientIndicators }[] = [];
      const deadLetters: DeadLetterInput[] = [];
      const outbox: PreparedWrites['outbox'] = [];
      const forget: string[] = [];
      for (const unit of batch) {
        let model: EngagementModel;
        if (unit.merged) {
          model = mergedModel(source.id, unit.patientId);
        } else {
          const own = resourcesOfUnit(unit, resources as unknown as Map<string, Resource[]>);
          const built = time('mapMs', () =>
            buildModel(source.id, unit.patientId, own, {
              mappings: ctx.mappings,
              instruments: ctx.instruments,
              questionnaires: lookup,
            }),
          );
          for (const f of built.failures)
            deadLetters.push({
              sourceId: source.id,
              runId,
              stage: 'map',
              resourceType: f.resource.resourceType,
              resourceId: f.resource.id,
              payload: f.resource,
              outcome: f.outcome,
            });
          model = built.model;
        }
        const indicators = time('indicatorsMs', () => computeIndicators(model, asOf, ctx.config.indicators));
        if (!unit.merged) results.push({ patientId: unit.patientId, model, indicators });
        const planned = time('planMs', () =>
          planPatient(indicators, model, writtenByPatient.get(unit.patientId) ?? [], ctx.config.actions, asOf),
        );
        forget.push(...planned.forget);
        if (!source.writeBack) continue;
        const prepared = time('planMs', () =>
          prepareWrites(planned.writes, writtenById, {
            sourceId: source.id,
            runId,
            target,
            settings: ctx.config.actions,
            validator: ctx.validator,
            strict: ctx.strict,
          }),
        );
        deadLetters.push(...prepared.deadLetters);
        outbox.push(...prepared.outbox);
        if (ctx.dryRun) result.payloads.push(...prepared.payloads);
      }
      result.planned += outbox.length;
      await settleCommit();
      const patients = batch.filter((u) => !u.merged).length;
      if (ctx.dryRun) {
        result.recomputed += patients;
        ctx.emit({ type: 'computed', patients: result.recomputed, total: compute.length });
        continue;
      }
      // Indicators, their history and the writes they cause commit together: a crash loses nothing and duplicates nothing.
      const done = store.transaction(async (tx) => {
        // One round trip per batch of patients, not two per patient.
        await tx.saveComputations(source.id, results, asOf, runId);
        // Merged records, and the replaced records whose data a survivor took over, are done with too.
        const alsoDone = batch.flatMap((u) => (u.merged ? [u.patientId] : u.dataOf.filter((id) => id !== u.patientId)));
        if (alsoDone.length) await tx.markPatientsComputed(source.id, alsoDone);
        await tx.recordIndicatorsMany(
          source.id,
          asOf,
          runId,
          results.map((r) => ({ patientId: r.patientId, values: historyValues(r.indicators) })),
        );
        if (outbox.length) await tx.enqueueOutbox(source.id, runId, outbox);
        for (const id of forget) {
          const w = writtenById.get(id);
          if (w) await tx.upsertWritten({ ...w, state: 'closed', runId });
        }
        return deadLetters.length ? tx.addDeadLetters(deadLetters) : 0;
      });
      done.catch(() => undefined);
      committing = { done, patients };
    }
    await settleCommit();
  } finally {
    // On a failure, nothing is left running against the store: the caller may close it.
    await Promise.allSettled([next, committing?.done]);
  }
  return result;
}
