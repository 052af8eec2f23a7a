/**
 * One sync run of one source: pull (incremental), validate, store, map,
 * recompute indicators for the patients whose data changed or whose day
 * moved, plan actions, enqueue them with the indicators in one transaction,
 * then dispatch the outbox. Runs of a source never overlap (advisory lock);
 * a run interrupted by a crash is found by its stale heartbeat and its work
 * resumes from the pull checkpoints and the outbox.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { AppConfig, SourceConfig } from '../config/types';
import { readCapabilities, type CapabilityReport } from '../fhir/capabilities';
import { choosePullMethod, pullBulk } from '../fhir/bulk-pull';
import { pullSource } from '../fhir/pull';
import type { PullContext, PullReport } from '../fhir/pull-context';
import { readBackOwnTasks } from '../fhir/readback';
import { createSourceClient, createWriteClient, newTransportStats, type TransportStats } from '../fhir/source-client';
import type { MappingSet } from '../mapping/load';
import { patientOfWithMappings } from '../mapping/patient-of';
import type { InstrumentDefinition } from '../mapping/scoring';
import { LOCK_BUSY } from '../store/driver';
import type { Store } from '../store/store';
import { sharedValidator } from '../validation/validator';
import { dispatchOutbox } from '../writeback/dispatch';
import { enqueueDefinitions } from '../writeback/definitions';
import { formsOf } from '../mapping/forms';
import { assignedQuestionnaires } from '../config/programme-settings';
import { PERSON_OPS } from '../writeback/outbox-item';
import { messagingStep } from './messaging-step';
import type { OutboxPayload } from '../writeback/outbox-item';
import { dryRunBundle } from '../writeback/requests';
import { holdBack, reasonsForLog, runStatus } from './completeness';
import { ANALYZE_AFTER_ROWS, loadDefinitions, refreshStatistics } from './run-definitions';
import { computeStage } from './compute';
import { enrolmentSummary } from './programme-enrolment';
import { deliverSafetyAlerts } from '../alerts/deliver';
import { loadProgrammeSummary, recordProgrammeHistory } from './programme';
import { describeError, EngageError, outcome } from '../errors';
import { logger } from '../log/logger';
import type { SyncEvent, SyncSummary } from './events';
import { openRun, RunGuard, recordRunEnd, startHeartbeat } from './run-lifecycle';
import { addWrites, newSummary, summariseWrites } from './run-summary';
import { approveCommand, holdForApproval } from './approval';
import { SyncBusyError, type SyncOptions } from './run-options';

export { SyncBusyError, type SyncOptions };

export async function syncSource(
  store: Store,
  config: AppConfig,
  source: SourceConfig,
  options: SyncOptions,
): Promise<SyncSummary> {
  const result = await store.tryWithAdvisoryLock(`sync:${source.id}`, (lockLost) =>
    runLocked(store, config, source, options, lockLost),
  );
  if (result === LOCK_BUSY) throw new SyncBusyError(source.id);
  return result;
}

interface RunState {
  store: Store;
  config: AppConfig;
  source: SourceConfig;
  options: SyncOptions;
  runId: string;
  summary: SyncSummary;
  stats: TransportStats;
  emit: (e: SyncEvent) => void;
  counts: Record<string, unknown>;
  /** Aborted by a stop request or by the loss of the sync lock's connection. */
  stop: AbortSignal;
}

function checkStopped(stop: AbortSignal, where: string): void {
  if (stop.aborted) throw new EngageError('internal', outcome('incomplete', `interrupted: stopped ${where}`));
}

