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
