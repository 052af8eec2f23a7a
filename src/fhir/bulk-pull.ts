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
import {
  cancelExport,
  ExportGone,
  kickOff,
  openFile,
  waitForManifest,
  type ExportManifest,
  type ExportRequest,
} from './bulk';
import type { CapabilityReport } from './capabilities';
import type { Clock } from './limiter';
import { ndjsonLines } from './ndjson';
import type { SourcePuller } from './pull';
import { emptyReport, type PullContext, type PullEvent, type TypeReport } from './pull-context';
import { AuthenticationFailed, isAuthenticationFailure } from './pull-errors';
import { isRefusedOrigin } from './origins';

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
  facts: {
    forced: boolean;
    full: boolean;
    exportAdvertised: boolean;
    typesWithoutWatermark: number;
    exportUnderWay: boolean;
  },
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

/** What a kick-off asks for (also `doctor`'s trial kick-off). */
export function requestFor(settings: BulkSettings, types: string[], since: string | undefined): StoredRequest {
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
  return (
    asked.level === wanted.level &&
    asked.groupId === wanted.groupId &&
    wanted.types.every((t) => asked.types?.includes(t)) &&
    JSON.stringify(asked.typeFilter ?? []) === JSON.stringify(wanted.typeFilter ?? [])
  );
}

class BulkStopped extends Error {}

/**
 * Runs (or resumes) an export of `types` and stores its files. Returns a
 * report per type; a type whose files could not all be stored is `failed`
 * (its watermark does not move) and the export is kept for the next run.
 */
