/**
 * A first load (or a reconciliation) through FHIR Bulk Data `$export`,
 * streamed into the store with the same validation, patient attribution and
 * dead-letter rules as searches.
 *
 * Exactly once, across crashes: the status URL is stored before polling, the
 * manifest before any download, and each batch of lines commits together with
 * its file's progress (lines and bytes). A crash resumes polling, or each file
 * at its last committed line (HTTP Range from the committed byte; a server
 * that ignores Range is re-read and the committed lines skipped). Files the
 * server no longer has (expired) start a new export, once per run. When every
 * file is stored, each type's watermark becomes the manifest's
 * transactionTime, so the next incremental search starts there (minus the
 * overlap) and nothing between the two is lost.
 */
import type { BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { sourceLimits, type BulkSettings, type SourceConfig } from '../config/types';
import { describeError, HttpError, outcome } from '../errors';
import { redactUrl } from '../log/redact';
import type { BulkExportState, BulkFileState, DeadLetterInput } from '../store/types';
import { cancelExport, ExportGone, kickOff, openFile, waitForManifest, type ExportManifest, type ExportRequest } from './bulk';
import type { CapabilityReport } from './capabilities';
import type { Clock } from './limiter';
import { ndjsonLines } from './ndjson';
import { AuthenticationFailed, emptyReport, isAuthenticationFailure, type PullContext, type PullEvent, type SourcePuller, type TypeReport } from './pull';

/** Lines stored per transaction. */
export const BULK_BATCH_LINES = 500;
/** A raw line kept in a dead letter is cut at this length. */
const MAX_KEPT_LINE = 64 * 1024;

export type PullMethod = 'search' | 'bulk';

/**
 * Search or bulk for this run (pure). `auto` chooses bulk for a first load
 * (a type without a watermark) or `--full`, when the server advertises
 * `$export`, and always finishes an export already under way.
 */
export function choosePullMethod(
  source: Pick<SourceConfig, 'pull'>,
  facts: { forced: boolean; full: boolean; exportAdvertised: boolean; typesWithoutWatermark: number; exportUnderWay: boolean },
): PullMethod {
  if (facts.forced || source.pull.method === 'bulk') return 'bulk';
  if (source.pull.method === 'search') return 'search';
  if (facts.exportUnderWay) return 'bulk';
  return facts.exportAdvertised && (facts.full || facts.typesWithoutWatermark > 0) ? 'bulk' : 'search';
}

export interface BulkContext extends PullContext {
  capabilities?: CapabilityReport;
  /** Polling clock (tests fake it). */
  clock?: Clock;
}

interface StoredRequest extends ExportRequest {
  /** The watermarks this export replaces once stored: the types it covers. */
  types: string[];
}

function requestFor(settings: BulkSettings, types: string[], since: string | undefined): StoredRequest {
  return {
    level: settings.level,
    ...(settings.groupId ? { groupId: settings.groupId } : {}),
    types,
    ...(since ? { since } : {}),
    ...(settings.typeFilter?.length ? { typeFilter: settings.typeFilter } : {}),
  };
}

/** An export under way can be finished by this run if it asked for (at least) the same thing. */
function covers(job: BulkExportState, wanted: StoredRequest): boolean {
  const asked = job.request as Partial<StoredRequest>;
  return asked.level === wanted.level && asked.groupId === wanted.groupId && wanted.types.every((t) => asked.types?.includes(t)) && JSON.stringify(asked.typeFilter ?? []) === JSON.stringify(wanted.typeFilter ?? []);
}

class BulkStopped extends Error {}

/**
 * Runs (or resumes) an export of `types` and stores its files. Returns a
 * report per type; a type whose files could not all be stored is `failed`
 * (its watermark does not move) and the export is kept for the next run.
 */
export async function pullBulk(puller: SourcePuller, ctx: BulkContext, types: string[], since: string | undefined): Promise<TypeReport[]> {
  const { source, store } = ctx;
  const settings = source.pull.bulk;
  const reports = new Map(types.map((t) => [t, emptyReport(t, 'bulk', since)]));
  const emit = (e: PullEvent): void => ctx.onEvent?.(e);
  const started = performance.now();
  const finishReports = (): TypeReport[] => {
    const list = [...reports.values()];
    for (const r of list) {
      r.durationMs = Math.round(performance.now() - started);
      emit({ type: 'type-finished', report: r });
    }
    return list;
  };
  for (const t of types) emit({ type: 'type-started', resourceType: t, mode: 'bulk', since });

  let restarted = false;
  for (;;) {
    try {
      const job = await exportUnderWay(ctx, requestFor(settings, types, since), emit);
      await storeFiles(puller, ctx, job, reports, emit);
      for (const t of types) await puller.finish(t, job.manifest.transactionTime);
      await store.deleteBulkExport(source.id);
      return finishReports();
    } catch (err) {
      if (err instanceof ExportGone && !restarted) {
        // The server dropped the export or its files (they expire): what is stored stays, a new export replaces the rest.
        restarted = true;
        for (const r of reports.values()) r.notes.push(`${describeError(err)}: a new export was started (resources already stored are skipped by content hash)`);
        await store.deleteBulkExport(source.id);
        continue;
      }
      const interrupted = err instanceof BulkStopped;
      for (const r of reports.values()) {
        if (r.status !== 'ok') continue;
        r.status = interrupted ? 'interrupted' : 'failed';
        if (!interrupted) r.error = describeError(err);
      }
      if (err instanceof ExportGone) await store.deleteBulkExport(source.id);
      if (isAuthenticationFailure(err)) throw new AuthenticationFailed(err);
      return finishReports();
    }
  }
}

type ReadyJob = BulkExportState & { manifest: ExportManifest };

/** Kicks off (or finds) the export and waits for its manifest; the status URL and the manifest are stored as they arrive. */
async function exportUnderWay(ctx: BulkContext, wanted: StoredRequest, emit: (e: PullEvent) => void): Promise<ReadyJob> {
  const { source, store, client, runId } = ctx;
  let job = await store.getBulkExport(source.id);
  if (job && !covers(job, wanted)) {
    // The sources file changed since: that export cannot stand in for this one.
    await cancelExport(client, job.statusUrl).catch(() => undefined);
    await store.deleteBulkExport(source.id);
    job = undefined;
  }
  if (!job) {
    const statusUrl = await kickOff(client, wanted);
    await store.saveBulkExport(source.id, runId, statusUrl, wanted);
    emit({ type: 'bulk', phase: 'kicked-off' });
    job = (await store.getBulkExport(source.id)) as BulkExportState;
  } else {
    emit({ type: 'bulk', phase: 'resumed', files: job.files.length });
  }
  if (job.manifest) return job as ReadyJob;
  let manifest: ExportManifest;
  try {
    manifest = await waitForManifest(client, job.statusUrl, {
      clock: ctx.clock,
      timeoutMs: source.pull.bulk.pollTimeoutSeconds * 1000,
      signal: ctx.signal,
      onProgress: (progress) => emit({ type: 'bulk', phase: 'waiting', progress }),
    });
  } catch (err) {
    if (ctx.signal?.aborted) {
      // Stopped while the server was still working: the export is cancelled, the next run starts a new one.
      await cancelExport(client, job.statusUrl).catch(() => undefined);
      await store.deleteBulkExport(source.id);
      throw new BulkStopped();
    }
    throw err;
  }
  const files = [...manifest.output.map((f) => ({ ...f, kind: 'output' as const })), ...manifest.error.map((f) => ({ ...f, kind: 'error' as const }))];
  await store.transaction((tx) => tx.saveBulkManifest(source.id, manifest, files.map((f, position) => ({ url: f.url, kind: f.kind, resourceType: f.type, position }))));
  emit({ type: 'bulk', phase: 'downloading', files: files.length });
  return (await store.getBulkExport(source.id)) as ReadyJob;
}

/** Patient files first (references are resolved through stored patients), then the rest, `parallelDownloads` at a time. */
async function storeFiles(puller: SourcePuller, ctx: BulkContext, job: ReadyJob, reports: Map<string, TypeReport>, emit: (e: PullEvent) => void): Promise<void> {
  const pending = job.files.filter((f) => !f.done);
  const resumed = job.files.some((f) => f.lines > 0 || f.done);
  const patientFiles = pending.filter((f) => f.kind === 'output' && f.resourceType === 'Patient');
  const others = pending.filter((f) => !patientFiles.includes(f));
  const failures: unknown[] = [];
  const run = async (files: BulkFileState[], parallel: number): Promise<void> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < files.length && failures.length === 0) {
        const file = files[next++] as BulkFileState;
        try {
          await storeFile(puller, ctx, job.manifest, file, reports, emit);
        } catch (err) {
          failures.push(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, files.length)) }, worker));
    const first = failures[0];
    if (first !== undefined) throw first;
  };
  if (job.files.some((f) => f.resourceType === 'Patient')) await puller.prepareType('Patient', resumed);
  await run(patientFiles, ctx.source.pull.bulk.parallelDownloads);
  for (const type of new Set(others.map((f) => f.resourceType))) await puller.prepareType(type, resumed);
  await run(others, ctx.source.pull.bulk.parallelDownloads);
}

