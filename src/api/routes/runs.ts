/** Recent runs, and one run with its summary and (while it goes on here) its live progress. */
import { notFoundOutcome } from '../../errors';
import { sendOutcome } from '../errors';
import { errors, json, p, q, secured, type RouteModule } from '../openapi-parts';
import { BadQuery, limitOf, param, query } from '../params';
import { mayRead, principalOf, scopeOf } from '../identity';

const RUN_STATUSES = ['succeeded', 'partially-failed', 'failed', 'interrupted', 'running'];
import { reply } from '../reply';
import { RunResponse, RunsResponse } from '../schemas/runs';
import { runView } from '../views';

export const runRoutes: RouteModule = {
  paths: {
    '/api/runs': {
      get: {
        summary: 'Recent runs, newest first',
        security: secured,
        parameters: [
          q('source', 'source id'),
          q('status', 'succeeded, partially-failed, failed, interrupted or running'),
          q('limit', 'at most this many (default 50, at most 500)'),
          q('offset', 'skip this many of the newest (paging)'),
        ],
        responses: { '200': json('runs', RunsResponse), ...errors },
      },
    },
    '/api/runs/{id}': {
      get: {
        summary:
          'One run with its counts (a run this process started that ended before the store could record it: recorded false, status failed, its error)',
        security: secured,
        parameters: [p('id')],
        responses: { '200': json('run', RunResponse), ...errors },
      },
    },
  },
  register(api, { store, runner }) {
    api.get('/runs', async (req, res) => {
      const limit = limitOf(req, 50, 500);
      const status = query(req, 'status');
      if (status !== undefined && !RUN_STATUSES.includes(status))
        throw new BadQuery(`status must be one of ${RUN_STATUSES.join(', ')}`);
      const offsetText = query(req, 'offset') ?? '0';
      if (!/^\d{1,7}$/.test(offsetText)) throw new BadQuery('offset must be a whole number');
      const runs = await store.listRuns({
        sourceId: scopeOf(req, res),
        limit,
        ...(status ? { status } : {}),
        offset: Number(offsetText),
      });
      reply(res, RunsResponse, { runs });
    });

    api.get('/runs/:id', async (req, res) => {
      const found = await store.getRun(param(req, 'id'));
      // A run of a source outside the caller's is as unknown as one that never was.
      const run = found && mayRead(principalOf(res), found.sourceId) ? found : undefined;
      if (!run) {
        // A run this process started that ended before the store could record it (the store was away).
        const live = found ? undefined : runner.progressOf(param(req, 'id'));
        if (!live || !mayRead(principalOf(res), live.sourceId)) return sendOutcome(res, notFoundOutcome('no such run'));
        return reply(res, RunResponse, {
          id: live.runId,
          sourceId: live.sourceId,
          status: live.stage === 'finished' ? 'failed' : 'running',
          recorded: false,
          ...(live.failedUnrecorded ? { error: { message: live.failedUnrecorded } } : {}),
          progress: live,
        });
      }
      // `view` is what the dashboard shows; `progress` is live while the run goes on in this process.
      reply(res, RunResponse, { ...run, view: runView(run), progress: runner.progressOf(run.id) ?? null });
    });
  },
};
