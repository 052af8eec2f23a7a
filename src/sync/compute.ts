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
import { planProgrammes } from '../actions/plan';
import type { EnrolmentChange, OpenSpell } from '../store/enrolments';
import { clinicZone } from '../config/programme-settings';
import { emptyEnrolmentCounts, ProgrammeEnrolment, type EnrolmentCounts } from './programme-enrolment';
import { computeIndicators, historyValues, type PatientIndicators } from '../indicators/compute';
import { buildModel, questionnaireLookup } from '../mapping/build-model';
import { patientAddressHashes, withConsent } from '../messaging/address';
import type { MappingSet } from '../mapping/load';
import type { EngagementModel } from '../mapping/model';
import { buildRoster, planCompute, resourcesOfUnit, type ComputePlan } from '../mapping/patient-roster';
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
  /** Only these patients (a run for a survey answered); the others stay pending for the next run. */
  only?: ReadonlySet<string>;
}

export interface ComputeResult extends EnrolmentCounts {
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
    carePlans: [],
    activities: [],
    responses: [],
    requests: [],
  };
}

type Unit = ComputePlan['compute'][number] & { merged: boolean };
type Loaded = [
  Map<string, Record<string, unknown>[]>,
  WrittenResource[],
  Map<string, OpenSpell[]>,
  ReadonlyMap<string, Date>,
];

/** What one batch of patients computed, to commit together. */
interface BatchOutput {
  results: { patientId: string; model: EngagementModel; indicators: PatientIndicators }[];
  deadLetters: DeadLetterInput[];
  outbox: PreparedWrites['outbox'];
  forget: string[];
  writtenById: Map<string, WrittenResource>;
  enrolments: { started: EnrolmentChange[]; ended: EnrolmentChange[] };
  /** Patients some of whose new Tasks wait for a later run (maxNewTasksPerRun): computed again then. */
  deferred: string[];
}

function emptyResult(): ComputeResult {
  return {
    recomputed: 0,
    heldBack: 0,
    unknownPatients: 0,
    mergedPatients: 0,
    planned: 0,
    deadLettersAdded: 0,
    ...emptyEnrolmentCounts(),
    payloads: [],
    timings: { loadMs: 0, mapMs: 0, indicatorsMs: 0, planMs: 0, storeMs: 0 },
  };
}

export function computeStage(ctx: ComputeContext, hold: HoldBack): Promise<ComputeResult> {
  return new ComputeStage(ctx).run(hold);
}

class ComputeStage {
  private readonly result = emptyResult();
  private lookup: ReturnType<typeof questionnaireLookup> = questionnaireLookup([]);
  private total = 0;
  private readonly enrolment: ProgrammeEnrolment;
  private committing: { done: Promise<number>; patients: number } | undefined;

  constructor(private readonly ctx: ComputeContext) {
    this.enrolment = new ProgrammeEnrolment(ctx.source, ctx.asOf, this.result);
  }

  private time<T>(key: keyof ComputeResult['timings'], fn: () => T): T {
    const t = performance.now();
    try {
      return fn();
    } finally {
      this.result.timings[key] += performance.now() - t;
    }
  }

  async run(hold: HoldBack): Promise<ComputeResult> {
    const { store, source } = this.ctx;
    const units = await this.selectUnits(hold);
    if (!units) return this.result;
    this.lookup = questionnaireLookup(
      (await store.resourcesOfType(source.id, 'Questionnaire')) as unknown as Questionnaire[],
    );
    await this.enrolment.load(store, source.id);
    const batches: Unit[][] = [];
    for (let i = 0; i < units.length; i += COMPUTE_BATCH) batches.push(units.slice(i, i + COMPUTE_BATCH));
    // Three batches at work at once, as in the pull: the next one loading and the previous one committing
    // while this one is computed. Batches still commit one at a time and in order (bounded memory; the
    // progress counts committed patients).
    let next = batches.length ? this.load(batches[0] as Unit[]) : undefined;
    try {
      for (let b = 0; b < batches.length; b++) {
        if (this.ctx.aborted()) break;
        const batch = batches[b] as Unit[];
        const loadStart = performance.now();
        const loaded = await (next as Promise<Loaded>);
        this.result.timings.loadMs += performance.now() - loadStart;
        next = b + 1 < batches.length ? this.load(batches[b + 1] as Unit[]) : undefined;
        const output = this.computeBatch(batch, loaded);
        this.result.planned += output.outbox.length;
        await this.settleCommit();
        this.commit(batch, output);
      }
      await this.settleCommit();
    } finally {
      // On a failure, nothing is left running against the store: the caller may close it.
      await Promise.allSettled([next, this.committing?.done]);
    }
    return this.result;
  }

