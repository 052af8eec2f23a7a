/**
 * The FHIR API under /fhir/R4: metadata open, everything else behind the auth mode, with injected
 * faults (status codes, delays) first; searches and Bulk Data answered by their modules, every other
 * interaction (read, vread, create, conditional create, update with If-Match, transaction, batch) by
 * Medplum's FhirRouter.
 */
import {
  getStatus,
  normalizeOperationOutcome,
  OperationOutcomeError,
  serverError,
  tooManyRequests,
} from '@medplum/core';
import { notFound } from '@medplum/core';
import type { HttpMethod } from '@medplum/fhir-router';
import express, { type NextFunction, type Request, type Response } from 'express';
import { capabilityStatement, SANDBOX_TYPES } from '../capability';
import { bulkRequest } from './bulk';
import {
  badRequestAs,
  FHIR_BASE_PATH,
  queryParams,
  sendFhir,
  withText,
  type SandboxContext,
  type SandboxRoutes,
} from './context';
import { search } from './search';

function metadata(res: Response, ctx: SandboxContext): void {
  const { auth, quirks } = ctx;
  sendFhir(
    res,
    200,
    capabilityStatement({
      baseUrl: ctx.base(),
      tokenUrl:
        auth.auth.mode === 'client_credentials' || auth.auth.mode === 'smart-backend' ? ctx.tokenUrl() : undefined,
      omitLastUpdatedFor: quirks.quirks.omitLastUpdatedFor,
      omitTypes: quirks.quirks.notOfferedTypes,
    }),
  );
}

/** A fault the quirks inject before the request is served (a status, after an optional delay); true when sent. */
async function injectedFault(res: Response, ctx: SandboxContext): Promise<boolean> {
  const { quirks } = ctx;
  const intercepted = quirks.interceptStatus();
  if (quirks.quirks.delayMs) {
    quirks.counters.delayed++;
    await new Promise((r) => setTimeout(r, quirks.quirks.delayMs));
  }
  if (!intercepted) return false;
  if (intercepted.retryAfter !== undefined) res.set('Retry-After', String(intercepted.retryAfter));
  sendFhir(
    res,
    intercepted.status,
    intercepted.status === 429
      ? withText(tooManyRequests, 'Injected 429')
      : withText(serverError(new Error('injected')), `Injected ${intercepted.status}`),
  );
  return true;
}

/** Everything but searches and Bulk Data, by Medplum's FhirRouter over the repository. */
async function routed(req: Request, res: Response, ctx: SandboxContext, rel: string): Promise<void> {
  const params = queryParams(req);
  const [result, resource] = await ctx.router.handleRequest(
    {
      method: req.method as HttpMethod,
      url: `${rel}${params.size ? `?${params}` : ''}`,
      pathname: '',
      body: req.body,
      params: {},
      query: Object.fromEntries(params),
      headers: req.headers,
    },
    ctx.repo,
  );
  const status = getStatus(result);
  if (!resource) return sendFhir(res, status, result);
  if (resource.meta?.versionId) res.set('ETag', `W/"${resource.meta.versionId}"`);
  if (resource.meta?.lastUpdated) res.set('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
  if (status === 201 && resource.id)
    res.set('Location', `${ctx.base()}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`);
  sendFhir(res, status, resource);
}

export const fhirRoutes: SandboxRoutes = {
  register(app, ctx) {
    app.use(FHIR_BASE_PATH, express.json({ type: ['application/json', 'application/fhir+json'], limit: '50mb' }));
    app.use(FHIR_BASE_PATH, async (req: Request, res: Response, next: NextFunction) => {
      try {
        const rel = req.path.replace(/^\/+|\/+$/g, '');
        if (req.method === 'GET' && rel === 'metadata') return metadata(res, ctx);
        if (!ctx.auth.check(req, res)) return;
        if (await injectedFault(res, ctx)) return;
        if (rel.includes('$export')) return bulkRequest(req, res, ctx, rel);
        if (req.method === 'GET' && /^[A-Z][A-Za-z]+$/.test(rel)) {
          if (!ctx.servedTypes(Object.keys(SANDBOX_TYPES)).includes(rel))
            return sendFhir(res, 404, withText(notFound, `Resource type ${rel} is not supported`));
          return await search(req, res, ctx, rel);
        }
        await routed(req, res, ctx, rel);
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
  },
};
