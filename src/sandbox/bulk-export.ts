/**
 * The sandbox EMR's FHIR Bulk Data `$export` (IG v2.0.0): asynchronous jobs
 * with X-Progress and Retry-After, a manifest, NDJSON files served (with the
 * access token when requiresAccessToken) that expire after a set time, and
 * the quirks a client must survive: 429 on too-frequent polling, a download
 * cut short once, an unreadable line, resources reported in an error file.
 *
 * A job's content is fixed at kick-off (the resources as they are then, which
 * the repository never mutates in place), so files are stable while it lives.
 */
import { randomBytes } from 'node:crypto';
import { matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import type { Group, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { SandboxRepository } from './repository';

export interface BulkExportOptions {
  /** Time from kick-off until the files are ready (default 1.5 s). */
  preparationMs?: number;
  /** Files expire this long after the job completes (default 1 hour). */
  fileTtlMs?: number;
  /** Lines per output file (default 5,000). */
  linesPerFile?: number;
  /** Retry-After sent while a job runs, in seconds (default 1). */
  retryAfterSeconds?: number;
}

export interface BulkQuirks {
  /** A status poll sooner than the Retry-After given is answered 429. */
  bulkPollTooFast429?: boolean;
  /** The first download of the first output file breaks off in the middle of a line, once. */
  bulkTruncateOnce?: boolean;
  /** Line N (1-based) of the first output file of each type is replaced by text that is not JSON. */
  bulkBadLine?: number;
  /** Every Nth resource of each type goes to the error file (as an OperationOutcome) instead of the output. */
  bulkErrorEvery?: number;
  /** Only the first N exports have those errors (a passing failure); unset: every export. */
  bulkErrorExports?: number;
  /** The first N status polls of each export answer 500 with an OperationOutcome of code `transient`. */
  bulkTransientPollErrors?: number;
  /** Files are sent in 16 KB chunks with this many milliseconds between them (a slow link). */
  bulkChunkDelayMs?: number;
}

export interface BulkCounters {
  exportsStarted: number;
  polls: number;
  pollsTooFast: number;
  filesServed: number;
  rangeRequests: number;
  truncatedDownloads: number;
  expiredRequests: number;
  cancelled: number;
  /** 16 KB chunks sent by the slow-link quirk (bulkChunkDelayMs), across files: where a test can time a kill. */
  slowChunks: number;
}

interface ExportFile {
  type: string;
  kind: 'output' | 'error' | 'deleted';
  lines: string[];
}

interface Job {
  id: string;
  createdAt: number;
  readyAt: number;
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  files: ExportFile[];
  nextPollAt: number;
  transientPolls: number;
}

export type ExportLevelRequest = { level: 'system' } | { level: 'patient' } | { level: 'group'; groupId: string };

/** A kick-off's parameters, checked. */
interface ExportRequestParsed {
  ok: true;
  types: string[];
  since: number | undefined;
  /** Group level: the Group's patients. */
  members: Set<string> | undefined;
  filters: Map<string, ReturnType<typeof parseSearchRequest>[]>;
}

/** An error file's line for a resource the quirks say could not be exported. */
function exportError(type: string, id: string | undefined): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: 'exception',
        details: { text: `${type}/${id} could not be exported` },
        expression: [type],
      },
    ],
  };
}

export type KickOffResult = { ok: true; jobId: string } | { ok: false; status: number; outcome: OperationOutcome };

function problem(
  status: number,
  code: OperationOutcome['issue'][0]['code'],
  text: string,
): { ok: false; status: number; outcome: OperationOutcome } {
  return {
    ok: false,
    status,
    outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] },
  };
}

/** Types of the Patient compartment the sandbox serves (what a Patient- or Group-level export includes). */
const PATIENT_COMPARTMENT = ['Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse', 'Task', 'Observation'];

function patientIdsOf(resource: Resource): string[] {
  const refs: string[] = [];
  const r = resource as {
    subject?: { reference?: string };
    patient?: { reference?: string };
    for?: { reference?: string };
    participant?: { actor?: { reference?: string } }[];
  };
  if (resource.resourceType === 'Patient') return [resource.id as string];
  for (const ref of [
    r.subject?.reference,
    r.patient?.reference,
    r.for?.reference,
    ...(r.participant ?? []).map((p) => p.actor?.reference),
  ]) {
    const m = /(?:^|\/)Patient\/([^/]+)$/.exec(ref ?? '');
    if (m) refs.push(m[1] as string);
  }
  return refs;
}

export class BulkExports {
  readonly counters: BulkCounters = {
    exportsStarted: 0,
    polls: 0,
    pollsTooFast: 0,
    filesServed: 0,
    rangeRequests: 0,
    truncatedDownloads: 0,
    expiredRequests: 0,
    cancelled: 0,
    slowChunks: 0,
  };
  private readonly jobs = new Map<string, Job>();
  private truncatedOnce = false;

