/**
 * Messages to patients (docs/messaging.md), their providers' events and the patients' opt-outs. Its
 * SQL builders (pure, `{ text, values }`, values never interpolated) and the methods that run them,
 * together; the methods are part of `Store` (store.ts).
 */
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { ISO_INSTANT, dateOrNull, date, q, str, type Row, scopeArray, type SourceScope } from './rows';

export type MessageState =
  'intent' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'cancelled' | 'received';

/** States a message does not leave. */
export const FINAL_MESSAGE_STATES: readonly MessageState[] = [
  'delivered',
  'undelivered',
  'failed',
  'cancelled',
  'received',
];

export interface MessageIntent {
  sourceId: string;
  patientId: string;
  programmeId: string | null;
  direction: 'outbound' | 'inbound';
  kind: string;
  /** Once per this key and source: the Task's identifier for a reminder. */
  dedupeKey: string;
  taskIdentifier: string | null;
  taskServerId: string | null;
  about: string | null;
  channel: 'sms' | 'email';
  recipient: string;
  recipientHash: string;
  language: string;
  subject: string | null;
  body: string;
  notBefore: Date | null;
  notAfter: Date | null;
  state?: MessageState;
  providerId?: string | null;
}

export interface Message extends MessageIntent {
  id: number;
  state: MessageState;
  reason: string | null;
  providerId: string | null;
  attempts: number;
  attemptStartedAt: Date | null;
  createdAt: Date;
  sentAt: Date | null;
  endedAt: Date | null;
  recordedState: string | null;
}

const COLUMNS = [
  'source_id',
  'patient_id',
  'programme_id',
  'direction',
  'kind',
  'dedupe_key',
  'task_identifier',
  'task_server_id',
  'about',
  'channel',
  'recipient',
  'recipient_hash',
  'language',
  'subject',
  'body',
  'not_before',
  'not_after',
  'state',
  'provider_id',
  'next_attempt_at',
] as const;

/** New messages; one already stored under the same source and dedupe key stays as it is. */
export const addMessages = (rows: MessageIntent[]): SqlQuery => {
  const values: unknown[] = [];
  const tuples = rows.map((m) => {
    const row = [
      m.sourceId,
      m.patientId,
      m.programmeId,
      m.direction,
      m.kind,
      m.dedupeKey,
      m.taskIdentifier,
      m.taskServerId,
      m.about,
      m.channel,
      m.recipient,
      m.recipientHash,
      m.language,
      m.subject,
      m.body,
      m.notBefore,
      m.notAfter,
      m.state ?? 'intent',
      m.providerId ?? null,
      // Runs decide at their as-of instant (a simulated day too): due from its window's start, not from now().
      m.notBefore ?? new Date(0),
    ];
    const at = values.length;
    values.push(...row);
    return `(${row.map((_, i) => `$${at + i + 1}`).join(', ')})`;
  });
  return q(
    `INSERT INTO messages (${COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}
     ON CONFLICT (source_id, dedupe_key) DO NOTHING RETURNING id`,
    values,
  );
};

export const messagesToSend = (sourceId: string, now: Date, limit: number): SqlQuery =>
  q(
    `SELECT * FROM messages WHERE source_id = $1 AND state IN ('intent', 'sending') AND next_attempt_at <= $2
     ORDER BY next_attempt_at, id LIMIT $3`,
    [sourceId, now, limit],
  );

/** The attempt starts: stored before the provider is called, so that a crash after the call is looked for. */
export const markSending = (id: number, now: Date): SqlQuery =>
  q(
    `UPDATE messages SET state = 'sending', attempts = attempts + 1, attempt_started_at = $2
     WHERE id = $1 AND state IN ('intent', 'sending') RETURNING id`,
    [id, now],
  );

export const markSent = (id: number, providerId: string, state: 'sent' | 'delivered', now: Date): SqlQuery =>
  q(
    `UPDATE messages SET state = $3, provider_id = $2, sent_at = coalesce(sent_at, $4),
       ended_at = CASE WHEN $3 = 'delivered' THEN $4 ELSE ended_at END
     WHERE id = $1 AND state = 'sending' RETURNING id`,
    [id, providerId, state, now],
  );

/** A message that will not go (failed, cancelled), or an attempt to try again at `retryAt`. */
export const markNotSent = (
  id: number,
  outcome: { state: 'failed' | 'cancelled'; reason: string } | { retryAt: Date; reason: string },
  now: Date,
): SqlQuery =>
  'state' in outcome
    ? q(
        `UPDATE messages SET state = $2, reason = $3, ended_at = $4 WHERE id = $1 AND state IN ('intent', 'sending') RETURNING id`,
        [id, outcome.state, outcome.reason, now],
      )
    : q(
        `UPDATE messages SET state = 'intent', reason = $3, next_attempt_at = $2 WHERE id = $1 AND state IN ('intent', 'sending') RETURNING id`,
        [id, outcome.retryAt, outcome.reason],
      );

