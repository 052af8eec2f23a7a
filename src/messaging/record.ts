/**
 * Messages recorded in the EMR through the outbox (docs/messaging.md, "Recorded in the EMR"): once a
 * message's outcome is final, a FHIR Communication (completed when delivered; not-done with the
 * reason otherwise; medium SMS or email, basedOn the Task, about the visit, sent, the patient as
 * recipient, the text) and its Task moved — completed when delivered, failed with the reason when it
 * could not be — each enqueued with the row marked recorded, in one transaction. A received reply is a
 * Communication from the patient. Pure builders, and the one function that enqueues.
 */
import type { Communication, Task } from '@medplum/fhirtypes';
import { ENGAGE_CODES } from '../actions/codes';
import { withoutSurveyLinks } from './invite';
import { comparableHash } from '../writeback/content';
import type { Message } from '../store/messages';
import type { Store } from '../store/store';
import type { ClosePayload, CommunicationPayload, UpsertPayload } from '../writeback/outbox-item';

const MEDIUM: Record<Message['channel'], { code: string; display: string }> = {
  sms: { code: 'SMSWRIT', display: 'SMS written' },
  email: { code: 'EMAILWRIT', display: 'email' },
};

const CHANNEL_WORDS: Record<Message['channel'], string> = { sms: 'SMS', email: 'email' };

/** The Communication that records a message (pure). */
export function messageCommunication(m: Message, identifierSystem: string): Communication {
  const patient = { reference: `Patient/${m.patientId}` };
  const delivered = m.state === 'delivered' || m.state === 'received';
  return {
    resourceType: 'Communication',
    identifier: [{ system: identifierSystem, value: `patient-message/${m.id}` }],
    status: delivered ? 'completed' : 'not-done',
    ...(delivered ? {} : { statusReason: { text: m.reason ?? m.state } }),
    ...(m.taskServerId ? { basedOn: [{ reference: `Task/${m.taskServerId}` }] } : {}),
    ...(m.about ? { about: [{ reference: m.about }] } : {}),
    subject: patient,
    medium: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode', ...MEDIUM[m.channel] }],
      },
    ],
    ...(m.direction === 'inbound'
      ? { sender: patient, received: (m.endedAt ?? m.createdAt).toISOString() }
      : { recipient: [patient], ...(m.sentAt ? { sent: m.sentAt.toISOString() } : {}) }),
    payload: [{ contentString: withoutSurveyLinks(m.subject ? `${m.subject}\n\n${m.body}` : m.body) }],
  } as Communication;
}

/** The Task's move for a final outcome (pure): completed when delivered, failed when not. */
export function taskMove(m: Message, identifierSystem: string): ClosePayload | undefined {
  // A survey invitation leaves its Task to the answer (completed by the survey rule when it comes).
  if (m.direction !== 'outbound' || m.kind !== 'appointment-reminder' || !m.taskIdentifier || !m.taskServerId)
    return undefined;
  if (m.state !== 'delivered' && m.state !== 'undelivered' && m.state !== 'failed') return undefined;
  const delivered = m.state === 'delivered';
  return {
    op: 'close',
    identifierSystem,
    identifier: m.taskIdentifier,
    rule: 'appointment-reminder',
    patientId: m.patientId,
    resourceType: 'Task',
    status: delivered ? 'completed' : 'failed',
    reason: delivered
      ? `the reminder was delivered by ${CHANNEL_WORDS[m.channel]}`
      : `the reminder could not be delivered by ${CHANNEL_WORDS[m.channel]}: ${m.reason ?? m.state}`,
    serverId: m.taskServerId,
    entities: [`Patient/${m.patientId}`],
    at: (m.endedAt ?? new Date()).toISOString(),
  };
}

/**
 * The Task a patient's reply opens for the care team (pure): requested, fhir-engage's code
 * `patient-reply`, for the patient; the reply itself is in the Communication recorded with it.
 */
export function replyTask(m: Message, identifierSystem: string, codeSystem: string, now: Date): UpsertPayload {
  const identifier = `patient-reply/${m.patientId}/${m.id}`;
  const resource: Task = {
    resourceType: 'Task',
    identifier: [{ system: identifierSystem, value: identifier }],
    status: 'requested',
    intent: 'order',
    priority: 'routine',
    code: { coding: [{ system: codeSystem, code: 'patient-reply', display: ENGAGE_CODES['patient-reply'] }] },
    for: { reference: `Patient/${m.patientId}` },
    authoredOn: now.toISOString(),
    lastModified: now.toISOString(),
    description: `The patient replied by ${CHANNEL_WORDS[m.channel]} to a message from fhir-engage: read the reply (a Communication from the patient) and answer them.`,
  };
  return {
    op: 'upsert',
    identifierSystem,
    identifier,
    rule: 'patient-reply',
    patientId: m.patientId,
    resourceType: 'Task',
    resource,
    entities: [`Patient/${m.patientId}`],
    contentHash: comparableHash(resource as unknown as Record<string, unknown>),
    ...(m.programmeId ? { programme: m.programmeId } : {}),
  };
}

/** Enqueues what each message whose outcome is final (or a received reply) needs in the EMR; how many were recorded. */
export async function recordOutcomes(
  store: Store,
  sourceId: string,
  target: string,
  codes: { identifierSystem: string; codeSystem: string },
  now: Date,
): Promise<number> {
  const { identifierSystem, codeSystem } = codes;
  let recorded = 0;
  for (const m of await store.messagesToRecord(sourceId)) {
    const communication: CommunicationPayload = {
      op: 'communication',
      identifierSystem,
      identifier: `patient-message/${m.id}`,
      rule: 'patient-message',
      patientId: m.patientId,
      resourceType: 'Communication',
      resource: messageCommunication(m, identifierSystem),
      entities: [`Patient/${m.patientId}`, ...(m.taskServerId ? [`Task/${m.taskServerId}`] : [])],
    };
    const move =
      m.direction === 'inbound' ? replyTask(m, identifierSystem, codeSystem, now) : taskMove(m, identifierSystem);
    await store.transaction(async (tx) => {
      await tx.enqueueOutbox(sourceId, null, [
        {
          target,
          dedupeKey: `${target}|${communication.identifier}`,
          resourceType: 'Communication',
          payload: communication,
        },
        ...(move ? [{ target, dedupeKey: `${target}|${move.identifier}`, resourceType: 'Task', payload: move }] : []),
      ]);
      await tx.markRecorded(m.id, m.state);
    });
    recorded++;
  }
  return recorded;
}
