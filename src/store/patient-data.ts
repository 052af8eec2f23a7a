/**
 * Stored data read by patient and by type: the patients of a source and their identifiers, each
 * patient's resources (what the models are built from), the Questionnaires stored. Its SQL builders
 * (pure, `{ text, values }`, values never interpolated) and the methods that run them; the methods
 * are part of `Store` (store.ts).
 */
import type { Identifier, PatientLink } from '@medplum/fhirtypes';
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { q, str, scopeArray, type SourceScope } from './rows';

export const listQuestionnaireUrls = (sourceId: string): SqlQuery =>
  q(
    `SELECT DISTINCT resource->>'url' AS url FROM resources
     WHERE source_id = $1 AND resource_type = 'Questionnaire' AND resource ? 'url'`,
    [sourceId],
  );

/** Every stored Patient's id and links (merged records point at their survivor). */
export const patientRoster = (sourceId: string): SqlQuery =>
  q(
    `SELECT resource_id, resource->'link' AS link, resource->'identifier' AS identifier FROM resources WHERE source_id = $1 AND resource_type = 'Patient' ORDER BY resource_id`,
    [sourceId],
  );

/** Stored patients carrying an identifier (value, and system when given): the dashboard's look-up by MRN. */
export const patientsByIdentifier = (system: string | null, value: string): SqlQuery =>
  q(
    `SELECT source_id, resource_id FROM resources
     WHERE resource_type = 'Patient' AND resource->'identifier' @> $1::jsonb ORDER BY source_id, resource_id LIMIT 20`,
    [JSON.stringify([system ? { system, value } : { value }])],
  );

export const resourcesOfType = (sourceId: string, resourceType: string): SqlQuery =>
  q('SELECT resource FROM resources WHERE source_id = $1 AND resource_type = $2 ORDER BY resource_id', [
    sourceId,
    resourceType,
  ]);

export const resourcesOfPatients = (sourceId: string, patientIds: string[]): SqlQuery =>
  q(
    `SELECT patient_id, resource_type, resource_id, resource FROM resources
     WHERE source_id = $1 AND patient_id = ANY($2::text[]) ORDER BY patient_id, resource_type, resource_id`,
    [sourceId, patientIds],
  );

/** Stored resources of some types (optionally of one source), with their patient. */
export const resourcesOfTypes = (sourceId: SourceScope, types: string[]): SqlQuery =>
  q(
    `SELECT source_id, patient_id, resource FROM resources
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND resource_type = ANY($2::text[]) ORDER BY source_id, resource_type, resource_id`,
    [scopeArray(sourceId), types],
  );

/** Stored data read by patient and by type. */
export function patientDataRole({ db }: RoleContext) {
  return {
    /** Canonical URLs of the Questionnaires stored for a source. */
    async listQuestionnaireUrls(sourceId: string): Promise<string[]> {
      const rows = await db.query(listQuestionnaireUrls(sourceId));
      return rows.map((r) => String(r.url));
    },

    /** The source's patients with their links and identifiers: who may be computed for, and how references find them. */
    async patientRoster(sourceId: string): Promise<{ id: string; link?: PatientLink[]; identifier?: Identifier[] }[]> {
      const rows = await db.query(patientRoster(sourceId));
      return rows.map((r) => ({
        id: String(r.resource_id),
        ...(Array.isArray(r.link) ? { link: r.link as PatientLink[] } : {}),
        ...(Array.isArray(r.identifier) ? { identifier: r.identifier as Identifier[] } : {}),
      }));
    },

    async patientsByIdentifier(
      system: string | undefined,
      value: string,
    ): Promise<{ sourceId: string; patientId: string }[]> {
      const rows = await db.query(patientsByIdentifier(system ?? null, value));
      return rows.map((r) => ({ sourceId: String(r.source_id), patientId: String(r.resource_id) }));
    },

    async resourcesOfTypes(
      types: string[],
      sourceId?: string,
    ): Promise<{ sourceId: string; patientId: string | null; resource: Record<string, unknown> }[]> {
      const rows = await db.query(resourcesOfTypes(sourceId ?? null, types));
      return rows.map((r) => ({
        sourceId: String(r.source_id),
        patientId: str(r.patient_id),
        resource: r.resource as Record<string, unknown>,
      }));
    },

    /** Stored resources of some patients, grouped by patient. */
    async resourcesOfPatients(sourceId: string, patientIds: string[]): Promise<Map<string, Record<string, unknown>[]>> {
      const out = new Map<string, Record<string, unknown>[]>();
      if (patientIds.length === 0) return out;
      const rows = await db.query(resourcesOfPatients(sourceId, patientIds));
      for (const r of rows) {
        const p = String(r.patient_id);
        let list = out.get(p);
        if (!list) out.set(p, (list = []));
        list.push(r.resource as Record<string, unknown>);
      }
      return out;
    },

    async resourcesOfType(sourceId: string, resourceType: string): Promise<Record<string, unknown>[]> {
      const rows = await db.query(resourcesOfType(sourceId, resourceType));
      return rows.map((r) => r.resource as Record<string, unknown>);
    },
  };
}

export type PatientDataRole = ReturnType<typeof patientDataRole>;
