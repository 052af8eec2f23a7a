/**
 * Every SQL statement of the store, as pure builders returning
 * `{ text, values }` with $n placeholders. Values are never interpolated.
 * Unit-tested without a database (test/store/queries.test.ts).
 */
import type { SqlQuery } from './driver';
import type { WrittenResource } from './types';

const q = (text: string, values: unknown[] = []): SqlQuery => ({ text, values });

// ── sources ─────────────────────────────────────────────────────────────────

export const upsertSource = (id: string, name: string | null, baseUrl: string): SqlQuery =>
  q(
    `INSERT INTO sources (id, name, base_url) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, base_url = EXCLUDED.base_url, updated_at = now()
     WHERE sources.name IS DISTINCT FROM EXCLUDED.name OR sources.base_url <> EXCLUDED.base_url`,
    [id, name, baseUrl],
  );

export const listSources = (): SqlQuery =>
  q('SELECT id, name, base_url, created_at, updated_at FROM sources ORDER BY id');

// ── sync runs ───────────────────────────────────────────────────────────────

export const insertRun = (id: string, sourceId: string, asOf: Date, options: unknown): SqlQuery =>
  q(
    `INSERT INTO sync_runs (id, source_id, status, as_of, options) VALUES ($1, $2, 'running', $3, $4::jsonb)
     RETURNING *`,
    [id, sourceId, asOf, JSON.stringify(options)],
  );

export const finishRun = (id: string, status: string, counts: unknown, error: unknown): SqlQuery =>
  q(
    `UPDATE sync_runs SET status = $2, counts = $3::jsonb, error = $4::jsonb, finished_at = now(), heartbeat_at = now()
     WHERE id = $1 RETURNING *`,
    [id, status, JSON.stringify(counts), error === undefined ? null : JSON.stringify(error)],
  );

export const heartbeatRun = (id: string, counts: unknown): SqlQuery =>
  q(`UPDATE sync_runs SET heartbeat_at = now(), counts = $2::jsonb WHERE id = $1 AND status = 'running'`, [
    id,
    JSON.stringify(counts),
  ]);

export const getRun = (id: string): SqlQuery => q('SELECT * FROM sync_runs WHERE id = $1', [id]);

export const listRuns = (sourceId: string | null, limit: number): SqlQuery =>
  q(
    `SELECT * FROM sync_runs WHERE ($1::text IS NULL OR source_id = $1)
     ORDER BY started_at DESC, id DESC LIMIT $2`,
    [sourceId, limit],
  );

/** Runs still marked running whose heartbeat is older than `staleSeconds`: their process died. */
export const markStaleRunsInterrupted = (sourceId: string, staleSeconds: number): SqlQuery =>
  q(
    `UPDATE sync_runs SET status = 'interrupted', finished_at = now()
     WHERE source_id = $1 AND status = 'running' AND heartbeat_at < now() - make_interval(secs => $2)
     RETURNING *`,
    [sourceId, staleSeconds],
  );

// ── watermarks ──────────────────────────────────────────────────────────────

export const getWatermark = (sourceId: string, resourceType: string): SqlQuery =>
  q('SELECT last_updated FROM watermarks WHERE source_id = $1 AND resource_type = $2', [sourceId, resourceType]);

/** Watermarks only move forward: a late page with older resources cannot pull them back. */
export const advanceWatermark = (sourceId: string, resourceType: string, lastUpdated: Date): SqlQuery =>
  q(
    `INSERT INTO watermarks (source_id, resource_type, last_updated) VALUES ($1, $2, $3)
     ON CONFLICT (source_id, resource_type) DO UPDATE
       SET last_updated = GREATEST(watermarks.last_updated, EXCLUDED.last_updated), updated_at = now()`,
    [sourceId, resourceType, lastUpdated],
  );

// ── resources ───────────────────────────────────────────────────────────────

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

// ── outbox ──────────────────────────────────────────────────────────────────

export interface OutboxInsert {
  priority?: number;
  target: string;
  dedupeKey: string;
  resourceType: string;
  payload: unknown;
  contentHash: string;
}

