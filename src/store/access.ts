/**
 * API keys (their digests) and the access log of patient data read through the API. Its SQL
 * builders (pure, `{ text, values }`, values never interpolated) and the methods that run them,
 * together; the methods are part of `Store` (store.ts).
 */
import { dateOrNull, q, str } from './rows';
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';

export const addApiKey = (id: string, digest: string): SqlQuery =>
  q('INSERT INTO api_keys (id, digest, name) VALUES ($1, $2, $3)', [id, digest, 'first-start key']);

export const listApiKeyDigests = (): SqlQuery =>
  q('SELECT digest FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at', []);

export interface AccessRow {
  /** Who: a person's subject at the identity provider, or an API key's id. */
  keyId: string;
  actorKind: 'person' | 'key';
  /** Their name (a person's display name, a key's name). */
  actorName: string | null;
  /** The role the route needed (none for open routes). */
  role: string | null;
  /** For a change (a Task action, a note): what changed, in words; never patient data. */
  change: string | null;
  client: string | null;
  method: string;
  route: string;
  status: number;
  sourceId: string | null;
  patientId: string | null;
}

export const recordAccess = (r: AccessRow): SqlQuery =>
  q(
    `INSERT INTO access_log (key_id, client, method, route, status, source_id, patient_id, actor_kind, actor_name, role, change)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      r.keyId,
      r.client,
      r.method,
      r.route,
      r.status,
      r.sourceId,
      r.patientId,
      r.actorKind,
      r.actorName,
      r.role,
      r.change,
    ],
  );

export const listAccess = (
  f: { patientId: string | null; keyId: string | null; from: Date | null; to: Date | null },
  limit: number,
): SqlQuery =>
  q(
    `SELECT id, at, key_id, client, method, route, status, source_id, patient_id, actor_kind, actor_name, role, change FROM access_log
     WHERE ($1::text IS NULL OR patient_id = $1) AND ($2::text IS NULL OR key_id = $2)
       AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)
     ORDER BY id DESC LIMIT $5`,
    [f.patientId, f.keyId, f.from, f.to, limit],
  );

export const purgeAccessBefore = (before: Date): SqlQuery =>
  q('DELETE FROM access_log WHERE at < $1 RETURNING id', [before]);

/** API keys (their digests) and the access log of patient data read through the API. */
export function accessRole({ db, store }: RoleContext) {
  return {
    async addApiKey(id: string, digestHex: string): Promise<void> {
      await db.query(addApiKey(id, digestHex));
    },

    async listApiKeyDigests(): Promise<string[]> {
      return (await db.query(listApiKeyDigests())).map((r) => String(r.digest));
    },

    async recordAccess(row: AccessRow): Promise<void> {
      await db.query(recordAccess(row));
    },

    /** Several access-log rows, all or none (the API sends patient data only once they are stored). */
    async recordAccesses(rows: AccessRow[]): Promise<void> {
      if (rows.length === 1) return store.recordAccess(rows[0] as AccessRow);
      await store.transaction(async (tx) => {
        for (const row of rows) await tx.recordAccess(row);
      });
    },

    async listAccess(
      options: { patientId?: string; keyId?: string; from?: Date; to?: Date; limit?: number } = {},
    ): Promise<(AccessRow & { id: number; at: Date })[]> {
      const rows = await db.query(
        listAccess(
          {
            patientId: options.patientId ?? null,
            keyId: options.keyId ?? null,
            from: options.from ?? null,
            to: options.to ?? null,
          },
          options.limit ?? 500,
        ),
      );
      return rows.map((r) => ({
        id: Number(r.id),
        at: dateOrNull(r.at) ?? new Date(0),
        keyId: String(r.key_id),
        client: str(r.client),
        method: String(r.method),
        route: String(r.route),
        status: Number(r.status),
        sourceId: str(r.source_id),
        patientId: str(r.patient_id),
        actorKind: r.actor_kind === 'person' ? ('person' as const) : ('key' as const),
        actorName: str(r.actor_name),
        role: str(r.role),
        change: str(r.change),
      }));
    },

    /** Removes access-log rows older than `before` (retention); returns how many. */
    async purgeAccessBefore(before: Date): Promise<number> {
      return (await db.query(purgeAccessBefore(before))).length;
    },
  };
}

export type AccessRole = ReturnType<typeof accessRole>;
