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
import type { Bundle, BundleEntry, Questionnaire, Resource } from '@medplum/fhirtypes';
import type { AppConfig, SourceConfig } from '../config/types';
import { readCapabilities } from '../fhir/capabilities';
import { pullSource, type PullReport } from '../fhir/pull';
import { createSourceClient, createWriteClient, newTransportStats, type TransportStats } from '../fhir/source-client';
import { computeIndicators, historyValues, type PatientIndicators } from '../indicators/compute';
import { programmeSummary, type ProgrammeSummary } from '../indicators/programme';
import { buildModel, questionnaireLookup } from '../mapping/build-model';
import { loadMappings } from '../mapping/load';
import { patientOfWithMappings } from '../mapping/patient-of-mapped';
import { loadInstruments } from '../mapping/scoring';
import { planPatient } from '../actions/plan';
import { LOCK_BUSY } from '../store/driver';
import type { Store } from '../store/store';
import type { DeadLetterInput, OutboxItem, RunStatus } from '../store/types';
import { sharedValidator } from '../validation/validator';
import { prepareWrites } from '../writeback/enqueue';
import { dispatchOutbox, type DispatchCounts } from '../writeback/dispatch';
import type { OutboxPayload } from '../writeback/outbox-item';
import { provenanceFor } from '../writeback/provenance';
import { describeError, EngageError, outcome } from '../errors';
import { logger } from '../log/logger';
import type { SyncEvent } from './events';

const HEARTBEAT_MS = 15_000;
/** Patients computed and committed together: bounded memory whatever the EMR's size. */
const COMPUTE_BATCH = 200;

