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
import { sourceLimits, type AppConfig, type SourceConfig } from '../config/types';
import { readCapabilities, type CapabilityReport } from '../fhir/capabilities';
import { choosePullMethod, pullBulk } from '../fhir/bulk-pull';
import { pullSource } from '../fhir/pull';
import type { PullContext, PullReport } from '../fhir/pull-context';
import { readBackOwnTasks } from '../fhir/readback';
import { createSourceClient, createWriteClient, newTransportStats, type TransportStats } from '../fhir/source-client';
import { programmeSummary } from '../indicators/programme';
import { loadMappings, type MappingSet } from '../mapping/load';
import { patientOfWithMappings } from '../mapping/patient-of';
import { loadInstruments, type InstrumentDefinition } from '../mapping/scoring';
import { LOCK_BUSY } from '../store/driver';
import { isConnectionLoss } from '../store/refusal';
import type { Store } from '../store/store';
import type { OutboxItem } from '../store/types';
import { sharedValidator } from '../validation/validator';
import { dispatchOutbox, type DispatchCounts } from '../writeback/dispatch';
import type { OutboxPayload } from '../writeback/outbox-item';
import { dryRunBundle } from '../writeback/requests';
import { holdBack, runStatus } from './completeness';
import { computeStage } from './compute';
import { loadProgrammeSummary, recordProgrammeHistory } from './programme';
import { conflict, describeError, EngageError, outcome, storeError } from '../errors';
import { logger } from '../log/logger';
import type { SyncEvent, SyncSummary, WriteSummary } from './events';

const HEARTBEAT_MS = 15_000;
/** Waits before each attempt to record a run's end (ms): ~15 s in all, a server restart's length. */
const FINISH_RETRY_MS = [0, 250, 1000, 2000, 4000, 8000];
/** Rows added by a stage beyond which the planner's statistics are refreshed (see Store.analyze). */
const ANALYZE_AFTER_ROWS = 1_000;

/** Statistics are an optimisation: failing to refresh them never fails a run. */
async function refreshStatistics(
  store: Store,
  tables: Parameters<Store['analyze']>[0],
  sourceId: string,
): Promise<void> {
  await store
    .analyze(tables)
    .catch((err: unknown) =>
      logger().warn({ err, event: 'analyze-failed', sourceId }, 'could not refresh the store statistics'),
    );
}

export interface SyncOptions {
  asOf: Date;
  /** Id of the run (default: a new UUID), so that a caller can name it before it starts. */
  runId?: string;
  full?: boolean;
  /** Pull through Bulk Data `$export` this run, whatever `pull.method` says. */
  bulk?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: SyncEvent) => void;
  /** Throw on invalid outgoing resources (tests). */
  strict?: boolean;
  /** Test hooks (crash injection). */
  afterPageCommitted?: (resourceType: string, page: number) => void | Promise<void>;
  afterSend?: (item: OutboxItem) => void | Promise<void>;
  beforeDispatch?: () => void | Promise<void>;
}

export class SyncBusyError extends EngageError {
  constructor(sourceId: string) {
    super('internal', conflict(`a sync of ${sourceId} is already running`));
  }
}

function emptyWrites(): WriteSummary {
  return {
    created: 0,
    updated: 0,
    cancelled: 0,
    completed: 0,
    unchanged: 0,
    leftToPerson: 0,
    failed: 0,
    retryLater: 0,
  };
}

function summariseWrites(d: DispatchCounts | undefined): Record<string, WriteSummary> {
  const out: Record<string, WriteSummary> = { Task: emptyWrites(), Observation: emptyWrites() };
  for (const [type, c] of Object.entries(d?.byType ?? {})) {
    const w = (out[type] ??= emptyWrites());
    w.created += c.created ?? 0;
    w.updated += c.updated ?? 0;
    w.cancelled += c.cancelled ?? 0;
    w.completed += c.completed ?? 0;
    w.unchanged += c.unchanged ?? 0;
    w.leftToPerson += c['left-to-person'] ?? 0;
    w.failed += c.failed ?? 0;
    w.retryLater += c['retry-later'] ?? 0;
  }
  return out;
}

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

const STAGE_NAMES: Record<Extract<SyncEvent, { type: 'stage' }>['stage'], string> = {
  pull: 'pull',
  compute: 'compute',
  dispatch: 'write-back',
};

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

