/**
 * The files of a Bulk Data export, stored: Patient files first, then the other types, then the
 * deletions; each file in batches committed with its progress, so that a crash resumes each file at
 * its last committed line. Error files become dead letters under the type each line names.
 */
import type { BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { sourceLimits } from '../config/types';
import { describeError, HttpError, outcome } from '../errors';
import { redactUrl } from '../log/redact';
import type { BulkExportState, BulkFileState, DeadLetterInput } from '../store/types';
import { openFile, type ExportManifest } from './bulk';
import type { CapabilityReport } from './capabilities';
import type { Clock } from './limiter';
import { ndjsonLines } from './ndjson';
import type { SourcePuller } from './pull';
import { emptyReport, type PullContext, type PullEvent, type TypeReport } from './pull-context';

/** Lines stored per transaction. */
export const BULK_BATCH_LINES = 500;
/** A raw line kept in a dead letter is cut at this length. */
const MAX_KEPT_LINE = 64 * 1024;

export interface BulkContext extends PullContext {
  capabilities?: CapabilityReport;
  /** Polling clock (tests fake it). */
  clock?: Clock;
}

export type ReadyJob = BulkExportState & { manifest: ExportManifest };

/** A stop request reached while a file was read: the batch in progress is committed, the rest waits. */
export class BulkStopped extends Error {}

/** Patient files first (references are resolved through stored patients), then the rest, `parallelDownloads` at a time. */
export async function storeFiles(
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
export function tallyFiles(files: BulkFileState[]): {
  errors: Record<string, number>;
  deleted: Record<string, number>;
} {
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

/**
 * One file of the export stored in batches of BULK_BATCH_LINES lines, each committed with the file's
 * progress (lines and bytes): a download that breaks off is opened again from the last committed line.
 */
async function storeFile(
  puller: SourcePuller,
  ctx: BulkContext,
  manifest: ExportManifest,
  file: BulkFileState,
  reports: Map<string, TypeReport>,
  emit: (e: PullEvent) => void,
): Promise<void> {
  // An output file counts in its type's report; an error or deleted file's lines in the report of the type each names.
  const own = file.kind === 'output' ? reports.get(file.resourceType) : undefined;
  if (file.kind === 'output' && !own) return;
  const report = own ?? emptyReport(file.kind === 'deleted' ? 'Bundle' : 'OperationOutcome', 'bulk');
  const batch = new FileBatch(puller, ctx, file, report, reports, emit);
  for (let attempt = 0; ; attempt++) {
    const { response, fromStart } = await openFile(ctx.client, file.url, manifest.requiresAccessToken, batch.bytes);
    const readStart = performance.now();
    try {
      await batch.read(response.chunks as AsyncIterable<Uint8Array>, fromStart, () => response.cancel());
      report.timings.fetchMs += performance.now() - readStart;
      return;
    } catch (err) {
      report.timings.fetchMs += performance.now() - readStart;
      response.cancel();
      // A download that broke off is opened again from the last committed line.
      if (err instanceof HttpError && err.status === undefined && attempt < ctx.source.maxRetries) {
        report.notes.push(`${redactUrl(file.url)}: ${describeError(err)}; resumed at line ${batch.lines + 1}`);
        continue;
      }
      throw err;
    }
  }
}

/** The lines of one file read since its last commit, and the progress committed so far. */
class FileBatch {
  private entries: BundleEntry[] = [];
  private dead: DeadLetterInput[] = [];
  private deletions: { resourceType: string; resourceId: string }[] = [];
  /** Where the lines read so far end, and the counts of what they named. */
  private at: { lines: number; bytes: number };
  private counts: Record<string, number>;
  /** What is committed. */
  private committed: { lines: number; bytes: number; counts: Record<string, number> };

  constructor(
    private readonly puller: SourcePuller,
    private readonly ctx: BulkContext,
    private readonly file: BulkFileState,
    private readonly report: TypeReport,
    private readonly reports: Map<string, TypeReport>,
    private readonly emit: (e: PullEvent) => void,
  ) {
    this.committed = { lines: file.lines, bytes: file.bytes, counts: { ...file.counts } };
    this.at = { lines: file.lines, bytes: file.bytes };
    this.counts = { ...file.counts };
  }

  get lines(): number {
    return this.committed.lines;
  }

  get bytes(): number {
    return this.committed.bytes;
  }

  /** Reads the file from the last committed line (re-reading from the start and skipping when the server ignored Range). */
  async read(chunks: AsyncIterable<Uint8Array>, fromStart: boolean, cancel: () => void): Promise<void> {
    // Whatever was read and not committed before a broken download is read again.
    this.entries = [];
    this.dead = [];
    this.deletions = [];
    this.at = { lines: this.committed.lines, bytes: this.committed.bytes };
    this.counts = { ...this.committed.counts };
    const maxLineBytes = sourceLimits(this.ctx.source).maxResponseMB * 1024 * 1024;
    const start = fromStart ? { line: 0, byte: 0 } : { line: this.committed.lines, byte: this.committed.bytes };
    for await (const line of ndjsonLines(chunks, start, fromStart ? this.committed.lines : 0, maxLineBytes)) {
      const read = readLine(line.text, line.line, this.file, this.ctx);
      if (read.entry) this.entries.push(read.entry);
      if (read.dead) this.dead.push(read.dead);
      if (read.named) this.counts[read.named] = (this.counts[read.named] ?? 0) + 1;
      if (read.deleted) this.deletions.push(...read.deleted);
      this.at = { lines: line.line, bytes: line.endByte };
      if (this.entries.length + this.dead.length + this.deletions.length >= BULK_BATCH_LINES) {
        await this.commit(false);
        if (this.ctx.signal?.aborted) {
          cancel();
          throw new BulkStopped();
        }
      }
    }
    await this.commit(true);
  }

  /** The lines read since the last commit, with the file's progress, in one transaction; then counted and announced. */
  private async commit(done: boolean): Promise<void> {
    const { report, file, ctx } = this;
    const fetchedAt = performance.now();
    const removing = this.deletions;
    const after = { ...this.counts };
    for (const r of removing) after[r.resourceType] = (after[r.resourceType] ?? 0) + 1;
    const at = this.at;
    let removedPatients: string[] = [];
    await this.puller.storeBatch(report, this.entries, {
      dead: this.dead,
      save: async (tx) => {
        // Deleted in the EMR: removed with the file's progress, in one transaction; their patients are recomputed.
        removedPatients = removing.length ? (await tx.deleteResources(ctx.source.id, removing)).patients : [];
        await tx.saveBulkFileProgress(ctx.source.id, file.url, { ...at, done, counts: after });
      },
    });
    this.puller.markChanged(removedPatients);
    this.counts = after;
    if (file.kind === 'error') {
      for (const d of this.dead) {
        const named = this.reports.get(d.resourceType ?? '');
        if (named) named.deadLettered++;
      }
    }
    report.pages++;
    // Reading time is counted around the whole file; the batches' validate and store time are not part of it.
    report.timings.fetchMs -= performance.now() - fetchedAt;
    this.committed = { lines: at.lines, bytes: at.bytes, counts: { ...after } };
    this.entries = [];
    this.dead = [];
    this.deletions = [];
    this.emit({ type: 'page', resourceType: report.resourceType, report });
    await ctx.afterPageCommitted?.(report.resourceType, report.pages);
  }
}
