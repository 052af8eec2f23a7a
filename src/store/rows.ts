/** What every role of the store shares: the query builder, row readers, batching. */
import type { SqlQuery } from './driver';

export const q = (text: string, values: unknown[] = []): SqlQuery => ({ text, values });

/** Rows per multi-row statement: large enough to amortise round trips, small enough for parameter limits. */
export const BATCH_ROWS = 500;

export const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

export const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));

export const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(items.slice(i, i + size));
  }
  return out;
}

export type Row = Record<string, unknown>;

/** Task statuses that end a Task (FHIR R4 Task.status, http://hl7.org/fhir/R4/valueset-task-status.html): the one list. */
export const ENDED_TASK_STATUSES = ['completed', 'cancelled', 'failed', 'rejected', 'entered-in-error'] as const;

/** The same list as an SQL literal list (constant text, no value from outside). */
export const ENDED_TASK_STATUSES_SQL = `(${ENDED_TASK_STATUSES.map((s) => `'${s}'`).join(', ')})`;

/** An SQL pattern of an ISO 8601 instant: a text that is not one is no date-time (never a failed cast). */
export const ISO_INSTANT = "'^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$'";

/** Which sources a read covers: one id, several (a person's or key's scope), or null (every source). */
export type SourceScope = string | readonly string[] | null | undefined;

/** A scope as the SQL takes it: an array, or null for every source. */
export const scopeArray = (s: SourceScope): string[] | null =>
  s === null || s === undefined ? null : typeof s === 'string' ? [s] : [...s];
