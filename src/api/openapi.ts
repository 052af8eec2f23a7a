/** The API's OpenAPI 3.1 document (served at /api/openapi.json; a test checks it against the routes). */
const outcome = { $ref: '#/components/schemas/OperationOutcome' };
const errors = {
  '401': { description: 'API key missing or wrong', content: { 'application/json': { schema: outcome } } },
  '404': { description: 'not found', content: { 'application/json': { schema: outcome } } },
};
const json = (description: string, schema: object = { type: 'object' }) => ({
  description,
  content: { 'application/json': { schema } },
});
const secured = [{ apiKey: [] }, { bearer: [] }];
const q = (name: string, description: string) => ({
  name,
  in: 'query',
  required: false,
  schema: { type: 'string' },
  description,
});
const p = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'fhir-engage API', version: '1' },
  components: {
    securitySchemes: {
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      bearer: { type: 'http', scheme: 'bearer' },
    },
    schemas: {
      OperationOutcome: {
        type: 'object',
        properties: { resourceType: { const: 'OperationOutcome' }, issue: { type: 'array' } },
      },
    },
  },
  paths: {
    '/api/health': { get: { summary: 'Liveness', security: [], responses: { '200': json('alive') } } },
    '/api/ready': {
      get: {
        summary: 'Store reachable and schema current',
        security: [],
        responses: { '200': json('ready'), '503': json('not ready', outcome) },
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
      get: { summary: 'This document', security: [], responses: { '200': json('OpenAPI document') } },
    },
    '/api/sources': {
      get: {
        summary: 'Configured sources (never secrets)',
        security: secured,
        responses: { '200': json('sources'), ...errors },
      },
    },
    '/api/sources/{id}/sync': {
      post: {
        summary: 'Start a sync of a source',
        security: secured,
        parameters: [p('id')],
        responses: {
          '202': json('started: { runId }'),
          '409': json('a run of this source is in progress', outcome),
          ...errors,
        },
      },
    },
    '/api/runs': {
      get: {
        summary: 'Recent runs',
        security: secured,
        parameters: [q('source', 'source id'), q('limit', 'at most this many (default 50)')],
        responses: { '200': json('runs'), ...errors },
      },
    },
    '/api/runs/{id}': {
      get: {
        summary:
          'One run with its counts (a run this process started that ended before the store could record it: recorded false, status failed, its error)',
        security: secured,
        parameters: [p('id')],
        responses: { '200': json('run'), ...errors },
      },
    },
    '/api/patients/{id}/engagement': {
      get: {
        summary: 'Current indicators, tier and why',
        security: secured,
        parameters: [p('id'), q('source', 'source id')],
        responses: { '200': json('engagement'), ...errors },
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
        responses: { '200': json('history'), ...errors },
      },
    },
    '/api/programme': {
      get: {
        summary:
          'Programme-level aggregates; with from/to, every programme figure over the period (as the report command) and its recorded history',
        security: secured,
        parameters: [
          q('source', 'source id'),
          q('from', 'start of the period (ISO date)'),
          q('to', 'end of the period, exclusive (ISO date)'),
        ],
        responses: { '200': json('summary, or { summary, report, history }'), ...errors },
      },
    },
    '/api/programme/report': {
      get: {
        summary: 'The programme report as a file (the report command’s output)',
        security: secured,
        parameters: [
          q('format', 'md (default), csv or json'),
          q('source', 'source id'),
          q('from', 'ISO date'),
          q('to', 'ISO date, exclusive'),
        ],
        responses: {
          '200': {
            description: 'the report',
            content: { 'text/markdown': {}, 'text/csv': {}, 'application/json': {} },
          },
          ...errors,
        },
      },
    },
    '/api/patients/search': {
      post: {
        summary:
          'Stored patients with an identifier (sent in the body: { identifier: "system|value" or "value" }, never in a URL)',
        security: secured,
        responses: { '200': json('{ matches: [{ sourceId, patientId }] }'), ...errors },
      },
    },
    '/api/patients/{id}/overview': {
      get: {
        summary:
          'The dashboard’s patient view: tier and why, score trends with bands, upcoming appointments and their reminders, what was written and its status',
        security: secured,
        parameters: [p('id'), q('source', 'source id')],
        responses: { '200': json('overview'), ...errors },
      },
    },
    '/api/access-log': {
      get: {
        summary: 'Who (API key id) read which patient’s data, when and from where; newest first',
        security: secured,
        parameters: [
          q('patient', 'patient id'),
          q('key', 'API key id'),
          q('from', 'ISO instant'),
          q('to', 'ISO instant'),
          q('limit', 'at most (default 500)'),
        ],
        responses: { '200': json('{ entries }'), ...errors },
      },
    },
    '/api/dead-letters': {
      get: {
        summary: 'Open dead letters',
        security: secured,
        parameters: [
          q('source', 'source id'),
          q('run', 'run id'),
          q('type', 'resource type'),
          q('stage', 'pull, validate, map, indicators, actions or write'),
          q('limit', 'at most'),
          q('includePayload', 'true to include the stored resource'),
        ],
        responses: { '200': json('dead letters'), ...errors },
      },
    },
    '/api/dead-letters/{id}/dismiss': {
      post: {
        summary:
          'Close a dead letter without retrying it; the reason ({ reason }) and the API key’s id are kept for audit',
        security: secured,
        parameters: [p('id')],
        responses: { '200': json('dismissed'), '400': json('no reason', outcome), ...errors },
      },
    },
    '/api/dead-letters/{id}/retry': {
      post: {
        summary: 'Retry one dead letter (re-validate it, or re-send a failed write)',
        security: secured,
        parameters: [p('id')],
        responses: { '200': json('retried'), '422': json('still invalid', outcome), ...errors },
      },
    },
  },
} as const;
