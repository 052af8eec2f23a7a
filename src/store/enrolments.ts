/**
 * Enrolment over time (docs/programme.md): each patient's spells in each programme, opened when they
 * start to meet its criteria and ended when they stop, with why. Its SQL builders (pure,
 * `{ text, values }`, values never interpolated) and the methods that run them, together; the
 * methods are part of `Store` (store.ts).
 */
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { date, dateOrNull, q, str, scopeArray, type SourceScope } from './rows';

export interface EnrolmentSpell {
  sourceId: string;
  programmeId: string;
  patientId: string;
  startedAt: Date;
  endedAt: Date | null;
  endReason: string | null;
}

/** A patient's spell in a programme that has not ended. */
export interface OpenSpell {
  programmeId: string;
  startedAt: Date;
}

export interface EnrolmentChange {
  patientId: string;
  programmeId: string;
  /** Present when the spell ends: why. */
  endReason?: string;
}

export const openEnrolments = (sourceId: string, patientIds: string[]): SqlQuery =>
  q(
    `SELECT patient_id, programme_id, started_at FROM programme_enrolments
     WHERE source_id = $1 AND patient_id = ANY($2::text[]) AND ended_at IS NULL`,
    [sourceId, patientIds],
  );

/** Starts spells (one already open is left as it is). */
export const startEnrolments = (sourceId: string, runId: string | null, at: Date, rows: EnrolmentChange[]): SqlQuery =>
  q(
    `INSERT INTO programme_enrolments (source_id, programme_id, patient_id, started_at, start_run_id)
     SELECT $1, t.programme_id, t.patient_id, $2, $3
     FROM unnest($4::text[], $5::text[]) AS t(patient_id, programme_id)
     ON CONFLICT (source_id, programme_id, patient_id) WHERE ended_at IS NULL DO NOTHING`,
    [sourceId, at, runId, rows.map((r) => r.patientId), rows.map((r) => r.programmeId)],
  );

export const endEnrolments = (sourceId: string, runId: string | null, at: Date, rows: EnrolmentChange[]): SqlQuery =>
  q(
    `UPDATE programme_enrolments e SET ended_at = $2, end_run_id = $3, end_reason = t.reason
     FROM unnest($4::text[], $5::text[], $6::text[]) AS t(patient_id, programme_id, reason)
     WHERE e.source_id = $1 AND e.patient_id = t.patient_id AND e.programme_id = t.programme_id AND e.ended_at IS NULL`,
    [
      sourceId,
      at,
      runId,
      rows.map((r) => r.patientId),
      rows.map((r) => r.programmeId),
      rows.map((r) => r.endReason ?? 'no longer meets the enrolment criteria'),
    ],
  );

/** When each programme of the source first enrolled anyone (its start, for phased start). */
export const programmeStarts = (sourceId: string): SqlQuery =>
  q(
    'SELECT programme_id, min(started_at) AS started_at FROM programme_enrolments WHERE source_id = $1 GROUP BY programme_id',
    [sourceId],
  );

/** Spells that overlap [from, to), of one source or all. */
export const spellsInPeriod = (sourceId: SourceScope, from: Date, to: Date): SqlQuery =>
  q(
    `SELECT * FROM programme_enrolments
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND started_at < $3 AND (ended_at IS NULL OR ended_at >= $2)
     ORDER BY source_id, programme_id, patient_id, started_at`,
    [scopeArray(sourceId), from, to],
  );

export const patientSpells = (sourceId: SourceScope, patientId: string): SqlQuery =>
  q(
    `SELECT * FROM programme_enrolments WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND patient_id = $2
     ORDER BY source_id, started_at, programme_id`,
    [scopeArray(sourceId), patientId],
  );

const toSpell = (r: Record<string, unknown>): EnrolmentSpell => ({
  sourceId: String(r.source_id),
  programmeId: String(r.programme_id),
  patientId: String(r.patient_id),
  startedAt: date(r.started_at),
  endedAt: dateOrNull(r.ended_at),
  endReason: str(r.end_reason),
});

/** Programme enrolment spells. */
export function enrolmentsRole({ db }: RoleContext) {
  return {
    /** The programmes each of these patients is enrolled in now. */
    async openEnrolments(sourceId: string, patientIds: string[]): Promise<Map<string, OpenSpell[]>> {
      const out = new Map<string, OpenSpell[]>();
      if (patientIds.length === 0) return out;
      for (const r of await db.query(openEnrolments(sourceId, patientIds))) {
        const spell = { programmeId: String(r.programme_id), startedAt: date(r.started_at) };
        out.set(String(r.patient_id), [...(out.get(String(r.patient_id)) ?? []), spell]);
      }
      return out;
    },
    /** Records the spells that start and end at `at` (one statement each). */
    async recordEnrolments(
      sourceId: string,
      runId: string | null,
      at: Date,
      changes: { started: EnrolmentChange[]; ended: EnrolmentChange[] },
    ): Promise<void> {
      if (changes.ended.length) await db.query(endEnrolments(sourceId, runId, at, changes.ended));
      if (changes.started.length) await db.query(startEnrolments(sourceId, runId, at, changes.started));
    },
    async programmeStarts(sourceId: string): Promise<Map<string, Date>> {
      const rows = await db.query(programmeStarts(sourceId));
      return new Map(rows.map((r) => [String(r.programme_id), date(r.started_at)]));
    },
    async enrolmentSpells(sourceId: string | null, from: Date, to: Date): Promise<EnrolmentSpell[]> {
      return (await db.query(spellsInPeriod(sourceId, from, to))).map(toSpell);
    },
    async patientEnrolments(sourceId: string | null, patientId: string): Promise<EnrolmentSpell[]> {
      return (await db.query(patientSpells(sourceId, patientId))).map(toSpell);
    },
  };
}

export type EnrolmentsRole = ReturnType<typeof enrolmentsRole>;
