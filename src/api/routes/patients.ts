/** One patient's data: every route here returns patient data, so every request is in the access log. */
import { notFoundOutcome } from '../../errors';
import type { PatientIndicators } from '../../indicators/compute';
import type { EngagementModel } from '../../mapping/model';
import { sendOutcome } from '../errors';
import { body, errors, json, p, q, secured, type RouteModule } from '../openapi-parts';
import { BadQuery, instant, param, query } from '../params';
import { mayRead, principalOf, scopeOf } from '../identity';
import { reply } from '../reply';
import { EngagementResponse, IndicatorHistoryResponse, PatientMatches, PatientOverview } from '../schemas/patients';
import { patientOverview } from '../views';
import { patientHeader } from '../patient-header';
import { programmesOf } from '../../config/programme-settings';
import type { Patient, Task } from '@medplum/fhirtypes';
import type { AppConfig } from '../../config/types';
import type { Store } from '../../store/store';

/** Everything the patient's page shows, from the stored model and what fhir-engage wrote and read back. */
async function loadOverview(
  store: Store,
  config: AppConfig,
  sourceId: string,
  patientId: string,
  stored: { model: unknown; indicators: unknown; computedAsOf: Date | null },
): Promise<ReturnType<typeof patientOverview>> {
  const [history, written, events, patient, spells] = await Promise.all([
    store.indicatorHistory({ sourceId, patientId }),
    store.listWrittenForPatients(sourceId, [patientId]),
    store.listTaskEvents(sourceId),
    store.getResource(sourceId, 'Patient', patientId),
    store.openEnrolments(sourceId, [patientId]),
  ]);
  const source = config.sources.find((s) => s.id === sourceId);
  const names = new Map((source ? programmesOf(source) : []).map((p) => [p.id, p.name]));
  const programmes = (spells.get(patientId) ?? []).map((s) => names.get(s.programmeId) ?? s.programmeId);
  const ours = new Set(written.map((w) => w.identifierValue));
  const tasks = new Map<string, Task>();
  for (const w of written)
    if (w.resourceType === 'Task' && w.serverId) {
      const stored = await store.getResource(sourceId, 'Task', w.serverId);
      if (stored) tasks.set(w.serverId, stored.resource as unknown as Task);
    }
  return patientOverview({
    sourceId,
    patientId,
    asOf: stored.computedAsOf ?? new Date(),
    model: stored.model as EngagementModel,
    indicators: stored.indicators as PatientIndicators,
    history,
    written,
    taskEvents: events.filter((e) => ours.has(e.identifierValue)),
    header: patientHeader(patient?.resource as Patient | undefined, programmes, new Date()),
    tasks,
  });
}

export const patientRoutes: RouteModule = {
  paths: {
    '/api/patients/{id}/engagement': {
      get: {
        summary: 'Current indicators, tier and why',
        security: secured,
        parameters: [p('id'), q('source', 'source id')],
        responses: { '200': json('engagement', EngagementResponse), ...errors },
      },
    },
    '/api/patients/{id}/indicators': {
      get: {
        summary: 'Indicator history',
        security: secured,
        parameters: [
          p('id'),
          q('name', 'indicator name, e.g. engagement.score'),
          q('from', 'ISO instant'),
          q('to', 'ISO instant'),
          q('source', 'source id'),
        ],
        responses: { '200': json('history', IndicatorHistoryResponse), ...errors },
      },
    },
    '/api/patients/search': {
      post: {
        summary: 'Stored patients with an identifier (sent in the body, never in a URL)',
        security: secured,
        requestBody: body('"system|value" or "value"', {
          type: 'object',
          required: ['identifier'],
          properties: { identifier: { type: 'string', minLength: 1, maxLength: 200 } },
        }),
        responses: { '200': json('matching patients', PatientMatches), ...errors },
      },
    },
    '/api/patients/{id}/overview': {
      get: {
        summary:
          'The dashboard’s patient view: tier and why, score trends with bands, upcoming appointments and their reminders, what was written and its status',
        security: secured,
        parameters: [p('id'), q('source', 'source id')],
        responses: { '200': json('overview', PatientOverview), ...errors },
      },
    },
  },
  register(api, { store, audit, config }) {
    api.get('/patients/:id/engagement', audit.audited, async (req, res) => {
      const rows = await store.getComputations(param(req, 'id'), scopeOf(req, res));
      if (rows.length === 0) return sendOutcome(res, notFoundOutcome('no indicators for this patient'));
      const results = rows.map((r) => {
        const ind = r.indicators as PatientIndicators;
        const { tier, score, why } = ind.engagement;
        return {
          sourceId: r.sourceId,
          patientId: r.patientId,
          asOf: r.computedAsOf,
          tier,
          score,
          why,
          indicators: ind,
        };
      });
      const accessed = rows.map((r) => ({ sourceId: r.sourceId, patientId: r.patientId }));
      await audit.send(req, res, accessed, () => reply(res, EngagementResponse, { results }));
    });

    api.get('/patients/:id/indicators', audit.audited, async (req, res) => {
      const patientId = param(req, 'id');
      const history = await store.indicatorHistory({
        patientId,
        sourceId: scopeOf(req, res),
        indicator: query(req, 'name'),
        from: instant(req, 'from'),
        to: instant(req, 'to'),
      });
      const body = {
        history: history.map(({ sourceId, indicator, value, asOf, runId }) => ({
          sourceId,
          indicator,
          value,
          asOf,
          runId,
        })),
      };
      const accessed = history.length
        ? history.map((h) => ({ sourceId: h.sourceId, patientId }))
        : [{ sourceId: null, patientId }];
      await audit.send(req, res, accessed, () => reply(res, IndicatorHistoryResponse, body));
    });

    api.post('/patients/search', audit.audited, async (req, res) => {
      // The identifier travels in the body, never in a URL (URLs end up in logs and browser history).
      const given = (req.body as { identifier?: unknown } | undefined)?.identifier;
      const text = typeof given === 'string' ? given.trim() : '';
      if (!text || text.length > 200)
        throw new BadQuery('identifier must be a string of 1 to 200 characters: "value" or "system|value"');
      const bar = text.indexOf('|');
      const matches = (
        await store.patientsByIdentifier(
          bar > 0 ? text.slice(0, bar) : undefined,
          bar >= 0 ? text.slice(bar + 1) : text,
        )
      ).filter((m) => mayRead(principalOf(res), m.sourceId));
      await audit.send(req, res, matches, () => reply(res, PatientMatches, { matches }));
    });

    api.get('/patients/:id/overview', audit.audited, async (req, res) => {
      const patientId = param(req, 'id');
      const scope = scopeOf(req, res);
      const sourceId = (await store.getComputations(patientId, scope))[0]?.sourceId;
      const stored = sourceId ? await store.getModel(sourceId, patientId) : undefined;
      if (!sourceId || !stored?.indicators)
        return sendOutcome(
          res,
          notFoundOutcome(
            'no such patient in any source (or not computed by a sync yet): check the id, or search by MRN',
          ),
        );
      const overview = await loadOverview(store, config, sourceId, patientId, stored);
      await audit.send(req, res, [{ sourceId, patientId }], () => reply(res, PatientOverview, overview));
    });
  },
};
