/**
 * The sandbox EMR: Medplum's FhirRouter over SandboxRepository, served by
 * express at http://127.0.0.1:PORT/fhir/R4, with auth modes and quirks.
 *
 * Searches are answered here (not by FhirRouter) so that pages come from the
 * repository's indexes and carry self/next links, which MemoryRepository's
 * search results lack. Everything else (read, vread, create, conditional
 * create, update with If-Match, transaction and batch) goes to FhirRouter.
 */
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import express, { type NextFunction, type Request, type Response } from 'express';
import {
  badRequest,
  forbidden,
  getStatus,
  normalizeOperationOutcome,
  notFound,
  OperationOutcomeError,
  parseSearchRequest,
  serverError,
  tooManyRequests,
} from '@medplum/core';
import { FhirRouter, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { ensureDefinitionsIndexed } from '../validation/definitions';
import { listen } from '../listen';
import { AuthState, type SandboxAuth } from './auth';
import { capabilityStatement, SANDBOX_TYPES } from './capability';
import { BulkExports, type BulkCounters, type BulkExportOptions, type ExportLevelRequest } from './bulk-export';
import { QuirkState, type QuirkCounters, type Quirks } from './quirks';
import { SandboxRepository } from './repository';

export const FHIR_BASE_PATH = '/fhir/R4';
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;
/** Search parameters that scope a search to one patient (for `requirePatientFor`). */
const PATIENT_SCOPE_PARAMS = ['patient', 'subject', 'actor', '_id'];

export interface SandboxOptions {
  port?: number;
  host?: string;
  auth?: SandboxAuth;
  quirks?: Quirks;
  repo?: SandboxRepository;
  /** Clock for token expiry and export jobs (tests); default Date.now. */
  now?: () => number;
  /** Bulk Data `$export` timings (preparation time, file expiry, lines per file). */
  bulk?: BulkExportOptions;
}

export interface SandboxServer {
  baseUrl: string;
  tokenUrl: string;
  port: number;
  repo: SandboxRepository;
  auth: SandboxAuth;
  counters(): QuirkCounters;
  bulkCounters(): BulkCounters;
  /** New quirks for the next run; counters start again from zero. */
  setQuirks(quirks: Quirks): void;
  close(): Promise<void>;
}

/** A resource as a hostile EMR serves it (quirks `badStringsIn`, `deepNestingIn`); the stored one is not changed. */
function hostileCopy<T extends Resource>(resource: T, type: string, q: Quirks): T {
  if (q.badStringsIn === type)
    return {
      ...resource,
      extension: [
        ...((resource as { extension?: unknown[] }).extension ?? []),
        { url: 'https://sandbox.fhir-engage.example/hostile', valueString: 'before\u0000after' },
      ],
    };
  if (q.deepNestingIn === type) {
    let ext: Record<string, unknown> = { url: 'https://sandbox.fhir-engage.example/leaf', valueString: 'deep' };
    for (let i = 0; i < 500; i++) ext = { url: 'https://sandbox.fhir-engage.example/nest', extension: [ext] };
    return { ...resource, extension: [...((resource as { extension?: unknown[] }).extension ?? []), ext] };
  }
  return resource;
}

const MB = 1024 * 1024;
const SPACES = Buffer.alloc(MB, 0x20);

/** The page, then `mb` MB of whitespace, streamed a megabyte at a time (quirk `oversizedPageMB`). */
function streamPadded(res: Response, text: string, mb: number): void {
  res.status(200).type('application/fhir+json');
  res.on('error', () => undefined);
  res.write(text);
  let sent = 0;
  const push = (): void => {
    while (sent < mb) {
      sent++;
      if (!res.write(SPACES)) return void res.once('drain', push);
    }
    res.end();
  };
  res.once('close', () => (sent = mb));
  push();
}

let spacesMember: Buffer | undefined;

/**
 * `mb` MB of whitespace then the page, gzip-compressed (~1,000:1; quirk `gzipBombMB`): one compressed
 * megabyte repeated as gzip members (a gzip body may hold several), so the inflated size is never held.
 */
function sendBomb(res: Response, text: string, mb: number): void {
  spacesMember ??= zlib.gzipSync(SPACES, { level: 9 });
  const body = Buffer.concat([...Array.from({ length: mb }, () => spacesMember as Buffer), zlib.gzipSync(text)]);
  res
    .status(200)
    .set({ 'content-type': 'application/fhir+json', 'content-encoding': 'gzip', 'content-length': String(body.length) })
    .end(body);
}

/** An outcome with a text of ours, for the statuses Medplum's constructors carry only a fixed text for. */
function withText(base: OperationOutcome, text: string): OperationOutcome {
  return { ...base, issue: base.issue.map((i) => ({ ...i, details: { text } })) };
}

/** A 400 (Medplum's badRequest) with a more precise issue code, as real servers send. */
function badRequestAs(code: OperationOutcome['issue'][0]['code'], text: string): OperationOutcome {
  const base = badRequest(text);
  return { ...base, issue: base.issue.map((i) => ({ ...i, code })) };
}

function sendFhir(res: Response, status: number, body: Resource): void {
  res.status(status).type('application/fhir+json').send(JSON.stringify(body));
}

/** Query parameters in order, repeated ones kept (express' parsed req.query loses the order). */
function queryParams(req: Request): URLSearchParams {
  const q = req.originalUrl.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : req.originalUrl.slice(q + 1));
}

