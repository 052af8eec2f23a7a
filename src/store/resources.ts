/**
 * Pulled resources and pages: stored by content hash, read back one by one or as versions seen,
 * deleted when the source deletes them (reads by patient and type are patient-data.ts). Its SQL builders (pure, `{ text, values }`, values never
 * interpolated) and the methods that run them, together; the methods are part of `Store`
 * (store.ts).
 */
import { BATCH_ROWS, chunks, dateOrNull, q, str, type Row } from './rows';
import { CHECKPOINT_MOVES_FORWARD } from './runs';
import type { Db, SqlQuery } from './driver';
import { resourceContentHash } from './content-hash';
import type { ResourceInput, StoredResource, UpsertResult } from './types';
import { storeError } from '../errors';
import type { RoleContext } from './role';

export interface ResourceRow {
  resourceType: string;
  resourceId: string;
  versionId: string | null;
  lastUpdated: Date | null;
  contentHash: string;
  patientId: string | null;
  resource: object;
}

/**
 * Multi-row upsert. A row whose content hash is unchanged is not written and
 * not returned; `inserted` tells new rows from changed ones.
 */
export const upsertResources = (
  sourceId: string,
  runId: string | null,
  rows: ResourceRow[],
  checkpoint?: { resourceType: string; state: unknown },
): SqlQuery =>
  q(
    `WITH up AS (
     INSERT INTO resources (source_id, resource_type, resource_id, version_id, last_updated, content_hash, patient_id, resource, run_id)
     SELECT $1, t.resource_type, t.resource_id, t.version_id, t.last_updated, t.content_hash, t.patient_id, t.resource, $2
     FROM jsonb_to_recordset($3::jsonb)
       AS t(resource_type text, resource_id text, version_id text, last_updated timestamptz, content_hash text, patient_id text, resource jsonb)
     ON CONFLICT (source_id, resource_type, resource_id) DO UPDATE SET
       version_id = EXCLUDED.version_id, last_updated = EXCLUDED.last_updated, content_hash = EXCLUDED.content_hash,
       patient_id = EXCLUDED.patient_id, resource = EXCLUDED.resource, run_id = EXCLUDED.run_id, updated_at = now()
     WHERE resources.content_hash <> EXCLUDED.content_hash
     RETURNING resource_type, resource_id, patient_id, (xmax = 0) AS inserted
     ), marked AS (
       -- The patients of what changed are recomputed by the next compute stage (migration 006).
       INSERT INTO patients_to_compute (source_id, patient_id)
       SELECT DISTINCT $1, patient_id FROM up WHERE patient_id IS NOT NULL ORDER BY 2
       ON CONFLICT DO NOTHING
     )${
       checkpoint
         ? // A search page commits with its checkpoint in this one statement: one round trip, atomic, no BEGIN/COMMIT.
           `, saved AS (
       INSERT INTO pull_checkpoints (source_id, resource_type, run_id, state) VALUES ($1, $4, $2, $5::jsonb)
       ON CONFLICT (source_id, resource_type) DO UPDATE SET run_id = EXCLUDED.run_id, state = EXCLUDED.state, updated_at = now()
       WHERE ${CHECKPOINT_MOVES_FORWARD}
     )`
         : ''
     }
     SELECT * FROM up`,
    [
      sourceId,
      runId,
      // One JSON document for the whole batch: serialised once, parsed by PostgreSQL in C (a text[] of
      // JSON strings would be escaped element by element by the driver).
      JSON.stringify(
        rows.map((r) => ({
          resource_type: r.resourceType,
          resource_id: r.resourceId,
          version_id: r.versionId,
          last_updated: r.lastUpdated ? r.lastUpdated.toISOString() : null,
          content_hash: r.contentHash,
          patient_id: r.patientId,
          resource: r.resource,
        })),
      ),
      ...(checkpoint ? [checkpoint.resourceType, JSON.stringify(checkpoint.state)] : []),
    ],
  );

export const getResource = (sourceId: string, resourceType: string, resourceId: string): SqlQuery =>
  q('SELECT * FROM resources WHERE source_id = $1 AND resource_type = $2 AND resource_id = $3', [
    sourceId,
    resourceType,
    resourceId,
  ]);

export const countResources = (sourceId: string): SqlQuery =>
  q(
    `SELECT resource_type, count(*)::int AS n FROM resources WHERE source_id = $1 GROUP BY resource_type ORDER BY resource_type`,
    [sourceId],
  );

