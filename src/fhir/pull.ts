/**
 * Pulls a source's resources into the store, page by page. Each page's
 * resources, its dead letters and a checkpoint (where to resume) are committed
 * in one transaction before the next page is asked for; the watermark moves
 * when a type's pull completes. A crash resumes from the checkpoint; an
 * incremental pull searches `_lastUpdated=gt(watermark − overlap)` and the
 * content hash drops what did not change.
 */
import type { Bundle, BundleEntry, QuestionnaireResponse } from '@medplum/fhirtypes';
import { sourceLimits, type SourceConfig } from '../config/types';
import { redactUrl } from '../log/redact';
import { badRequest, describeError, EngageError, HttpError, outcome } from '../errors';
import { patientDeadLetter, patientOfWithMappings, type PatientOf } from '../mapping/patient-of';
import { patientIdentifierIndex, type PatientRefContext } from '../mapping/patient-ref';
import { resourceContentHash } from '../store/content-hash';
import { isDataRefusal, sqlStateOf } from '../store/refusal';
import type { Store } from '../store/store';
import type { DeadLetterInput, ResourceInput, UpsertResult } from '../store/types';
import type { ResourceValidator } from '../validation/validator';
import type { CapabilityReport, TypeSupport } from './capabilities';
import type { FhirClient } from './client';
import { isRefusedOrigin } from './origins';

/** `bulk`: from the NDJSON files of a Bulk Data export (src/fhir/bulk-pull.ts). */
export type PullMode = 'full' | 'incremental' | 'resumed' | 'bulk';

export interface TypeReport {
  resourceType: string;
  /** `partial`: per-patient searches failed for some patients (counted in `failedPatients`), the rest is stored. */
  status: 'ok' | 'partial' | 'failed' | 'skipped' | 'interrupted';
  mode: PullMode;
  /** Lower bound of _lastUpdated used, if any. */
  since?: string;
  pages: number;
  received: number;
  new: number;
  changed: number;
  unchanged: number;
  deadLettered: number;
  included: number;
  /** OperationOutcome entries found inside search Bundles. */
  outcomes: number;
  /** Resources kept despite warnings (e.g. vendor elements unknown to FHIR R4). */
  warnings: number;
  retries: number;
  durationMs: number;
  /** Per-patient mode: patients whose search failed after retries (their data of this type is incomplete). */
  failedPatients: number;
  /** Bulk Data: resources of this type the server listed as deleted (removed from the store). */
  deleted?: number;
  /** Bulk Data: resources of this type the server could not export (its error file); the watermark did not move. */
  exportErrors?: number;
  /** Where the time went: waiting for and parsing pages, validating and attaching, storing (ms). */
  timings: { fetchMs: number; validateMs: number; storeMs: number };
  notes: string[];
  error?: string;
  /** What to change when the server refuses the search as configured (e.g. `mode: per-patient`). */
  hint?: string;
}

export interface PullReport {
  types: TypeReport[];
  /** Patients whose stored resources were inserted or changed. */
  changedPatients: string[];
  /** Per-patient mode: patients whose search of some type failed in this run. */
  failedPatients: string[];
}

/**
 * The source refused our credentials (HTTP 401 after a fresh token, or the
 * token endpoint said no): every further request would fail the same way,
 * so the run stops at once with this one error.
 */
export class AuthenticationFailed extends EngageError {
  constructor(cause: HttpError) {
    const what = cause.outcome.issue[0]?.details?.text ?? `HTTP ${cause.status}`;
    super(
      'http',
      outcome(
        'login',
        `authentication failed: ${what}. Check the source's auth settings (client id, secret or key, token URL, scopes).`,
      ),
      cause,
    );
  }
}

export function isAuthenticationFailure(err: unknown): err is HttpError {
  return err instanceof HttpError && (err.status === 401 || err.outcome.issue[0]?.code === 'login');
}

/** A 400 to a system-wide search that names a patient parameter: the server wants per-patient searches. */
function asksForPatient(err: unknown): boolean {
  if (!(err instanceof HttpError) || err.status !== 400) return false;
  const remote = err.remoteOutcome?.issue ?? [];
  const text = remote
    .map((i) => `${i.code} ${i.details?.text ?? ''} ${i.diagnostics ?? ''} ${(i.expression ?? []).join(' ')}`)
    .join(' ');
  return /\b(patient|subject)\b/i.test(text) || remote.some((i) => i.code === 'required');
}

export type PullEvent =
  | { type: 'type-started'; resourceType: string; mode: PullMode; since?: string }
  /** A Bulk Data export's progress: kicked off, resumed, waiting for the server (X-Progress), downloading its files. */
  | { type: 'bulk'; phase: 'kicked-off' | 'resumed' | 'waiting' | 'downloading'; progress?: string; files?: number }
  | { type: 'page'; resourceType: string; report: TypeReport }
  | { type: 'type-finished'; report: TypeReport };