/** A provider's status for its message: only forward (sent → delivered, undelivered or failed). */
export const applyProviderStatus = (
  providerId: string,
  state: 'sent' | 'delivered' | 'undelivered' | 'failed',
  reason: string | null,
  at: Date,
): SqlQuery =>
  q(
    `UPDATE messages SET state = $2, reason = coalesce($3, reason),
       sent_at = coalesce(sent_at, $4), ended_at = CASE WHEN $2 = 'sent' THEN ended_at ELSE $4 END
     WHERE provider_id = $1 AND direction = 'outbound'
       AND (state IN ('sending', 'sent') OR (state = 'intent' AND $2 <> 'sent'))
       AND NOT (state = 'sent' AND $2 = 'sent')
     RETURNING source_id, patient_id`,
    [providerId, state, reason, at],
  );

/** An ISO 8601 instant with its offset, as SQL (the pattern only: no value of a caller's). */

/**
 * fhir-engage's open Tasks of the rules `ruleCondition` selects (a constant SQL condition on `w`) that
 * have no message under `dedupePrefix` yet: each Task as last read back (else as last written) and the
 * patient's open programmes, as `open` — the messaging stage's starting point for reminders and survey
 * invitations. Source id is $1.
 */
export const openTasksWithoutMessage = (ruleCondition: string, dedupePrefix: string): string =>
  `WITH open AS (
       SELECT w.identifier_value, w.patient_id, w.server_id,
         coalesce(t.resource, (SELECT o.payload->'resource' FROM outbox o
                               WHERE o.source_id = w.source_id AND o.dedupe_key = w.target || '|' || w.identifier_value
                                 AND o.state = 'sent' AND o.payload->>'op' = 'upsert' ORDER BY o.id DESC LIMIT 1)) AS task
       FROM written_resources w
       LEFT JOIN resources t ON t.source_id = w.source_id AND t.resource_type = 'Task' AND t.resource_id = w.server_id
       WHERE w.source_id = $1 AND ${ruleCondition} AND w.state = 'open' AND w.server_id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.source_id = w.source_id AND m.dedupe_key = '${dedupePrefix}' || w.identifier_value)
     )
     SELECT open.*, array(SELECT s.programme_id FROM programme_enrolments s
                          WHERE s.source_id = $1 AND s.patient_id = open.patient_id AND s.ended_at IS NULL
                          ORDER BY s.programme_id) AS programmes`;

/**
 * Open reminder Tasks whose send window is open now and that have no message yet: the Task as last read
 * back (else as last written), with the patient's programmes.
 */
export const reminderTasksDue = (sourceId: string, now: Date): SqlQuery =>
  q(
    `${openTasksWithoutMessage("w.rule = 'appointment-reminder'", 'reminder|')}
     FROM open
     WHERE open.task->>'status' = 'requested'
       -- The Task is as the EMR returned it: a window that is not a date-time is no window (never a failed cast).
       AND (CASE WHEN open.task->'restriction'->'period'->>'start' ~ ${ISO_INSTANT}
            THEN (open.task->'restriction'->'period'->>'start')::timestamptz END) <= $2
       AND (CASE WHEN open.task->'restriction'->'period'->>'end' ~ ${ISO_INSTANT}
            THEN (open.task->'restriction'->'period'->>'end')::timestamptz END) > $2
     ORDER BY open.identifier_value`,
    [sourceId, now],
  );

/** Reminders sent by fhir-engage for visits in a period's reach: their Task, channel and state (the report). */
export const reminderOutcomes = (sourceId: SourceScope, from: Date, to: Date): SqlQuery =>
  q(
    `SELECT source_id, patient_id, task_identifier, channel, state FROM messages
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND direction = 'outbound' AND kind = 'appointment-reminder'
       AND task_identifier IS NOT NULL AND coalesce(not_before, created_at) < $3::timestamptz AND coalesce(not_after, created_at) >= $2::timestamptz - interval '31 days'
     ORDER BY id`,
    [scopeArray(sourceId), from, to],
  );

export const messagesToRecord = (sourceId: string, limit: number): SqlQuery =>
  q(
    `SELECT * FROM messages WHERE source_id = $1 AND recorded_state IS DISTINCT FROM state
       AND state IN ('delivered', 'undelivered', 'failed', 'received')
     ORDER BY id LIMIT $2`,
    [sourceId, limit],
  );

export const markRecorded = (id: number, state: string): SqlQuery =>
  q('UPDATE messages SET recorded_state = $2 WHERE id = $1', [id, state]);

export const messagesOfPatient = (sourceId: string, patientId: string, limit: number): SqlQuery =>
  q('SELECT * FROM messages WHERE source_id = $1 AND patient_id = $2 ORDER BY id DESC LIMIT $3', [
    sourceId,
    patientId,
    limit,
  ]);