/** Deletes the named resources of a source, marking their patients to be recomputed; one row back per deleted resource, with its patient. */
export const deleteResources = (sourceId: string, refs: { resourceType: string; resourceId: string }[]): SqlQuery =>
  q(
    `WITH gone AS (
       DELETE FROM resources r USING jsonb_to_recordset($2::jsonb) AS d(resource_type text, resource_id text)
       WHERE r.source_id = $1 AND r.resource_type = d.resource_type AND r.resource_id = d.resource_id
       RETURNING r.patient_id
     ), marked AS (
       INSERT INTO patients_to_compute (source_id, patient_id)
       SELECT DISTINCT $1, patient_id FROM gone WHERE patient_id IS NOT NULL ORDER BY 2
       ON CONFLICT DO NOTHING
     )
     SELECT patient_id FROM gone`,
    [sourceId, JSON.stringify(refs.map((r) => ({ resource_type: r.resourceType, resource_id: r.resourceId })))],
  );

/** Marks a stored resource changed, so that its patient is recomputed by the next run. */
export const touchResource = (sourceId: string, resourceType: string, resourceId: string): SqlQuery =>
  q(
    `WITH touched AS (
       UPDATE resources SET updated_at = now() WHERE source_id = $1 AND resource_type = $2 AND resource_id = $3 RETURNING resource_id, patient_id
     ), marked AS (
       INSERT INTO patients_to_compute (source_id, patient_id) SELECT $1, patient_id FROM touched WHERE patient_id IS NOT NULL ON CONFLICT DO NOTHING
     )
     SELECT resource_id FROM touched`,
    [sourceId, resourceType, resourceId],
  );

/** Version and time of stored resources of one type, by id (to skip what a page repeats before any validation). */
export const storedVersions = (sourceId: string, resourceType: string, ids: string[]): SqlQuery =>
  q(
    'SELECT resource_id, version_id, last_updated FROM resources WHERE source_id = $1 AND resource_type = $2 AND resource_id = ANY($3::text[])',
    [sourceId, resourceType, ids],
  );

export const listResourceIds = (sourceId: string, resourceType: string): SqlQuery =>
  q('SELECT resource_id FROM resources WHERE source_id = $1 AND resource_type = $2 ORDER BY resource_id', [
    sourceId,
    resourceType,
  ]);

function toStoredResource(r: Row): StoredResource {
  return {
    sourceId: String(r.source_id),
    resourceType: String(r.resource_type),
    resourceId: String(r.resource_id),
    versionId: str(r.version_id),
    lastUpdated: dateOrNull(r.last_updated),
    contentHash: String(r.content_hash),
    patientId: str(r.patient_id),
    resource: r.resource as Record<string, unknown>,
    runId: str(r.run_id),
  };
}

/** Pulled resources and pages: stored by content hash, read back by patient, type or identifier, deleted when the source deletes them. */
/**
 * Stores resources in id order, BATCH_ROWS per statement (a checkpoint, when given, commits with
 * them): the rows inserted or changed are counted, the unchanged skipped by content hash.
 */
async function upsertRows(
  db: Db,
  sourceId: string,
  runId: string | null,
  inputs: ResourceInput[],
  checkpoint?: { resourceType: string; state: unknown },
): Promise<UpsertResult> {
  const byKey = new Map<string, ResourceRow>();
  for (const { resource, patientId, contentHash } of inputs) {
    if (!resource.id) {
      throw storeError(`a ${resource.resourceType} without an id cannot be stored`);
    }
    const lastUpdated = resource.meta?.lastUpdated ? new Date(resource.meta.lastUpdated) : null;
    byKey.set(`${resource.resourceType}/${resource.id}`, {
      resourceType: resource.resourceType,
      resourceId: resource.id,
      versionId: resource.meta?.versionId ?? null,
      lastUpdated: lastUpdated && !Number.isNaN(lastUpdated.getTime()) ? lastUpdated : null,
      contentHash: contentHash ?? resourceContentHash(resource),
      patientId: patientId ?? null,
      resource,
    });
  }
  const result: UpsertResult = { inserted: 0, updated: 0, unchanged: 0, changedPatients: [], changed: [] };
  const patients = new Set<string>();
  // A checkpoint is only passed for inputs that fit one batch (storePage): it commits with them.
  // Rows go in id order: two pages stored at once then take their row locks in the same order (a
  // resource on both pages waits instead of deadlocking).
  const sorted = [...byKey.values()].sort((x, y) =>
    x.resourceId < y.resourceId ? -1 : x.resourceId > y.resourceId ? 1 : 0,
  );
  for (const batch of chunks(sorted, BATCH_ROWS)) {
    const rows = await db.query(upsertResources(sourceId, runId, batch, checkpoint));
    for (const r of rows) {
      const inserted = r.inserted === true;
      result.changed.push({ resourceType: String(r.resource_type), resourceId: String(r.resource_id), inserted });
      if (inserted) result.inserted++;
      else result.updated++;
      if (r.patient_id) patients.add(String(r.patient_id));
    }
    result.unchanged += batch.length - rows.length;
  }
  result.changedPatients = [...patients].sort();
  return result;
}