/** Enqueue; a live row with the same identity and content makes it a no-op. */
export const enqueueOutbox = (sourceId: string, runId: string | null, items: OutboxInsert[]): SqlQuery =>
  q(
    `INSERT INTO outbox (source_id, run_id, target, dedupe_key, resource_type, payload, content_hash, priority)
     SELECT $1, $2, t.target, t.dedupe_key, t.resource_type, t.payload::jsonb, t.content_hash, t.priority
     FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[])
       AS t(target, dedupe_key, resource_type, payload, content_hash, priority)
     ON CONFLICT (dedupe_key, content_hash) WHERE state IN ('pending', 'sending') DO NOTHING
     RETURNING id`,
    [
      sourceId,
      runId,
      items.map((i) => i.target),
      items.map((i) => i.dedupeKey),
      items.map((i) => i.resourceType),
      items.map((i) => JSON.stringify(i.payload)),
      items.map((i) => i.contentHash),
      items.map((i) => i.priority ?? 1),
    ],
  );

/**
 * Claims up to `limit` rows that are pending, or whose lease expired (their
 * worker died). SKIP LOCKED keeps concurrent workers from claiming one row twice.
 */
export const claimOutbox = (sourceId: string | null, workerId: string, limit: number, leaseSeconds: number): SqlQuery =>
  q(
    `UPDATE outbox SET state = 'sending', claimed_by = $2, attempts = attempts + 1,
       lease_until = now() + make_interval(secs => $4)
     WHERE id IN (
       SELECT id FROM outbox
       WHERE ($1::text IS NULL OR source_id = $1)
         AND next_attempt_at <= now()
         AND (state = 'pending' OR (state = 'sending' AND lease_until < now()))
       ORDER BY priority, id
       LIMIT $3
       FOR UPDATE SKIP LOCKED
     )
     RETURNING *`,
    [sourceId, workerId, limit, leaseSeconds],
  );

export const ackOutbox = (id: number, workerId: string, result: unknown): SqlQuery =>
  q(
    `UPDATE outbox SET state = 'sent', result = $3::jsonb, sent_at = now(), lease_until = NULL
     WHERE id = $1 AND claimed_by = $2 AND state = 'sending' RETURNING id`,
    [id, workerId, JSON.stringify(result)],
  );

/** A failed attempt: back to pending after `retryInSeconds`, or failed for good. */
export const failOutbox = (id: number, workerId: string, error: unknown, retryInSeconds: number | null): SqlQuery =>
  q(
    `UPDATE outbox SET
       state = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'pending' END,
       next_attempt_at = CASE WHEN $4::float8 IS NULL THEN next_attempt_at ELSE now() + make_interval(secs => $4::float8) END,
       last_error = $3::jsonb, lease_until = NULL
     WHERE id = $1 AND claimed_by = $2 AND state = 'sending' RETURNING id, state`,
    [id, workerId, JSON.stringify(error), retryInSeconds],
  );

/** Rows left "sending" by a dead worker go back to pending (callers hold the source's sync lock). */
export const releaseOutboxClaims = (sourceId: string): SqlQuery =>
  q(`UPDATE outbox SET state = 'pending', lease_until = NULL WHERE source_id = $1 AND state = 'sending' RETURNING id`, [
    sourceId,
  ]);

export const outboxCounts = (sourceId: string | null): SqlQuery =>
  q(`SELECT state, count(*)::int AS n FROM outbox WHERE ($1::text IS NULL OR source_id = $1) GROUP BY state`, [
    sourceId,
  ]);

// ── dead letters ────────────────────────────────────────────────────────────

export interface DeadLetterInsert {
  payloadHash: string | null;
  sourceId: string;
  runId: string | null;
  stage: string;
  resourceType: string | null;
  resourceId: string | null;
  payload: unknown;
  outcome: unknown;
}

export const insertDeadLetters = (items: DeadLetterInsert[]): SqlQuery =>
  q(
    `INSERT INTO dead_letters (source_id, run_id, stage, resource_type, resource_id, payload, outcome, payload_hash)
     SELECT t.source_id, t.run_id, t.stage, t.resource_type, t.resource_id, t.payload::jsonb, t.outcome::jsonb, t.payload_hash
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
       AS t(source_id, run_id, stage, resource_type, resource_id, payload, outcome, payload_hash)
     ON CONFLICT (source_id, stage, resource_type, resource_id, payload_hash)
       WHERE resolved_at IS NULL AND payload_hash IS NOT NULL DO NOTHING
     RETURNING id`,
    [
      items.map((i) => i.sourceId),
      items.map((i) => i.runId),
      items.map((i) => i.stage),
      items.map((i) => i.resourceType),
      items.map((i) => i.resourceId),
      items.map((i) => (i.payload === undefined ? null : JSON.stringify(i.payload))),
      items.map((i) => JSON.stringify(i.outcome)),
      items.map((i) => i.payloadHash),
    ],
  );

