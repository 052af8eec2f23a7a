/**
 * The care team's writes (docs/care-team.md): an action on one of fhir-engage's Tasks, a call or note
 * logged as a Communication, what became of either, a patient's care-team activity, and the EMR's
 * Practitioners to assign to. Each write is stored first and sent at once, with a Provenance naming
 * who acted; the answers carry patient data, so each is in the access log.
 */
import type { Request, Response } from 'express';
import type { Patient, Task } from '@medplum/fhirtypes';
import { CONTACT_KINDS, TASK_ACTIONS, type ContactKind, type TaskActionName } from '../../actions/care-team';
import type { SourceConfig } from '../../config/types';
import { notFoundOutcome, outcome } from '../../errors';
import { logger } from '../../log/logger';
import type { OutboxPayload } from '../../writeback/outbox-item';
import { actOnTask, logContact, resultOf, searchCareTeam, type PersonWriteResult } from '../../sync/care-team';
import { actorOf, mayRead, principalOf } from '../identity';
import { sendOutcome } from '../errors';
import { body, errors, json, p, q, secured, type RouteContext, type RouteModule } from '../openapi-parts';
import { BadQuery, param, query } from '../params';
import { reply } from '../reply';
import { CareTeamActivity, CareTeamWrite, PatientMessages, Practitioners } from '../schemas/care-team';
import { patientOptOuts } from '../../messaging/address';
import { formFor, formsOf } from '../../mapping/forms';
import { withoutSurveyLinks } from '../../messaging/invite';
import { taskView } from '../task-view';

const STATUS: Record<PersonWriteResult['state'], number> = {
  written: 200,
  unchanged: 200,
  conflict: 409,
  refused: 422,
  queued: 202,
};

/** A field of the JSON body: a string of at most `max` characters, or absent. */
function field(req: Request, name: string, max = 2000): string | undefined {
  const v = ((req.body ?? {}) as Record<string, unknown>)[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || v.length > max)
    throw new BadQuery(`${name} must be a string of at most ${max} characters`);
  return v;
}

function oneOf<T extends string>(req: Request, name: string, allowed: readonly T[]): T {
  const v = field(req, name, 40);
  if (!v || !(allowed as readonly string[]).includes(v))
    throw new BadQuery(`${name} must be one of ${allowed.join(', ')}`);
  return v as T;
}

function sourceOf(req: Request, res: Response, sources: readonly SourceConfig[]): SourceConfig | undefined {
  const source = sources.find((s) => s.id === param(req, 'id'));
  // A source outside the caller's is as unknown as one that does not exist.
  if (!source || !mayRead(principalOf(res), source.id)) {
    sendOutcome(res, notFoundOutcome('no such source'));
    return undefined;
  }
  return source;
}

/** The answer to a write: its state, and the Task as the EMR now shows it (after a conflict, the one that won). */
async function answer(
  req: Request,
  res: Response,
  { store, audit }: RouteContext,
  source: SourceConfig,
  result: PersonWriteResult,
  patientId: string,
  taskId: string | undefined,
): Promise<void> {
  let task = null;
  if (taskId) {
    const stored = (await store.getResource(source.id, 'Task', taskId))?.resource as Task | undefined;
    const written = await store.getWrittenByServerId(source.id, taskId);
    task = taskView(taskId, stored, written?.status ?? null);
  }
  await audit.send(req, res, [{ sourceId: source.id, patientId }], () =>
    reply(res, CareTeamWrite, { ...result, task }, STATUS[result.state]),
  );
}

const WRITE_RESPONSES = {
  '200': json('written (or the EMR already had it)', CareTeamWrite),
  '202': json('stored; the EMR did not answer, the next run sends it', CareTeamWrite),
  '409': json(
    'the Task moved since it was seen (nothing written; `task` is the current one), or it has ended',
    CareTeamWrite,
  ),
  '422': json('the EMR refused it', CareTeamWrite),
  ...errors,
};

const requestId = {
  type: 'string',
  pattern: '^[A-Za-z0-9-]{8,64}$',
  description: 'the same id sent again is answered with the first request’s write (a double click writes once)',
};

