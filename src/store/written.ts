/**
 * What fhir-engage wrote to each EMR, by its own identifier. Its SQL builders (pure, `{ text,
 * values }`, values never interpolated) and the methods that run them, together; the methods are
 * part of `Store` (store.ts).
 */
import { date, q, str, type Row, scopeArray, type SourceScope } from './rows';
import type { SqlQuery } from './driver';
import type { WrittenResource, WrittenState } from './types';
import type { RoleContext } from './role';

export type WrittenUpsert = Omit<WrittenResource, 'updatedAt'>;

export const upsertWritten = (w: WrittenUpsert): SqlQuery =>
  q(
    `INSERT INTO written_resources (source_id, identifier_value, resource_type, patient_id, rule, target, server_id, version_id, content_hash, status, state, run_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (source_id, identifier_value) DO UPDATE SET
       server_id = EXCLUDED.server_id, version_id = EXCLUDED.version_id, content_hash = EXCLUDED.content_hash,
       status = EXCLUDED.status, state = EXCLUDED.state, run_id = EXCLUDED.run_id, target = EXCLUDED.target, updated_at = now()`,
    [
      w.sourceId,
      w.identifierValue,
      w.resourceType,
      w.patientId,
      w.rule,
      w.target,
      w.serverId,
      w.versionId,
      w.contentHash,
      w.status,
      w.state,
      w.runId,
    ],
  );

export const getWritten = (sourceId: string, identifierValue: string): SqlQuery =>
  q('SELECT * FROM written_resources WHERE source_id = $1 AND identifier_value = $2', [sourceId, identifierValue]);

export const getWrittenByServerId = (sourceId: string, serverId: string): SqlQuery =>
  q('SELECT * FROM written_resources WHERE source_id = $1 AND server_id = $2 ORDER BY updated_at DESC LIMIT 1', [
    sourceId,
    serverId,
  ]);

export const listWrittenForPatients = (sourceId: string, patientIds: string[]): SqlQuery =>
  q('SELECT * FROM written_resources WHERE source_id = $1 AND patient_id = ANY($2::text[]) ORDER BY identifier_value', [
    sourceId,
    patientIds,
  ]);

export const countWritten = (sourceId: SourceScope): SqlQuery =>
  q(
    `SELECT resource_type, state, count(*)::int AS n FROM written_resources WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[]))
     GROUP BY resource_type, state ORDER BY resource_type, state`,
    [scopeArray(sourceId)],
  );

export const listWrittenByRule = (sourceId: SourceScope, rules: string[]): SqlQuery =>
  q(
    `SELECT source_id, identifier_value, rule, patient_id, state, status FROM written_resources
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND rule = ANY($2::text[]) ORDER BY source_id, identifier_value`,
    [scopeArray(sourceId), rules],
  );

function toWritten(r: Row): WrittenResource {
  return {
    sourceId: String(r.source_id),
    identifierValue: String(r.identifier_value),
    resourceType: String(r.resource_type),
    patientId: String(r.patient_id),
    rule: String(r.rule),
    target: String(r.target),
    serverId: str(r.server_id),
    versionId: str(r.version_id),
    contentHash: String(r.content_hash),
    status: str(r.status),
    state: r.state as WrittenState,
    runId: str(r.run_id),
    updatedAt: date(r.updated_at),
  };
}

/** What fhir-engage wrote to each EMR, by its own identifier. */
export function writtenRole({ db }: RoleContext) {
  return {
    async upsertWritten(w: Omit<WrittenResource, 'updatedAt'>): Promise<void> {
      await db.query(upsertWritten(w));
    },

    async getWritten(sourceId: string, identifierValue: string): Promise<WrittenResource | undefined> {
      const rows = await db.query(getWritten(sourceId, identifierValue));
      return rows[0] ? toWritten(rows[0]) : undefined;
    },

    /** What fhir-engage wrote that lives under `serverId` in the EMR. */
    async getWrittenByServerId(sourceId: string, serverId: string): Promise<WrittenResource | undefined> {
      const rows = await db.query(getWrittenByServerId(sourceId, serverId));
      return rows[0] ? toWritten(rows[0]) : undefined;
    },

    async listWrittenForPatients(sourceId: string, patientIds: string[]): Promise<WrittenResource[]> {
      if (patientIds.length === 0) return [];
      const rows = await db.query(listWrittenForPatients(sourceId, patientIds));
      return rows.map(toWritten);
    },

    async countWritten(sourceId?: string): Promise<{ resourceType: string; state: string; n: number }[]> {
      const rows = await db.query(countWritten(sourceId ?? null));
      return rows.map((r) => ({ resourceType: String(r.resource_type), state: String(r.state), n: Number(r.n) }));
    },

    async listWrittenByRule(
      rules: string[],
      sourceId?: string,
    ): Promise<
      {
        sourceId: string;
        identifierValue: string;
        rule: string;
        patientId: string;
        state: string;
        status: string | null;
      }[]
    > {
      const rows = await db.query(listWrittenByRule(sourceId ?? null, rules));
      return rows.map((r) => ({
        sourceId: String(r.source_id),
        identifierValue: String(r.identifier_value),
        rule: String(r.rule),
        patientId: String(r.patient_id),
        state: String(r.state),
        status: str(r.status),
      }));
    },
  };
}

export type WrittenRole = ReturnType<typeof writtenRole>;
