/**
 * The HTTP API (express 5) under /api. Health, readiness, metrics and the
 * OpenAPI document are open; every other route needs an API key or bearer
 * token. Errors are OperationOutcomes without stack traces or patient data.
 */
import express, { type Request, type Response } from 'express';
import type { AppConfig } from '../config/types';
import type { Store } from '../store/store';
import { assertSchemaCurrent } from '../store/migrate';
import type { SyncRunner } from '../sync/runner';
import type { PatientIndicators } from '../indicators/compute';
import { badRequest, notFoundOutcome } from '../errors';
import { retryDeadLetter } from '../sync/retry';
import { loadProgrammeReport, loadProgrammeSummary } from '../sync/programme';
import { requireApiKey } from './auth';
import { errorMiddleware, sendOutcome } from './errors';
import { logger } from '../log/logger';
import type { Metrics } from './metrics';
import { OPENAPI } from './openapi';
import { SyncBusyError } from '../sync/run';
import type { EngagementModel } from '../mapping/model';
import { mountDashboard } from './dashboard';
import { patientOverview, runView } from './views';
import { patientsNamedBy } from '../mapping/patient-of';
import { findUnsafeValues, hasForbiddenCharacter, MAX_JSON_DEPTH } from '../validation/json-safety';
import { publishedKeys } from '../fhir/keys';
import { formatReport, REPORT_FORMATS } from '../indicators/programme-report-format';

export interface ApiOptions {
  store: Store;
  config: AppConfig;
  runner: SyncRunner;
  metrics: Metrics;
  apiKeys: string[];
  /** Digests (hex SHA-256) of the keys fhir-engage made and stored (FHIR_ENGAGE_API_KEY unset). */
  storedKeyDigests?: string[];
}

/** A bad query parameter: its message is ours (it names the parameter, never echoes the value). */
class BadQuery extends Error {}

/** Request bodies are small JSON documents (a retry, a dismissal, a search): anything larger is refused with 413. */
export const BODY_LIMIT = '64kb';

const param = (req: Request, name: string): string => String((req.params as Record<string, string>)[name]);
const query = (req: Request, name: string): string | undefined => {
  const v = (req.query as Record<string, unknown>)[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
};

/** Years a date parameter may name: what PostgreSQL's timestamptz and every report can hold and show. */
const FIRST_YEAR = 1;
const LAST_YEAR = 9999;

function instant(req: Request, name: string): Date | undefined {
  const v = query(req, name);
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new BadQuery(`${name} must be an ISO date or instant`);
  const year = new Date(t).getUTCFullYear();
  if (year < FIRST_YEAR || year > LAST_YEAR)
    throw new BadQuery(`${name} must be a date from year ${FIRST_YEAR} to ${LAST_YEAR}`);
  return new Date(t);
}

/**
 * Query parameters and JSON bodies with a character no text field may hold (a NUL, another control
 * character, an unpaired surrogate: the store refuses them and they were 500s) or nested past
 * MAX_JSON_DEPTH: 400 naming the parameter or the body's element, never echoing the value.
 */
function rejectUnsafeInput(req: Request, _res: Response, next: express.NextFunction): void {
  for (const [name, value] of Object.entries(req.query as Record<string, unknown>)) {
    const [found] = findUnsafeValues(name, value, 1);
    if (found || hasForbiddenCharacter(name))
      return next(
        new BadQuery(
          `the query parameter ${found ? found.expression.replace(/\[\d+\]$/, '') : '(name)'} contains a character that is not allowed (a control character or an unpaired surrogate)`,
        ),
      );
  }
  const [inBody] = req.body === undefined ? [] : findUnsafeValues('body', req.body, 1);
  if (inBody) {
    return next(
      new BadQuery(
        inBody.kind === 'depth'
          ? `the request body nests deeper than ${MAX_JSON_DEPTH} levels`
          : `${inBody.expression} in the request body contains a character that is not allowed (a control character or an unpaired surrogate)`,
      ),
    );
  }
  next();
}

/** `?limit=`: a whole number from 1 to `max`, or `fallback` when absent; anything else is a 400 (not silently a default). */
function limitOf(req: Request, fallback: number, max: number): number {
  const v = query(req, 'limit');
  if (v === undefined) return fallback;
  const n = /^\d{1,7}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= max)) throw new BadQuery(`limit must be a whole number from 1 to ${max}`);
  return n;
}

/** A dead letter's id: a positive whole number. */
function deadLetterId(req: Request): number {
  const id = Number(param(req, 'id'));
  if (!/^\d{1,15}$/.test(param(req, 'id')) || !Number.isSafeInteger(id) || id < 1)
    throw new BadQuery('the dead letter id must be a positive integer');
  return id;
}

