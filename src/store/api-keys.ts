/**
 * API keys for machines (docs/operations.md, "People and access"): only a key's SHA-256 digest is
 * kept, with its name, roles, the sources it may see (null: every source), its expiry, who made it and
 * when it was revoked. A key is looked up by its digest at each request, so that an expired or revoked
 * key is refused at once. Its SQL builders (pure, `{ text, values }`) and the methods that run them.
 */
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { date, dateOrNull, q, str, type Row } from './rows';

export interface ApiKeyRecord {
  id: string;
  name: string;
  roles: string[];
  /** null: every source. */
  sources: string[] | null;
  expiresAt: Date | null;
  createdBy: string | null;
  createdAt: Date;
  revokedAt: Date | null;
}

export type ApiKeyInput = Pick<ApiKeyRecord, 'id' | 'name' | 'roles' | 'sources' | 'expiresAt' | 'createdBy'>;

const toKey = (r: Row): ApiKeyRecord => ({
  id: String(r.id),
  name: String(r.name),
  roles: ((r.roles as unknown[] | null) ?? []).map(String),
  sources: r.sources === null || r.sources === undefined ? null : (r.sources as unknown[]).map(String),
  expiresAt: dateOrNull(r.expires_at),
  createdBy: str(r.created_by),
  createdAt: date(r.created_at),
  revokedAt: dateOrNull(r.revoked_at),
});

export const createApiKey = (k: ApiKeyInput, digest: string): SqlQuery =>
  q(
    `INSERT INTO api_keys (id, digest, name, roles, sources, expires_at, created_by)
     VALUES ($1, $2, $3, $4::text[], $5::text[], $6, $7) RETURNING *`,
    [k.id, digest, k.name, k.roles, k.sources, k.expiresAt, k.createdBy],
  );

/** The key of a digest, if it is live at `now` (not revoked, not expired). */
export const liveKeyByDigest = (digest: string, now: Date): SqlQuery =>
  q(`SELECT * FROM api_keys WHERE digest = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`, [
    digest,
    now,
  ]);

export const anyLiveKey = (now: Date): SqlQuery =>
  q('SELECT 1 FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) LIMIT 1', [now]);

export const listApiKeys = (): SqlQuery => q('SELECT * FROM api_keys ORDER BY created_at, id', []);

export const revokeApiKey = (id: string, at: Date): SqlQuery =>
  q('UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING *', [id, at]);

export function apiKeysRole({ db }: RoleContext) {
  return {
    async createApiKey(k: ApiKeyInput, digestHex: string): Promise<ApiKeyRecord> {
      const [row] = await db.query(createApiKey(k, digestHex));
      return toKey(row as Row);
    },
    async liveApiKey(digestHex: string, now: Date): Promise<ApiKeyRecord | undefined> {
      const [row] = await db.query(liveKeyByDigest(digestHex, now));
      return row ? toKey(row) : undefined;
    },
    async hasLiveApiKey(now: Date): Promise<boolean> {
      return (await db.query(anyLiveKey(now))).length > 0;
    },
    async listApiKeys(): Promise<ApiKeyRecord[]> {
      return (await db.query(listApiKeys())).map(toKey);
    },
    /** Revokes a key (at once: keys are looked up at each request); undefined when there is no such key. */
    async revokeApiKey(id: string, at: Date): Promise<ApiKeyRecord | undefined> {
      const [row] = await db.query(revokeApiKey(id, at));
      return row ? toKey(row) : undefined;
    },
  };
}

export type ApiKeysRole = ReturnType<typeof apiKeysRole>;