  /** The patients to compute now (those held back counted, unknown patients' data dead-lettered); undefined when all are held back. */
  private async selectUnits(hold: HoldBack): Promise<Unit[] | undefined> {
    const { store, source } = this.ctx;
    const only = this.ctx.only;
    const pending = (await store.patientsToRecompute(source.id, this.ctx.asOf, clinicZone(source))).filter(
      (id) => !only || only.has(id),
    );
    if (hold.all) {
      this.result.heldBack = pending.length;
      return undefined;
    }
    const roster = await store.patientRoster(source.id);
    this.enrolment.setRoster(roster);
    const plan = planCompute(pending, buildRoster(roster));
    const compute = plan.compute.filter((c) => !c.dataOf.some((id) => hold.patients.has(id)));
    const merged = plan.merged.filter((id) => !hold.patients.has(id));
    this.result.heldBack = plan.compute.length - compute.length + plan.merged.length - merged.length;
    this.result.mergedPatients = merged.length;
    this.result.unknownPatients = plan.unknown.length;
    this.total = compute.length;
    if (plan.unknown.length) await this.deadLetterUnknown(plan.unknown);
    return [
      ...compute.map((c) => ({ ...c, merged: false })),
      ...merged.map((id) => ({ patientId: id, dataOf: [id], merged: true })),
    ];
  }