/** Pull: every configured type, page by page; returns what it saw and which patients failed. */
async function pullStep(
  state: RunState,
  mappings: MappingSet,
): Promise<{ pulled: PullReport; capabilities: CapabilityReport }> {
  const { store, source, options, runId, summary, stats, emit, counts, stop } = state;
  emit({ type: 'stage', stage: 'pull' });
  const client = createSourceClient(source, stats);
  const capabilities = await readCapabilities(client, source.resourceTypes);
  const ctx: PullContext = {
    source,
    store,
    client,
    validator: sharedValidator(),
    runId,
    full: options.full,
    asOf: options.asOf,
    capabilities,
    patientOf: patientOfWithMappings(mappings),
    transportStats: stats,
    signal: stop,
    afterPageCommitted: options.afterPageCommitted,
    onEvent: (e) => {
      emit(e);
      if (e.type === 'type-finished')
        counts[e.report.resourceType] = { pages: e.report.pages, received: e.report.received };
    },
  };
  const bulk = await bulkPlan(state, capabilities);
  if (bulk.use) summary.pullMethod = 'bulk';
  // Only what is true of this run: a type pulled by export is not searched.
  for (const w of [...capabilities.warnings, ...(bulk.use ? [] : capabilities.searchWarnings)])
    logger().warn({ event: 'capability', sourceId: source.id }, w);
  const pulled = await pullSource(
    ctx,
    bulk.use ? (puller, types) => pullBulk(puller, ctx, types, bulk.since) : undefined,
  );
  summary.pull = pulled.types;
  summary.deadLetters.thisRun += pulled.types.reduce((n, t) => n + t.deadLettered, 0);
  for (const t of pulled.types) {
    summary.stages.pullMs += t.timings.fetchMs;
    summary.stages.validateMs += t.timings.validateMs;
    summary.stages.storeMs += t.timings.storeMs;
  }
  checkStopped(stop, 'after the last committed page');
  if (pulled.types.reduce((n, t) => n + t.new, 0) >= ANALYZE_AFTER_ROWS)
    await refreshStatistics(store, ['resources', 'patients_to_compute'], source.id);
  if (source.writeBack && !options.dryRun) {
    if (((await store.outboxCounts(source.id)).pending ?? 0) > 0) {
      // Writes an earlier run planned and did not finish (it died, or the EMR was away) are settled
      // before the read-back and the plan: this run then reads what they left in the EMR and corrects
      // it now (a Task planned for an earlier day is cancelled in this run, not the next).
      await dispatchStep(state, capabilities, false);
    }
    await readBackStep(state);
  }
  return { pulled, capabilities };
}

/** Whether this run pulls through Bulk Data, and its `_since` (the oldest watermark less the overlap; none for a first load or --full). */
async function bulkPlan(state: RunState, capabilities: CapabilityReport): Promise<{ use: boolean; since?: string }> {
  const { store, source, options } = state;
  const watermarks: (Date | undefined)[] = [];
  for (const t of source.resourceTypes) watermarks.push(await store.getWatermark(source.id, t));
  const method = choosePullMethod(source, {
    forced: !!options.bulk,
    full: !!options.full,
    exportAdvertised: capabilities.bulkExport,
    typesWithoutWatermark: watermarks.filter((w) => !w).length,
    exportUnderWay: !!(await store.getBulkExport(source.id)),
  });
  if (method === 'search') return { use: false };
  const known = watermarks.filter((w): w is Date => !!w);
  const oldest =
    options.full || known.length < watermarks.length ? undefined : Math.min(...known.map((w) => w.getTime()));
  return {
    use: true,
    ...(oldest !== undefined ? { since: new Date(oldest - source.overlapSeconds * 1000).toISOString() } : {}),
  };
}

/**
 * fhir-engage's own Tasks as people left them in the EMR. A failure here
 * (the write target may refuse the search) is reported, never fatal: it
 * only delays the programme's figures.
 */
async function readBackStep(state: RunState): Promise<void> {
  const { store, source, runId, summary, stats, stop, config } = state;
  try {
    summary.readBack = await readBackOwnTasks({
      store,
      client: createWriteClient(source, stats),
      sourceId: source.id,
      runId,
      identifierSystem: config.actions.identifierSystem,
      pageSize: source.pageSize,
      overlapSeconds: source.overlapSeconds,
      signal: stop,
    });
  } catch (err) {
    summary.readBack = { pages: 0, tasks: 0, events: 0, error: describeError(err) };
    logger().warn(
      { err, event: 'read-back-failed', sourceId: source.id },
      "could not read fhir-engage's Tasks back from the write target",
    );
  }
}