export interface DeadLetterFilter {
  sourceId: string | null;
  runId: string | null;
  resourceType: string | null;
  stage: string | null;
}

export const listDeadLetters = (f: DeadLetterFilter, limit: number): SqlQuery =>
  q(
    `SELECT * FROM dead_letters
     WHERE ($1::text IS NULL OR source_id = $1) AND ($2::text IS NULL OR run_id = $2) AND resolved_at IS NULL
       AND ($3::text IS NULL OR resource_type = $3) AND ($4::text IS NULL OR stage = $4)
     ORDER BY id DESC LIMIT $5`,
    [f.sourceId, f.runId, f.resourceType, f.stage, limit],
  );

export const dismissDeadLetter = (id: number, reason: string, by: string): SqlQuery =>
  q(
    'UPDATE dead_letters SET resolved_at = now(), dismissed_reason = $2, dismissed_by = $3 WHERE id = $1 AND resolved_at IS NULL RETURNING id',
    [id, reason, by],
  );

export const getDeadLetter = (id: number): SqlQuery => q('SELECT * FROM dead_letters WHERE id = $1', [id]);

export const resolveDeadLetter = (id: number): SqlQuery =>
  q(
    'UPDATE dead_letters SET resolved_at = now(), retried_at = now() WHERE id = $1 AND resolved_at IS NULL RETURNING id',
    [id],
  );

export const countDeadLetters = (sourceId: string | null, runId: string | null): SqlQuery =>
  q(
    `SELECT count(*)::int AS n FROM dead_letters
     WHERE ($1::text IS NULL OR source_id = $1) AND ($2::text IS NULL OR run_id = $2) AND resolved_at IS NULL`,
    [sourceId, runId],
  );

// ── pull checkpoints ────────────────────────────────────────────────────────

/**
 * Two pages of a search may be stored at once and commit in either order (fhir/pull.ts followPages):
 * a page checkpoint of the same run never goes back to fewer pages. Another run's, or a checkpoint
 * of another kind (per patient, bulk), always replaces it.
 */
const CHECKPOINT_MOVES_FORWARD = `pull_checkpoints.run_id IS DISTINCT FROM EXCLUDED.run_id
         OR NOT (pull_checkpoints.state ? 'pages' AND EXCLUDED.state ? 'pages')
         OR (pull_checkpoints.state->>'pages')::numeric < (EXCLUDED.state->>'pages')::numeric`;

export const saveCheckpoint = (
  sourceId: string,
  resourceType: string,
  runId: string | null,
  state: unknown,
): SqlQuery =>
  q(
    `INSERT INTO pull_checkpoints (source_id, resource_type, run_id, state) VALUES ($1, $2, $3, $4::jsonb)
     ON CONFLICT (source_id, resource_type) DO UPDATE SET run_id = EXCLUDED.run_id, state = EXCLUDED.state, updated_at = now()
     WHERE ${CHECKPOINT_MOVES_FORWARD}`,
    [sourceId, resourceType, runId, JSON.stringify(state)],
  );

export const getCheckpoint = (sourceId: string, resourceType: string): SqlQuery =>
  q('SELECT state, run_id FROM pull_checkpoints WHERE source_id = $1 AND resource_type = $2', [sourceId, resourceType]);

export const deleteCheckpoint = (sourceId: string, resourceType: string): SqlQuery =>
  q('DELETE FROM pull_checkpoints WHERE source_id = $1 AND resource_type = $2', [sourceId, resourceType]);

// ── bulk exports ────────────────────────────────────────────────────────────

export const saveBulkExport = (sourceId: string, runId: string | null, statusUrl: string, request: unknown): SqlQuery =>
  q(
    `INSERT INTO bulk_exports (source_id, run_id, status_url, request) VALUES ($1, $2, $3, $4::jsonb)
     ON CONFLICT (source_id) DO UPDATE SET run_id = EXCLUDED.run_id, status_url = EXCLUDED.status_url, request = EXCLUDED.request,
       kicked_off_at = now(), manifest = NULL, updated_at = now()`,
    [sourceId, runId, statusUrl, JSON.stringify(request)],
  );

export const getBulkExport = (sourceId: string): SqlQuery =>
  q('SELECT run_id, status_url, request, kicked_off_at, manifest FROM bulk_exports WHERE source_id = $1', [sourceId]);