export async function pullBulk(
  puller: SourcePuller,
  ctx: BulkContext,
  types: string[],
  since: string | undefined,
): Promise<TypeReport[]> {
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
  // Only what the server offers is asked for: a conformant server refuses the whole kick-off for one `_type` it does not know.
  const offered = types.filter((t) => ctx.capabilities?.types[t]?.listed !== false);
  for (const t of types.filter((x) => !offered.includes(x))) {
    const r = reports.get(t) as TypeReport;
    r.status = 'skipped';
    r.notes.push(`the server's CapabilityStatement does not list ${t}: not requested in the export`);
  }
  if (offered.length === 0) return finishReports();

  let restarted = false;
  for (;;) {
    try {
      const job = await exportUnderWay(ctx, requestFor(settings, offered, since), emit);
      await storeFiles(puller, ctx, job, reports, emit);
      const tally = tallyFiles((await store.getBulkExport(source.id))?.files ?? job.files);
      for (const t of offered) {
        const report = reports.get(t) as TypeReport;
        const deleted = tally.deleted[t] ?? 0;
        if (deleted > 0) {
          report.deleted = deleted;
          report.notes.push(
            `${deleted} ${t} resource(s) deleted in the EMR since ${since ?? 'the last export'}: removed, and their patients recomputed`,
          );
        }
        const errors = (tally.errors[t] ?? 0) + (tally.errors['*'] ?? 0);
        if (errors > 0) {
          // What failed to export is not in the files: the watermark stays, so the next run asks again from it.
          report.status = 'partial';
          report.exportErrors = errors;
          report.notes.push(
            `the server could not export ${errors} ${tally.errors[t] ? t : ''} resource(s)${tally.errors['*'] ? ' (its error file does not say of which type)' : ''} (see dead-letters): the ${t} watermark stays where it was, so the next run asks for them again`.replace(
              '  ',
              ' ',
            ),
          );
          continue;
        }
        await puller.finish(t, job.manifest.transactionTime);
      }
      await store.deleteBulkExport(source.id);
      return finishReports();
    } catch (err) {
      if (err instanceof ExportGone && !restarted) {
        // The server dropped the export or its files (they expire): what is stored stays, a new export replaces the rest.
        restarted = true;
        for (const r of reports.values())
          r.notes.push(
            `${describeError(err)}: a new export was started (resources already stored are skipped by content hash)`,
          );
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
      if (isRefusedOrigin(err)) {
        // Files on an origin not allowed can never be fetched: resuming this export would fail the same way.
        const job = await store.getBulkExport(source.id);
        if (job) await cancelExport(ctx.client, job.statusUrl).catch(() => undefined);
        await store.deleteBulkExport(source.id);
        for (const r of reports.values())
          if (r.status === 'failed')
            r.hint = `list the origin in the source's allowedOrigins if the server really hands out files from there`;
      }
      if (isAuthenticationFailure(err)) throw new AuthenticationFailed(err);
      return finishReports();
    }
  }
}

type ReadyJob = BulkExportState & { manifest: ExportManifest };

/** Kicks off (or finds) the export and waits for its manifest; the status URL and the manifest are stored as they arrive. */
async function exportUnderWay(
  ctx: BulkContext,
  wanted: StoredRequest,
  emit: (e: PullEvent) => void,
): Promise<ReadyJob> {
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
  const files = [
    ...manifest.output.map((f) => ({ ...f, kind: 'output' as const })),
    ...manifest.error.map((f) => ({ ...f, kind: 'error' as const })),
    ...manifest.deleted.map((f) => ({ ...f, kind: 'deleted' as const })),
  ];
  await store.transaction((tx) =>
    tx.saveBulkManifest(
      source.id,
      manifest,
      files.map((f, position) => ({ url: f.url, kind: f.kind, resourceType: f.type, position })),
    ),
  );
  emit({ type: 'bulk', phase: 'downloading', files: files.length });
  return (await store.getBulkExport(source.id)) as ReadyJob;
}

/** Patient files first (references are resolved through stored patients), then the rest, `parallelDownloads` at a time. */
async function storeFiles(
  puller: SourcePuller,
  ctx: BulkContext,
  job: ReadyJob,
  reports: Map<string, TypeReport>,
  emit: (e: PullEvent) => void,
): Promise<void> {
  const pending = job.files.filter((f) => !f.done);
  const resumed = job.files.some((f) => f.lines > 0 || f.done);
  const patientFiles = pending.filter((f) => f.kind === 'output' && f.resourceType === 'Patient');
  // Deletions last: a resource deleted since is not also in the output, but one that came back would be.
  const deletedFiles = pending.filter((f) => f.kind === 'deleted');
  const others = pending.filter((f) => !patientFiles.includes(f) && !deletedFiles.includes(f));
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
  await run(deletedFiles, 1);
}

/** What the stored files of an export counted: errors by the type they name (`*`: none named), deletions by type. */
function tallyFiles(files: BulkFileState[]): { errors: Record<string, number>; deleted: Record<string, number> } {
  const errors: Record<string, number> = {};
  const deleted: Record<string, number> = {};
  for (const f of files) {
    for (const [key, n] of Object.entries(f.counts ?? {})) {
      if (f.kind === 'error') errors[key] = (errors[key] ?? 0) + n;
      else if (f.kind === 'deleted') deleted[key] = (deleted[key] ?? 0) + n;
    }
  }
  return { errors, deleted };
}

/**
 * The resource type (and id) an export error names: `Type/id` or a bare type among those exported, in
 * the issue's expression, location, diagnostics or details, in that order. Undefined when none is named.
 */
export function namedInError(
  outcome: OperationOutcome | undefined,
  types: readonly string[],
): { resourceType: string; resourceId?: string } | undefined {
  for (const issue of outcome?.issue ?? []) {
    for (const text of [
      ...(issue.expression ?? []),
      ...(issue.location ?? []),
      issue.diagnostics ?? '',
      issue.details?.text ?? '',
    ]) {
      for (const type of types) {
        const m = new RegExp(`(?:^|[^A-Za-z])${type}(?:/([A-Za-z0-9\\-.]{1,64}))?(?![A-Za-z])`).exec(text);
        if (m) return { resourceType: type, ...(m[1] ? { resourceId: m[1] } : {}) };
      }
    }
  }
  return undefined;
}

/** `Type/id` of each DELETE request in a `deleted` file's Bundle (Bulk Data IG v2). */
function deletedRefs(bundle: Resource): { resourceType: string; resourceId: string }[] {
  if (bundle.resourceType !== 'Bundle') return [];
  return (bundle.entry ?? [])
    .filter((e) => e.request?.method === 'DELETE')
    .map((e) => /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(e.request?.url ?? ''))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ resourceType: m[1] as string, resourceId: m[2] as string }));
}