/** Map, indicators and actions for the patients whose picture is complete. */
async function computeStep(
  state: RunState,
  pulled: PullReport,
  mappings: MappingSet,
  instruments: InstrumentDefinition[],
): Promise<OutboxPayload[]> {
  const { store, config, source, options, runId, summary, emit, stop } = state;
  emit({ type: 'stage', stage: 'compute' });
  const hold = holdBack(source, pulled.types, pulled.failedPatients);
  const computed = await computeStage(
    {
      store,
      config,
      source,
      runId,
      asOf: options.asOf,
      dryRun: !!options.dryRun,
      strict: options.strict,
      mappings,
      instruments,
      validator: sharedValidator(),
      emit,
      aborted: () => stop.aborted,
      ...(options.patients ? { only: new Set(options.patients) } : {}),
    },
    hold,
  );
  summary.planned = computed.planned;
  summary.patients.recomputed = computed.recomputed;
  summary.deadLetters.thisRun += computed.deadLettersAdded;
  summary.heldBack = { patients: computed.heldBack, reasons: computed.heldBack > 0 || hold.all ? hold.reasons : [] };
  summary.identity = { merged: computed.mergedPatients, unknownPatients: computed.unknownPatients };
  summary.enrolment = enrolmentSummary(source, computed);
  summary.stages.storeMs += computed.timings.loadMs + computed.timings.storeMs;
  summary.stages.mapMs += computed.timings.mapMs;
  summary.stages.indicatorsMs += computed.timings.indicatorsMs;
  summary.stages.planMs += computed.timings.planMs;
  if (computed.recomputed >= ANALYZE_AFTER_ROWS && !options.dryRun)
    await refreshStatistics(store, ['patient_models', 'indicator_history', 'patients_to_compute'], source.id);
  if (summary.heldBack.patients > 0)
    logger().warn(
      { event: 'held-back', sourceId: source.id, patients: computed.heldBack, reasons: reasonsForLog(hold.reasons) },
      'patients held back: their data is incomplete in this run',
    );
  checkStopped(stop, 'after the last committed batch of patients');
  return computed.payloads;
}

/**
 * Sends the outbox, unless its writes wait for approval (an open hold, or — after this run's plan,
 * `mayHold` — a first run or an unusual volume): then nothing is sent and the summary says why.
 */
async function dispatchStep(state: RunState, capabilities: CapabilityReport, mayHold: boolean): Promise<void> {
  const { store, source, options, runId, summary, stats, emit } = state;
  const held = await holdForApproval(store, source, runId, mayHold);
  if (held)
    summary.approval = {
      reason: held.reason,
      detail: held.detail,
      plan: held.plan,
      command: approveCommand(source.id),
    };
  emit({ type: 'stage', stage: 'dispatch' });
  await options.beforeDispatch?.();
  const writer = createWriteClient(source, stats);
  const writerCaps = source.writeTarget ? await readCapabilities(writer, []) : capabilities;
  const started = performance.now();
  const total = held ? 0 : ((await store.outboxCounts(source.id)).pending ?? 0);
  let done = 0;
  const dispatched = await dispatchOutbox({
    store,
    client: writer,
    sourceId: source.id,
    runId,
    workerId: `${os.hostname()}:${process.pid}:${runId}`,
    transactions: writerCaps.transactions,
    writeBatchSize: source.writeBatchSize,
    now: () => new Date(),
    afterSend: options.afterSend,
    aborted: () => state.stop.aborted,
    onSettled: () => emit({ type: 'writes', done: ++done, total: Math.max(total, done) }),
    // A held plan waits; what people asked for from the dashboard never does.
    ...(held ? { ops: PERSON_OPS } : {}),
  });
  // Added to what settling an earlier run's writes sent before the compute (see runSync).
  addWrites(summary.writes, summariseWrites(dispatched));
  summary.deadLetters.thisRun += dispatched.deadLettered;
  summary.stages.writeBackMs += performance.now() - started;
}

/** Totals over the whole source (not just this run) for the summary. */
async function totalsStep(state: RunState): Promise<void> {
  const { store, source, summary } = state;
  summary.programme = await loadProgrammeSummary(store, source.id);
  summary.tiers = summary.programme.tiers;
  summary.patients.total = summary.programme.patients;
  summary.deadLetters.open = await store.countDeadLetters({ sourceId: source.id });
  if (state.options.dryRun) return;
  // The day's entry stands when this run changed nothing it is computed from: a no-change run
  // must not reload every patient's model (2 s at 10,000 patients).
  const wrote = Object.values(summary.writes).some((w) => w.created + w.updated + w.cancelled + w.completed > 0);
  const changed =
    summary.patients.recomputed > 0 || summary.deadLetters.thisRun > 0 || (summary.readBack?.events ?? 0) > 0 || wrote;
  const asOf = state.options.asOf;
  if (changed || (await store.listProgrammeHistory(asOf, asOf, source.id)).length === 0) {
    await recordProgrammeHistory(store, state.config, source, asOf, state.runId);
  }
}