export interface PullContext {
  source: SourceConfig;
  store: Store;
  client: FhirClient;
  validator: ResourceValidator;
  runId: string;
  /** Ignore watermarks and checkpoints: pull everything. */
  full?: boolean;
  capabilities?: CapabilityReport;
  patientOf?: PatientOf;
  onEvent?: (e: PullEvent) => void;
  /** Stops after the page in progress is committed (graceful shutdown). */
  signal?: AbortSignal;
  /** Counts the transport's retries (shared with the client's onEvent). */
  transportStats?: { retries: number };
  /** Test hook: called after each committed page (a throw simulates a crash there). */
  afterPageCommitted?: (resourceType: string, page: number) => void | Promise<void>;
}

interface PagesCheckpoint {
  kind: 'pages';
  nextUrl: string;
  since?: string;
  maxLastUpdated?: string;
  pages: number;
}

interface PatientsCheckpoint {
  kind: 'patients';
  /** Every patient with a smaller index (in sorted id order) is done. */
  lowWater: number;
  since?: string;
  maxLastUpdated?: string;
}

type Checkpoint = PagesCheckpoint | PatientsCheckpoint;

/** A batch validated and hashed, waiting for its transaction. */
interface PreparedBatch {
  page: ReturnType<typeof classifyEntries>;
  rows: ResourceInput[];
  maxLastUpdated: string | undefined;
}

interface WriteOptions {
  save?: (tx: Store, maxLastUpdated: string | undefined) => Promise<void>;
  dead?: DeadLetterInput[];
  checkpoint?: unknown;
}

/** What storing a batch did. */
interface WrittenBatch {
  upserted: UpsertResult | undefined;
  dead: number;
  ms: number;
}

/** Page statements in flight at once in a search: two, so that PostgreSQL works on one while it commits the other. */
const PAGES_IN_FLIGHT = 2;

/** Types searched per patient in per-patient mode, unless the source names them. */
const PER_PATIENT_DEFAULT = new Set(['Appointment', 'CarePlan', 'QuestionnaireResponse', 'Task']);

class Interrupted extends Error {}

/** How often one type's search starts again after refused next links before the type fails. */
const MAX_SEARCH_RESTARTS = 3;

/** A request refused as a client error (not 429, not authentication): for a next link, paging state the server dropped. */
function isRefusedLink(err: unknown): err is HttpError & { status: number } {
  return (
    err instanceof HttpError &&
    err.status !== undefined &&
    err.status >= 400 &&
    err.status < 500 &&
    err.status !== 429 &&
    err.status !== 401 &&
    err.status !== 403
  );
}

/** Some patients failed: the watermark must not move, or their data before it would never be pulled. */
class PartialPull extends Error {
  constructor(readonly maxLastUpdated: string | undefined) {
    super('partial');
  }
}

export function emptyReport(resourceType: string, mode: PullMode, since?: string): TypeReport {
  return {
    resourceType,
    status: 'ok',
    mode,
    ...(since ? { since } : {}),
    pages: 0,
    received: 0,
    new: 0,
    changed: 0,
    unchanged: 0,
    deadLettered: 0,
    included: 0,
    outcomes: 0,
    warnings: 0,
    retries: 0,
    durationMs: 0,
    failedPatients: 0,
    timings: { fetchMs: 0, validateMs: 0, storeMs: 0 },
    notes: [],
  };
}