function newSummary(
  runId: string,
  source: SourceConfig,
  options: SyncOptions,
  resumed: string[],
  stats: TransportStats,
): SyncSummary {
  return {
    runId,
    sourceId: source.id,
    status: 'running',
    asOf: options.asOf.toISOString(),
    dryRun: !!options.dryRun,
    resumed,
    pull: [],
    pullMethod: 'search',
    patients: { recomputed: 0, total: 0 },
    tiers: { engaged: 0, 'at-risk': 0, disengaged: 0, unknown: 0 },
    programme: programmeSummary([]),
    writes: summariseWrites(undefined),
    planned: 0,
    deadLetters: { thisRun: 0, open: 0 },
    heldBack: { patients: 0, reasons: [] },
    identity: { merged: 0, unknownPatients: 0 },
    stages: { pullMs: 0, validateMs: 0, storeMs: 0, mapMs: 0, indicatorsMs: 0, planMs: 0, writeBackMs: 0 },
    requests: stats,
    durationMs: 0,
  };
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
      await dispatchStep(state, capabilities);
    }
    await readBackStep(state);
  }
  return { pulled, capabilities };
}

/** Plain http:// to another machine sends patient data unencrypted: allowed (test servers), said every run. */
function warnIfPlainHttp(source: SourceConfig): void {
  for (const url of [source.baseUrl, source.writeTarget?.baseUrl]) {
    if (!url || !/^http:\/\//i.test(url)) continue;
    const host = new URL(url).hostname;
    if (host === 'localhost' || /^127\./.test(host) || host === '[::1]') continue;
    logger().warn(
      { event: 'plain-http', sourceId: source.id },
      `source ${source.id} reaches ${host} over plain http://: patient data crosses the network unencrypted; use https://`,
    );
  }
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
    },
    hold,
  );
  summary.planned = computed.planned;
  summary.patients.recomputed = computed.recomputed;
  summary.deadLetters.thisRun += computed.deadLettersAdded;
  summary.heldBack = { patients: computed.heldBack, reasons: computed.heldBack > 0 || hold.all ? hold.reasons : [] };
  summary.identity = { merged: computed.mergedPatients, unknownPatients: computed.unknownPatients };
  summary.stages.storeMs += computed.timings.loadMs + computed.timings.storeMs;
  summary.stages.mapMs += computed.timings.mapMs;
  summary.stages.indicatorsMs += computed.timings.indicatorsMs;
  summary.stages.planMs += computed.timings.planMs;
  if (computed.recomputed >= ANALYZE_AFTER_ROWS && !options.dryRun)
    await refreshStatistics(store, ['patient_models', 'indicator_history', 'patients_to_compute'], source.id);
  if (summary.heldBack.patients > 0)
    logger().warn(
      { event: 'held-back', sourceId: source.id, patients: computed.heldBack, reasons: hold.reasons },
      'patients held back: their data is incomplete in this run',
    );
  checkStopped(stop, 'after the last committed batch of patients');
  return computed.payloads;
}

