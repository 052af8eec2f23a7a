/**
 * A Bulk Data export under way per source: its status URL, manifest and each file's committed
 * progress. Its SQL builders (pure, `{ text, values }`, values never interpolated) and the methods
 * that run them, together; the methods are part of `Store` (store.ts).
 */
import { dateOrNull, q, str } from './rows';
import type { SqlQuery } from './driver';
import type { BulkExportState, BulkFileState } from './types';
import type { RoleContext } from './role';

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

export const deleteBulkExport = (sourceId: string): SqlQuery[] => [
  q('DELETE FROM bulk_export_files WHERE source_id = $1', [sourceId]),
  q('DELETE FROM bulk_exports WHERE source_id = $1', [sourceId]),
];

/** A Bulk Data export under way per source: its status URL, manifest and each file's committed progress. */
export function bulkExportsRole({ db }: RoleContext) {
  return {
    /** Records a kicked-off export (replacing any earlier one of the source, and its files). */
    async saveBulkExport(sourceId: string, runId: string | null, statusUrl: string, request: unknown): Promise<void> {
      await db.query(deleteBulkExport(sourceId)[0] as SqlQuery);
      await db.query(saveBulkExport(sourceId, runId, statusUrl, request));
    },

    async getBulkExport(sourceId: string): Promise<BulkExportState | undefined> {
      const row = (await db.query(getBulkExport(sourceId)))[0];
      if (!row) return undefined;
      const files = (await db.query(listBulkFiles(sourceId))).map((r) => ({
        url: String(r.url),
        kind: r.kind as BulkFileState['kind'],
        resourceType: String(r.resource_type),
        position: Number(r.position),
        lines: Number(r.lines),
        bytes: Number(r.bytes),
        done: r.done === true,
        counts: (r.counts ?? {}) as Record<string, number>,
      }));
      return {
        runId: str(row.run_id),
        statusUrl: String(row.status_url),
        request: row.request,
        kickedOffAt: dateOrNull(row.kicked_off_at) ?? new Date(0),
        manifest: row.manifest ?? undefined,
        files,
      };
    },

    /** The manifest and its files, together (call inside a transaction). */
    async saveBulkManifest(sourceId: string, manifest: unknown, files: BulkFileRow[]): Promise<void> {
      await db.query(saveBulkManifest(sourceId, manifest));
      if (files.length) await db.query(addBulkFiles(sourceId, files));
    },

    /** A file's committed lines and bytes, and what its lines counted beyond resources (errors by type, deletions). */
    async saveBulkFileProgress(
      sourceId: string,
      url: string,
      progress: { lines: number; bytes: number; done: boolean; counts?: Record<string, number> },
    ): Promise<void> {
      await db.query(
        saveBulkFileProgress(sourceId, url, progress.lines, progress.bytes, progress.done, progress.counts ?? {}),
      );
    },

    async deleteBulkExport(sourceId: string): Promise<void> {
      for (const query of deleteBulkExport(sourceId)) await db.query(query);
    },
  };
}

export type BulkExportsRole = ReturnType<typeof bulkExportsRole>;