/** The latest outbound messages to an address (an inbound reply is about them). */
export const messagesTo = (recipientHash: string, limit: number): SqlQuery =>
  q(`SELECT * FROM messages WHERE recipient_hash = $1 AND direction = 'outbound' ORDER BY id DESC LIMIT $2`, [
    recipientHash,
    limit,
  ]);

function toMessage(r: Row): Message {
  return {
    id: Number(r.id),
    sourceId: String(r.source_id),
    patientId: String(r.patient_id),
    programmeId: str(r.programme_id),
    direction: r.direction as Message['direction'],
    kind: String(r.kind),
    dedupeKey: String(r.dedupe_key),
    taskIdentifier: str(r.task_identifier),
    taskServerId: str(r.task_server_id),
    about: str(r.about),
    channel: r.channel as Message['channel'],
    recipient: String(r.recipient),
    recipientHash: String(r.recipient_hash),
    language: String(r.language),
    subject: str(r.subject),
    body: String(r.body),
    notBefore: dateOrNull(r.not_before),
    notAfter: dateOrNull(r.not_after),
    state: r.state as MessageState,
    reason: str(r.reason),
    providerId: str(r.provider_id),
    attempts: Number(r.attempts),
    attemptStartedAt: dateOrNull(r.attempt_started_at),
    createdAt: date(r.created_at),
    sentAt: dateOrNull(r.sent_at),
    endedAt: dateOrNull(r.ended_at),
    recordedState: str(r.recorded_state),
  };
}

export function messagesRole({ db }: RoleContext) {
  const one = async (query: SqlQuery): Promise<boolean> => (await db.query(query)).length === 1;
  return {
    /** Stores messages; returns how many were new (one per source and dedupe key, ever). */
    async addMessages(rows: MessageIntent[]): Promise<number> {
      return rows.length ? (await db.query(addMessages(rows))).length : 0;
    },
    async messagesToSend(sourceId: string, now: Date, limit = 500): Promise<Message[]> {
      return (await db.query(messagesToSend(sourceId, now, limit))).map(toMessage);
    },
    markSending: (id: number, now: Date) => one(markSending(id, now)),
    markSent: (id: number, providerId: string, state: 'sent' | 'delivered', now: Date) =>
      one(markSent(id, providerId, state, now)),
    markNotSent: (id: number, outcome: Parameters<typeof markNotSent>[1], now: Date) =>
      one(markNotSent(id, outcome, now)),
    /** Applies a provider's status; returns the message's source and patient when it moved. */
    async applyProviderStatus(
      providerId: string,
      state: 'sent' | 'delivered' | 'undelivered' | 'failed',
      reason: string | null,
      at: Date,
    ): Promise<{ sourceId: string; patientId: string } | undefined> {
      const [r] = await db.query(applyProviderStatus(providerId, state, reason, at));
      return r ? { sourceId: String(r.source_id), patientId: String(r.patient_id) } : undefined;
    },
    async reminderTasksDue(
      sourceId: string,
      now: Date,
    ): Promise<
      { identifierValue: string; patientId: string; serverId: string; task: unknown; programmes: string[] }[]
    > {
      return (await db.query(reminderTasksDue(sourceId, now))).map((r) => ({
        identifierValue: String(r.identifier_value),
        patientId: String(r.patient_id),
        serverId: String(r.server_id),
        task: r.task,
        programmes: ((r.programmes as unknown[] | null) ?? []).map(String),
      }));
    },
    async reminderOutcomes(
      sourceId: string | null,
      from: Date,
      to: Date,
    ): Promise<{ sourceId: string; patientId: string; taskIdentifier: string; channel: string; state: string }[]> {
      return (await db.query(reminderOutcomes(sourceId, from, to))).map((r) => ({
        sourceId: String(r.source_id),
        patientId: String(r.patient_id),
        taskIdentifier: String(r.task_identifier),
        channel: String(r.channel),
        state: String(r.state),
      }));
    },
    async knowsProviderId(providerId: string): Promise<boolean> {
      return (await db.query(q('SELECT 1 FROM messages WHERE provider_id = $1 LIMIT 1', [providerId]))).length > 0;
    },
    async messagesToRecord(sourceId: string, limit = 500): Promise<Message[]> {
      return (await db.query(messagesToRecord(sourceId, limit))).map(toMessage);
    },
    async markRecorded(id: number, state: string): Promise<void> {
      await db.query(markRecorded(id, state));
    },
    async messagesOfPatient(sourceId: string, patientId: string, limit = 50): Promise<Message[]> {
      return (await db.query(messagesOfPatient(sourceId, patientId, limit))).map(toMessage);
    },
    async messagesTo(recipientHash: string, limit = 5): Promise<Message[]> {
      return (await db.query(messagesTo(recipientHash, limit))).map(toMessage);
    },
  };
}

export type MessagesRole = ReturnType<typeof messagesRole>;