/** Parses one NDJSON line into an entry of the batch, or a dead letter naming the file and line. */
function readLine(
  text: string,
  line: number,
  file: BulkFileState,
  ctx: BulkContext,
): {
  entry?: BundleEntry;
  dead?: DeadLetterInput;
  named?: string;
  deleted?: { resourceType: string; resourceId: string }[];
} {
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
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof resource.resourceType !== 'string')
    return { dead: letter('not a FHIR resource (no resourceType)') };
  if (file.kind === 'error') {
    // What the server could not export: a dead letter with the server's own OperationOutcome, filed under the type it names.
    const serverOutcome = resource.resourceType === 'OperationOutcome' ? (resource as OperationOutcome) : undefined;
    const named = namedInError(serverOutcome, ctx.source.resourceTypes);
    return {
      named: named?.resourceType ?? '*',
      dead: {
        sourceId: ctx.source.id,
        runId: ctx.runId,
        stage: 'pull',
        resourceType: named?.resourceType ?? file.resourceType,
        ...(named?.resourceId ? { resourceId: named.resourceId } : {}),
        payload: resource,
        outcome: serverOutcome?.issue?.length
          ? serverOutcome
          : outcome('exception', `${where}: the server reported an export error`),
      },
    };
  }
  if (file.kind === 'deleted') return { deleted: deletedRefs(resource) };
  return { entry: { resource } };
}

async function storeFile(
  puller: SourcePuller,
  ctx: BulkContext,
  manifest: ExportManifest,
  file: BulkFileState,
  reports: Map<string, TypeReport>,
  emit: (e: PullEvent) => void,
): Promise<void> {
  const { source, client } = ctx;
  // An output file counts in its type's report; an error or deleted file's lines in the report of the type each names.
  const own = file.kind === 'output' ? reports.get(file.resourceType) : undefined;
  const report = own ?? emptyReport(file.kind === 'deleted' ? 'Bundle' : 'OperationOutcome', 'bulk');
  if (file.kind === 'output' && !own) return;
  const progress = { lines: file.lines, bytes: file.bytes, counts: { ...file.counts } };
  for (let attempt = 0; ; attempt++) {
    const { response, fromStart } = await openFile(client, file.url, manifest.requiresAccessToken, progress.bytes);
    const chunks = response.chunks as AsyncIterable<Uint8Array>;
    let entries: BundleEntry[] = [];
    let dead: DeadLetterInput[] = [];
    let deletions: { resourceType: string; resourceId: string }[] = [];
    let at = { lines: progress.lines, bytes: progress.bytes };
    let counts = { ...progress.counts };
    const commit = async (done: boolean): Promise<void> => {
      const fetchedAt = performance.now();
      const removing = deletions;
      const after = { ...counts };
      for (const r of removing) after[r.resourceType] = (after[r.resourceType] ?? 0) + 1;
      let removedPatients: string[] = [];
      await puller.storeBatch(report, entries, {
        dead,
        save: async (tx) => {
          // Deleted in the EMR: removed with the file's progress, in one transaction; their patients are recomputed.
          removedPatients = removing.length ? (await tx.deleteResources(source.id, removing)).patients : [];
          await tx.saveBulkFileProgress(source.id, file.url, { ...at, done, counts: after });
        },
      });
      puller.markChanged(removedPatients);
      counts = after;
      if (file.kind === 'error') {
        for (const d of dead) {
          const named = reports.get(d.resourceType ?? '');
          if (named) named.deadLettered++;
        }
      }
      report.pages++;
      // Reading time is counted around the whole file below; the batches' validate and store time are not part of it.
      report.timings.fetchMs -= performance.now() - fetchedAt;
      progress.lines = at.lines;
      progress.bytes = at.bytes;
      progress.counts = { ...counts };
      entries = [];
      dead = [];
      deletions = [];
      emit({ type: 'page', resourceType: report.resourceType, report });
      await ctx.afterPageCommitted?.(report.resourceType, report.pages);
    };
    const readStart = performance.now();
    try {
      const maxLineBytes = sourceLimits(source).maxResponseMB * 1024 * 1024;
      for await (const line of ndjsonLines(
        chunks,
        fromStart ? { line: 0, byte: 0 } : { line: progress.lines, byte: progress.bytes },
        fromStart ? progress.lines : 0,
        maxLineBytes,
      )) {
        const read = readLine(line.text, line.line, file, ctx);
        if (read.entry) entries.push(read.entry);
        if (read.dead) dead.push(read.dead);
        if (read.named) counts[read.named] = (counts[read.named] ?? 0) + 1;
        if (read.deleted) deletions.push(...read.deleted);
        at = { lines: line.line, bytes: line.endByte };
        if (entries.length + dead.length + deletions.length >= BULK_BATCH_LINES) {
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