/** The API's paths (from its OpenAPI description) and the methods each takes, HEAD with every GET. */
const ROUTES = Object.entries((OPENAPI as { paths: Record<string, Record<string, unknown>> }).paths).map(([p, ops]) => {
  const methods = Object.keys(ops).map((m) => m.toUpperCase());
  return {
    path: new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
    methods: methods.includes('GET') ? [...methods, 'HEAD'] : methods,
  };
});

export function createApiApp(options: ApiOptions): express.Express {
  const { store, config, runner, metrics } = options;
  const app = express();
  app.disable('x-powered-by');
  // X-Forwarded-For names the client only when it comes from a proxy the operator trusts.
  app.set('trust proxy', config.service.trustedProxies?.length ? config.service.trustedProxies : false);
  app.use('/api', (_req, res, next) => {
    // Every API answer may carry patient data: never cached, never sniffed or framed.
    res.set({
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
    });
    next();
  });
  const api = express.Router();

  api.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  api.get('/ready', async (_req, res) => {
    try {
      await store.ping();
      await assertSchemaCurrent(store.driver);
      res.json({ status: 'ready', store: store.kind });
    } catch {
      sendOutcome(
        res,
        {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'transient',
              details: { text: 'the store is not reachable or its schema is not current' },
            },
          ],
        },
        503,
      );
    }
  });
  api.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  api.get('/openapi.json', (_req, res) => {
    res.json(OPENAPI);
  });

  // The key is checked before a body is read: a client without one is told 401 whatever it sends.
  api.use(requireApiKey(options.apiKeys, options.storedKeyDigests));
  api.use(express.json({ limit: BODY_LIMIT }));
  api.use(rejectUnsafeInput);
  api.param('id', (req, _res, next, value: string) => {
    // Run ids, patient ids, source ids, dead-letter ids: FHIR id characters only (no NUL, no odd encodings into SQL).
    next(/^[A-Za-z0-9\-.]{1,64}$/.test(value) ? undefined : new BadQuery('the id in the path is not a valid id'));
  });

  api.get('/sources', async (_req, res) => {
    const recent = await store.listRuns({ limit: 200 });
    res.json({
      sources: config.sources.map((s) => {
        const last = recent.find((r) => r.sourceId === s.id);
        return {
          id: s.id,
          name: s.name,
          baseUrl: s.baseUrl,
          authType: s.auth.type,
          mode: s.mode,
          resourceTypes: s.resourceTypes,
          schedule: s.schedule ?? null,
          writeBack: s.writeBack,
          writeTarget: s.writeTarget?.baseUrl ?? null,
          running: runner.isRunning(s.id),
          pullMethod: s.pull.method,
          nextRun: runner.nextRun(s.id),
          lastRun: last ? runView(last) : null,
        };
      }),
    });
  });

  api.post('/sources/:id/sync', async (req, res) => {
    const id = param(req, 'id');
    // The id is not echoed back: a request's input never appears in an error.
    if (!config.sources.some((s) => s.id === id)) return sendOutcome(res, notFoundOutcome('no such source'));
    try {
      const { runId } = await runner.trigger(id);
      res
        .status(202)
        .location(`/api/runs/${runId}`)
        .json({ runId, status: 'running', run: `/api/runs/${runId}` });
    } catch (err) {
      if (err instanceof SyncBusyError) return sendOutcome(res, err.outcome);
      throw err;
    }
  });

  api.get('/runs', async (req, res) => {
    const limit = limitOf(req, 50, 500);
    res.json({ runs: await store.listRuns({ sourceId: query(req, 'source'), limit }) });
  });

  api.get('/runs/:id', async (req, res) => {
    const run = await store.getRun(param(req, 'id'));
    if (!run) {
      // A run this process started that ended before the store could record it (the store was away).
      const live = runner.progressOf(param(req, 'id'));
      if (live)
        return res.json({
          id: live.runId,
          sourceId: live.sourceId,
          status: live.stage === 'finished' ? 'failed' : 'running',
          recorded: false,
          ...(live.failedUnrecorded ? { error: { message: live.failedUnrecorded } } : {}),
          progress: live,
        });
      return sendOutcome(res, notFoundOutcome('no such run'));
    }
    // `view` is what the dashboard shows; `progress` is live while the run goes on in this process.
    res.json({ ...run, view: runView(run), progress: runner.progressOf(run.id) ?? null });
  });

  /**
   * The access log: one row per patient (and source) whose data a request returns, naming the key's
   * id, the route (its pattern, not the URL) and the patient's id; never a name or an identifier
   * value. It fails closed: patient data is sent only once its rows are stored, and a request whose
   * rows cannot be stored gets 503 and none of the data. Sources and patients are those of the data
   * returned, not of the query. A refused request (4xx) is logged after the fact with no patient.
   */
  const sendAudited = async (
    req: Request,
    res: Response,
    accessed: { sourceId: string | null; patientId: string | null }[],
    send: () => void,
  ): Promise<void> => {
    const unique = [...new Map(accessed.map((a) => [`${a.sourceId}|${a.patientId}`, a])).values()];
    const rows = (unique.length ? unique : [{ sourceId: null, patientId: null }]).map((a) => ({
      ...accessRow(req, res, 200),
      ...a,
    }));
    res.locals.audited = true;
    try {
      await store.recordAccesses(rows);
    } catch (err) {
      logger().error(
        { err, event: 'access-log-failed' },
        'could not record an access to patient data: nothing was returned',
      );
      return sendOutcome(
        res,
        {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'transient',
              details: {
                text: 'the access could not be recorded in the access log, so no patient data is returned: try again later',
              },
            },
          ],
        },
        503,
      );
    }
    send();
  };
  const accessRow = (req: Request, res: Response, status: number) => ({
    keyId: String(res.locals.keyId),
    client: req.ip ?? req.socket.remoteAddress ?? null,
    method: req.method,
    route: `/api${req.route?.path ?? ''}`,
    status,
    sourceId: null as string | null,
    patientId: null as string | null,
  });
  const audited = (req: Request, res: Response, next: express.NextFunction): void => {
    res.on('finish', () => {
      if (res.locals.audited) return;
      store
        .recordAccess(accessRow(req, res, res.statusCode))
        .catch((err: unknown) =>
          logger().error({ err, event: 'access-log-failed' }, 'could not record a refused request for patient data'),
        );
    });
    next();
  };

  api.get('/patients/:id/engagement', audited, async (req, res) => {
    const rows = await store.getComputations(param(req, 'id'), query(req, 'source'));
    if (rows.length === 0) return sendOutcome(res, notFoundOutcome('no indicators for this patient'));
    const body = {
      results: rows.map((r) => {
        const ind = r.indicators as PatientIndicators;
        return {
          sourceId: r.sourceId,
          patientId: r.patientId,
          asOf: r.computedAsOf,
          tier: ind.engagement.tier,
          score: ind.engagement.score,
          why: ind.engagement.why,
          indicators: ind,
        };
      }),
    };
    await sendAudited(
      req,
      res,
      rows.map((r) => ({ sourceId: r.sourceId, patientId: r.patientId })),
      () => res.json(body),
    );
  });

  api.get('/patients/:id/indicators', audited, async (req, res) => {
    const patientId = param(req, 'id');
    const history = await store.indicatorHistory({
      patientId,
      sourceId: query(req, 'source'),
      indicator: query(req, 'name'),
      from: instant(req, 'from'),
      to: instant(req, 'to'),
    });
    const body = {
      history: history.map((h) => ({
        sourceId: h.sourceId,
        indicator: h.indicator,
        value: h.value,
        asOf: h.asOf,
        runId: h.runId,
      })),
    };
    await sendAudited(
      req,
      res,
      history.length ? history.map((h) => ({ sourceId: h.sourceId, patientId })) : [{ sourceId: null, patientId }],
      () => res.json(body),
    );
  });

  api.get('/programme', async (req, res) => {
    const sourceId = query(req, 'source');
    const summary = await loadProgrammeSummary(store, sourceId);
    // With a period: every programme figure over it (the `report` command's data), and the recorded history in it.
    const from = instant(req, 'from');
    const to = instant(req, 'to');
    if (!from && !to) return res.json(summary);
    const end = to ?? new Date();
    const start = from ?? new Date(end.getTime() - 30 * 86_400_000);
    if (start >= end) throw new BadQuery('from must be before to');
    const report = await loadProgrammeReport(store, config, { from: start, to: end, sourceId });
    res.json({ summary, report, history: await store.listProgrammeHistory(start, end, sourceId) });
  });

  api.post('/patients/search', audited, async (req, res) => {
    // The identifier travels in the body, never in a URL (URLs end up in logs and browser history).
    const text =
      typeof (req.body as { identifier?: unknown })?.identifier === 'string'
        ? (req.body as { identifier: string }).identifier.trim()
        : '';
    if (!text || text.length > 200)
      throw new BadQuery('identifier must be a string of 1 to 200 characters: "value" or "system|value"');
    const bar = text.indexOf('|');
    const matches = await store.patientsByIdentifier(
      bar > 0 ? text.slice(0, bar) : undefined,
      bar >= 0 ? text.slice(bar + 1) : text,
    );
    await sendAudited(req, res, matches, () => res.json({ matches }));
  });

  api.get('/patients/:id/overview', audited, async (req, res) => {
    const patientId = param(req, 'id');
    const sourceId = query(req, 'source') ?? (await store.getComputations(patientId))[0]?.sourceId;
    const stored = sourceId ? await store.getModel(sourceId, patientId) : undefined;
    if (!sourceId || !stored?.indicators) return sendOutcome(res, notFoundOutcome('no indicators for this patient'));
    const [history, written, events] = await Promise.all([
      store.indicatorHistory({ sourceId, patientId }),
      store.listWrittenForPatients(sourceId, [patientId]),
      store.listTaskEvents(sourceId),
    ]);
    const ours = new Set(written.map((w) => w.identifierValue));
    res.set('Cache-Control', 'no-store');
    const body = patientOverview({
      sourceId,
      patientId,
      asOf: stored.computedAsOf ?? new Date(),
      model: stored.model as EngagementModel,
      indicators: stored.indicators as PatientIndicators,
      history,
      written,
      taskEvents: events.filter((e) => ours.has(e.identifierValue)),
    });
    await sendAudited(req, res, [{ sourceId, patientId }], () => res.json(body));
  });

  api.get('/programme/report', async (req, res) => {
    const format = query(req, 'format') ?? 'md';
    if (!REPORT_FORMATS.includes(format)) throw new BadQuery(`format must be one of ${REPORT_FORMATS.join(', ')}`);
    const end = instant(req, 'to') ?? new Date();
    const start = instant(req, 'from') ?? new Date(end.getTime() - 30 * 86_400_000);
    if (start >= end) throw new BadQuery('from must be before to');
    const sourceId = query(req, 'source');
    const report = await loadProgrammeReport(store, config, { from: start, to: end, sourceId });
    const type = format === 'json' ? 'application/json' : format === 'csv' ? 'text/csv' : 'text/markdown';
    res.set(
      'Content-Disposition',
      `attachment; filename="programme-report-${start.toISOString().slice(0, 10)}-${end.toISOString().slice(0, 10)}.${format}"`,
    );
    res.type(type).send(formatReport(report, format, sourceId ? 'one source' : 'all sources'));
  });

  api.get('/access-log', async (req, res) => {
    const limit = limitOf(req, 500, 5000);
    res.json({
      entries: await store.listAccess({
        patientId: query(req, 'patient'),
        keyId: query(req, 'key'),
        from: instant(req, 'from'),
        to: instant(req, 'to'),
        limit,
      }),
    });
  });

  // Payloads are patients' resources: reading them is logged.
  api.get('/dead-letters', audited, async (req, res) => {
    const limit = limitOf(req, 100, 1000);
    const withPayload = query(req, 'includePayload') === 'true';
    const letters = await store.listDeadLetters({
      sourceId: query(req, 'source'),
      runId: query(req, 'run'),
      resourceType: query(req, 'type'),
      stage: query(req, 'stage'),
      limit,
    });
    const body = { deadLetters: letters.map((d) => ({ ...d, payload: withPayload ? d.payload : undefined })) };
    // Each returned payload's patients, under the dead letter's own source.
    const accessed = withPayload
      ? letters.flatMap((d) => patientsNamedBy(d.payload).map((patientId) => ({ sourceId: d.sourceId, patientId })))
      : [];
    await sendAudited(
      req,
      res,
      accessed.length
        ? accessed
        : [...new Set(letters.map((d) => d.sourceId))].map((sourceId) => ({ sourceId, patientId: null })),
      () => res.json(body),
    );
  });

  api.post('/dead-letters/:id/retry', async (req, res) => {
    res.json(await retryDeadLetter(store, config, deadLetterId(req)));
  });

  api.post('/dead-letters/:id/dismiss', async (req, res) => {
    const id = deadLetterId(req);
    const reason = (req.body as { reason?: unknown } | undefined)?.reason;
    if (typeof reason !== 'string' || reason.trim().length < 3 || reason.length > 500)
      throw new BadQuery('reason must be a string of 3 to 500 characters (it is kept for audit)');
    if (!(await store.dismissDeadLetter(id, reason.trim(), String(res.locals.keyId ?? 'unknown'))))
      return sendOutcome(res, notFoundOutcome('no open dead letter with this id'));
    res.json({ id, dismissed: true });
  });

  // The public keys of SMART Backend Services registrations (a JWKS URL), open like any JWKS.
  app.get('/.well-known/jwks.json', async (_req, res, next) => {
    try {
      res.set('Cache-Control', 'public, max-age=300').json(await publishedKeys(config.sources, config.keysDir));
    } catch (err) {
      next(err);
    }
  });
  app.use('/api', api);
  mountDashboard(app);
  app.use((req: Request, res: Response) => {
    // A known path asked with a method it does not take is 405 with the methods it does (RFC 9110 §15.5.6), not "no such route".
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
  });
  app.use((err: unknown, req: Request, res: Response, next: express.NextFunction) => {
    if (err instanceof BadQuery) return sendOutcome(res, badRequest(err.message));
    errorMiddleware(err, req, res, next);
  });
  return app;
}