export function resourcesRole({ db, store }: RoleContext) {
  return {
    /**
     * Stores pulled resources. Same content twice → one row and no write;
     * within one call, a later copy of the same resource wins.
     */
    async upsertResources(sourceId: string, runId: string | null, inputs: ResourceInput[]): Promise<UpsertResult> {
      return upsertRows(db, sourceId, runId, inputs);
    },

    /**
     * A search page and its checkpoint (if any), committed together. A page that fits one statement is
     * one statement (one round trip, no transaction around it); a larger one with a checkpoint, one
     * transaction.
     */
    async storePage(
      sourceId: string,
      runId: string | null,
      inputs: ResourceInput[],
      checkpoint?: { resourceType: string; state: unknown },
    ): Promise<UpsertResult> {
      if (!checkpoint || (inputs.length > 0 && inputs.length <= BATCH_ROWS))
        return upsertRows(db, sourceId, runId, inputs, checkpoint);
      return store.transaction(async (tx) => {
        const result = await tx.upsertResources(sourceId, runId, inputs);
        await tx.saveCheckpoint(sourceId, checkpoint.resourceType, runId, checkpoint.state);
        return result;
      });
    },

    async getResource(sourceId: string, resourceType: string, resourceId: string): Promise<StoredResource | undefined> {
      const rows = await db.query(getResource(sourceId, resourceType, resourceId));
      return rows[0] ? toStoredResource(rows[0]) : undefined;
    },

    async countResources(sourceId: string): Promise<Record<string, number>> {
      const rows = await db.query(countResources(sourceId));
      return Object.fromEntries(rows.map((r) => [String(r.resource_type), Number(r.n)]));
    },

    /**
     * Removes resources the source deleted (a Bulk Data export's `deleted` files); returns how many were
     * stored and the patients they belonged to (to be recomputed without them).
     */
    async deleteResources(
      sourceId: string,
      refs: { resourceType: string; resourceId: string }[],
    ): Promise<{ deleted: number; patients: string[] }> {
      if (refs.length === 0) return { deleted: 0, patients: [] };
      const rows = await db.query(deleteResources(sourceId, refs));
      return {
        deleted: rows.length,
        patients: [...new Set(rows.map((r) => r.patient_id).filter((p): p is string => typeof p === 'string'))].sort(),
      };
    },

    /** Logical ids of the stored resources of a type, sorted (e.g. the patients of a source). */
    async listResourceIds(sourceId: string, resourceType: string): Promise<string[]> {
      const rows = await db.query(listResourceIds(sourceId, resourceType));
      return rows.map((r) => String(r.resource_id));
    },

    /** `versionId|lastUpdated` of stored resources of a type, by id: what a pull has already seen. */
    async storedVersions(sourceId: string, resourceType: string, ids: string[]): Promise<Map<string, string>> {
      if (ids.length === 0) return new Map();
      const rows = await db.query(storedVersions(sourceId, resourceType, ids));
      return new Map(
        rows.map((r) => [
          String(r.resource_id),
          `${str(r.version_id) ?? ''}|${dateOrNull(r.last_updated)?.toISOString() ?? ''}`,
        ]),
      );
    },

    async touchResource(sourceId: string, resourceType: string, resourceId: string): Promise<boolean> {
      return (await db.query(touchResource(sourceId, resourceType, resourceId))).length === 1;
    },
  };
}

export type ResourcesRole = ReturnType<typeof resourcesRole>;