export const saveBulkManifest = (sourceId: string, manifest: unknown): SqlQuery =>
  q('UPDATE bulk_exports SET manifest = $2::jsonb, updated_at = now() WHERE source_id = $1', [
    sourceId,
    JSON.stringify(manifest),
  ]);

export interface BulkFileRow {
  url: string;
  kind: 'output' | 'error' | 'deleted';
  resourceType: string;
  position: number;
}

export const addBulkFiles = (sourceId: string, files: BulkFileRow[]): SqlQuery =>
  q(
    `INSERT INTO bulk_export_files (source_id, url, kind, resource_type, position)
     SELECT $1, t.url, t.kind, t.resource_type, t.position
     FROM jsonb_to_recordset($2::jsonb) AS t(url text, kind text, resource_type text, position integer)
     ON CONFLICT (source_id, url) DO NOTHING`,
    [
      sourceId,
      JSON.stringify(
        files.map((f) => ({ url: f.url, kind: f.kind, resource_type: f.resourceType, position: f.position })),
      ),
    ],
  );

export const listBulkFiles = (sourceId: string): SqlQuery =>
  q(
    'SELECT url, kind, resource_type, position, lines, bytes, done, counts FROM bulk_export_files WHERE source_id = $1 ORDER BY position',
    [sourceId],
  );