function later(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

/** A search given up because of what the server sent (not retried: it would send the same). */
function searchStopped(url: string, why: string): HttpError {
  const safe = redactUrl(url);
  return new HttpError({ method: 'GET', url: safe, code: 'too-costly', text: `GET ${safe}: ${why}` });
}

function mergeUpserts(results: UpsertResult[]): UpsertResult | undefined {
  if (results.length === 0) return undefined;
  const patients = new Set(results.flatMap((r) => r.changedPatients));
  return {
    inserted: results.reduce((n, r) => n + r.inserted, 0),
    updated: results.reduce((n, r) => n + r.updated, 0),
    unchanged: results.reduce((n, r) => n + r.unchanged, 0),
    changedPatients: [...patients].sort(),
    changed: results.flatMap((r) => r.changed),
  };
}

function nextLink(bundle: Bundle): string | undefined {
  return bundle.link?.find((l) => l.relation === 'next')?.url;
}

function isPerPatient(source: SourceConfig, type: string): boolean {
  if (source.mode !== 'per-patient' || type === 'Patient') return false;
  return source.perPatientTypes ? source.perPatientTypes.includes(type as never) : PER_PATIENT_DEFAULT.has(type);
}

const standardPatientOf = patientOfWithMappings({});

/** Whether this version of the resource is the one stored (`seen`: `versionId|lastUpdated` by id). */
function isStoredVersion(
  resource: { id?: string; meta?: { versionId?: string; lastUpdated?: string } },
  seen: ReadonlyMap<string, string> | undefined,
): boolean {
  const meta = resource.meta;
  return !!(
    seen &&
    resource.id &&
    meta?.versionId &&
    meta.lastUpdated &&
    seen.get(resource.id) === `${meta.versionId}|${new Date(meta.lastUpdated).toISOString()}`
  );
}

/** Processes one search page into what to store and what to dead-letter. Pure apart from validation. */
export function classifyEntries(
  entries: BundleEntry[],
  resourceType: string,
  ctx: Pick<PullContext, 'source' | 'runId' | 'validator' | 'patientOf'>,
  refs: PatientRefContext = {},
  /** `versionId|lastUpdated` already stored, by id: the same version again is skipped before validation. */
  seen?: ReadonlyMap<string, string>,
): {
  store: ResourceInput[];
  dead: DeadLetterInput[];
  included: number;
  outcomes: number;
  warnings: number;
  received: number;
  skipped: number;
  maxLastUpdated?: string;
  questionnaires: string[];
} {
  const patientOf = ctx.patientOf ?? standardPatientOf;
  // urn:uuid references inside this Bundle name its entries by fullUrl.
  const fullUrls = new Map<string, string>();
  for (const e of entries)
    if (e.fullUrl && e.resource?.id) fullUrls.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
  const refContext: PatientRefContext = { ...refs, fullUrls };
  const out = {
    store: [] as ResourceInput[],
    dead: [] as DeadLetterInput[],
    included: 0,
    outcomes: 0,
    warnings: 0,
    received: 0,
    skipped: 0,
    maxLastUpdated: undefined as string | undefined,
    questionnaires: [] as string[],
  };
  for (const entry of entries) {
    const resource = entry.resource;
    if (!resource) continue;
    if (resource.resourceType === 'OperationOutcome' || entry.search?.mode === 'outcome') {
      out.outcomes++;
      const outcome = resource.resourceType === 'OperationOutcome' ? resource : undefined;
      if (outcome?.issue?.some((i) => i.severity === 'error' || i.severity === 'fatal')) {
        out.dead.push({ sourceId: ctx.source.id, runId: ctx.runId, stage: 'pull', resourceType, outcome });
      }
      continue;
    }
    const isMatch = entry.search?.mode !== 'include' && resource.resourceType === resourceType;
    if (isMatch) {
      out.received++;
      out.maxLastUpdated = later(out.maxLastUpdated, resource.meta?.lastUpdated);
    } else {
      out.included++;
    }
    if (!resource.id) {
      out.dead.push({
        sourceId: ctx.source.id,
        runId: ctx.runId,
        stage: 'validate',
        resourceType: resource.resourceType,
        payload: resource,
        outcome: badRequest(`${resource.resourceType}.id is required`, `${resource.resourceType}.id`),
      });
      continue;
    }
    if (isMatch && isStoredVersion(resource, seen)) {
      // The overlap window and resumed pages repeat what is stored: no validation, no storing.
      out.skipped++;
      continue;
    }
    const result = ctx.validator.validate(resource);
    if (!result.valid) {
      out.dead.push({
        sourceId: ctx.source.id,
        runId: ctx.runId,
        stage: 'validate',
        resourceType: resource.resourceType,
        resourceId: resource.id,
        payload: resource,
        outcome: result.outcome!,
      });
      continue;
    }
    if (result.outcome) out.warnings++;
    const patient = patientOf(resource, refContext);
    if (patient && 'reason' in patient) {
      // Kept as a dead letter with the reason, never dropped.
      out.dead.push(
        patientDeadLetter(
          ctx.source.id,
          ctx.runId,
          resource,
          `no patient: ${patient.reason}; nothing is computed from this ${resource.resourceType}`,
        ),
      );
      continue;
    }
    out.store.push({ resource: resource as ResourceInput['resource'], patientId: patient?.id ?? null });
    if (resource.resourceType === 'QuestionnaireResponse') {
      const q = (resource as QuestionnaireResponse).questionnaire;
      if (q) out.questionnaires.push(q);
    }
  }
  return out;
}

export class SourcePuller {
  private readonly changedPatients = new Set<string>();
  private readonly failedPatients = new Set<string>();
  /** How references find patients: the source's base URL, and (once Patients are pulled) their identifiers. */
  private refs: PatientRefContext;
  /** Types pulled before (a watermark or a checkpoint exists): pages may repeat stored versions. */
  private readonly seenBefore = new Set<string>();
  private readonly questionnaireRefs = new Set<string>();

  constructor(private readonly ctx: PullContext) {
    this.refs = { baseUrl: ctx.client.baseUrl };
  }

  private support(type: string): TypeSupport {
    return this.ctx.capabilities?.types[type] ?? { listed: true, searchable: true, lastUpdated: true };
  }

  private retries(): number {
    return this.ctx.transportStats?.retries ?? 0;
  }

  /**
   * Validates and stores a batch of entries of `report`'s type with its dead letters, and whatever
   * `save` records with them (a search checkpoint, a bulk file's progress), in one transaction.
   * Returns the greatest meta.lastUpdated seen so far.
   */
  async storeBatch(
    report: TypeReport,
    entries: BundleEntry[],
    options: {
      maxBefore?: string;
      save?: (tx: Store, maxLastUpdated: string | undefined) => Promise<void>;
      dead?: DeadLetterInput[];
    } = {},
  ): Promise<string | undefined> {
    const prepared = await this.prepareBatch(report, entries, options.maxBefore);
    await this.commitBatch(report, prepared, options);
    return prepared.maxLastUpdated;
  }

  /**
   * The CPU half of storing a batch, before its transaction: stored versions looked up, entries
   * validated and attributed, content hashed. Stores nothing, so it may run while the previous
   * batch's transaction is still in flight.
   */
  private async prepareBatch(
    report: TypeReport,
    entries: BundleEntry[],
    maxBefore: string | undefined,
  ): Promise<PreparedBatch> {
    const { source, store } = this.ctx;
    const ids = entries
      .map((e) => e.resource)
      .filter((r) => r?.resourceType === report.resourceType && r.id)
      .map((r) => r?.id as string);
    // Nothing stored yet (a first pull): nothing to skip, and no lookup per page.
    const lookupStart = performance.now();
    const seen = this.seenBefore.has(report.resourceType)
      ? await store.storedVersions(source.id, report.resourceType, ids)
      : undefined;
    if (
      report.resourceType !== 'Patient' &&
      !this.refs.patientByIdentifier &&
      entries.some(
        (e) =>
          e.resource &&
          e.resource.resourceType !== 'OperationOutcome' &&
          !(e.resource.resourceType === report.resourceType && isStoredVersion(e.resource, seen)),
      )
    ) {
      // Logical references and contained patients are found through the patients' identifiers: read
      // once (Patient is always pulled first), and only when a page has something new to attribute —
      // a run that finds nothing new does not read every patient's identifiers.
      this.refs = { ...this.refs, patientByIdentifier: patientIdentifierIndex(await store.patientRoster(source.id)) };
    }
    const t0 = performance.now();
    report.timings.storeMs += t0 - lookupStart;
    const page = classifyEntries(entries, report.resourceType, this.ctx, this.refs, seen);
    report.timings.validateMs += performance.now() - t0;
    const t1 = performance.now();
    const rows = page.store.map((input) => ({ ...input, contentHash: resourceContentHash(input.resource) }));
    report.timings.storeMs += performance.now() - t1;
    return { page, rows, maxLastUpdated: later(maxBefore, page.maxLastUpdated) };
  }

  /** The I/O half: one transaction with the batch's resources, dead letters and `save`; then the report. */
  private async commitBatch(report: TypeReport, prepared: PreparedBatch, options: WriteOptions): Promise<void> {
    const written = await this.writeBatch(report, prepared, options);
    await this.accountBatch(report, prepared, written);
  }

  /**
   * Stores a prepared batch: one statement for a plain page, else a transaction. Touches no report.
   * A batch the store refuses for its data (isDataRefusal) costs only the resources it refuses:
   * see writeNarrowed.
   */
  private async writeBatch(report: TypeReport, prepared: PreparedBatch, options: WriteOptions): Promise<WrittenBatch> {
    const started = performance.now();
    let result: Omit<WrittenBatch, 'ms'>;
    try {
      result = await this.writeOnce(report, prepared, options);
    } catch (err) {
      if (!isDataRefusal(err)) throw err;
      result = await this.writeNarrowed(report, prepared, options);
    }
    return { ...result, ms: performance.now() - started };
  }

  /**
   * The batch again, its resources stored in halves until the ones the store refuses are found
   * alone: those become dead letters (named, with the SQLSTATE, never the driver's text, which may
   * quote the value), the rest is stored, and then the dead letters, checkpoint and `save` commit
   * together as they would have. Upserts are idempotent, so a half stored before a failure is
   * stored again as unchanged.
   */
  private async writeNarrowed(
    report: TypeReport,
    { page, rows, maxLastUpdated }: PreparedBatch,
    options: WriteOptions,
  ): Promise<Omit<WrittenBatch, 'ms'>> {
    const { source, store, runId } = this.ctx;
    const refused: DeadLetterInput[] = [];
    const stored: UpsertResult[] = [];
    const storeRows = async (part: ResourceInput[]): Promise<void> => {
      try {
        stored.push(await store.upsertResources(source.id, runId, part));
      } catch (err) {
        if (!isDataRefusal(err)) throw err;
        if (part.length > 1) {
          const half = Math.ceil(part.length / 2);
          await storeRows(part.slice(0, half));
          await storeRows(part.slice(half));
          return;
        }
        const { resource } = part[0] as ResourceInput;
        const name = `${resource.resourceType}/${resource.id ?? '?'}`;
        refused.push({
          sourceId: source.id,
          runId,
          stage: 'pull',
          resourceType: resource.resourceType,
          resourceId: resource.id,
          payload: resource,
          outcome: outcome(
            'exception',
            `${name} was refused by the store (SQLSTATE ${sqlStateOf(err)}); nothing of it is stored, the rest of its page is`,
            [report.resourceType],
          ),
        });
      }
    };
    await storeRows(rows);
    const dead = [...(options.dead ?? []), ...page.dead, ...refused];
    const added = await store.transaction(async (tx) => {
      const n = dead.length ? await tx.addDeadLetters(dead) : 0;
      if (options.checkpoint !== undefined)
        await tx.saveCheckpoint(source.id, report.resourceType, runId, options.checkpoint);
      await options.save?.(tx, maxLastUpdated);
      return n;
    });
    return { upserted: mergeUpserts(stored), dead: added };
  }

  private async writeOnce(
    report: TypeReport,
    { page, rows, maxLastUpdated }: PreparedBatch,
    options: WriteOptions,
  ): Promise<Omit<WrittenBatch, 'ms'>> {
    const { source, store, runId } = this.ctx;
    const dead = [...(options.dead ?? []), ...page.dead];
    const checkpoint = options.checkpoint;
    const result =
      dead.length === 0 && rows.length > 0 && !options.save
        ? // The common page: its resources (and checkpoint) in one statement.
          {
            upserted: await store.storePage(
              source.id,
              runId,
              rows,
              checkpoint !== undefined ? { resourceType: report.resourceType, state: checkpoint } : undefined,
            ),
            dead: 0,
          }
        : await store.transaction(async (tx) => {
            const upserted = rows.length ? await tx.upsertResources(source.id, runId, rows) : undefined;
            const added = dead.length ? await tx.addDeadLetters(dead) : 0;
            if (checkpoint !== undefined) await tx.saveCheckpoint(source.id, report.resourceType, runId, checkpoint);
            await options.save?.(tx, maxLastUpdated);
            return { upserted, dead: added };
          });
    return result;
  }

  /** A stored batch counted in its type's report (in page order), then announced. */
  private async accountBatch(report: TypeReport, { page }: PreparedBatch, result: WrittenBatch): Promise<void> {
    report.timings.storeMs += result.ms;
    report.pages++;
    report.received += page.received;
    report.unchanged += page.skipped;
    report.included += page.included;
    report.outcomes += page.outcomes;
    report.warnings += page.warnings;
    // Only dead letters added now: an invalid resource seen again (overlap window, --full) is already open.
    report.deadLettered += result.dead;
    if (result.upserted) {
      report.new += result.upserted.inserted;
      report.changed += result.upserted.updated;
      report.unchanged += result.upserted.unchanged;
      for (const p of result.upserted.changedPatients) this.changedPatients.add(p);
    }
    for (const q of page.questionnaires) this.questionnaireRefs.add(q);
    this.ctx.onEvent?.({ type: 'page', resourceType: report.resourceType, report });
    await this.ctx.afterPageCommitted?.(report.resourceType, report.pages);
  }

  private checkAbort(): void {
    if (this.ctx.signal?.aborted) throw new Interrupted('interrupted');
  }

  /** Before a type's resources are stored: whether stored versions may come again (to skip them early). */
  async prepareType(type: string, resumed: boolean): Promise<void> {
    if (resumed || (await this.ctx.store.getWatermark(this.ctx.source.id, type))) this.seenBefore.add(type);
  }

  /** A type pulled completely: its watermark moves (never back) and its search checkpoint goes. */
  async finish(type: string, maxLastUpdated: string | undefined): Promise<void> {
    const { store, source } = this.ctx;
    await store.transaction(async (tx) => {
      if (maxLastUpdated) await tx.advanceWatermark(source.id, type, new Date(maxLastUpdated));
      await tx.deleteCheckpoint(source.id, type);
    });
  }

  private async since(type: string): Promise<string | undefined> {
    if (this.ctx.full || !this.support(type).lastUpdated) return undefined;
    const watermark = await this.ctx.store.getWatermark(this.ctx.source.id, type);
    return watermark ? new Date(watermark.getTime() - this.ctx.source.overlapSeconds * 1000).toISOString() : undefined;
  }

  private searchUrl(type: string, since: string | undefined, patientId?: string): string {
    const params = new URLSearchParams();
    if (patientId) params.set('patient', patientId);
    params.set('_count', String(this.ctx.source.pageSize));
    if (since) params.set('_lastUpdated', `gt${since}`);
    return this.ctx.client.url(`${type}?${params}`);
  }

  /**
   * Follows next links from `url` to the end, storing each page, with a checkpoint when `checkpointed`.
   * Several pages are at work at once: page N+2 is fetched and N+1 validated and hashed while the
   * statements of pages N and N−1 run (PostgreSQL stores two pages on two connections; PGlite takes
   * them in turn). Pages are counted and announced in order, and a checkpoint never runs ahead of a
   * stored page: a page's statement carries its own checkpoint only when no page before it is still in
   * flight, else the checkpoint of the last page known stored (checkpoints only move forward, see
   * queries.saveCheckpoint). A crash costs at most the pages in flight or fetched ahead, which the
   * resumed run pulls again and skips by version.
   */
  private async followPages(
    report: TypeReport,
    url: string,
    state: { maxLastUpdated?: string; since?: string },
    checkpointed: boolean,
  ): Promise<string | undefined> {
    let maxLastUpdated = state.maxLastUpdated;
    const fetchPage = (u: string): Promise<Bundle> => {
      const p = this.ctx.client.getBundle(u);
      p.catch(() => undefined); // awaited below; a page never awaited (stop, crash) must not be an unhandled rejection
      return p;
    };
    this.checkAbort();
    const limits = sourceLimits(this.ctx.source);
    /** Links followed in this search: one seen again is a cycle (a server looped 892 times in 90 s). */
    const followed = new Set<string>([url]);
    const follow = (next: string | undefined, pageNo: number): string | undefined => {
      if (!next) return undefined;
      // Checked before the link is saved as the search's checkpoint: a resumed run must never start from a refused URL.
      this.ctx.client.origins.check(next);
      if (followed.has(next))
        throw searchStopped(
          next,
          `the server's next link after page ${pageNo} repeats a page of this search (a cycle); the search is stopped`,
        );
      if (followed.size >= limits.maxPagesPerSearch)
        throw searchStopped(next, `the search passed ${limits.maxPagesPerSearch} pages (limits.maxPagesPerSearch)`);
      followed.add(next);
      return next;
    };
    let pageNo = 0;
    let ahead: Promise<Bundle> | undefined = fetchPage(url);
    const inFlight: { prepared: PreparedBatch; write: Promise<WrittenBatch>; after: PagesCheckpoint | undefined }[] =
      [];
    /** The checkpoint after the last page known stored, and how many pages the stored checkpoint covers. */
    let stored: PagesCheckpoint | undefined;
    let persistedPages = 0;
    const settleOldest = async (): Promise<void> => {
      const oldest = inFlight[0] as (typeof inFlight)[number];
      const written = await oldest.write;
      inFlight.shift();
      if (oldest.after) stored = oldest.after;
      await this.accountBatch(report, oldest.prepared, written);
    };
    // The first page is stored before the second is asked for: validating it compiles the type's schema
    // (a second of CPU), which must not hold up a request in flight until it times out.
    let first = true;
    try {
      while (ahead) {
        const fetchStart = performance.now();
        const bundle: Bundle = await ahead;
        report.timings.fetchMs += performance.now() - fetchStart;
        pageNo++;
        const entryCount = bundle.entry?.length ?? 0;
        const maxEntries = this.ctx.source.pageSize * limits.maxEntriesPerPage;
        if (entryCount > maxEntries) {
          throw searchStopped(
            url,
            `page ${pageNo} holds ${entryCount} entries for _count=${this.ctx.source.pageSize} (more than limits.maxEntriesPerPage × pageSize = ${maxEntries}); nothing of it is stored`,
          );
        }
        const next = follow(nextLink(bundle), pageNo);
        ahead = next && !first && !this.ctx.signal?.aborted ? fetchPage(next) : undefined;
        const prepared = await this.prepareBatch(report, bundle.entry ?? [], maxLastUpdated);
        while (inFlight.length >= PAGES_IN_FLIGHT) await settleOldest();
        if (this.ctx.signal?.aborted) throw new Interrupted('interrupted');
        maxLastUpdated = prepared.maxLastUpdated;
        const after: PagesCheckpoint | undefined =
          checkpointed && next
            ? {
                kind: 'pages',
                nextUrl: next,
                since: state.since,
                maxLastUpdated,
                pages: report.pages + inFlight.length + 1,
              }
            : undefined;
        const carried = inFlight.length === 0 ? after : stored && stored.pages > persistedPages ? stored : undefined;
        if (carried) persistedPages = carried.pages;
        const write = this.writeBatch(report, prepared, carried ? { checkpoint: carried } : {});
        write.catch(() => undefined); // awaited in order below
        inFlight.push({ prepared, write, after });
        if (first) {
          await settleOldest();
          if (next) this.checkAbort();
          if (next) ahead = fetchPage(next);
          first = false;
        }
      }
      while (inFlight.length) await settleOldest();
    } catch (err) {
      // Nothing is left in flight when the pull gives up: the page fetched ahead and the statements
      // under way are let finish, and the pages they stored are counted (a search started again after
      // an expired link finds them stored: reported as new now, not as unchanged then).
      await ahead?.catch(() => undefined);
      for (const f of inFlight) {
        try {
          await this.accountBatch(report, f.prepared, await f.write);
        } catch {
          // Not stored, or the test hook's simulated crash again: the first error is the one reported.
        }
      }
      throw err;
    }
    return maxLastUpdated;
  }

  private async pullSystem(
    type: string,
    resume: PagesCheckpoint | undefined,
    report: TypeReport,
  ): Promise<string | undefined> {
    if (resume) {
      try {
        return await this.followPages(
          report,
          resume.nextUrl,
          { maxLastUpdated: resume.maxLastUpdated, since: resume.since },
          true,
        );
      } catch (err) {
        // A next link can expire (opaque server-side paging state), or point where it may not (a checkpoint
        // saved by an earlier version): start again from the watermark.
        if (!isRefusedLink(err) && !isRefusedOrigin(err)) throw err;
        report.notes.push(
          `the saved next link could not be resumed (${err instanceof HttpError && err.status !== undefined ? `HTTP ${err.status}` : 'its origin is not allowed'}); pulled again from the watermark`,
        );
        report.mode = 'incremental';
        return this.followLinksRestarting(type, report, resume.since, resume.maxLastUpdated);
      }
    }
    return this.followLinksRestarting(type, report, report.since, undefined);
  }

  /**
   * The search from `since`, started again (at most MAX_SEARCH_RESTARTS times) when a next link is
   * refused mid-way: servers keep paging state for minutes only (Cerner's -pageContext). Pages already
   * stored come again and are skipped by version before any work.
   */
  private async followLinksRestarting(
    type: string,
    report: TypeReport,
    since: string | undefined,
    maxBefore: string | undefined,
  ): Promise<string | undefined> {
    let maxLastUpdated = maxBefore;
    for (let restarts = 0; ; restarts++) {
      const before = report.pages;
      try {
        return await this.followPages(report, this.searchUrl(type, since), { since, maxLastUpdated }, true);
      } catch (err) {
        // Only a link the server gave refused after pages of this search were stored: a refused first request is a real error.
        if (!isRefusedLink(err) || report.pages === before || restarts >= MAX_SEARCH_RESTARTS) throw err;
        report.notes.push(
          `a next link was refused after page ${report.pages} (HTTP ${err.status}, expired paging state); the search started again${since ? ` from ${since}` : ''}`,
        );
        maxLastUpdated =
          (await this.ctx.store.getCheckpoint<PagesCheckpoint>(this.ctx.source.id, type))?.state.maxLastUpdated ??
          maxLastUpdated;
        this.seenBefore.add(type);
      }
    }
  }

  private async pullPerPatient(
    type: string,
    resume: PatientsCheckpoint | undefined,
    report: TypeReport,
  ): Promise<string | undefined> {
    const { store, source, runId } = this.ctx;
    const patients = await store.listResourceIds(source.id, 'Patient');
    const since = resume?.since ?? report.since;
    let maxLastUpdated = resume?.maxLastUpdated;
    const start = resume?.lowWater ?? 0;
    const done = new Set<number>();
    let lowWater = start;
    let cursor = start;
    const worker = async (): Promise<void> => {
      for (;;) {
        this.checkAbort();
        const i = cursor++;
        if (i >= patients.length) return;
        const patientId = patients[i] as string;
        try {
          const got = await this.followPages(report, this.searchUrl(type, since, patientId), { since }, false);
          maxLastUpdated = later(maxLastUpdated, got);
        } catch (err) {
          // One patient's failure holds back that patient only; credentials and shutdown stop everything.
          if (err instanceof Interrupted || isAuthenticationFailure(err)) throw err;
          report.failedPatients++;
          this.failedPatients.add(patientId);
          if (report.failedPatients === 1) report.error = describeError(err);
        }
        done.add(i);
        while (done.has(lowWater)) lowWater++;
        await store.saveCheckpoint(source.id, type, runId, {
          kind: 'patients',
          lowWater,
          since,
          maxLastUpdated,
        } satisfies PatientsCheckpoint);
      }
    };
    const workers = Array.from(
      { length: Math.max(1, Math.min(source.rateLimit.concurrency, patients.length)) },
      worker,
    );
    const results = await Promise.allSettled(workers);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (start > 0) report.notes.push(`resumed after ${start} of ${patients.length} patients`);
    if (report.failedPatients > 0) {
      report.status = 'partial';
      report.notes.push(
        `${report.failedPatients} of ${patients.length} patients could not be searched; they are held back and searched again next run`,
      );
      throw new PartialPull(maxLastUpdated);
    }
    return maxLastUpdated;
  }

  async pullType(type: string): Promise<TypeReport> {
    const started = performance.now();
    const retriesBefore = this.retries();
    const support = this.support(type);
    if (!support.searchable) {
      const skipped = emptyReport(type, 'full');
      skipped.status = 'skipped';
      skipped.notes.push(support.note ?? 'not searchable on this server');
      this.ctx.onEvent?.({ type: 'type-finished', report: skipped });
      return skipped;
    }
    const checkpoint = this.ctx.full
      ? undefined
      : (await this.ctx.store.getCheckpoint<Checkpoint>(this.ctx.source.id, type))?.state;
    if (this.ctx.full) await this.ctx.store.deleteCheckpoint(this.ctx.source.id, type);
    await this.prepareType(type, !!checkpoint);
    const since = checkpoint?.since ?? (await this.since(type));
    const mode: PullMode = checkpoint ? 'resumed' : since ? 'incremental' : 'full';
    const report = emptyReport(type, mode, since);
    if (support.note) report.notes.push(support.note);
    this.ctx.onEvent?.({ type: 'type-started', resourceType: type, mode, since });
    try {
      const perPatient = isPerPatient(this.ctx.source, type);
      const maxLastUpdated = perPatient
        ? await this.pullPerPatient(type, checkpoint?.kind === 'patients' ? checkpoint : undefined, report)
        : await this.pullSystem(type, checkpoint?.kind === 'pages' ? checkpoint : undefined, report);
      await this.finish(type, maxLastUpdated);
    } catch (err) {
      if (isAuthenticationFailure(err)) throw new AuthenticationFailed(err);
      if (err instanceof PartialPull) {
        // Start the type again from the old watermark next run (stored resources are skipped by hash).
        await this.ctx.store.deleteCheckpoint(this.ctx.source.id, type);
      } else {
        report.status = err instanceof Interrupted ? 'interrupted' : 'failed';
        if (!(err instanceof Interrupted)) report.error = describeError(err);
        if (!isPerPatient(this.ctx.source, type) && asksForPatient(err)) {
          report.hint = `the server requires a patient for ${type} searches: set \`mode: per-patient\` on the source (with \`perPatientTypes\` listing ${type})`;
        }
      }
    }
    report.retries = this.retries() - retriesBefore;
    report.durationMs = Math.round(performance.now() - started);
    this.ctx.onEvent?.({ type: 'type-finished', report });
    return report;
  }

  /** Fetches Questionnaires that pulled responses refer to and the store lacks, so scoring can use them. */
  async pullReferencedQuestionnaires(): Promise<TypeReport | undefined> {
    if (this.questionnaireRefs.size === 0) return undefined;
    const started = performance.now();
    const known = new Set(await this.ctx.store.listQuestionnaireUrls(this.ctx.source.id));
    const report = emptyReport('Questionnaire', 'full');
    let attempted = 0;
    for (const ref of [...this.questionnaireRefs].sort()) {
      const canonical = ref.split('|')[0] as string;
      if (known.has(canonical)) continue;
      const local = /^(?:.*\/)?Questionnaire\/([A-Za-z0-9\-.]{1,64})$/.exec(canonical);
      if (local && (await this.ctx.store.getResource(this.ctx.source.id, 'Questionnaire', local[1] as string)))
        continue;
      attempted++;
      try {
        this.checkAbort();
        const url =
          local && (!/^https?:/.test(canonical) || canonical.startsWith(this.ctx.client.baseUrl))
            ? this.ctx.client.url(`Questionnaire?_id=${encodeURIComponent(local[1] as string)}`)
            : this.ctx.client.url(`Questionnaire?url=${encodeURIComponent(canonical)}`);
        const bundle = await this.ctx.client.getBundle(url);
        if (!bundle.entry?.some((e) => e.resource?.resourceType === 'Questionnaire')) {
          report.notes.push(`no Questionnaire found for ${canonical}`);
        }
        await this.storeBatch(report, bundle.entry ?? []);
      } catch (err) {
        if (err instanceof Interrupted) throw err;
        report.notes.push(`could not fetch Questionnaire ${canonical}: ${describeError(err)}`);
      }
    }
    report.durationMs = Math.round(performance.now() - started);
    return attempted > 0 ? report : undefined;
  }

  /** Patients whose stored data changed other than by a stored page (resources the source deleted). */
  markChanged(patients: readonly string[]): void {
    for (const p of patients) this.changedPatients.add(p);
  }

  changed(): string[] {
    return [...this.changedPatients].sort();
  }

  failed(): string[] {
    return [...this.failedPatients].sort();
  }
}

/**
 * Pulls every configured type of a source, in order (Patient first, so per-patient searches know the
 * patients): by searches, or by `byExport` (src/fhir/bulk-pull.ts) when the run uses Bulk Data.
 */
export async function pullSource(
  ctx: PullContext,
  byExport?: (puller: SourcePuller, types: string[]) => Promise<TypeReport[]>,
): Promise<PullReport> {
  const puller = new SourcePuller(ctx);
  const order = [...ctx.source.resourceTypes].sort((a, b) => (a === 'Patient' ? -1 : b === 'Patient' ? 1 : 0));
  const types: TypeReport[] = [];
  if (byExport) {
    types.push(...(await byExport(puller, order)));
    if (types.some((t) => t.status === 'interrupted'))
      return { types, changedPatients: puller.changed(), failedPatients: puller.failed() };
  }
  for (const type of byExport ? [] : order) {
    const report = await puller.pullType(type);
    types.push(report);
    if (report.status === 'interrupted')
      return { types, changedPatients: puller.changed(), failedPatients: puller.failed() };
  }
  if (!ctx.source.resourceTypes.includes('Questionnaire')) {
    try {
      const q = await puller.pullReferencedQuestionnaires();
      if (q) types.push(q);
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
    }
  }
  return { types, changedPatients: puller.changed(), failedPatients: puller.failed() };
}
