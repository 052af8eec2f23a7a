/**
 * The indicator history: every value of every indicator a patient had, recorded when it changed.
 * Its SQL builders (pure, `{ text, values }`, values never interpolated) and the methods that run
 * them, together; the methods are part of `Store` (store.ts).
 */
import { BATCH_ROWS, chunks, date, q, str, scopeArray, type SourceScope } from './rows';
import type { SqlQuery } from './driver';
import { contentHash } from './content-hash';
import type { IndicatorRecord, IndicatorValue } from './types';
import type { RoleContext } from './role';

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
  sourceId: SourceScope,
  patientId: string,
  indicator: string | null,
  from: Date | null,
  to: Date | null,
): SqlQuery =>
  q(
    `SELECT * FROM indicator_history
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND patient_id = $2 AND ($3::text IS NULL OR indicator = $3)
       AND ($4::timestamptz IS NULL OR as_of >= $4) AND ($5::timestamptz IS NULL OR as_of <= $5)
     ORDER BY as_of, id`,
    [scopeArray(sourceId), patientId, indicator, from, to],
  );

/** Every value of one indicator recorded up to an instant, per patient (the latest is the one in force). */
export const indicatorValuesUpTo = (sourceId: SourceScope, indicator: string, upTo: Date): SqlQuery =>
  q(
    `SELECT DISTINCT ON (source_id, patient_id) source_id, patient_id, value FROM indicator_history
     WHERE ($1::text[] IS NULL OR source_id = ANY($1::text[])) AND indicator = $2 AND as_of <= $3
     ORDER BY source_id, patient_id, as_of DESC, id DESC`,
    [scopeArray(sourceId), indicator, upTo],
  );

/** The indicator history: values recorded when they change, read back per patient or as in force at an instant. */
export function indicatorHistoryRole({ db, store }: RoleContext) {
  return {
    /** The value of one indicator in force at an instant, per patient. */
    async indicatorValuesAt(
      indicator: string,
      at: Date,
      sourceId?: string,
    ): Promise<{ sourceId: string; patientId: string; value: unknown }[]> {
      const rows = await db.query(indicatorValuesUpTo(sourceId ?? null, indicator, at));
      return rows.map((r) => ({ sourceId: String(r.source_id), patientId: String(r.patient_id), value: r.value }));
    },

    /** Records indicator values that differ from the latest stored ones; returns the names recorded. */
    async recordIndicators(
      sourceId: string,
      patientId: string,
      asOf: Date,
      runId: string | null,
      values: IndicatorValue[],
    ): Promise<string[]> {
      return (await store.recordIndicatorsMany(sourceId, asOf, runId, [{ patientId, values }])).map((r) => r.indicator);
    },

    /** The same for many patients at once: one statement per BATCH_ROWS values. Returns what was recorded. */
    async recordIndicatorsMany(
      sourceId: string,
      asOf: Date,
      runId: string | null,
      items: { patientId: string; values: IndicatorValue[] }[],
    ): Promise<{ patientId: string; indicator: string }[]> {
      const flat = items.flatMap((i) =>
        i.values.map((v) => ({
          patientId: i.patientId,
          indicator: v.indicator,
          value: v.value,
          valueHash: contentHash(v.value),
        })),
      );
      const out: { patientId: string; indicator: string }[] = [];
      for (const batch of chunks(flat, BATCH_ROWS)) {
        for (const r of await db.query(recordIndicators(sourceId, asOf, runId, batch)))
          out.push({ patientId: String(r.patient_id), indicator: String(r.indicator) });
      }
      return out;
    },

    async indicatorHistory(options: {
      patientId: string;
      sourceId?: SourceScope;
      indicator?: string;
      from?: Date;
      to?: Date;
    }): Promise<IndicatorRecord[]> {
      const rows = await db.query(
        indicatorHistory(
          options.sourceId ?? null,
          options.patientId,
          options.indicator ?? null,
          options.from ?? null,
          options.to ?? null,
        ),
      );
      return rows.map((r) => ({
        id: Number(r.id),
        sourceId: String(r.source_id),
        patientId: String(r.patient_id),
        indicator: String(r.indicator),
        value: r.value,
        asOf: date(r.as_of),
        runId: str(r.run_id),
        recordedAt: date(r.recorded_at),
      }));
    },
  };
}

export type IndicatorHistoryRole = ReturnType<typeof indicatorHistoryRole>;