/** Parses one NDJSON line into an entry of the batch, or a dead letter naming the file and line. */
function readLine(text: string, line: number, file: BulkFileState, ctx: BulkContext): { entry?: BundleEntry; dead?: DeadLetterInput } {
  const where = `line ${line} of ${file.kind === 'error' ? 'error ' : ''}file ${redactUrl(file.url)}`;
  const letter = (reason: string, payload?: unknown): DeadLetterInput => ({
    sourceId: ctx.source.id,
    runId: ctx.runId,
    stage: 'pull',
    resourceType: file.resourceType,
    payload: payload ?? { ndjsonLine: text.length > MAX_KEPT_LINE ? `${text.slice(0, MAX_KEPT_LINE)}…` : text },
    outcome: outcome('structure', `${where}: ${reason}`),
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { dead: letter(`not valid JSON (${text.length} characters; cut short or not NDJSON)`) };
  }
  const resource = value as Resource;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof resource.resourceType !== 'string') return { dead: letter('not a FHIR resource (no resourceType)') };
  if (file.kind === 'error') {
    // What the server could not export: kept as a dead letter with the server's own OperationOutcome.
    const serverOutcome = resource.resourceType === 'OperationOutcome' ? (resource as OperationOutcome) : undefined;
    return { dead: { sourceId: ctx.source.id, runId: ctx.runId, stage: 'pull', resourceType: file.resourceType, payload: resource, outcome: serverOutcome?.issue?.length ? serverOutcome : outcome('exception', `${where}: the server reported an export error`) } };
  }
  return { entry: { resource } };
}