export interface SyncOptions {
  asOf: Date;
  /** Id of the run (default: a new UUID), so that a caller can name it before it starts. */
  runId?: string;
  full?: boolean;
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

export interface WriteSummary {
  created: number;
  updated: number;
  cancelled: number;
  completed: number;
  unchanged: number;
  leftToPerson: number;
  failed: number;
  retryLater: number;
}

export interface SyncSummary {
  runId: string;
  sourceId: string;
  status: RunStatus;
  asOf: string;
  dryRun: boolean;
  resumed: string[];
  pull: PullReport['types'];
  patients: { recomputed: number; total: number };
  tiers: ProgrammeSummary['tiers'];
  programme: ProgrammeSummary;
  writes: Record<string, WriteSummary>;
  /** Writes planned this run (for a dry run: what would be sent). */
  planned: number;
  deadLetters: { thisRun: number; open: number };
  requests: TransportStats;
  durationMs: number;
  error?: string;
  dryRunBundle?: Bundle;
}

export class SyncBusyError extends EngageError {
  constructor(sourceId: string) {
    super('internal', outcome('conflict', `a sync of ${sourceId} is already running`));
  }
}

function emptyWrites(): WriteSummary {
  return { created: 0, updated: 0, cancelled: 0, completed: 0, unchanged: 0, leftToPerson: 0, failed: 0, retryLater: 0 };
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

/** The transaction Bundle a dry run prints: each planned write with its Provenance. */
function dryRunBundle(payloads: OutboxPayload[], runId: string, asOf: Date): Bundle {
  const entry: BundleEntry[] = [];
  for (const p of payloads) {
    const fullUrl = `urn:uuid:${randomUUID()}`;
    const conditional = `identifier=${encodeURIComponent(`${p.identifierSystem}|${p.identifier}`)}`;
    if (p.op === 'upsert') {
      entry.push({ fullUrl, resource: p.resource, request: { method: 'POST', url: p.resourceType, ifNoneExist: conditional } });
    } else {
      entry.push({
        fullUrl,
        resource: { resourceType: 'Task', identifier: [{ system: p.identifierSystem, value: p.identifier }], status: p.status, statusReason: { text: p.reason }, intent: 'order', for: { reference: `Patient/${p.patientId}` } },
        request: { method: 'PUT', url: `Task?${conditional}` },
      });
    }
    entry.push({ fullUrl: `urn:uuid:${randomUUID()}`, resource: provenanceFor(fullUrl, p.op === 'upsert' ? 'CREATE' : 'UPDATE', p.entities, runId, asOf), request: { method: 'POST', url: 'Provenance' } });
  }
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

export async function syncSource(store: Store, config: AppConfig, source: SourceConfig, options: SyncOptions): Promise<SyncSummary> {
  const result = await store.tryWithAdvisoryLock(`sync:${source.id}`, () => runLocked(store, config, source, options));
  if (result === LOCK_BUSY) throw new SyncBusyError(source.id);
  return result;
}

async function runLocked(store: Store, config: AppConfig, source: SourceConfig, options: SyncOptions): Promise<SyncSummary> {
  const started = performance.now();
  const runId = options.runId ?? randomUUID();
  const log = logger().child({ sourceId: source.id, runId });
  const emit = (e: SyncEvent): void => options.onEvent?.(e);
  // Mappings load (and fail) before any work.
  const mappings = loadMappings({ sourceId: source.id });
  const instruments = loadInstruments({ sourceId: source.id });
  const validator = sharedValidator();

  await store.upsertSource({ id: source.id, name: source.name, baseUrl: source.baseUrl });
  // Under the source's lock, any run of it still marked running belongs to a process that died.
  const resumed = (await store.markStaleRunsInterrupted(source.id, 0)).map((r) => r.id);
  // We hold the source's lock: no other dispatcher of this source is alive, so its claims are stale.
  const released = await store.releaseOutboxClaims(source.id);
  const run = await store.createRun({ id: runId, sourceId: source.id, asOf: options.asOf, options: { full: !!options.full, dryRun: !!options.dryRun } });
  emit({ type: 'run-started', runId, sourceId: source.id, asOf: options.asOf.toISOString(), resumed });
  log.info({ event: 'run-started', resumed, releasedWrites: released, full: !!options.full, dryRun: !!options.dryRun }, 'sync run started');
  const counts: Record<string, unknown> = {};
  const heartbeat = setInterval(() => void store.heartbeatRun(runId, counts).catch(() => undefined), HEARTBEAT_MS);
  heartbeat.unref();
  const stats = newTransportStats();
  const summary: SyncSummary = {
    runId,
    sourceId: source.id,
    status: 'running',
    asOf: options.asOf.toISOString(),
    dryRun: !!options.dryRun,
    resumed,
    pull: [],
    patients: { recomputed: 0, total: 0 },
    tiers: { engaged: 0, 'at-risk': 0, disengaged: 0, unknown: 0 },
    programme: programmeSummary([]),
    writes: summariseWrites(undefined),
    planned: 0,
    deadLetters: { thisRun: 0, open: 0 },
    requests: stats,
    durationMs: 0,
  };
  try {
    // ── pull ──
    emit({ type: 'stage', stage: 'pull' });
    const client = createSourceClient(source, stats);
    const capabilities = await readCapabilities(client, source.resourceTypes);
    for (const w of capabilities.warnings) log.warn({ event: 'capability' }, w);
    const pulled = await pullSource({
      source,
      store,
      client,
      validator,
      runId,
      full: options.full,
      capabilities,
      patientOf: patientOfWithMappings(mappings),
      transportStats: stats,
      signal: options.signal,
      afterPageCommitted: options.afterPageCommitted,
      onEvent: (e) => {
        emit(e);
        if (e.type === 'type-finished') counts[e.report.resourceType] = { pages: e.report.pages, received: e.report.received };
      },
    });
    summary.pull = pulled.types;
    summary.deadLetters.thisRun += pulled.types.reduce((n, t) => n + t.deadLettered, 0);
    if (options.signal?.aborted) throw new EngageError('internal', outcome('incomplete', 'interrupted: stopped after the last committed page'));

    // ── map, indicators, actions ──
    emit({ type: 'stage', stage: 'compute' });
    const lookup = questionnaireLookup((await store.resourcesOfType(source.id, 'Questionnaire')) as unknown as Questionnaire[]);
    const patients = await store.patientsToRecompute(source.id, options.asOf);
    const payloads: OutboxPayload[] = [];
    const target = source.writeTarget?.baseUrl ?? source.baseUrl;
    for (let i = 0; i < patients.length; i += COMPUTE_BATCH) {
      const batch = patients.slice(i, i + COMPUTE_BATCH);
      const resources = await store.resourcesOfPatients(source.id, batch);
      const written = await store.listWrittenForPatients(source.id, batch);
      const writtenById = new Map(written.map((w) => [w.identifierValue, w]));
      const writtenByPatient = new Map<string, typeof written>();
      for (const w of written) writtenByPatient.set(w.patientId, [...(writtenByPatient.get(w.patientId) ?? []), w]);
      const results: { patientId: string; model: unknown; indicators: PatientIndicators }[] = [];
      const deadLetters: DeadLetterInput[] = [];
      const outbox: Parameters<Store['enqueueOutbox']>[2] = [];
      const forget: string[] = [];
      for (const patientId of batch) {
        const built = buildModel(source.id, patientId, (resources.get(patientId) ?? []) as unknown as Resource[], { mappings, instruments, questionnaires: lookup });
        for (const f of built.failures) deadLetters.push({ sourceId: source.id, runId, stage: 'map', resourceType: f.resource.resourceType, resourceId: f.resource.id, payload: f.resource, outcome: f.outcome });
        const indicators = computeIndicators(built.model, options.asOf, config.indicators);
        results.push({ patientId, model: built.model, indicators });
        const plan = planPatient(indicators, built.model, writtenByPatient.get(patientId) ?? [], config.actions, options.asOf);
        forget.push(...plan.forget);
        if (!source.writeBack) continue;
        const prepared = prepareWrites(plan.writes, writtenById, { sourceId: source.id, runId, target, settings: config.actions, validator, strict: options.strict });
        deadLetters.push(...prepared.deadLetters);
        outbox.push(...prepared.outbox);
        if (options.dryRun) payloads.push(...prepared.payloads);
      }
      summary.planned += outbox.length;
      if (!options.dryRun) {
        // Indicators, their history and the writes they cause commit together: a crash loses nothing and duplicates nothing.
        await store.transaction(async (tx) => {
          for (const r of results) {
            await tx.saveComputation(source.id, r.patientId, r.model, r.indicators, options.asOf, runId);
            await tx.recordIndicators(source.id, r.patientId, options.asOf, runId, historyValues(r.indicators));
          }
          if (outbox.length) await tx.enqueueOutbox(source.id, runId, outbox);
          if (deadLetters.length) summary.deadLetters.thisRun += await tx.addDeadLetters(deadLetters);
          for (const id of forget) {
            const w = writtenById.get(id);
            if (w) await tx.upsertWritten({ ...w, state: 'closed', runId });
          }
        });
      }
      summary.patients.recomputed += batch.length;
      emit({ type: 'computed', patients: summary.patients.recomputed, total: patients.length });
    }
    if (options.dryRun) summary.dryRunBundle = dryRunBundle(payloads, runId, options.asOf);

    // ── write-back ──
    if (!options.dryRun && source.writeBack) {
      await options.beforeDispatch?.();
      emit({ type: 'stage', stage: 'dispatch' });
      const writer = createWriteClient(source, stats);
      const writerCaps = source.writeTarget ? await readCapabilities(writer, []) : capabilities;
      const dispatched = await dispatchOutbox({
        store,
        client: writer,
        sourceId: source.id,
        runId,
        workerId: `${os.hostname()}:${process.pid}:${runId}`,
        transactions: writerCaps.transactions,
        now: () => new Date(),
        afterSend: options.afterSend,
      });
      summary.writes = summariseWrites(dispatched);
    }

    const computations = await store.listComputations(source.id);
    summary.programme = programmeSummary(computations.map((c) => c.indicators as PatientIndicators));
    summary.tiers = summary.programme.tiers;
    summary.patients.total = computations.length;
    summary.deadLetters.open = await store.countDeadLetters({ sourceId: source.id });
    const failedTypes = summary.pull.some((t) => t.status === 'failed' || t.status === 'skipped');
    const failedWrites = Object.values(summary.writes).some((w) => w.failed + w.retryLater > 0);
    summary.status = failedTypes || failedWrites || summary.deadLetters.thisRun > 0 ? 'partially-failed' : 'succeeded';
    if (summary.pull.some((t) => t.status === 'interrupted')) summary.status = 'interrupted';
  } catch (err) {
    summary.status = options.signal?.aborted ? 'interrupted' : 'failed';
    summary.error = describeError(err);
    log.error({ err, event: 'run-failed' }, 'sync run failed');
  } finally {
    clearInterval(heartbeat);
    summary.durationMs = Math.round(performance.now() - started);
    const { dryRunBundle: _omit, ...stored } = summary;
    await store.finishRun(run.id, summary.status, { ...stored, programme: undefined }, summary.error ? { message: summary.error } : undefined).catch(() => undefined);
    emit({ type: 'run-finished', runId, status: summary.status, durationMs: summary.durationMs });
    log.info({ event: 'run-finished', status: summary.status, durationMs: summary.durationMs }, 'sync run finished');
  }
  return summary;
}
