/**
 * FHIR Bulk Data Access (IG v2.0.0) `$export`, client side: kick-off,
 * status polling, the completion manifest, cancellation, and NDJSON files
 * opened as streams. Same client (transport, auth, pacing) as searches.
 * What is done with the files (storing, resuming) is src/fhir/bulk-pull.ts.
 *
 * https://hl7.org/fhir/uv/bulkdata/STU2/export.html
 */
import { EngageError, HttpError, outcome } from '../errors';
import { redactUrl } from '../log/redact';
import type { FhirClient } from './client';
import { realClock, type Clock } from './limiter';
import { outcomeOf, parseRetryAfter, type StreamResponse } from './transport';
import { replaceForbiddenCharacters } from '../validation/json-safety';

export const NDJSON = 'application/fhir+ndjson';

export type ExportLevel = 'system' | 'patient' | 'group';

/** What is asked of the server at kick-off. */
export interface ExportRequest {
  level: ExportLevel;
  /** Group id for a group-level export. */
  groupId?: string;
  types: string[];
  /** `_since`: only resources changed after this instant. */
  since?: string;
  /** `_typeFilter` values, e.g. `Appointment?date=ge2026-01-01`. */
  typeFilter?: string[];
}

export interface ManifestFile {
  type: string;
  url: string;
  count?: number;
}

/** The completion manifest: https://hl7.org/fhir/uv/bulkdata/STU2/export.html#response---complete-status */
export interface ExportManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: ManifestFile[];
  error: ManifestFile[];
  /**
   * Bulk Data IG v2 (`_since` exports): NDJSON files of Bundles whose entries are DELETE requests
   * (`request.url` = `Type/id`) naming the resources deleted since.
   */
  deleted: ManifestFile[];
}

export interface PollOptions {
  clock?: Clock;
  /** Give up (and cancel the export) after this long. */
  timeoutMs: number;
  /** Wait between polls when the server sends no Retry-After. */
  defaultIntervalMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: string | undefined) => void;
}

/** The server does not know the export any more (expired, cancelled, or never finished). */
export class ExportGone extends EngageError {
  constructor(what: string, status: number) {
    super(
      'http',
      outcome('not-found', `${what} is no longer available on the server (HTTP ${status}); a new export is needed`),
    );
  }
}

const MIN_INTERVAL_MS = 1_000;
const MAX_INTERVAL_MS = 120_000;

/** Path of the kick-off request, relative to the base URL (pure). */
export function kickOffPath(request: ExportRequest): string {
  const params = new URLSearchParams();
  params.set('_outputFormat', NDJSON);
  if (request.types.length) params.set('_type', request.types.join(','));
  if (request.since) params.set('_since', request.since);
  for (const f of request.typeFilter ?? []) params.append('_typeFilter', f);
  const operation =
    request.level === 'system'
      ? '$export'
      : request.level === 'patient'
        ? 'Patient/$export'
        : `Group/${encodeURIComponent(request.groupId ?? '')}/$export`;
  return `${operation}?${params}`;
}

function structureError(text: string): EngageError {
  return new EngageError('http', outcome('structure', text));
}

