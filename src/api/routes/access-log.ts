/** Who read which patient's data: the access log, newest first. */
import { errors, json, q, secured, type RouteModule } from '../openapi-parts';
import { instant, limitOf, query } from '../params';
import { reply } from '../reply';
import { AccessLogResponse } from '../schemas/operations';

export const accessLogRoutes: RouteModule = {
  paths: {
    '/api/access-log': {
      get: {
        summary:
          'Who (a person, or an API key) read which patient’s data or changed what, with which role, when and from where; newest first (admin)',
        security: secured,
        parameters: [
          q('patient', 'patient id'),
          q('person', 'a person’s subject or an API key’s id'),
          q('key', 'an API key’s id (the same as person)'),
          q('from', 'ISO instant'),
          q('to', 'ISO instant'),
          q('limit', 'at most (default 500, at most 5000)'),
        ],
        responses: { '200': json('entries', AccessLogResponse), ...errors },
      },
    },
  },
  register(api, { store }) {
    api.get('/access-log', async (req, res) => {
      const limit = limitOf(req, 500, 5000);
      const entries = await store.listAccess({
        patientId: query(req, 'patient'),
        keyId: query(req, 'person') ?? query(req, 'key'),
        from: instant(req, 'from'),
        to: instant(req, 'to'),
        limit,
      });
      reply(res, AccessLogResponse, { entries });
    });
  },
};