/** Write-back: send the outbox (this run's rows and any left by earlier runs). */
async function dispatchStep(state: RunState, capabilities: CapabilityReport): Promise<void> {
  const { store, source, options, runId, summary, stats, emit } = state;
  emit({ type: 'stage', stage: 'dispatch' });
  await options.beforeDispatch?.();
  const writer = createWriteClient(source, stats);
  const writerCaps = source.writeTarget ? await readCapabilities(writer, []) : capabilities;
  const started = performance.now();
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
  });
  // Added to what settling an earlier run's writes sent before the compute (see runSync).
  const these = summariseWrites(dispatched);
  for (const [type, w] of Object.entries(these)) {
    const sum = (summary.writes[type] ??= emptyWrites());
    for (const k of Object.keys(w) as (keyof WriteSummary)[]) sum[k] += w[k];
  }
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
    await recordProgrammeHistory(store, state.config, source.id, asOf, state.runId);
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
  // Where the run is, to say where a lost store connection stopped it.
  let where = 'start-up';
  const emit = (e: SyncEvent): void => {
    if (e.type === 'stage') where = STAGE_NAMES[e.stage];
    else if (e.type === 'type-started') where = `pull of ${e.resourceType}`;
    options.onEvent?.(e);
  };
  let lostDuring = where;
  lockLost.addEventListener('abort', () => (lostDuring = where), { once: true });
  // A run never holds the source's lock for ever (a server that drips pages, a search that never ends).
  const deadlineMinutes = sourceLimits(source).runDeadlineMinutes;
  const deadline = AbortSignal.timeout(Math.round(deadlineMinutes * 60_000));
  let deadlineDuring = where;
  deadline.addEventListener('abort', () => (deadlineDuring = where), { once: true });
  // Mappings load (and fail) before any work.
  const mappings = loadMappings({ sourceId: source.id, overridesDir: config.mappingsDir });
  const instruments = loadInstruments({ sourceId: source.id, overridesDir: config.mappingsDir });

  warnIfPlainHttp(source);
  await store.upsertSource({ id: source.id, name: source.name, baseUrl: source.baseUrl });
  // Under the source's lock, any run of it still marked running belongs to a process that died.
  const resumed = (await store.markStaleRunsInterrupted(source.id, 0)).map((r) => r.id);
  // We hold the source's lock: no other dispatcher of this source is alive, so its claims are stale.
  const released = await store.releaseOutboxClaims(source.id);
  const run = await store.createRun({
    id: runId,
    sourceId: source.id,
    asOf: options.asOf,
    options: { full: !!options.full, dryRun: !!options.dryRun },
  });
  emit({ type: 'run-started', runId, sourceId: source.id, asOf: options.asOf.toISOString(), resumed });
  log.info(
    { event: 'run-started', resumed, releasedWrites: released, full: !!options.full, dryRun: !!options.dryRun },
    'sync run started',
  );
  const counts: Record<string, unknown> = {};
  const heartbeat = setInterval(() => {
    store
      .heartbeatRun(runId, counts)
      .catch((err: unknown) => log.warn({ err, event: 'heartbeat-failed' }, 'could not record the run heartbeat'));
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const stats = newTransportStats();
  const summary = newSummary(runId, source, options, resumed, stats);
  const stop = AbortSignal.any([...(options.signal ? [options.signal] : []), lockLost, deadline]);
  const state: RunState = { store, config, source, options, runId, summary, stats, emit, counts, stop };
  try {
    const { pulled, capabilities } = await pullStep(state, mappings);
    const payloads = await computeStep(state, pulled, mappings, instruments);
    if (options.dryRun) summary.dryRunBundle = dryRunBundle(payloads, runId, options.asOf);
    if (!options.dryRun && source.writeBack) await dispatchStep(state, capabilities);
    checkStopped(stop, 'after the writes in progress');
    await totalsStep(state);
    const writesFailed = Object.values(summary.writes).reduce((n, w) => n + w.failed + w.retryLater, 0);
    summary.status = runStatus({
      pull: summary.pull,
      heldBackPatients: summary.heldBack.patients,
      writesFailed,
      deadLettersAdded: summary.deadLetters.thisRun,
    });
  } catch (err) {
    // A stop request interrupts; a lost lock connection (another instance may now run this source) fails the run.
    summary.status = options.signal?.aborted && !lockLost.aborted && !deadline.aborted ? 'interrupted' : 'failed';
    summary.error = lockLost.aborted
      ? describeError(
          storeError(
            `${(lockLost.reason as Error).message} during the ${lostDuring}; the run stopped there and the next run resumes from what was stored`,
            lockLost.reason,
          ),
        )
      : deadline.aborted && !options.signal?.aborted
        ? `error: the run passed its deadline of ${deadlineMinutes} minute(s) (limits.runDeadlineMinutes) during the ${deadlineDuring}; it stopped there, the source's lock is released, and the next run resumes from what was stored`
        : isConnectionLoss(err)
          ? // The statement's connection can fail before the lock's connection notices: the stage is named either way.
            describeError(
              storeError(
                `the store's connection was lost (${(err as Error).message}) during the ${where}; the run stopped there and the next run resumes from what was stored`,
                err,
              ),
            )
          : describeError(err);
    log.error({ err, event: 'run-failed' }, 'sync run failed');
  } finally {
    clearInterval(heartbeat);
    summary.durationMs = Math.round(performance.now() - started);
    const { dryRunBundle: _omit, ...stored } = summary;
    const finish = (): Promise<unknown> =>
      store.finishRun(
        run.id,
        summary.status,
        { ...stored, programme: undefined },
        summary.error ? { message: summary.error } : undefined,
      );
    // A connection the store lost mid-run may be handed out once more before the pool drops it, and a
    // restarting server refuses connections for a few seconds: tries for ~15 s before giving up, so
    // that a run does not stay "running" in the store after a restart it outlived.
    for (const wait of FINISH_RETRY_MS) {
      if (wait) await new Promise((r) => setTimeout(r, wait));
      try {
        await finish();
        break;
      } catch (err) {
        if (wait === FINISH_RETRY_MS[FINISH_RETRY_MS.length - 1]) {
          // The store may be what failed: say so; the next run marks this one interrupted under the lock.
          log.error({ err, event: 'finish-run-failed' }, 'could not record the end of the run');
        }
      }
    }
    emit({ type: 'run-finished', runId, status: summary.status, durationMs: summary.durationMs, summary });
    log.info({ event: 'run-finished', status: summary.status, durationMs: summary.durationMs }, 'sync run finished');
  }
  return summary;
}