/** Checks a manifest's shape (pure): the files must be absolute URLs with a type. */
export function parseManifest(body: unknown, statusUrl: string): ExportManifest {
  const where = `the export manifest from ${redactUrl(statusUrl)}`;
  if (typeof body !== 'object' || body === null) throw structureError(`${where} is not a JSON object`);
  const m = body as Record<string, unknown>;
  if (typeof m.transactionTime !== 'string' || Number.isNaN(Date.parse(m.transactionTime)))
    throw structureError(`${where} has no valid transactionTime`);
  const files = (key: 'output' | 'error' | 'deleted'): ManifestFile[] => {
    const list = m[key] ?? [];
    if (!Array.isArray(list)) throw structureError(`${where}: ${key} is not an array`);
    return list.map((f: unknown, i: number) => {
      const file = f as Partial<ManifestFile>;
      if (typeof file?.url !== 'string' || !/^https?:\/\//.test(file.url))
        throw structureError(`${where}: ${key}[${i}].url is not an absolute URL`);
      if (typeof file.type !== 'string' || !/^[A-Z][A-Za-z]+$/.test(file.type))
        throw structureError(`${where}: ${key}[${i}].type is not a resource type`);
      return { type: file.type, url: file.url, ...(typeof file.count === 'number' ? { count: file.count } : {}) };
    });
  };
  return {
    transactionTime: m.transactionTime,
    request: typeof m.request === 'string' ? m.request : '',
    requiresAccessToken: m.requiresAccessToken !== false,
    output: files('output'),
    error: files('error'),
    deleted: files('deleted'),
  };
}

/**
 * A refused kick-off or status request, with the server's own words: these answers describe the
 * request (a `_type` not offered, a bad `_since`), not a patient, so the text is shown — shortened,
 * and without characters a terminal or the store could not take.
 */
function refusedWithServerText(
  client: FhirClient,
  method: string,
  res: Awaited<ReturnType<FhirClient['request']>>,
  what: string,
): HttpError {
  const said = (outcomeOf(res.body)?.issue ?? [])
    .map((i) => i.details?.text ?? i.diagnostics)
    .filter((t): t is string => typeof t === 'string' && t.trim() !== '')
    .slice(0, 3)
    .map((t) => replaceForbiddenCharacters(t).slice(0, 300));
  const base = client.errorFor(method, res);
  return new HttpError({
    method,
    url: base.url,
    status: res.status,
    code: base.outcome.issue[0]?.code,
    text: `${what} was refused: HTTP ${res.status}${said.length ? ` — the server says: ${said.join('; ')}` : ''}`,
    remoteOutcome: base.remoteOutcome,
  });
}

/** A 5xx whose OperationOutcome says `transient` (the IG's "try again"), or a retryable status the transport gave up on. */
function isTransient(res: Awaited<ReturnType<FhirClient['request']>> | undefined, err?: unknown): boolean {
  if (err !== undefined) return err instanceof HttpError && err.outcome.issue[0]?.code === 'transient';
  return (
    res !== undefined && res.status >= 500 && (outcomeOf(res.body)?.issue ?? []).some((i) => i.code === 'transient')
  );
}

/** Starts an export; returns the status URL (Content-Location of the 202). */
export async function kickOff(client: FhirClient, request: ExportRequest): Promise<string> {
  const res = await client.request<unknown>('GET', kickOffPath(request), {
    headers: { prefer: 'respond-async', accept: 'application/fhir+json' },
  });
  if (res.status !== 202) {
    throw refusedWithServerText(client, 'GET', res, `the export kick-off ${redactUrl(res.url)}`);
  }
  const location = res.headers.get('content-location');
  if (!location)
    throw structureError(
      `the export kick-off at ${redactUrl(res.url)} answered 202 without a Content-Location (status URL)`,
    );
  return new URL(location, client.url('')).toString();
}

/**
 * Polls the status URL until the manifest arrives, honouring Retry-After
 * (between 1 s and 2 min) and reporting X-Progress. A 429 means "slower":
 * the interval doubles and polling goes on. Past `timeoutMs`, the export is
 * cancelled and the poll fails.
 */
export async function waitForManifest(
  client: FhirClient,
  statusUrl: string,
  options: PollOptions,
): Promise<ExportManifest> {
  const clock = options.clock ?? realClock;
  const started = clock.now();
  let interval = options.defaultIntervalMs ?? 2_000;
  /** Back-off after transient errors: 1 s, doubling (the regular interval is the server's to set). */
  let transientWait = MIN_INTERVAL_MS / 2;
  for (;;) {
    let transient = false;
    if (options.signal?.aborted)
      throw new EngageError('internal', outcome('incomplete', 'interrupted while waiting for the export'));
    let res: Awaited<ReturnType<FhirClient['request']>>;
    try {
      res = await client.request<unknown>('GET', statusUrl, { headers: { accept: 'application/json' } });
    } catch (err) {
      // The transport gave up on 429s (the server wants fewer polls) or on 502–504s (a passing
      // outage): neither ends the export; polling goes on, slower, until pollTimeoutSeconds.
      if (!(err instanceof HttpError) || (err.status !== 429 && !isTransient(undefined, err))) throw err;
      if (err.status === 429) interval = Math.min(MAX_INTERVAL_MS, interval * 2);
      else transient = true;
      res = { status: 429, headers: new Headers(), body: undefined, url: statusUrl };
    }
    if (res.status === 200) return parseManifest(res.body, statusUrl);
    if (res.status === 404 || res.status === 410) throw new ExportGone('the export', res.status);
    if (isTransient(res)) {
      // Bulk Data IG: a 5xx with an OperationOutcome of code `transient` asks the client to try again.
      options.onProgress?.('the server reported a transient error; polling again');
      transient = true;
    } else if (res.status !== 202 && res.status !== 429)
      throw refusedWithServerText(client, 'GET', res, `the export status ${redactUrl(statusUrl)}`);
    if (res.status === 202) options.onProgress?.(res.headers.get('x-progress') ?? undefined);
    const asked = parseRetryAfter(res.headers.get('retry-after'), clock.now());
    if (transient) transientWait = Math.min(MAX_INTERVAL_MS, transientWait * 2);
    const wait = Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, asked ?? (transient ? transientWait : interval)));
    if (clock.now() - started + wait > options.timeoutMs) {
      await cancelExport(client, statusUrl).catch(() => undefined);
      throw new EngageError(
        'http',
        outcome(
          'timeout',
          `the export did not complete within ${Math.round(options.timeoutMs / 1000)} s (pull.bulk.pollTimeoutSeconds); it was cancelled`,
        ),
      );
    }
    await clock.sleep(wait);
  }
}

/** Asks the server to stop the export and delete its files (DELETE on the status URL). */
export async function cancelExport(client: FhirClient, statusUrl: string): Promise<void> {
  const res = await client.request<unknown>('DELETE', statusUrl);
  if (res.status >= 400 && res.status !== 404 && res.status !== 410) throw client.errorFor('DELETE', res);
}

/**
 * Opens one output or error file from `fromByte` (a Range request; a server
 * that ignores Range answers 200 from the start, which the caller sees in
 * `fromStart`). 404/410 (and 403 on an expired signed URL) → ExportGone.
 */
export async function openFile(
  client: FhirClient,
  url: string,
  requiresAccessToken: boolean,
  fromByte: number,
): Promise<{ response: StreamResponse; fromStart: boolean }> {
  const response = await client.stream(url, {
    authenticate: requiresAccessToken,
    headers: { accept: NDJSON, ...(fromByte > 0 ? { range: `bytes=${fromByte}-` } : {}) },
  });
  if (response.status === 404 || response.status === 410 || (response.status === 403 && !requiresAccessToken)) {
    throw new ExportGone(`the export file ${redactUrl(url)}`, response.status);
  }
  if (response.status === 416) return openFile(client, url, requiresAccessToken, 0);
  if (response.status !== 200 && response.status !== 206) {
    throw client.errorFor('GET', response);
  }
  return { response, fromStart: response.status === 200 };
}