function describeWrite(p: OutboxPayload): { kind: string; text: string | null; taskId: string | null } {
  if (p.op === 'task-action')
    return {
      kind: p.action,
      text: p.change.note?.text ?? p.change.businessStatus ?? p.change.statusReason ?? p.change.owner?.display ?? null,
      taskId: p.serverId,
    };
  if (p.op === 'communication') {
    const about = p.resource.about?.[0]?.reference?.replace(/^Task\//, '') ?? null;
    return {
      kind: p.resource.medium ? 'call' : 'contact note',
      text: p.resource.payload?.[0]?.contentString ?? null,
      taskId: about,
    };
  }
  return { kind: p.op, text: null, taskId: null };
}

/** POST …/tasks/{taskId}/actions: the action, as the person saw the Task. */
async function taskAction(req: Request, res: Response, ctx: RouteContext): Promise<void> {
  const { config, store } = ctx;
  const system = config.actions.identifierSystem;
  const source = sourceOf(req, res, config.sources);
  if (!source) return;
  const action = oneOf<TaskActionName>(req, 'action', TASK_ACTIONS);
  const b = (req.body ?? {}) as {
    assignee?: { reference?: unknown; display?: unknown };
    seen?: { status?: unknown; owner?: unknown };
  };
  const assignee =
    b.assignee && typeof b.assignee.reference === 'string' && typeof b.assignee.display === 'string'
      ? { reference: b.assignee.reference, display: b.assignee.display }
      : undefined;
  const seen =
    b.seen && typeof b.seen === 'object'
      ? {
          status: typeof b.seen.status === 'string' ? b.seen.status : null,
          owner: typeof b.seen.owner === 'string' ? b.seen.owner : null,
        }
      : undefined;
  const taskId = param(req, 'taskId');
  // What changed, for the access log: the action and the Task, never the note's words.
  res.locals.change = `${action} of Task ${taskId}${assignee ? ` to ${assignee.reference}` : ''}`;
  const result = await actOnTask(store, source, system, {
    taskId,
    request: {
      action,
      assignee,
      outcome: field(req, 'outcome'),
      reason: field(req, 'reason'),
      note: field(req, 'note'),
    },
    actor: actorOf(res),
    requestId: field(req, 'requestId', 64),
    ...(seen ? { seen } : {}),
  });
  await answer(req, res, ctx, source, result, result.patientId, taskId);
}

/** GET …/patients/{patientId}/messages: what went to and came from the patient, and their say. */
async function patientMessages(req: Request, res: Response, ctx: RouteContext): Promise<void> {
  const { config, store, audit } = ctx;
  const source = sourceOf(req, res, config.sources);
  if (!source) return;
  const patientId = param(req, 'patientId');
  const patient = (await store.getResource(source.id, 'Patient', patientId))?.resource as Patient | undefined;
  if (!patient) return sendOutcome(res, notFoundOutcome('no such patient in this source'));
  const messages = await store.messagesOfPatient(source.id, patientId);
  const optedOut = await patientOptOuts(store, patient, config.messaging?.sms?.defaultCountryCode);
  const links = await store.surveyLinksOfPatient(source.id, patientId);
  const forms = formsOf(config.mappingsDir);
  await audit.send(req, res, [{ sourceId: source.id, patientId }], () =>
    reply(res, PatientMessages, {
      optedOut,
      messages: messages.map((m) => ({
        id: m.id,
        direction: m.direction,
        kind: m.kind,
        channel: m.channel,
        state: m.state,
        reason: m.reason,
        text: withoutSurveyLinks(m.subject ? `${m.subject}\n\n${m.body}` : m.body),
        createdAt: m.createdAt,
        sentAt: m.sentAt,
        endedAt: m.endedAt,
      })),
      surveys: links.map((l) => ({
        survey: formFor(forms, l.questionnaire)?.title ?? l.questionnaire,
        taskId: l.taskServerId,
        linkSentAt: l.createdAt,
        openedAt: l.openedAt,
        answeredAt: l.submittedAt,
        until: l.expiresAt,
        crisis: l.crisis,
      })),
    }),
  );
}

export const careTeamRoutes: RouteModule = {
  paths: {
    '/api/sources/{id}/tasks/{taskId}/actions': {
      post: {
        summary:
          'Claim, assign, start, complete (with an outcome), cancel (with a reason) or add a note to one of fhir-engage’s Tasks; written to the EMR at once with If-Match and a Provenance naming who acted',
        security: secured,
        parameters: [p('id'), p('taskId')],
        requestBody: body('the action', {
          type: 'object',
          required: ['action'],
          properties: {
            action: { type: 'string', enum: [...TASK_ACTIONS] },
            assignee: {
              type: 'object',
              description: 'assign: a Practitioner or PractitionerRole of the EMR and its name',
              properties: { reference: { type: 'string' }, display: { type: 'string' } },
            },
            outcome: { type: 'string', maxLength: 2000, description: 'complete: what came of it (required)' },
            reason: { type: 'string', maxLength: 2000, description: 'cancel: why (required)' },
            note: { type: 'string', maxLength: 2000 },
            seen: {
              type: 'object',
              description: 'the Task’s status and owner as the page showed them: a Task that moved since is a conflict',
              properties: { status: { type: 'string' }, owner: { type: ['string', 'null'] } },
            },
            requestId,
          },
        }),
        responses: WRITE_RESPONSES,
      },
    },
    '/api/sources/{id}/patients/{patientId}/contacts': {
      post: {
        summary: 'Logs a call or a note about the patient (and a Task of theirs) as a FHIR Communication in the EMR',
        security: secured,
        parameters: [p('id'), p('patientId')],
        requestBody: body('the call or note', {
          type: 'object',
          required: ['kind', 'text'],
          properties: {
            kind: { type: 'string', enum: [...CONTACT_KINDS] },
            text: { type: 'string', minLength: 1, maxLength: 2000 },
            taskId: { type: 'string', description: 'the Task it is about (its id in the EMR)' },
            requestId,
          },
        }),
        responses: WRITE_RESPONSES,
      },
    },
    '/api/sources/{id}/patients/{patientId}/care-team': {
      get: {
        summary:
          'What the care team did for the patient from the dashboard: Task actions, calls and notes, newest first',
        security: secured,
        parameters: [p('id'), p('patientId')],
        responses: { '200': json('the activity', CareTeamActivity), ...errors },
      },
    },
    '/api/sources/{id}/patients/{patientId}/messages': {
      get: {
        summary:
          'Messages fhir-engage sent to the patient or received from them (docs/messaging.md), newest first, with their delivery state, and the channels they opted out of',
        security: secured,
        parameters: [p('id'), p('patientId')],
        responses: { '200': json('the messages', PatientMessages), ...errors },
      },
    },
    '/api/sources/{id}/care-team/writes/{writeId}': {
      get: {
        summary: 'What became of a care-team write (queued ones are sent by the next run)',
        security: secured,
        parameters: [p('id'), p('writeId')],
        responses: WRITE_RESPONSES,
      },
    },
    '/api/sources/{id}/practitioners': {
      get: {
        summary: 'The EMR’s Practitioners whose name matches, to assign a Task to (a live search of the EMR)',
        security: secured,
        parameters: [p('id'), q('name', 'part of the name (at least 2 characters)')],
        responses: { '200': json('matching practitioners', Practitioners), ...errors },
      },
    },
  },
  register(api, ctx) {
    const { config, store, audit } = ctx;
    const system = config.actions.identifierSystem;

    api.post('/sources/:id/tasks/:taskId/actions', audit.audited, (req, res) => taskAction(req, res, ctx));

    api.post('/sources/:id/patients/:patientId/contacts', audit.audited, async (req, res) => {
      const source = sourceOf(req, res, config.sources);
      if (!source) return;
      const patientId = param(req, 'patientId');
      const taskId = field(req, 'taskId', 64);
      const kind = oneOf<ContactKind>(req, 'kind', CONTACT_KINDS);
      res.locals.change = `logged a ${kind}${taskId ? ` about Task ${taskId}` : ''}`;
      const result = await logContact(store, source, system, {
        patientId,
        kind,
        text: field(req, 'text') ?? '',
        ...(taskId ? { taskId } : {}),
        actor: actorOf(res),
        requestId: field(req, 'requestId', 64),
      });
      await answer(req, res, ctx, source, result, patientId, taskId);
    });

    api.get('/sources/:id/care-team/writes/:writeId', audit.audited, async (req, res) => {
      const source = sourceOf(req, res, config.sources);
      if (!source) return;
      const id = Number(param(req, 'writeId'));
      const row = /^\d{1,15}$/.test(param(req, 'writeId')) ? await store.outboxRow(source.id, id) : undefined;
      const payload = row?.payload as OutboxPayload | undefined;
      if (!row || !payload || (payload.op !== 'task-action' && payload.op !== 'communication'))
        return sendOutcome(res, notFoundOutcome('no such care-team write'));
      await answer(
        req,
        res,
        ctx,
        source,
        resultOf(row),
        payload.patientId,
        payload.op === 'task-action' ? payload.serverId : undefined,
      );
    });

    api.get('/sources/:id/patients/:patientId/care-team', audit.audited, async (req, res) => {
      const source = sourceOf(req, res, config.sources);
      if (!source) return;
      const patientId = param(req, 'patientId');
      const rows = await store.personWritesOf(source.id, patientId);
      const activity = rows.map((row) => {
        const payload = row.payload as OutboxPayload & { actor: { display: string } };
        const r = resultOf(row);
        return {
          writeId: row.id,
          ...describeWrite(payload),
          by: payload.actor.display,
          at: row.createdAt,
          state: r.state,
          message: r.message,
        };
      });
      await audit.send(req, res, [{ sourceId: source.id, patientId }], () =>
        reply(res, CareTeamActivity, { activity }),
      );
    });

    api.get('/sources/:id/patients/:patientId/messages', audit.audited, (req, res) => patientMessages(req, res, ctx));

    api.get('/sources/:id/practitioners', async (req, res) => {
      const source = sourceOf(req, res, config.sources);
      if (!source) return;
      const name = query(req, 'name');
      if (!name || name.length < 2 || name.length > 100) throw new BadQuery('name must be 2 to 100 characters');
      let practitioners;
      try {
        practitioners = await searchCareTeam(source, name);
      } catch (err) {
        // The EMR's answer is not passed on (it may say anything); the log has it.
        logger().warn({ err, event: 'practitioner-search-failed', sourceId: source.id }, 'Practitioner search failed');
        return sendOutcome(res, outcome('exception', 'the EMR did not answer the Practitioner search'), 502);
      }
      reply(res, Practitioners, { practitioners });
    });
  },
};