export const saveBulkFileProgress = (
  sourceId: string,
  url: string,
  lines: number,
  bytes: number,
  done: boolean,
  counts: Record<string, number>,
): SqlQuery =>
  q(
    'UPDATE bulk_export_files SET lines = $3, bytes = $4, done = $5, counts = $6::jsonb WHERE source_id = $1 AND url = $2',
    [sourceId, url, lines, bytes, done, JSON.stringify(counts)],
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

export const deleteBulkExport = (sourceId: string): SqlQuery[] => [
  q('DELETE FROM bulk_export_files WHERE source_id = $1', [sourceId]),
  q('DELETE FROM bulk_exports WHERE source_id = $1', [sourceId]),
];

export const listQuestionnaireUrls = (sourceId: string): SqlQuery =>
  q(
    `SELECT DISTINCT resource->>'url' AS url FROM resources
     WHERE source_id = $1 AND resource_type = 'Questionnaire' AND resource ? 'url'`,
    [sourceId],
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

/** Every stored Patient's id and links (merged records point at their survivor). */
export const patientRoster = (sourceId: string): SqlQuery =>
  q(
    `SELECT resource_id, resource->'link' AS link, resource->'identifier' AS identifier FROM resources WHERE source_id = $1 AND resource_type = 'Patient' ORDER BY resource_id`,
    [sourceId],
  );

export const listResourceIds = (sourceId: string, resourceType: string): SqlQuery =>
  q('SELECT resource_id FROM resources WHERE source_id = $1 AND resource_type = $2 ORDER BY resource_id', [
    sourceId,
    resourceType,
  ]);

// ── patient models and indicator history ────────────────────────────────────

// ── written resources ───────────────────────────────────────────────────────

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

export const listWrittenForPatients = (sourceId: string, patientIds: string[]): SqlQuery =>
  q('SELECT * FROM written_resources WHERE source_id = $1 AND patient_id = ANY($2::text[]) ORDER BY identifier_value', [
    sourceId,
    patientIds,
  ]);

export const countWritten = (sourceId: string | null): SqlQuery =>
  q(
    `SELECT resource_type, state, count(*)::int AS n FROM written_resources WHERE ($1::text IS NULL OR source_id = $1)
     GROUP BY resource_type, state ORDER BY resource_type, state`,
    [sourceId],
  );

// ── recomputation ───────────────────────────────────────────────────────────

/**
 * Patients to recompute as of `asOf`: those whose resources changed after
 * their model was last built, and those not yet computed on asOf's UTC day
 * (time-based indicators move by the day).
 */
export const patientsToRecompute = (sourceId: string, asOf: Date): SqlQuery =>
  q(
    `SELECT patient_id FROM patients_to_compute WHERE source_id = $1
     UNION
     SELECT patient_id FROM patient_models
     WHERE source_id = $1 AND (computed_as_of IS NULL OR (computed_as_of AT TIME ZONE 'UTC')::date <> ($2::timestamptz AT TIME ZONE 'UTC')::date)
     ORDER BY patient_id`,
    [sourceId, asOf],
  );

/** Patients whose data has been computed (or found merged into another record): no longer pending. */
export const markPatientsComputed = (sourceId: string, patientIds: string[]): SqlQuery =>
  q('DELETE FROM patients_to_compute WHERE source_id = $1 AND patient_id = ANY($2::text[])', [sourceId, patientIds]);

export const resourcesOfPatients = (sourceId: string, patientIds: string[]): SqlQuery =>
  q(
    `SELECT patient_id, resource_type, resource_id, resource FROM resources
     WHERE source_id = $1 AND patient_id = ANY($2::text[]) ORDER BY patient_id, resource_type, resource_id`,
    [sourceId, patientIds],
  );

/** Stored patients carrying an identifier (value, and system when given): the dashboard's look-up by MRN. */
export const patientsByIdentifier = (system: string | null, value: string): SqlQuery =>
  q(
    `SELECT source_id, resource_id FROM resources
     WHERE resource_type = 'Patient' AND resource->'identifier' @> $1::jsonb ORDER BY source_id, resource_id LIMIT 20`,
    [JSON.stringify([system ? { system, value } : { value }])],
  );

export const getModel = (sourceId: string, patientId: string): SqlQuery =>
  q('SELECT model, indicators, computed_as_of FROM patient_models WHERE source_id = $1 AND patient_id = $2', [
    sourceId,
    patientId,
  ]);

export const resourcesOfType = (sourceId: string, resourceType: string): SqlQuery =>
  q('SELECT resource FROM resources WHERE source_id = $1 AND resource_type = $2 ORDER BY resource_id', [
    sourceId,
    resourceType,
  ]);

/** The model and indicators of a patient, with when they were computed. */
export interface ComputationRow {
  patientId: string;
  model: unknown;
  indicators: unknown;
}

/**
 * Models and indicators of many patients in one statement (patients unique within a call). One JSON
 * document for the batch, as for resources: a text[] of JSON strings is escaped character by
 * character by the driver, which cost more than the statement.
 */
export const saveComputations = (
  sourceId: string,
  rows: ComputationRow[],
  asOf: Date,
  runId: string | null,
): SqlQuery =>
  q(
    `INSERT INTO patient_models (source_id, patient_id, model, model_hash, indicators, computed_as_of, run_id)
     SELECT $1, t.patient_id, t.model, NULL, t.indicators, $2, $3
     FROM jsonb_to_recordset($4::jsonb) AS t(patient_id text, model jsonb, indicators jsonb)
     ON CONFLICT (source_id, patient_id) DO UPDATE SET model = EXCLUDED.model, model_hash = NULL,
       indicators = EXCLUDED.indicators, computed_as_of = EXCLUDED.computed_as_of, run_id = EXCLUDED.run_id, updated_at = now()`,
    [
      sourceId,
      asOf,
      runId,
      JSON.stringify(rows.map((r) => ({ patient_id: r.patientId, model: r.model, indicators: r.indicators }))),
    ],
  );

export const getComputations = (patientId: string, sourceId: string | null): SqlQuery =>
  q(
    `SELECT source_id, patient_id, indicators, computed_as_of FROM patient_models
     WHERE patient_id = $1 AND ($2::text IS NULL OR source_id = $2) AND indicators IS NOT NULL ORDER BY source_id`,
    [patientId, sourceId],
  );

export const listComputations = (sourceId: string | null): SqlQuery =>
  q(
    `SELECT source_id, patient_id, indicators, computed_as_of FROM patient_models
     WHERE ($1::text IS NULL OR source_id = $1) AND indicators IS NOT NULL ORDER BY source_id, patient_id`,
    [sourceId],
  );

/**
 * One page of patients' indicators (and models, with `models`), in (source, patient) order after
 * `after`: the programme figures read the population a page at a time, never all of it at once.
 */
export const pageComputations = (
  sourceId: string | null,
  after: { sourceId: string; patientId: string } | null,
  limit: number,
  models: boolean,
): SqlQuery =>
  q(
    `SELECT source_id, patient_id, indicators${models ? ', model' : ''} FROM patient_models
     WHERE ($1::text IS NULL OR source_id = $1) AND indicators IS NOT NULL
       AND ($2::text IS NULL OR (source_id, patient_id) > ($2::text, $3::text))
     ORDER BY source_id, patient_id LIMIT $4`,
    [sourceId, after?.sourceId ?? null, after?.patientId ?? null, limit],
  );

export interface IndicatorInsert {
  indicator: string;
  value: unknown;
  valueHash: string;
}

/**
 * Records indicator values of many patients, skipping each one whose value equals the latest stored
 * value for the same patient and indicator (a recomputation with identical inputs stores nothing);
 * returns what was recorded. One JSON document for the batch (see saveComputations).
 */
export const recordIndicators = (
  sourceId: string,
  asOf: Date,
  runId: string | null,
  items: (IndicatorInsert & { patientId: string })[],
): SqlQuery =>
  q(
    `INSERT INTO indicator_history (source_id, patient_id, indicator, value, value_hash, as_of, run_id)
     -- A JSON null comes out of the record as SQL NULL: stored as the JSON null it is.
     SELECT $1, t.patient_id, t.indicator, COALESCE(t.value, 'null'::jsonb), t.value_hash, $2, $3
     FROM jsonb_to_recordset($4::jsonb) AS t(patient_id text, indicator text, value jsonb, value_hash text)
     WHERE t.value_hash IS DISTINCT FROM (
       SELECT h.value_hash FROM indicator_history h
       WHERE h.source_id = $1 AND h.patient_id = t.patient_id AND h.indicator = t.indicator
       ORDER BY h.as_of DESC, h.id DESC LIMIT 1
     )
     RETURNING patient_id, indicator`,
    [
      sourceId,
      asOf,
      runId,
      JSON.stringify(
        items.map((i) => ({
          patient_id: i.patientId,
          indicator: i.indicator,
          value: i.value,
          value_hash: i.valueHash,
        })),
      ),
    ],
  );

export const indicatorHistory = (
  sourceId: string | null,
  patientId: string,
  indicator: string | null,
  from: Date | null,
  to: Date | null,
): SqlQuery =>
  q(
    `SELECT * FROM indicator_history
     WHERE ($1::text IS NULL OR source_id = $1) AND patient_id = $2 AND ($3::text IS NULL OR indicator = $3)
       AND ($4::timestamptz IS NULL OR as_of >= $4) AND ($5::timestamptz IS NULL OR as_of <= $5)
     ORDER BY as_of, id`,
    [sourceId, patientId, indicator, from, to],
  );

// ── retention ───────────────────────────────────────────────────────────────

/**
 * What `purge --older-than` removes, table by table: history and records that are finished. Never
 * pulled resources (each patient's current picture), open dead letters, open written resources or
 * writes not yet acknowledged (outbox rows pending or sending).
 */
export const purgeBefore = (before: Date): { table: string; query: SqlQuery }[] => [
  // A value is kept while it is the latest at the cut-off: trends from the cut-off on stay right.
  {
    table: 'indicator_history',
    query: q(
      `DELETE FROM indicator_history h WHERE h.as_of < $1 AND EXISTS (
         SELECT 1 FROM indicator_history n WHERE n.source_id = h.source_id AND n.patient_id = h.patient_id AND n.indicator = h.indicator
           AND n.as_of <= $1 AND (n.as_of > h.as_of OR (n.as_of = h.as_of AND n.id > h.id)))
       RETURNING id`,
      [before],
    ),
  },
  {
    table: 'programme_history',
    query: q(
      "DELETE FROM programme_history WHERE as_of < ($1::timestamptz AT TIME ZONE 'UTC')::date RETURNING source_id",
      [before],
    ),
  },
  { table: 'task_events', query: q('DELETE FROM task_events WHERE changed_at < $1 RETURNING source_id', [before]) },
  {
    table: 'outbox',
    query: q(
      "DELETE FROM outbox WHERE state IN ('sent', 'failed') AND coalesce(sent_at, created_at) < $1 RETURNING id",
      [before],
    ),
  },
  {
    table: 'dead_letters',
    query: q('DELETE FROM dead_letters WHERE resolved_at IS NOT NULL AND resolved_at < $1 RETURNING id', [before]),
  },
  {
    table: 'written_resources',
    query: q("DELETE FROM written_resources WHERE state <> 'open' AND updated_at < $1 RETURNING source_id", [before]),
  },
  {
    table: 'sync_runs',
    query: q("DELETE FROM sync_runs WHERE status <> 'running' AND started_at < $1 RETURNING id", [before]),
  },
  { table: 'access_log', query: q('DELETE FROM access_log WHERE at < $1 RETURNING id', [before]) },
];

/**
 * Every table that holds a source's rows, for `purge --source` (a clinic leaving the programme). The
 * access log is not among them: it is the audit record of who read what, kept for its own retention
 * (FHIR_ENGAGE_AUDIT_RETENTION_DAYS) and holding patient ids, never names or identifier values.
 */
export const SOURCE_TABLES = [
  'resources',
  'patients_to_compute',
  'patient_models',
  'indicator_history',
  'outbox',
  'dead_letters',
  'written_resources',
  'task_events',
  'programme_history',
  'pull_checkpoints',
  'watermarks',
  'scheduled_slots',
  'bulk_export_files',
  'bulk_exports',
  'sync_runs',
] as const;
export type SourceTable = (typeof SOURCE_TABLES)[number];

/** A source's rows in one table: counted, or removed and counted (never returned: there may be millions). */
export const sourceRows = (table: SourceTable, sourceId: string, remove: boolean): SqlQuery =>
  remove
    ? q(`WITH gone AS (DELETE FROM ${table} WHERE source_id = $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`, [
        sourceId,
      ])
    : q(`SELECT count(*)::int AS n FROM ${table} WHERE source_id = $1`, [sourceId]);

export const deleteSource = (sourceId: string): SqlQuery =>
  q('DELETE FROM sources WHERE id = $1 RETURNING id', [sourceId]);

// ── monitoring ──────────────────────────────────────────────────────────────

/** Per source: open dead letters, writes not yet acknowledged, and the end of the last successful run. */
export const monitoringGauges = (): SqlQuery =>
  q(
    `SELECT s.id AS source_id,
       (SELECT count(*)::int FROM dead_letters d WHERE d.source_id = s.id AND d.resolved_at IS NULL) AS open_dead_letters,
       (SELECT count(*)::int FROM outbox o WHERE o.source_id = s.id AND o.state IN ('pending', 'sending')) AS outbox_depth,
       (SELECT max(r.finished_at) FROM sync_runs r WHERE r.source_id = s.id AND r.status = 'succeeded') AS last_success
     FROM sources s ORDER BY s.id`,
    [],
  );

// ── API keys and the access log ─────────────────────────────────────────────

export const addApiKey = (id: string, digest: string): SqlQuery =>
  q('INSERT INTO api_keys (id, digest) VALUES ($1, $2)', [id, digest]);

export const listApiKeyDigests = (): SqlQuery =>
  q('SELECT digest FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at', []);

export interface AccessRow {
  keyId: string;
  client: string | null;
  method: string;
  route: string;
  status: number;
  sourceId: string | null;
  patientId: string | null;
}

export const recordAccess = (r: AccessRow): SqlQuery =>
  q(
    'INSERT INTO access_log (key_id, client, method, route, status, source_id, patient_id) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [r.keyId, r.client, r.method, r.route, r.status, r.sourceId, r.patientId],
  );

export const listAccess = (
  f: { patientId: string | null; keyId: string | null; from: Date | null; to: Date | null },
  limit: number,
): SqlQuery =>
  q(
    `SELECT id, at, key_id, client, method, route, status, source_id, patient_id FROM access_log
     WHERE ($1::text IS NULL OR patient_id = $1) AND ($2::text IS NULL OR key_id = $2)
       AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)
     ORDER BY id DESC LIMIT $5`,
    [f.patientId, f.keyId, f.from, f.to, limit],
  );

export const purgeAccessBefore = (before: Date): SqlQuery =>
  q('DELETE FROM access_log WHERE at < $1 RETURNING id', [before]);

// ── maintenance ─────────────────────────────────────────────────────────────

export const ANALYZED_TABLES = ['resources', 'patients_to_compute', 'patient_models', 'indicator_history'] as const;

/** Fresh planner statistics: PGlite never gathers them by itself, nor does PostgreSQL with autovacuum off. */
export const analyze = (table: (typeof ANALYZED_TABLES)[number]): SqlQuery => q(`ANALYZE ${table}`, []);

/** Everything stored for a source except its run history and schedule (the sandbox is a new EMR each time it starts). */
export const resetSourceData = (sourceId: string): SqlQuery[] =>
  SOURCE_TABLES.filter((table) => table !== 'sync_runs' && table !== 'scheduled_slots').map((table) =>
    q(`DELETE FROM ${table} WHERE source_id = $1`, [sourceId]),
  );

// ── programme: own Tasks read back, figures over time ───────────────────────

export interface TaskEventRow {
  identifierValue: string;
  taskId: string;
  patientId: string | null;
  status: string;
  owner: string | null;
  focus: string | null;
  authoredOn: Date | null;
  changedAt: Date;
}

/** Records the statuses seen; a status already recorded for a Task keeps its first time. */
export const insertTaskEvents = (sourceId: string, rows: TaskEventRow[]): SqlQuery =>
  q(
    `INSERT INTO task_events (source_id, identifier_value, task_id, patient_id, status, owner, focus, authored_on, changed_at)
     SELECT $1, t.identifier_value, t.task_id, t.patient_id, t.status, t.owner, t.focus, t.authored_on, t.changed_at
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[])
       AS t(identifier_value, task_id, patient_id, status, owner, focus, authored_on, changed_at)
     ON CONFLICT (source_id, identifier_value, status) DO NOTHING
     RETURNING identifier_value`,
    [
      sourceId,
      rows.map((r) => r.identifierValue),
      rows.map((r) => r.taskId),
      rows.map((r) => r.patientId),
      rows.map((r) => r.status),
      rows.map((r) => r.owner),
      rows.map((r) => r.focus),
      rows.map((r) => r.authoredOn),
      rows.map((r) => r.changedAt),
    ],
  );

export const listTaskEvents = (sourceId: string | null): SqlQuery =>
  q(
    `SELECT e.*, w.rule FROM task_events e
     LEFT JOIN written_resources w ON w.source_id = e.source_id AND w.identifier_value = e.identifier_value
     WHERE ($1::text IS NULL OR e.source_id = $1) ORDER BY e.source_id, e.identifier_value, e.changed_at`,
    [sourceId],
  );

export const listWrittenByRule = (sourceId: string | null, rules: string[]): SqlQuery =>
  q(
    `SELECT source_id, identifier_value, rule, patient_id, state, status FROM written_resources
     WHERE ($1::text IS NULL OR source_id = $1) AND rule = ANY($2::text[]) ORDER BY source_id, identifier_value`,
    [sourceId, rules],
  );

/** Stored resources of some types (optionally of one source), with their patient. */
export const resourcesOfTypes = (sourceId: string | null, types: string[]): SqlQuery =>
  q(
    `SELECT source_id, patient_id, resource FROM resources
     WHERE ($1::text IS NULL OR source_id = $1) AND resource_type = ANY($2::text[]) ORDER BY source_id, resource_type, resource_id`,
    [sourceId, types],
  );

/** Every value of one indicator recorded up to an instant, per patient (the latest is the one in force). */
export const indicatorValuesUpTo = (sourceId: string | null, indicator: string, upTo: Date): SqlQuery =>
  q(
    `SELECT DISTINCT ON (source_id, patient_id) source_id, patient_id, value FROM indicator_history
     WHERE ($1::text IS NULL OR source_id = $1) AND indicator = $2 AND as_of <= $3
     ORDER BY source_id, patient_id, as_of DESC, id DESC`,
    [sourceId, indicator, upTo],
  );

export const saveProgrammeHistory = (sourceId: string, asOf: Date, figures: unknown, runId: string | null): SqlQuery =>
  q(
    `INSERT INTO programme_history (source_id, as_of, figures, run_id) VALUES ($1, ($2::timestamptz AT TIME ZONE 'UTC')::date, $3::jsonb, $4)
     ON CONFLICT (source_id, as_of) DO UPDATE SET figures = EXCLUDED.figures, run_id = EXCLUDED.run_id, recorded_at = now()`,
    [sourceId, asOf, JSON.stringify(figures), runId],
  );

export const listProgrammeHistory = (sourceId: string | null, from: Date, to: Date): SqlQuery =>
  q(
    `SELECT source_id, as_of::text AS as_of, figures FROM programme_history
     WHERE ($1::text IS NULL OR source_id = $1) AND as_of BETWEEN ($2::timestamptz AT TIME ZONE 'UTC')::date AND ($3::timestamptz AT TIME ZONE 'UTC')::date
     ORDER BY as_of, source_id`,
    [sourceId, from, to],
  );

// ── scheduling ──────────────────────────────────────────────────────────────

export const claimSlot = (sourceId: string, slot: Date, instance: string): SqlQuery =>
  q(
    `INSERT INTO scheduled_slots (source_id, slot, claimed_by) VALUES ($1, $2, $3)
     ON CONFLICT (source_id, slot) DO NOTHING RETURNING claimed_by`,
    [sourceId, slot, instance],
  );
