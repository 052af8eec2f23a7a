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
import type { BulkSettings, SourceConfig } from '../config/types';
import { describeError } from '../errors';
import type { BulkExportState } from '../store/types';
import { cancelExport, ExportGone, kickOff, waitForManifest, type ExportManifest, type ExportRequest } from './bulk';
import { BulkStopped, storeFiles, tallyFiles, type BulkContext, type ReadyJob } from './bulk-files';
import { isRefusedOrigin } from './origins';
import type { SourcePuller } from './pull';
import { emptyReport, type PullEvent, type TypeReport } from './pull-context';
import { AuthenticationFailed, isAuthenticationFailure } from './pull-errors';

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
      await settleTypes(puller, ctx, job, offered, reports, since);
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
      await failReports(err, ctx, reports);
      if (isAuthenticationFailure(err)) throw new AuthenticationFailed(err);
      return finishReports();
    }
  }
}

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

/**
 * Each type of a stored export: its deletions and export errors noted; its watermark moved to the
 * export's transactionTime unless the server could not export some of it (they are asked for again).
 */
async function settleTypes(
  puller: SourcePuller,
  ctx: BulkContext,
  job: ReadyJob,
  offered: string[],
  reports: Map<string, TypeReport>,
  since: string | undefined,
): Promise<void> {
  const { source, store } = ctx;
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
}

/** The types not yet settled fail (or are interrupted); an export that cannot be resumed is dropped. */
async function failReports(err: unknown, ctx: BulkContext, reports: Map<string, TypeReport>): Promise<void> {
  const { source, store } = ctx;
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
}
