/**
 * The HTTP API (express 5) under /api. Health, readiness, metrics and the
 * OpenAPI document are open; every other route needs an API key or bearer
 * token. Errors are OperationOutcomes without stack traces or patient data.
 * The routes live by resource in src/api/routes/, registered in routes/index.ts.
 */
import express, { type Request, type Response } from 'express';
import type { AppConfig } from '../config/types';
import { badRequest, notFoundOutcome } from '../errors';
import { publishedKeys } from '../fhir/keys';
import type { Store } from '../store/store';
import type { SyncRunner } from '../sync/runner';
import { accessAudit } from './access-audit';
import { authenticate } from './auth';
import { authorize } from './permissions';
import { ssoRoutes } from './sso';
import { mountDashboard } from './dashboard';
import { errorMiddleware, sendOutcome } from './errors';
import type { Metrics } from './metrics';
import { OPENAPI } from './openapi';
import { messagingHooks } from './messaging-hooks';
import { formsOf } from '../mapping/forms';
import { questionnaireRoutes } from './questionnaires';
import { surveyPage, type SurveyPageOptions } from './survey-page';
import type { RouteContext } from './openapi-parts';
import { BadQuery, checkPathId, rejectUnsafeInput } from './params';
import { ROUTE_MODULES } from './routes';

export interface ApiOptions {
  store: Store;
  config: AppConfig;
  runner: SyncRunner;
  metrics: Metrics;
  apiKeys: string[];
  /** The survey page's clock and submissions (the sandbox's simulated days; tests). */
  survey?: Pick<SurveyPageOptions, 'now' | 'onSubmission'>;
}

/** Request bodies are small JSON documents (a retry, a dismissal, a search): anything larger is refused with 413. */
export const BODY_LIMIT = '64kb';

/** The API's paths (from its OpenAPI description) and the methods each takes, HEAD with every GET. */
const ROUTES = Object.entries(OPENAPI.paths).map(([p, ops]) => {
  const methods = Object.keys(ops).map((m) => m.toUpperCase());
  return {
    path: new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
    methods: methods.includes('GET') ? [...methods, 'HEAD'] : methods,
  };
});

/** The API's path patterns as written in its OpenAPI description, and how to match a request's path. */
const PATTERNS = Object.keys(OPENAPI.paths).map((pattern) => ({
  pattern,
  regex: new RegExp(`^${pattern.replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
}));

/** Every API answer may carry patient data: never cached, never sniffed or framed. */
function noStore(_req: Request, res: Response, next: express.NextFunction): void {
  res.set({
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  });
  next();
}

/** A known path asked with a method it does not take is 405 with the methods it does (RFC 9110 §15.5.6), not "no such route". */
function notFoundOrNotAllowed(req: Request, res: Response): void {
  const route = ROUTES.find((r) => r.path.test(req.path));
  if (!route) return sendOutcome(res, notFoundOutcome('no such route'));
  res.set('Allow', route.methods.join(', '));
  sendOutcome(
    res,
    {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'not-supported',
          details: { text: `method not allowed here; this path takes ${route.methods.join(', ')}` },
        },
      ],
    },
    405,
  );
}

/**
 * What patients and the outside world reach without a key: the survey page (its own app under /s) and
 * the Questionnaires it serves (/fhir/Questionnaire). Also served by `npm start` while its first syncs run.
 */
export function patientFacing(store: Store, config: AppConfig, survey?: ApiOptions['survey']): express.Router {
  const router = express.Router();
  router.use('/fhir', questionnaireRoutes(formsOf(config.mappingsDir)));
  router.use('/s', surveyPage({ store, config, ...survey }));
  return router;
}

export function createApiApp(options: ApiOptions): express.Express {
  const { store, config, runner, metrics } = options;
  const app = express();
  app.disable('x-powered-by');
  // X-Forwarded-For names the client only when it comes from a proxy the operator trusts.
  app.set('trust proxy', config.service.trustedProxies?.length ? config.service.trustedProxies : false);
  app.use('/api', noStore);
  const api = express.Router();
  const ctx: RouteContext = { store, config, runner, metrics, audit: accessAudit(store), document: OPENAPI };
  for (const m of ROUTE_MODULES) if (m.open) m.register(api, ctx);
  // The key is checked before a body is read: a client without one is told 401 whatever it sends.
  api.use(authenticate({ envKeys: options.apiKeys, store, ...(config.sso ? { sso: config.sso } : {}) }));
  api.use(authorize(PATTERNS));
  api.use(express.json({ limit: BODY_LIMIT }));
  api.use(rejectUnsafeInput);
  api.param('id', checkPathId);
  for (const m of ROUTE_MODULES) if (!m.open) m.register(api, ctx);

  // The public keys of SMART Backend Services registrations (a JWKS URL), open like any JWKS.
  app.get('/.well-known/jwks.json', async (_req, res, next) => {
    try {
      res.set('Cache-Control', 'public, max-age=300').json(await publishedKeys(config.sources, config.keysDir));
    } catch (err) {
      next(err);
    }
  });
  app.use('/api', api);
  // Signing in with the organisation's identity provider (the callback comes back from the browser).
  if (config.sso) app.use('/auth', ssoRoutes(store, config.sso));
  // Providers' callbacks and patients' unsubscribe links: outside /api and its key (signed instead).
  app.use(messagingHooks(store, config));
  app.use(patientFacing(store, config, options.survey));
  mountDashboard(app);
  app.use(notFoundOrNotAllowed);
  app.use((err: unknown, req: Request, res: Response, next: express.NextFunction) => {
    if (err instanceof BadQuery) return sendOutcome(res, badRequest(err.message));
    errorMiddleware(err, req, res, next);
  });
  return app;
}