async function storeFile(puller: SourcePuller, ctx: BulkContext, manifest: ExportManifest, file: BulkFileState, reports: Map<string, TypeReport>, emit: (e: PullEvent) => void): Promise<void> {
  const { source, client } = ctx;
  const report = reports.get(file.resourceType) ?? reports.values().next().value;
  if (!report) return;
  const progress = { lines: file.lines, bytes: file.bytes };
  for (let attempt = 0; ; attempt++) {
    const { response, fromStart } = await openFile(client, file.url, manifest.requiresAccessToken, progress.bytes);
    const chunks = response.chunks as AsyncIterable<Uint8Array>;
    let entries: BundleEntry[] = [];
    let dead: DeadLetterInput[] = [];
    let at = { ...progress };
    const commit = async (done: boolean): Promise<void> => {
      const saved = { ...at, done };
      const fetchedAt = performance.now();
      await puller.storeBatch(report, entries, { dead, save: (tx) => tx.saveBulkFileProgress(source.id, file.url, saved) });
      report.pages++;
      // Reading time is counted around the whole file below; the batches' validate and store time are not part of it.
      report.timings.fetchMs -= performance.now() - fetchedAt;
      progress.lines = saved.lines;
      progress.bytes = saved.bytes;
      entries = [];
      dead = [];
      emit({ type: 'page', resourceType: report.resourceType, report });
      await ctx.afterPageCommitted?.(report.resourceType, report.pages);
    };
    const readStart = performance.now();
    try {
      const maxLineBytes = sourceLimits(source).maxResponseMB * 1024 * 1024;
      for await (const line of ndjsonLines(chunks, fromStart ? { line: 0, byte: 0 } : { line: progress.lines, byte: progress.bytes }, fromStart ? progress.lines : 0, maxLineBytes)) {
        const read = readLine(line.text, line.line, file, ctx);
        if (read.entry) entries.push(read.entry);
        if (read.dead) dead.push(read.dead);
        at = { lines: line.line, bytes: line.endByte };
        if (entries.length + dead.length >= BULK_BATCH_LINES) {
          await commit(false);
          if (ctx.signal?.aborted) {
            response.cancel();
            throw new BulkStopped();
          }
        }
      }
      await commit(true);
      report.timings.fetchMs += performance.now() - readStart;
      return;
    } catch (err) {
      report.timings.fetchMs += performance.now() - readStart;
      response.cancel();
      // A download that broke off is opened again from the last committed line.
      if (err instanceof HttpError && err.status === undefined && attempt < source.maxRetries) {
        report.notes.push(`${redactUrl(file.url)}: ${describeError(err)}; resumed at line ${progress.lines + 1}`);
        continue;
      }
      throw err;
    }
  }
}
