/**
 * Each patient's engagement model and indicators: who is to be recomputed, the models (the
 * indicator history is indicator-history.ts). Its SQL builders (pure, `{ text, values }`, values never interpolated) and
 * the methods that run them, together; the methods are part of `Store` (store.ts).
 */
import { BATCH_ROWS, chunks, dateOrNull, q, scopeArray, type SourceScope } from './rows';
import type { Db, SqlQuery } from './driver';
import type { RoleContext } from './role';

/**
 * Patients to recompute as of `asOf`: those whose resources changed after
 * their model was last built, and those not yet computed on asOf's day in
 * the clinic's time zone (time-based indicators and survey windows move by
 * the clinic's day).
 */
export const patientsToRecompute = (sourceId: string, asOf: Date, timeZone = 'UTC'): SqlQuery =>
  q(
    `SELECT patient_id FROM patients_to_compute WHERE source_id = $1
     UNION
     SELECT patient_id FROM patient_models
     WHERE source_id = $1 AND (computed_as_of IS NULL OR (computed_as_of AT TIME ZONE $3)::date <> ($2::timestamptz AT TIME ZONE $3)::date)
     ORDER BY patient_id`,
    [sourceId, asOf, timeZone],
  );

/** Patients whose data has been computed (or found merged into another record): no longer pending. */
export const markPatientsComputed = (sourceId: string, patientIds: string[]): SqlQuery =>
  q('DELETE FROM patients_to_compute WHERE source_id = $1 AND patient_id = ANY($2::text[])', [sourceId, patientIds]);

