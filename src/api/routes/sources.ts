/** The configured sources (never a secret) and starting a sync of one. */
import { conflict, EngageError, notFoundOutcome } from '../../errors';
import { approveAndSend } from '../../sync/approval';
import { SyncBusyError } from '../../sync/run';
import { sendOutcome } from '../errors';
import { errors, json, p, secured, type RouteModule } from '../openapi-parts';
import { param } from '../params';
import { mayRead, principalOf } from '../identity';
import { reply } from '../reply';
import { Approved, SourcesResponse, SyncStarted } from '../schemas/sources';
import { runView } from '../views';

/** The patients a held plan names as examples, for the access log. */
function exampleAccesses(
  sourceId: string,
  byRule: { examples: string[] }[],
): { sourceId: string; patientId: string }[] {
  return [...new Set(byRule.flatMap((r) => r.examples))].map((patientId) => ({ sourceId, patientId }));
}

export const sourceRoutes: RouteModule = {
  paths: {
    '/api/sources': {
      get: {
        summary: 'Configured sources (never secrets), each with its last and next run',
        security: secured,
        responses: { '200': json('sources', SourcesResponse), ...errors },
      },
    },
    '/api/sources/{id}/sync': {
      post: {
        summary: 'Start a sync of a source',
        security: secured,
        parameters: [p('id')],
        responses: {
          '202': json('started; follow the run at its URL (also in Location)', SyncStarted),
          '409': json('a run of this source is in progress'),
          ...errors,
        },
      },
    },
    '/api/sources/{id}/approve': {
      post: {
        summary:
          "Send exactly the plan a run held for approval (a source's first writes, or an unusual volume); who approved (the API key's id) is kept",
        security: secured,
        parameters: [p('id')],
        responses: {
          '200': json('approved and sent', Approved),
          '409': json('nothing of this source is held, or a sync of it is running'),
          ...errors,
        },
      },
    },
  },
  register(api, { store, config, runner, audit }) {
    // A held plan names example patients: a listing that carries one is in the access log.
    api.get('/sources', audit.audited, async (req, res) => {
      const visible = config.sources.filter((s) => mayRead(principalOf(res), s.id));
      const recent = await store.listRuns({ limit: 200, sourceId: visible.map((s) => s.id) });
      const held = new Map(
        await Promise.all(visible.map(async (s) => [s.id, await store.openApproval(s.id)] as const)),
      );
      const body = {
        sources: visible.map((s) => {
          const last = recent.find((r) => r.sourceId === s.id);
          const approval = held.get(s.id);
          return {
            id: s.id,
            ...(s.name !== undefined ? { name: s.name } : {}),
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
            approval: approval
              ? { reason: approval.reason, detail: approval.detail, heldAt: approval.heldAt, plan: approval.plan }
              : null,
          };
        }),
      };
      const named = [...held.values()].flatMap((a) => (a ? exampleAccesses(a.sourceId, a.plan.byRule) : []));
      if (named.length === 0) {
        res.locals.audited = true;
        return reply(res, SourcesResponse, body);
      }
      await audit.send(req, res, named, () => reply(res, SourcesResponse, body));
    });

    api.post('/sources/:id/approve', audit.audited, async (req, res) => {
      const source = config.sources.find((s) => s.id === param(req, 'id'));
      if (!source || !mayRead(principalOf(res), source.id)) return sendOutcome(res, notFoundOutcome('no such source'));
      if (!(await store.openApproval(source.id)))
        return sendOutcome(res, conflict('nothing of this source is held for approval'));
      try {
        const who = principalOf(res);
        const { approval, sent } = await approveAndSend(store, source, `${who.kind}:${who.id}`, config.safetyAlerts);
        await audit.send(req, res, exampleAccesses(source.id, approval.plan.byRule), () =>
          reply(res, Approved, {
            approved: true,
            approvedBy: approval.approvedBy ?? '',
            plan: approval.plan,
            sent: sent.byType as Record<string, Record<string, number>>,
          }),
        );
      } catch (err) {
        if (err instanceof EngageError) return sendOutcome(res, err.outcome);
        throw err;
      }
    });

    api.post('/sources/:id/sync', async (req, res) => {
      const id = param(req, 'id');
      // The id is not echoed back: a request's input never appears in an error.
      if (!config.sources.some((s) => s.id === id) || !mayRead(principalOf(res), id))
        return sendOutcome(res, notFoundOutcome('no such source'));
      try {
        const { runId } = await runner.trigger(id);
        res.location(`/api/runs/${runId}`);
        reply(res, SyncStarted, { runId, status: 'running', run: `/api/runs/${runId}` }, 202);
      } catch (err) {
        if (err instanceof SyncBusyError) return sendOutcome(res, err.outcome);
        throw err;
      }
    });
  },
};