function toQueryRecord(params: URLSearchParams, skip: (k: string) => boolean): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of params) {
    if (skip(k)) continue;
    (out[k] ??= []).push(v);
  }
  return out;
}

interface PageState {
  type: string;
  query: string;
  cursor: string;
  count: number;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<SandboxServer> {
  ensureDefinitionsIndexed();
  const repo = options.repo ?? new SandboxRepository();
  const router = new FhirRouter();
  const quirks = new QuirkState(options.quirks ?? {});
  const auth = new AuthState(options.auth ?? { mode: 'open' }, () => quirks.counters, options.now ?? Date.now);
  const opaquePages = new Map<string, PageState>();
  const bulkExports = new BulkExports(repo, options.bulk ?? {}, () => quirks.quirks, options.now ?? Date.now);
  const app = express();
  app.disable('x-powered-by');

  let origin = '';
  const base = (): string => `${origin}${FHIR_BASE_PATH}`;
  const tokenUrl = (): string => `${origin}/oauth2/token`;

  app.post('/oauth2/token', express.urlencoded({ extended: false }), (req, res, next) => {
    auth.token(req, res, tokenUrl()).catch(next);
  });

  app.get(`${FHIR_BASE_PATH}/.well-known/smart-configuration`, (_req, res) => {
    res.json({
      token_endpoint: tokenUrl(),
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['system/*.read', 'system/*.write'],
      capabilities: ['client-confidential-asymmetric', 'client-confidential-symmetric'],
    });
  });

  app.use(FHIR_BASE_PATH, express.json({ type: ['application/json', 'application/fhir+json'], limit: '50mb' }));

  const search = async (req: Request, res: Response, type: string): Promise<void> => {
    let params = queryParams(req);
    let cursor: string | undefined;
    const pageContext = params.get('-pageContext');
    if (pageContext !== null) {
      const state = quirks.takeExpired() ? undefined : opaquePages.get(pageContext);
      if (!state || state.type !== type) {
        return sendFhir(res, 400, badRequest('Unknown or expired page context'));
      }
      params = new URLSearchParams(state.query);
      cursor = state.cursor;
    } else if (params.has('_cursor')) {
      cursor = Buffer.from(params.get('_cursor') as string, 'base64url').toString('utf8');
    }
    const required = quirks.quirks.requirePatientFor ?? [];
    if (required.includes(type) && !PATIENT_SCOPE_PARAMS.some((p) => params.has(p))) {
      quirks.counters.refusedSystemSearch++;
      return sendFhir(
        res,
        400,
        badRequestAs('required', `A search for ${type} requires one of: patient, subject, _id`),
      );
    }
    const restricted = quirks.quirks.restrictedPatients ?? [];
    const named = ['patient', 'subject'].flatMap((p) => params.getAll(p)).map((v) => v.replace(/^Patient\//, ''));
    if (named.some((id) => restricted.includes(id))) {
      quirks.counters.refusedRestricted++;
      return sendFhir(res, 403, withText(forbidden, 'Access to this patient record is restricted'));
    }
    const requested = Math.min(Number(params.get('_count') ?? DEFAULT_PAGE_SIZE) || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const count = quirks.quirks.pageOverflow ? requested * quirks.quirks.pageOverflow : quirks.pageSize(requested);
    const query = toQueryRecord(
      params,
      (k) => k === '_cursor' || k === '_count' || k === '_summary' || k === '_total' || k.startsWith('-page'),
    );
    const searchRequest = parseSearchRequest(type as Resource['resourceType'], query);
    const summaryCount = params.get('_summary') === 'count';
    const wantsTotal = summaryCount || params.get('_total') === 'accurate' || params.get('_total') === 'estimate';
    const total = wantsTotal
      ? (repo.countMatches(searchRequest) ??
        (await repo.search({ ...searchRequest, count: 0, total: 'accurate' })).total)
      : undefined;
    const selfLink = { relation: 'self', url: `${base()}/${type}${params.size ? `?${params}` : ''}` };
    if (summaryCount) {
      // FHIR search: `_summary=count` answers the number of matches and no entries.
      return sendFhir(res, 200, { resourceType: 'Bundle', type: 'searchset', total, link: [selfLink] } as Bundle);
    }
    let page = repo.searchPage(searchRequest, count, cursor);
    if (!page) {
      // Sorted by something the indexes do not keep: Medplum's generic search with offsets.
      const offset = Number(cursor ?? 0);
      const all = await repo.search({ ...searchRequest, offset, count: count + 1 });
      const resources = (all.entry ?? []).map((e) => e.resource as Resource & { id: string });
      page = {
        resources: resources.slice(0, count),
        ...(resources.length > count ? { next: String(offset + count) } : {}),
      };
    }
    const links: Bundle['link'] = [selfLink];
    if (page.next !== undefined) {
      if (quirks.quirks.opaqueNextLinks) {
        const token = randomBytes(18).toString('base64url');
        const kept = new URLSearchParams(params);
        kept.delete('_cursor');
        opaquePages.set(token, { type, query: kept.toString(), cursor: page.next, count });
        quirks.counters.opaqueLinks++;
        const visible = new URLSearchParams([...kept].filter(([k]) => k === 'patient' || k === 'subject'));
        visible.set('-pageContext', token);
        visible.set('-pageDirection', 'NEXT');
        links.push({ relation: 'next', url: `${base()}/${type}?${visible}` });
      } else {
        const next = new URLSearchParams(params);
        next.set('_count', String(requested));
        next.set('_cursor', Buffer.from(page.next, 'utf8').toString('base64url'));
        links.push({ relation: 'next', url: `${base()}/${type}?${next}` });
      }
    }
    if (quirks.quirks.selfLoopingNextLink) links.splice(1, links.length, { relation: 'next', url: selfLink.url });
    const foreign = quirks.quirks.foreignNextLinkOrigin;
    if (foreign) for (const l of links) if (l.relation === 'next') l.url = l.url.replace(origin, foreign);
    const served = page.resources.map((resource, i) =>
      i === 0 ? hostileCopy(resource, type, quirks.quirks) : resource,
    );
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      ...(total !== undefined ? { total } : {}),
      link: links,
      ...(served.length
        ? {
            entry: served.map((resource) => ({
              fullUrl: `${base()}/${type}/${resource.id}`,
              resource,
              search: { mode: 'match' as const },
            })),
          }
        : {}),
    };
    for (const r of page.resources) {
      if ((r.meta?.tag ?? []).some((t) => t.code === 'sandbox-invalid')) quirks.counters.invalidServed++;
    }
    const text = JSON.stringify(bundle);
    if (quirks.takeMalformed()) {
      res
        .status(200)
        .type('application/fhir+json')
        .send(text.slice(0, Math.max(10, Math.floor(text.length / 2))));
      return;
    }
    if (quirks.quirks.oversizedPageMB) return void streamPadded(res, text, quirks.quirks.oversizedPageMB);
    if (quirks.quirks.gzipBombMB) return void sendBomb(res, text, quirks.quirks.gzipBombMB);
    res.status(200).type('application/fhir+json').send(text);
  };

  /** Bulk Data: kick-off at system, Patient or Group level, status polling and cancellation, file downloads. */
  const servedTypes = (): string[] =>
    Object.keys(SANDBOX_TYPES).filter((t) => !quirks.quirks.notOfferedTypes?.includes(t));
  const bulkRequest = (req: Request, res: Response, rel: string): void => {
    const status = /^\$export-status\/([0-9a-f]+)$/.exec(rel);
    if (status) {
      const jobId = status[1] as string;
      if (req.method === 'DELETE') {
        return bulkExports.cancel(jobId)
          ? void res.status(202).end()
          : sendFhir(res, 404, withText(notFound, 'no such export'));
      }
      const answer = bulkExports.status(
        jobId,
        (job, index) =>
          `${quirks.quirks.bulkFileOrigin ? `${quirks.quirks.bulkFileOrigin}${FHIR_BASE_PATH}` : base()}/$export-file/${job}/${index}`,
      );
      res.set(answer.headers);
      if (answer.status === 202) return void res.status(202).end();
      return answer.status === 200
        ? void res.status(200).json(answer.body)
        : sendFhir(res, answer.status, answer.body as OperationOutcome);
    }
    const file = /^\$export-file\/([0-9a-f]+)\/(\d+)$/.exec(rel);
    if (file && req.method === 'GET') {
      const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
      const got = bulkExports.file(file[1] as string, Number(file[2]), range ? Number(range[1]) : 0);
      if (!('body' in got))
        return sendFhir(res, got.status, withText(got.status === 416 ? badRequest('range') : notFound, got.text));
      res.status(got.status).type('application/fhir+ndjson').set('Content-Length', String(got.body.length));
      const delay = quirks.quirks.bulkChunkDelayMs;
      if (delay && got.cutAt === undefined) {
        void (async () => {
          for (let at = 0; at < got.body.length && !res.destroyed; at += 16_384) {
            res.write(got.body.subarray(at, at + 16_384));
            bulkExports.counters.slowChunks++;
            await new Promise((r) => setTimeout(r, delay));
          }
          res.end();
        })();
        return;
      }
      if (got.cutAt === undefined) return void res.end(got.body);
      // The quirk: half the file, then the connection drops before the announced length.
      res.write(got.body.subarray(0, got.cutAt), () => res.destroy());
      return;
    }
    const kick = /^(?:(Patient)\/|Group\/([A-Za-z0-9\-.]{1,64})\/)?\$export$/.exec(rel);
    if (!kick || (req.method !== 'GET' && req.method !== 'POST'))
      return sendFhir(res, 404, withText(notFound, `no operation ${rel}`));
    if (!/respond-async/.test(String(req.headers.prefer ?? '')))
      return sendFhir(
        res,
        400,
        badRequestAs('invalid', 'Bulk Data kick-off requires the header Prefer: respond-async'),
      );
    const level: ExportLevelRequest = kick[1]
      ? { level: 'patient' }
      : kick[2]
        ? { level: 'group', groupId: kick[2] }
        : { level: 'system' };
    const started = bulkExports.kickOff(
      level,
      queryParams(req),
      servedTypes(),
      auth.auth.mode !== 'open',
      `${origin}${req.originalUrl}`,
    );
    if (!started.ok) return sendFhir(res, started.status, started.outcome);
    res.set('Content-Location', `${base()}/$export-status/${started.jobId}`);
    res.status(202).end();
  };

  app.use(FHIR_BASE_PATH, async (req: Request, res: Response, next: NextFunction) => {
    try {
      const rel = req.path.replace(/^\/+|\/+$/g, '');
      if (req.method === 'GET' && rel === 'metadata') {
        return sendFhir(
          res,
          200,
          capabilityStatement({
            baseUrl: base(),
            tokenUrl:
              auth.auth.mode === 'client_credentials' || auth.auth.mode === 'smart-backend' ? tokenUrl() : undefined,
            omitLastUpdatedFor: quirks.quirks.omitLastUpdatedFor,
            omitTypes: quirks.quirks.notOfferedTypes,
          }),
        );
      }
      if (!auth.check(req, res)) return;
      const intercepted = quirks.interceptStatus();
      if (quirks.quirks.delayMs) {
        quirks.counters.delayed++;
        await new Promise((r) => setTimeout(r, quirks.quirks.delayMs));
      }
      if (intercepted) {
        if (intercepted.retryAfter !== undefined) res.set('Retry-After', String(intercepted.retryAfter));
        return sendFhir(
          res,
          intercepted.status,
          intercepted.status === 429
            ? withText(tooManyRequests, 'Injected 429')
            : withText(serverError(new Error('injected')), `Injected ${intercepted.status}`),
        );
      }
      if (rel.includes('$export')) return bulkRequest(req, res, rel);
      if (req.method === 'GET' && /^[A-Z][A-Za-z]+$/.test(rel)) {
        if (!servedTypes().includes(rel))
          return sendFhir(res, 404, withText(notFound, `Resource type ${rel} is not supported`));
        return await search(req, res, rel);
      }
      const params = queryParams(req);
      const [result, resource] = await router.handleRequest(
        {
          method: req.method as HttpMethod,
          url: `${rel}${params.size ? `?${params}` : ''}`,
          pathname: '',
          body: req.body,
          params: {},
          query: Object.fromEntries(params),
          headers: req.headers,
        },
        repo,
      );
      const status = getStatus(result);
      if (resource) {
        if (resource.meta?.versionId) res.set('ETag', `W/"${resource.meta.versionId}"`);
        if (resource.meta?.lastUpdated) res.set('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
        if (status === 201 && resource.id)
          res.set('Location', `${base()}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`);
        return sendFhir(res, status, resource);
      }
      return sendFhir(res, status, result);
    } catch (err) {
      next(err);
    }
  });

  // express 5 answers a thrown error with an HTML page: answer an OperationOutcome instead.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if ((err as { type?: string }).type === 'entity.parse.failed') {
      return sendFhir(res, 400, badRequestAs('structure', 'Request body is not valid JSON'));
    }
    const result = err instanceof OperationOutcomeError ? err.outcome : normalizeOperationOutcome(err);
    const status = err instanceof OperationOutcomeError ? getStatus(result) : 500;
    sendFhir(res, status >= 400 ? status : 500, result);
  });

  const { server, port } = await listen(app, options.port ?? 0, options.host ?? '127.0.0.1');
  origin = `http://${options.host ?? '127.0.0.1'}:${port}`;
  return {
    baseUrl: base(),
    tokenUrl: tokenUrl(),
    port,
    repo,
    auth: auth.auth,
    counters: () => quirks.counters,
    bulkCounters: () => bulkExports.counters,
    setQuirks: (q) => quirks.reset(q),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