  private async deadLetterUnknown(unknown: string[]): Promise<void> {
    const { store, source, runId } = this.ctx;
    const letters: DeadLetterInput[] = [];
    for (const list of (await store.resourcesOfPatients(source.id, unknown)).values()) {
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
    if (!this.ctx.dryRun && letters.length) this.result.deadLettersAdded += await store.addDeadLetters(letters);
  }

  private load(batch: Unit[]): Promise<Loaded> {
    const { store, source } = this.ctx;
    const resources = store.resourcesOfPatients(source.id, [...new Set(batch.flatMap((u) => u.dataOf))]);
    const loading = Promise.all([
      resources,
      store.listWrittenForPatients(
        source.id,
        batch.map((u) => u.patientId),
      ),
      store.openEnrolments(
        source.id,
        batch.map((u) => u.patientId),
      ),
      // The addresses whose owners opted out, when fhir-engage sends messages itself.
      this.ctx.config.messaging
        ? resources.then((r) =>
            store.optedOut(patientAddressHashes(r, this.ctx.config.messaging?.sms?.defaultCountryCode)),
          )
        : new Map<string, Date>(),
    ]);
    // Awaited in turn; until then a failure must not count as unhandled.
    loading.catch(() => undefined);
    return loading;
  }

  private computeBatch(batch: Unit[], [resources, written, enrolments, optedOut]: Loaded): BatchOutput {
    const writtenByPatient = new Map<string, WrittenResource[]>();
    for (const w of written) writtenByPatient.set(w.patientId, [...(writtenByPatient.get(w.patientId) ?? []), w]);
    const out: BatchOutput = {
      results: [],
      deadLetters: [],
      outbox: [],
      forget: [],
      writtenById: new Map(written.map((w) => [w.identifierValue, w])),
      enrolments: { started: [], ended: [] },
      deferred: [],
    };
    for (const unit of batch)
      this.computeUnit(
        unit,
        resources,
        writtenByPatient.get(unit.patientId) ?? [],
        enrolments.get(unit.patientId) ?? [],
        out,
        optedOut,
      );
    return out;
  }

  /** One patient: model, indicators, planned writes, prepared for the outbox. */
  private computeUnit(
    unit: Unit,
    resources: Loaded[0],
    written: WrittenResource[],
    enrolledBefore: OpenSpell[],
    out: BatchOutput,
    optedOut: ReadonlyMap<string, Date>,
  ): void {
    const { source, runId, asOf, config } = this.ctx;
    const model = unit.merged ? mergedModel(source.id, unit.patientId) : this.model(unit, resources, out);
    if (optedOut.size)
      withConsent(
        model,
        resourcesOfUnit(unit, resources as unknown as Map<string, Resource[]>),
        optedOut,
        config.messaging?.sms?.defaultCountryCode,
      );
    const indicators = this.time('indicatorsMs', () => computeIndicators(model, asOf, config.indicators));
    if (!unit.merged) out.results.push({ patientId: unit.patientId, model, indicators });
    const enrolment = this.enrolment.enrol(unit.patientId, model, unit.merged, enrolledBefore);
    out.enrolments.started.push(...enrolment.started);
    out.enrolments.ended.push(...enrolment.ended);
    const planned = this.time('planMs', () =>
      planProgrammes(indicators, model, written, config.actions, enrolment.enrolled, asOf, enrolment.options),
    );
    out.forget.push(...planned.forget);
    if (!source.writeBack) return;
    const { writes, deferred } = this.enrolment.cap(planned.writes, out.writtenById);
    if (deferred) out.deferred.push(unit.patientId);
    const prepared = this.time('planMs', () =>
      prepareWrites(writes, out.writtenById, {
        sourceId: source.id,
        runId,
        target: source.writeTarget?.baseUrl ?? source.baseUrl,
        settings: config.actions,
        validator: this.ctx.validator,
        strict: this.ctx.strict,
      }),
    );
    out.deadLetters.push(...prepared.deadLetters);
    out.outbox.push(...prepared.outbox);
    if (this.ctx.dryRun) this.result.payloads.push(...prepared.payloads);
  }

  /** The patient's engagement model from their resources (and those of records merged into theirs); mapping failures become dead letters. */
  private model(unit: Unit, resources: Loaded[0], out: BatchOutput): EngagementModel {
    const { source, runId } = this.ctx;
    const own = resourcesOfUnit(unit, resources as unknown as Map<string, Resource[]>);
    const built = this.time('mapMs', () =>
      buildModel(source.id, unit.patientId, own, {
        mappings: this.ctx.mappings,
        instruments: this.ctx.instruments,
        questionnaires: this.lookup,
      }),
    );
    for (const f of built.failures)
      out.deadLetters.push({
        sourceId: source.id,
        runId,
        stage: 'map',
        resourceType: f.resource.resourceType,
        resourceId: f.resource.id,
        payload: f.resource,
        outcome: f.outcome,
      });
    return built.model;
  }

  /** Starts the batch's transaction: indicators, their history and the writes they cause commit together (a crash loses nothing and duplicates nothing). */
  private commit(batch: Unit[], out: BatchOutput): void {
    const { store, source, runId, asOf } = this.ctx;
    const patients = batch.filter((u) => !u.merged).length;
    if (this.ctx.dryRun) {
      this.result.recomputed += patients;
      this.ctx.emit({ type: 'computed', patients: this.result.recomputed, total: this.total });
      return;
    }
    const done = store.transaction(async (tx) => {
      // One round trip per batch of patients, not two per patient.
      await tx.saveComputations(source.id, out.results, asOf, runId);
      // Merged records, and the replaced records whose data a survivor took over, are done with too.
      const alsoDone = batch.flatMap((u) => (u.merged ? [u.patientId] : u.dataOf.filter((id) => id !== u.patientId)));
      if (alsoDone.length) await tx.markPatientsComputed(source.id, alsoDone);
      await tx.recordIndicatorsMany(
        source.id,
        asOf,
        runId,
        out.results.map((r) => ({ patientId: r.patientId, values: historyValues(r.indicators) })),
      );
      await tx.recordEnrolments(source.id, runId, asOf, out.enrolments);
      if (out.deferred.length) await tx.markPatientsToCompute(source.id, out.deferred);
      if (out.outbox.length) await tx.enqueueOutbox(source.id, runId, out.outbox);
      for (const id of out.forget) {
        const w = out.writtenById.get(id);
        if (w) await tx.upsertWritten({ ...w, state: 'closed', runId });
      }
      return out.deadLetters.length ? tx.addDeadLetters(out.deadLetters) : 0;
    });
    done.catch(() => undefined);
    this.committing = { done, patients };
  }

  private async settleCommit(): Promise<void> {
    if (!this.committing) return;
    const { done, patients } = this.committing;
    this.committing = undefined;
    const storeStart = performance.now();
    this.result.deadLettersAdded += await done;
    this.result.timings.storeMs += performance.now() - storeStart;
    this.result.recomputed += patients;
    this.ctx.emit({ type: 'computed', patients: this.result.recomputed, total: this.total });
  }
}