async function runLocked(
  store: Store,
  config: AppConfig,
  source: SourceConfig,
  options: SyncOptions,
  lockLost: AbortSignal,
): Promise<SyncSummary> {
  const started = performance.now();
  const runId = options.runId ?? randomUUID();
  const log = logger().child({ sourceId: source.id, runId });
  const guard = new RunGuard(source, lockLost, options.signal);
  const emit = (e: SyncEvent): void => {
    guard.track(e);
    options.onEvent?.(e);
  };
  const { mappings, instruments } = loadDefinitions(config, source);
  const { run, resumed } = await openRun(store, source, options, runId, emit, log);
  const counts: Record<string, unknown> = {};
  const stopHeartbeat = startHeartbeat(store, runId, counts, log);
  const stats = newTransportStats();
  const summary = newSummary(runId, source, options, resumed, stats);
  const state: RunState = { store, config, source, options, runId, summary, stats, emit, counts, stop: guard.stop };
  try {
    await runStages(state, mappings, instruments);
  } catch (err) {
    summary.status = guard.statusAfter();
    summary.error = guard.describe(err);
    log.error({ err, event: 'run-failed' }, 'sync run failed');
  } finally {
    stopHeartbeat();
    summary.durationMs = Math.round(performance.now() - started);
    const { dryRunBundle: _omit, ...stored } = summary;
    await recordRunEnd(
      () =>
        store.finishRun(
          run.id,
          summary.status,
          { ...stored, programme: undefined },
          summary.error ? { message: summary.error } : undefined,
        ),
      log,
    );
    emit({ type: 'run-finished', runId, status: summary.status, durationMs: summary.durationMs, summary });
    log.info({ event: 'run-finished', status: summary.status, durationMs: summary.durationMs }, 'sync run finished');
  }
  return summary;
}

/** A run for a few patients (a survey answered): their stored data computed, the outbox sent, alerts raised. */
async function patientStages(
  state: RunState,
  mappings: MappingSet,
  instruments: InstrumentDefinition[],
): Promise<void> {
  const { source, summary } = state;
  await computeStep(state, { types: [], changedPatients: [], failedPatients: [] }, mappings, instruments);
  if (source.writeBack) {
    await dispatchStep(state, await readCapabilities(createWriteClient(source, state.stats), []), false);
    const alerts = await deliverSafetyAlerts(state.store, state.config.safetyAlerts, source.id, state.options.asOf);
    if (alerts) summary.alerts = alerts;
  }
  summary.status = runStatus({
    pull: [],
    heldBackPatients: summary.heldBack.patients,
    writesFailed: Object.values(summary.writes).reduce((n, w) => n + w.failed + w.retryLater, 0),
    deadLettersAdded: summary.deadLetters.thisRun,
  });
}

/** Pull, compute, write back, totals; then the run's status from what each stage left undone. */
async function runStages(state: RunState, mappings: MappingSet, instruments: InstrumentDefinition[]): Promise<void> {
  const { options, source, summary, runId } = state;
  if (options.patients) return patientStages(state, mappings, instruments);
  const { pulled, capabilities } = await pullStep(state, mappings);
  const payloads = await computeStep(state, pulled, mappings, instruments);
  if (options.dryRun) summary.dryRunBundle = dryRunBundle(payloads, runId, options.asOf);
  if (!options.dryRun && source.writeBack) {
    await enqueueDefinitions(
      state.store,
      source,
      formsOf(state.config.mappingsDir),
      assignedQuestionnaires(state.config.actions.surveys, source),
      state.config.actions.identifierSystem,
    );
    await dispatchStep(state, capabilities, true);
    // Safety Tasks that reached the EMR are announced at once; messages due go to patients.
    const alerts = await deliverSafetyAlerts(state.store, state.config.safetyAlerts, source.id, options.asOf);
    if (alerts) summary.alerts = alerts;
    summary.messages = await messagingStep({ ...state, asOf: options.asOf, atStep: options.atMessageStep });
    if (summary.messages?.recorded) await dispatchStep(state, capabilities, false);
  }
  checkStopped(state.stop, 'after the writes in progress');
  await totalsStep(state);
  const writesFailed = Object.values(summary.writes).reduce((n, w) => n + w.failed + w.retryLater, 0);
  summary.status = runStatus({
    pull: summary.pull,
    heldBackPatients: summary.heldBack.patients,
    writesFailed,
    deadLettersAdded: summary.deadLetters.thisRun,
  });
}
