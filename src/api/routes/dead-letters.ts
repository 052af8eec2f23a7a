/** What could not be processed: listed (payloads are patients' resources, so reading them is logged), retried, dismissed. */
import type { Request, Response } from 'express';
import { EngageError, notFoundOutcome } from '../../errors';
import { patientsNamedBy } from '../../mapping/patient-of';
import { retryDeadLetter } from '../../sync/retry';
import { sendOutcome } from '../errors';
import { body, errors, json, p, q, secured, type RouteModule } from '../openapi-parts';
import { BadQuery, deadLetterId, limitOf, query } from '../params';
import { mayRead, principalOf, scopeOf } from '../identity';
import { reply } from '../reply';
import { DeadLettersResponse, Dismissed, RetryDone } from '../schemas/operations';

export const deadLetterRoutes: RouteModule = {
  paths: {
    '/api/dead-letters': {
      get: {
        summary: 'Open dead letters',
        security: secured,
        parameters: [
          q('source', 'source id'),
          q('run', 'run id'),
          q('type', 'resource type'),
          q('stage', 'pull, validate, map, indicators, actions or write'),
          q('limit', 'at most (default 100, at most 1000)'),
          q('includePayload', 'true to include the stored resource'),
        ],
        responses: { '200': json('dead letters', DeadLettersResponse), ...errors },
      },
    },
    '/api/dead-letters/{id}/dismiss': {
      post: {
        summary:
          'Close a dead letter without retrying it; the reason ({ reason }) and the API key’s id are kept for audit',
        security: secured,
        parameters: [p('id')],
        requestBody: body('why it is closed (3 to 500 characters, kept for audit)', {
          type: 'object',
          required: ['reason'],
          properties: { reason: { type: 'string', minLength: 3, maxLength: 500 } },
        }),
        responses: { '200': json('dismissed', Dismissed), ...errors },
      },
    },
    '/api/dead-letters/{id}/retry': {
      post: {
        summary: 'Retry one dead letter (re-validate it, or re-send a failed write)',
        security: secured,
        parameters: [p('id')],
        responses: { '200': json('retried', RetryDone), '422': json('still invalid, or not retryable'), ...errors },
      },
    },
  },
  register(api, { store, config, audit }) {
    /** The dead letter's id, when it is of a source the caller may see (else 404, as an unknown one). */
    const inScope = async (req: Request, res: Response): Promise<number> => {
      const id = deadLetterId(req);
      const letter = await store.getDeadLetter(id);
      if (letter && !mayRead(principalOf(res), letter.sourceId))
        throw new EngageError('validation', notFoundOutcome('no open dead letter with this id'));
      return id;
    };
    api.get('/dead-letters', audit.audited, async (req, res) => {
      const limit = limitOf(req, 100, 1000);
      const withPayload = query(req, 'includePayload') === 'true';
      const letters = await store.listDeadLetters({
        sourceId: scopeOf(req, res),
        runId: query(req, 'run'),
        resourceType: query(req, 'type'),
        stage: query(req, 'stage'),
        limit,
      });
      const deadLetters = letters.map((d) => ({ ...d, payload: withPayload ? d.payload : undefined }));
      // Each returned payload's patients, under the dead letter's own source.
      const accessed = withPayload
        ? letters.flatMap((d) => patientsNamedBy(d.payload).map((patientId) => ({ sourceId: d.sourceId, patientId })))
        : [];
      const sources = [...new Set(letters.map((d) => d.sourceId))].map((sourceId) => ({ sourceId, patientId: null }));
      await audit.send(req, res, accessed.length ? accessed : sources, () =>
        reply(res, DeadLettersResponse, { deadLetters }),
      );
    });

    api.post('/dead-letters/:id/retry', async (req, res) => {
      await inScope(req, res);
      reply(res, RetryDone, await retryDeadLetter(store, config, deadLetterId(req)));
    });

    api.post('/dead-letters/:id/dismiss', async (req, res) => {
      const id = await inScope(req, res);
      const reason = (req.body as { reason?: unknown } | undefined)?.reason;
      if (typeof reason !== 'string' || reason.trim().length < 3 || reason.length > 500)
        throw new BadQuery('reason must be a string of 3 to 500 characters (it is kept for audit)');
      if (!(await store.dismissDeadLetter(id, reason.trim(), principalOf(res).id)))
        return sendOutcome(res, notFoundOutcome('no open dead letter with this id'));
      reply(res, Dismissed, { id, dismissed: true });
    });
  },
};
