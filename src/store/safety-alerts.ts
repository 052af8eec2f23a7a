/**
 * Safety alerts (docs/operations.md, "Safety alerts"): the intent of each alert stored before its
 * channel is called, what the channel answered, and its acknowledgement. Its SQL builders (pure,
 * `{ text, values }`, values never interpolated) and the methods that run them, together; the
 * methods are part of `Store` (store.ts).
 */
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { ENDED_TASK_STATUSES_SQL, date, dateOrNull, q, str, scopeArray, type SourceScope } from './rows';

export interface SafetyAlert {
  id: number;
  sourceId: string;
  patientId: string;
  taskIdentifier: string;
  taskServerId: string | null;
  channel: 'webhook' | 'email';
  state: 'pending' | 'sent' | 'acknowledged' | 'resolved';
  attempts: number;
  sends: number;
  lastError: string | null;
  nextAttemptAt: Date;
  lastSentAt: Date | null;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  createdAt: Date;
}

/** An alert per channel for every open safety Task that reached the EMR and has none yet. */
export const createAlertIntents = (sourceId: string, channels: string[], at: Date): SqlQuery =>
  q(
    `INSERT INTO safety_alerts (source_id, patient_id, task_identifier, task_server_id, channel, next_attempt_at)
     SELECT w.source_id, w.patient_id, w.identifier_value, w.server_id, c.channel, $3
     FROM written_resources w CROSS JOIN unnest($2::text[]) AS c(channel)
     WHERE w.source_id = $1 AND w.rule = 'phq9-item9-safety' AND w.resource_type = 'Task' AND w.state = 'open'
       AND w.server_id IS NOT NULL AND (w.status IS NULL OR w.status NOT IN ${ENDED_TASK_STATUSES_SQL})
     ON CONFLICT (source_id, task_identifier, channel) DO NOTHING
     RETURNING id`,
    [sourceId, channels, at],
  );

/** Alerts whose Task a person ended (or fhir-engage no longer holds open) need no more sending. */
export const resolveEndedAlerts = (sourceId: string): SqlQuery =>
  q(
    `UPDATE safety_alerts a SET state = 'resolved'
     FROM written_resources w
     WHERE a.source_id = $1 AND a.state IN ('pending', 'sent') AND w.source_id = a.source_id
       AND w.identifier_value = a.task_identifier
       AND (w.state <> 'open' OR (w.status IS NOT NULL AND w.status IN ${ENDED_TASK_STATUSES_SQL}))
     RETURNING a.id`,
    [sourceId],
  );

/** Due now: pending ones whose next attempt has come, and sent ones unacknowledged for `resendAfterMs`. */
export const dueAlerts = (sourceId: string, at: Date, resendAfterMs: number | null): SqlQuery =>
  q(
    `SELECT * FROM safety_alerts WHERE source_id = $1 AND (
       (state = 'pending' AND next_attempt_at <= $2)
       OR ($3::bigint IS NOT NULL AND state = 'sent' AND last_sent_at <= $2 - ($3::bigint * interval '1 millisecond'))
     ) ORDER BY id`,
    [sourceId, at, resendAfterMs],
  );

export const markAlertSent = (id: number, at: Date): SqlQuery =>
  q(
    `UPDATE safety_alerts SET state = 'sent', sends = sends + 1, attempts = attempts + 1, last_sent_at = $2,
       last_error = NULL WHERE id = $1 AND state IN ('pending', 'sent')`,
    [id, at],
  );

export const markAlertFailed = (id: number, error: string, next: Date): SqlQuery =>
  q(
    `UPDATE safety_alerts SET state = 'pending', attempts = attempts + 1, last_error = $2, next_attempt_at = $3
     WHERE id = $1 AND state IN ('pending', 'sent')`,
    [id, error, next],
  );

/** Acknowledges every channel's alert of the same Task (one person answering is enough). */
export const acknowledgeAlert = (id: number, by: string, at: Date, scope: SourceScope = null): SqlQuery =>
  q(
    `UPDATE safety_alerts a SET state = 'acknowledged', acknowledged_at = $3, acknowledged_by = $2
     FROM safety_alerts b
     WHERE b.id = $1 AND a.source_id = b.source_id AND a.task_identifier = b.task_identifier
       AND a.state IN ('pending', 'sent') AND ($4::text[] IS NULL OR b.source_id = ANY($4::text[]))
     RETURNING a.id`,
    [id, by, at, scopeArray(scope)],
  );

export const listAlerts = (sourceId: SourceScope, openOnly: boolean): SqlQuery =>
  q(
    `SELECT * FROM safety_alerts WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[]))
       AND (NOT $2 OR state IN ('pending', 'sent')) ORDER BY created_at DESC, id DESC LIMIT 500`,
    [scopeArray(sourceId), openOnly],
  );

const toAlert = (r: Record<string, unknown>): SafetyAlert => ({
  id: Number(r.id),
  sourceId: String(r.source_id),
  patientId: String(r.patient_id),
  taskIdentifier: String(r.task_identifier),
  taskServerId: str(r.task_server_id),
  channel: r.channel as SafetyAlert['channel'],
  state: r.state as SafetyAlert['state'],
  attempts: Number(r.attempts),
  sends: Number(r.sends),
  lastError: str(r.last_error),
  nextAttemptAt: date(r.next_attempt_at),
  lastSentAt: dateOrNull(r.last_sent_at),
  acknowledgedAt: dateOrNull(r.acknowledged_at),
  acknowledgedBy: str(r.acknowledged_by),
  createdAt: date(r.created_at),
});

export function alertsRole({ db }: RoleContext) {
  return {
    /** Stores the alerts to send for the source's open safety Tasks; returns how many are new. */
    async createAlertIntents(sourceId: string, channels: string[], at: Date): Promise<number> {
      if (channels.length === 0) return 0;
      return (await db.query(createAlertIntents(sourceId, channels, at))).length;
    },
    async resolveEndedAlerts(sourceId: string): Promise<number> {
      return (await db.query(resolveEndedAlerts(sourceId))).length;
    },
    async dueAlerts(sourceId: string, at: Date, resendAfterMs: number | null): Promise<SafetyAlert[]> {
      return (await db.query(dueAlerts(sourceId, at, resendAfterMs))).map(toAlert);
    },
    async markAlertSent(id: number, at: Date): Promise<void> {
      await db.query(markAlertSent(id, at));
    },
    async markAlertFailed(id: number, error: string, next: Date): Promise<void> {
      await db.query(markAlertFailed(id, error, next));
    },
    /** Acknowledges the alert (of a source in `scope`); how many channels' alerts it ended. */
    async acknowledgeAlert(id: number, by: string, at: Date, scope: SourceScope = null): Promise<number> {
      return (await db.query(acknowledgeAlert(id, by, at, scope))).length;
    },
    async listAlerts(options: { sourceId?: SourceScope; openOnly?: boolean } = {}): Promise<SafetyAlert[]> {
      return (await db.query(listAlerts(options.sourceId ?? null, options.openOnly ?? false))).map(toAlert);
    },
  };
}

export type AlertsRole = ReturnType<typeof alertsRole>;
