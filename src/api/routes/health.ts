/** Liveness, readiness, metrics and the OpenAPI document: open, for load balancers and monitoring. */
import { assertSchemaCurrent } from '../../store/migrate';
import { sendOutcome } from '../errors';
import { json, type RouteModule } from '../openapi-parts';
import { reply } from '../reply';
import { Health, Ready } from '../schemas/operations';

export const healthRoutes: RouteModule = {
  open: true,
  paths: {
    '/api/health': { get: { summary: 'Liveness', security: [], responses: { '200': json('alive', Health) } } },
    '/api/ready': {
      get: {
        summary: 'Store reachable and schema current',
        security: [],
        responses: { '200': json('ready', Ready), '503': json('not ready') },
      },
    },
    '/api/metrics': {
      get: {
        summary: 'Prometheus metrics',
        security: [],
        responses: { '200': { description: 'text exposition format', content: { 'text/plain': {} } } },
      },
    },
    '/api/openapi.json': {
      get: {
        summary: 'This document',
        security: [],
        responses: { '200': json('OpenAPI 3.1 document', { type: 'object' }) },
      },
    },
  },
  register(api, { store, metrics, document }) {
    api.get('/health', (_req, res) => reply(res, Health, { status: 'ok' }));
    api.get('/ready', async (_req, res) => {
      try {
        await store.ping();
        await assertSchemaCurrent(store.driver);
        reply(res, Ready, { status: 'ready', store: store.kind });
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
      res.json(document);
    });
  },
};