  constructor(
    private readonly repo: SandboxRepository,
    private readonly options: BulkExportOptions,
    private readonly quirks: () => BulkQuirks,
    private readonly now: () => number,
  ) {}

  kickOff(
    level: ExportLevelRequest,
    params: URLSearchParams,
    servedTypes: string[],
    requiresAccessToken: boolean,
    requestUrl: string,
  ): KickOffResult {
    const request = this.parseRequest(level, params, servedTypes);
    if (!request.ok) return request;
    const files = request.types.flatMap((type) => this.typeFiles(type, request));
    if (request.since !== undefined) {
      // Bulk Data IG v2: resources deleted since `_since`, as Bundles of DELETE requests.
      const deleted = this.repo.deletedSince(request.since, request.types).map((d) =>
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [{ request: { method: 'DELETE', url: `${d.resourceType}/${d.id}` } }],
        }),
      );
      if (deleted.length) files.push({ type: 'Bundle', kind: 'deleted', lines: deleted });
    }
    const id = randomBytes(12).toString('hex');
    const now = this.now();
    this.jobs.set(id, {
      id,
      createdAt: now,
      readyAt: now + (this.options.preparationMs ?? 1500),
      transactionTime: new Date(now).toISOString(),
      request: requestUrl,
      requiresAccessToken,
      files,
      nextPollAt: now,
      transientPolls: 0,
    });
    this.counters.exportsStarted++;
    return { ok: true, jobId: id };
  }

  /** The kick-off's parameters checked as a server does: output format, types, _since, the Group, _typeFilter. */
  private parseRequest(
    level: ExportLevelRequest,
    params: URLSearchParams,
    servedTypes: string[],
  ): ExportRequestParsed | Extract<KickOffResult, { ok: false }> {
    const format = params.get('_outputFormat');
    if (format && !['application/fhir+ndjson', 'application/ndjson', 'ndjson'].includes(format))
      return problem(400, 'not-supported', `_outputFormat ${format} is not supported (application/fhir+ndjson is)`);
    const allowed = level.level === 'system' ? servedTypes : servedTypes.filter((t) => PATIENT_COMPARTMENT.includes(t));
    const asked = params
      .get('_type')
      ?.split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const unknown = asked?.filter((t) => !allowed.includes(t)) ?? [];
    if (unknown.length)
      return problem(400, 'not-supported', `_type names types this export cannot include: ${unknown.join(', ')}`);
    const types = asked?.length ? asked : allowed;
    const sinceText = params.get('_since');
    const since = sinceText ? Date.parse(sinceText) : undefined;
    if (since !== undefined && Number.isNaN(since)) return problem(400, 'invalid', '_since is not a valid instant');
    let members: Set<string> | undefined;
    if (level.level === 'group') {
      const group = this.repo.peek('Group', level.groupId) as Group | undefined;
      if (!group) return problem(404, 'not-found', `Group/${level.groupId} is not known`);
      members = new Set(
        (group.member ?? [])
          .map((m) => /(?:^|\/)Patient\/([^/]+)$/.exec(m.entity.reference ?? '')?.[1])
          .filter((id): id is string => !!id),
      );
    }
    const filters = new Map<string, ReturnType<typeof parseSearchRequest>[]>();
    for (const f of params.getAll('_typeFilter')) {
      const [type, query] = f.split('?', 2) as [string, string | undefined];
      if (!types.includes(type) || !query)
        return problem(400, 'invalid', `_typeFilter "${type}" must be Type?query for a type of the export`);
      filters.set(type, [...(filters.get(type) ?? []), parseSearchRequest(`${type}?${query}`)]);
    }
    return { ok: true, types, since, members, filters };
  }

  /** One type's output files (linesPerFile lines each) and its error file, with the quirks' errors and bad line. */
  private typeFiles(type: string, request: ExportRequestParsed): ExportFile[] {
    const quirks = this.quirks();
    const perFile = Math.max(1, this.options.linesPerFile ?? 5000);
    const { since, members } = request;
    const typeFilters = request.filters.get(type);
    const output: string[] = [];
    const errors: string[] = [];
    const failing =
      quirks.bulkErrorEvery &&
      (quirks.bulkErrorExports === undefined || this.counters.exportsStarted < quirks.bulkErrorExports);
    let n = 0;
    for (const resource of this.repo.all(type)) {
      if (since !== undefined && Date.parse(resource.meta?.lastUpdated ?? '') <= since) continue;
      if (members && !patientIdsOf(resource).some((id) => members.has(id))) continue;
      if (typeFilters && !typeFilters.some((sr) => matchesSearchRequest(resource, sr))) continue;
      n++;
      if (failing && n % (quirks.bulkErrorEvery as number) === 0) {
        errors.push(JSON.stringify(exportError(type, resource.id)));
        continue;
      }
      output.push(JSON.stringify(resource));
    }
    if (quirks.bulkBadLine && output.length >= quirks.bulkBadLine)
      output[quirks.bulkBadLine - 1] = '{"resourceType": "' + type + '", "id": ';
    const files: ExportFile[] = [];
    for (let i = 0; i < output.length; i += perFile)
      files.push({ type, kind: 'output', lines: output.slice(i, i + perFile) });
    if (errors.length) files.push({ type: 'OperationOutcome', kind: 'error', lines: errors });
    return files;
  }

  /** The status of a job: in progress (with X-Progress and Retry-After), complete (the manifest), or gone. */
  status(
    jobId: string,
    fileUrl: (jobId: string, index: number) => string,
  ): { status: number; headers: Record<string, string>; body?: unknown } {
    const job = this.jobs.get(jobId);
    if (!job)
      return {
        status: 404,
        headers: {},
        body: problem(404, 'not-found', 'no such export (expired, cancelled or never started)').outcome,
      };
    this.counters.polls++;
    if (job.transientPolls < (this.quirks().bulkTransientPollErrors ?? 0)) {
      job.transientPolls++;
      return {
        status: 500,
        headers: {},
        body: problem(500, 'transient', 'the export status is briefly unavailable: try again').outcome,
      };
    }
    const now = this.now();
    const retryAfter = this.options.retryAfterSeconds ?? 1;
    if (now < job.readyAt) {
      if (this.quirks().bulkPollTooFast429 && now < job.nextPollAt) {
        this.counters.pollsTooFast++;
        return {
          status: 429,
          headers: { 'retry-after': String(retryAfter) },
          body: problem(429, 'throttled', 'polled too often: wait for Retry-After').outcome,
        };
      }
      job.nextPollAt = now + retryAfter * 1000;
      const done = Math.min(99, Math.floor(((now - job.createdAt) / Math.max(1, job.readyAt - job.createdAt)) * 100));
      return { status: 202, headers: { 'x-progress': `${done}% prepared`, 'retry-after': String(retryAfter) } };
    }
    const listed = job.files.map((f, i) => ({ file: f, url: fileUrl(job.id, i) }));
    return {
      status: 200,
      headers: { expires: new Date(job.readyAt + (this.options.fileTtlMs ?? 3_600_000)).toUTCString() },
      body: {
        transactionTime: job.transactionTime,
        request: job.request,
        requiresAccessToken: job.requiresAccessToken,
        output: listed
          .filter((l) => l.file.kind === 'output')
          .map((l) => ({ type: l.file.type, url: l.url, count: l.file.lines.length })),
        error: listed.filter((l) => l.file.kind === 'error').map((l) => ({ type: l.file.type, url: l.url })),
        deleted: listed.filter((l) => l.file.kind === 'deleted').map((l) => ({ type: l.file.type, url: l.url })),
      },
    };
  }

  cancel(jobId: string): boolean {
    const existed = this.jobs.delete(jobId);
    if (existed) this.counters.cancelled++;
    return existed;
  }

  /** Whether a file needs the access token (undefined: no such file). */
  requiresToken(jobId: string): boolean | undefined {
    return this.jobs.get(jobId)?.requiresAccessToken;
  }

  /**
   * The bytes of one file from `fromByte` (Range), or why not. `cutAt` says the download must break
   * off after that many bytes (the quirk): the connection closes before the announced length.
   */
  file(
    jobId: string,
    index: number,
    fromByte: number,
  ): { status: 200 | 206; body: Buffer; cutAt?: number } | { status: 404 | 410 | 416; text: string } {
    const job = this.jobs.get(jobId);
    const file = job?.files[index];
    if (!job || !file || this.now() < job.readyAt) return { status: 404, text: 'no such file' };
    if (this.now() > job.readyAt + (this.options.fileTtlMs ?? 3_600_000)) {
      this.counters.expiredRequests++;
      return { status: 410, text: 'this export file has expired' };
    }
    const whole = Buffer.from(file.lines.map((l) => `${l}\n`).join(''), 'utf8');
    if (fromByte > whole.length) return { status: 416, text: 'range not satisfiable' };
    this.counters.filesServed++;
    if (fromByte > 0) this.counters.rangeRequests++;
    const body = whole.subarray(fromByte);
    const firstOutput = job.files.findIndex((f) => f.kind === 'output');
    if (this.quirks().bulkTruncateOnce && !this.truncatedOnce && index === firstOutput && body.length > 100) {
      this.truncatedOnce = true;
      this.counters.truncatedDownloads++;
      return { status: fromByte > 0 ? 206 : 200, body, cutAt: Math.floor(body.length / 2) + 7 };
    }
    return { status: fromByte > 0 ? 206 : 200, body };
  }
}