export const markPatientsToCompute = (sourceId: string, patientIds: string[]): SqlQuery =>
  q(`INSERT INTO patients_to_compute (source_id, patient_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, [
    sourceId,
    patientIds,
  ]);

export const getModel = (sourceId: string, patientId: string): SqlQuery =>
  q('SELECT model, indicators, computed_as_of FROM patient_models WHERE source_id = $1 AND patient_id = $2', [
    sourceId,
    patientId,
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

export const getComputations = (patientId: string, sourceId: SourceScope): SqlQuery =>
  q(
    `SELECT source_id, patient_id, indicators, computed_as_of FROM patient_models
     WHERE patient_id = $1 AND ($2::text[] IS NULL OR source_id = ANY($2::text[])) AND indicators IS NOT NULL ORDER BY source_id`,
    [patientId, scopeArray(sourceId)],
  );

export const listComputations = (sourceId: SourceScope): SqlQuery =>
  q(
    `SELECT source_id, patient_id, indicators, computed_as_of FROM patient_models
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND indicators IS NOT NULL ORDER BY source_id, patient_id`,
    [scopeArray(sourceId)],
  );

/**
 * One page of patients' indicators (and models, with `models`), in (source, patient) order after
 * `after`: the programme figures read the population a page at a time, never all of it at once.
 */
export const pageComputations = (
  sourceId: SourceScope,
  after: { sourceId: string; patientId: string } | null,
  limit: number,
  models: boolean,
): SqlQuery =>
  q(
    `SELECT source_id, patient_id, indicators${models ? ', model' : ''} FROM patient_models
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND indicators IS NOT NULL
       AND ($2::text IS NULL OR (source_id, patient_id) > ($2::text, $3::text))
     ORDER BY source_id, patient_id LIMIT $4`,
    [scopeArray(sourceId), after?.sourceId ?? null, after?.patientId ?? null, limit],
  );

export interface ComputationPageRow {
  sourceId: string;
  patientId: string;
  indicators: unknown;
  model?: unknown;
}

async function forEachPage(
  db: Db,
  options: { sourceId?: string; models: boolean; pageSize?: number },
  fn: (rows: ComputationPageRow[]) => void | Promise<void>,
): Promise<void> {
  const limit = options.pageSize ?? 500;
  let after: { sourceId: string; patientId: string } | null = null;
  for (;;) {
    const rows: Record<string, unknown>[] = await db.query(
      pageComputations(options.sourceId ?? null, after, limit, options.models),
    );
    if (rows.length === 0) return;
    const page: { sourceId: string; patientId: string; indicators: unknown; model?: unknown }[] = rows.map((r) => ({
      sourceId: String(r.source_id),
      patientId: String(r.patient_id),
      indicators: r.indicators,
      ...(options.models ? { model: r.model } : {}),
    }));
    await fn(page);
    if (rows.length < limit) return;
    const last = page[page.length - 1] as { sourceId: string; patientId: string };
    after = { sourceId: last.sourceId, patientId: last.patientId };
  }
}

/** Each patient's engagement model and indicators: who is to be recomputed, and the models. */
export function computationsRole({ db, store }: RoleContext) {
  return {
    async getModel(
      sourceId: string,
      patientId: string,
    ): Promise<{ model: unknown; indicators: unknown; computedAsOf: Date | null } | undefined> {
      const row = (await db.query(getModel(sourceId, patientId)))[0];
      return row
        ? { model: row.model, indicators: row.indicators, computedAsOf: dateOrNull(row.computed_as_of) }
        : undefined;
    },

    /**
     * Every patient's latest indicators (and engagement model, with `models`) of a source or of all,
     * handed to `fn` a page at a time in (source, patient) order: the programme figures read mapped
     * facts of the whole population with memory bounded by the page.
     */
    async forEachComputationPage(
      options: { sourceId?: string; models: boolean; pageSize?: number },
      fn: (rows: ComputationPageRow[]) => void | Promise<void>,
    ): Promise<void> {
      await forEachPage(db, options, fn);
    },

    async patientsToRecompute(sourceId: string, asOf: Date, timeZone?: string): Promise<string[]> {
      const rows = await db.query(patientsToRecompute(sourceId, asOf, timeZone));
      return rows.map((r) => String(r.patient_id));
    },

    /** Clears the pending mark of patients whose computation commits in the same transaction. */
    /** Marks patients to be computed by the next run (their new Tasks were held by a per-run cap). */
    async markPatientsToCompute(sourceId: string, patientIds: string[]): Promise<void> {
      for (const batch of chunks(patientIds, BATCH_ROWS)) await db.query(markPatientsToCompute(sourceId, batch));
    },
    async markPatientsComputed(sourceId: string, patientIds: string[]): Promise<void> {
      for (const batch of chunks(patientIds, BATCH_ROWS)) await db.query(markPatientsComputed(sourceId, batch));
    },

    async saveComputation(
      sourceId: string,
      patientId: string,
      model: unknown,
      indicators: unknown,
      asOf: Date,
      runId: string | null,
    ): Promise<void> {
      await store.saveComputations(sourceId, [{ patientId, model, indicators }], asOf, runId);
    },

    /** Many patients' models and indicators (no longer pending): two statements per BATCH_ROWS patients. Call inside a transaction. */
    async saveComputations(
      sourceId: string,
      items: { patientId: string; model: unknown; indicators: unknown }[],
      asOf: Date,
      runId: string | null,
    ): Promise<void> {
      for (const batch of chunks(items, BATCH_ROWS)) {
        await db.query(saveComputations(sourceId, batch, asOf, runId));
        await db.query(
          markPatientsComputed(
            sourceId,
            batch.map((i) => i.patientId),
          ),
        );
      }
    },

    async getComputations(
      patientId: string,
      sourceId?: SourceScope,
    ): Promise<{ sourceId: string; patientId: string; indicators: unknown; computedAsOf: Date | null }[]> {
      const rows = await db.query(getComputations(patientId, sourceId ?? null));
      return rows.map((r) => ({
        sourceId: String(r.source_id),
        patientId: String(r.patient_id),
        indicators: r.indicators,
        computedAsOf: dateOrNull(r.computed_as_of),
      }));
    },

    async listComputations(
      sourceId?: SourceScope,
    ): Promise<{ sourceId: string; patientId: string; indicators: unknown; computedAsOf: Date | null }[]> {
      const rows = await db.query(listComputations(sourceId ?? null));
      return rows.map((r) => ({
        sourceId: String(r.source_id),
        patientId: String(r.patient_id),
        indicators: r.indicators,
        computedAsOf: dateOrNull(r.computed_as_of),
      }));
    },
  };
}

export type ComputationsRole = ReturnType<typeof computationsRole>;
