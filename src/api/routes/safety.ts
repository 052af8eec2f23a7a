/**
 * Safety flags, for the care team first (docs/indicators.md, "Safety"): how many (the navigation's
 * badge, no patient data) and who, with the name, age and phone to act on (patient data: every read
 * is in the access log).
 */
import type { Patient } from '@medplum/fhirtypes';
import type { PatientIndicators } from '../../indicators/compute';
import { safetyFlag, safetyReasons } from '../../indicators/safety';
import { patientHeader } from '../patient-header';
import type { SafetyPatient } from '../../store/safety';
import { errors, json, p, q, secured, type RouteModule } from '../openapi-parts';
import { BadQuery, param, query } from '../params';
import { actorOf, principalOf, scopeOf } from '../identity';
import { notFoundOutcome } from '../../errors';
import { sendOutcome } from '../errors';
import { reply, type Sendable } from '../reply';
import { Acknowledged, SafetyAlerts, SafetyCount, SafetyList } from '../schemas/safety';

/** One row of the list: the flag's reasons (an open safety Task says so when the indicators no longer do). */
export function safetyRow(
  p: SafetyPatient,
  patient: Patient | undefined,
  now: Date,
): Sendable<SafetyList>['patients'][number] {
  const ind = p.indicators as PatientIndicators | null;
  const flag = ind?.safety ?? (ind ? safetyFlag(ind.phq9) : { flagged: false, reasons: [] });
  const reasons = safetyReasons(flag, p.openSafetyTasks);
  const header = patientHeader(patient, [], now);
  return {
    sourceId: p.sourceId,
    patientId: p.patientId,
    name: header.name,
    age: header.age,
    phone: header.phone,
    reasons,
    openSafetyTasks: p.openSafetyTasks,
    since: p.since,
    tier: ind?.engagement.tier ?? null,
    score: ind?.engagement.score ?? null,
  };
}

export const safetyRoutes: RouteModule = {
  paths: {
    '/api/safety/count': {
      get: {
        summary: 'How many patients have a safety flag (for the navigation badge; no patient data)',
        security: secured,
        parameters: [q('source', 'source id')],
        responses: { '200': json('the count', SafetyCount), ...errors },
      },
    },
    '/api/safety': {
      get: {
        summary:
          'Every patient with a safety flag (an open PHQ-9 item 9 safety Task, a positive item 9 or a severe PHQ-9), the longest waiting first, with name, age and phone; every read is in the access log',
        security: secured,
        parameters: [q('source', 'source id')],
        responses: { '200': json('the patients', SafetyList), ...errors },
      },
    },
    '/api/safety/alerts': {
      get: {
        summary:
          'Safety alerts sent (webhook, email): state, sends, the last error, who acknowledged; open ones with ?open=true',
        security: secured,
        parameters: [q('source', 'source id'), q('open', 'true: pending or sent, not yet acknowledged')],
        responses: { '200': json('the alerts', SafetyAlerts), ...errors },
      },
    },
    '/api/safety/alerts/{id}/acknowledge': {
      post: {
        summary: 'Acknowledges a safety alert (and the other channels’ alerts of the same Task): it is not sent again',
        security: secured,
        parameters: [p('id')],
        responses: { '200': json('acknowledged', Acknowledged), ...errors },
      },
    },
  },
  register(api, { store, audit }) {
    api.get('/safety/alerts', audit.audited, async (req, res) => {
      const alerts = await store.listAlerts({
        sourceId: scopeOf(req, res),
        openOnly: query(req, 'open') === 'true',
      });
      const body = {
        alerts: alerts.map((a) => ({
          id: a.id,
          sourceId: a.sourceId,
          patientId: a.patientId,
          taskServerId: a.taskServerId,
          channel: a.channel,
          state: a.state,
          sends: a.sends,
          attempts: a.attempts,
          lastError: a.lastError,
          lastSentAt: a.lastSentAt,
          acknowledgedAt: a.acknowledgedAt,
          acknowledgedBy: a.acknowledgedBy,
        })),
      };
      const accessed = alerts.map((a) => ({ sourceId: a.sourceId, patientId: a.patientId }));
      await audit.send(req, res, accessed, () => reply(res, SafetyAlerts, body));
    });

    api.post('/safety/alerts/:id/acknowledge', async (req, res) => {
      const id = Number(param(req, 'id'));
      if (!/^\d{1,15}$/.test(param(req, 'id')) || !Number.isSafeInteger(id) || id < 1)
        throw new BadQuery('the alert id must be a positive integer');
      const acknowledged = await store.acknowledgeAlert(id, actorOf(res).display, new Date(), principalOf(res).sources);
      if (acknowledged === 0) return sendOutcome(res, notFoundOutcome('no open alert with this id'));
      reply(res, Acknowledged, { acknowledged });
    });

    api.get('/safety/count', async (req, res) => {
      reply(res, SafetyCount, { count: (await store.safetyPatients(scopeOf(req, res))).length });
    });

    api.get('/safety', audit.audited, async (req, res) => {
      const flagged = await store.safetyPatients(scopeOf(req, res));
      const now = new Date();
      const patients = await Promise.all(
        flagged.map(async (p) =>
          safetyRow(
            p,
            (await store.getResource(p.sourceId, 'Patient', p.patientId))?.resource as Patient | undefined,
            now,
          ),
        ),
      );
      const accessed = flagged.map((p) => ({ sourceId: p.sourceId, patientId: p.patientId }));
      await audit.send(req, res, accessed, () => reply(res, SafetyList, { patients }));
    });
  },
};
