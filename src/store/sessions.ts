/**
 * People's dashboard sessions and sign-ins under way (docs/operations.md, "People and access"): a
 * session by its cookie's digest, touched as it is used (idle timeout), ended by logout or its absolute
 * expiry; a sign-in's PKCE verifier and nonce by its state's digest, taken once. SQL builders and methods.
 */
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { date, q, str, type Row } from './rows';

export interface SessionRecord {
  id: string;
  subject: string;
  name: string;
  roles: string[];
  sources: string[] | null;
  csrf: string;
  idToken: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

const toSession = (r: Row): SessionRecord => ({
  id: String(r.id),
  subject: String(r.subject),
  name: String(r.name),
  roles: ((r.roles as unknown[] | null) ?? []).map(String),
  sources: r.sources === null || r.sources === undefined ? null : (r.sources as unknown[]).map(String),
  csrf: String(r.csrf),
  idToken: str(r.id_token),
  createdAt: date(r.created_at),
  lastSeenAt: date(r.last_seen_at),
  expiresAt: date(r.expires_at),
});

export const createSession = (s: Omit<SessionRecord, 'createdAt' | 'lastSeenAt'>, now: Date): SqlQuery =>
  q(
    `INSERT INTO sessions (id, subject, name, roles, sources, csrf, id_token, created_at, last_seen_at, expires_at)
     VALUES ($1, $2, $3, $4::text[], $5::text[], $6, $7, $8, $8, $9)`,
    [s.id, s.subject, s.name, s.roles, s.sources, s.csrf, s.idToken, now, s.expiresAt],
  );

/** The session, if still live: before its absolute expiry and used within `idleMs`; its use recorded. */
export const touchSession = (id: string, now: Date, idleMs: number): SqlQuery =>
  q(
    `UPDATE sessions SET last_seen_at = $2
     WHERE id = $1 AND expires_at > $2 AND last_seen_at > $2::timestamptz - ($3::bigint * interval '1 millisecond')
     RETURNING *`,
    [id, now, idleMs],
  );

export const deleteSession = (id: string): SqlQuery => q('DELETE FROM sessions WHERE id = $1 RETURNING *', [id]);

export const purgeSessions = (now: Date): SqlQuery => q('DELETE FROM sessions WHERE expires_at <= $1', [now]);

export const addLogin = (stateHash: string, verifier: string, nonce: string, now: Date): SqlQuery =>
  q('INSERT INTO sso_logins (state_hash, verifier, nonce, created_at) VALUES ($1, $2, $3, $4)', [
    stateHash,
    verifier,
    nonce,
    now,
  ]);

/** The sign-in of a state, taken once (a replayed state finds nothing), if begun within `maxAgeMs`. */
export const takeLogin = (stateHash: string, now: Date, maxAgeMs: number): SqlQuery =>
  q(
    `DELETE FROM sso_logins WHERE state_hash = $1 RETURNING *,
       created_at > $2::timestamptz - ($3::bigint * interval '1 millisecond') AS fresh`,
    [stateHash, now, maxAgeMs],
  );

export function sessionsRole({ db }: RoleContext) {
  return {
    async createSession(s: Omit<SessionRecord, 'createdAt' | 'lastSeenAt'>, now: Date): Promise<void> {
      await db.query(purgeSessions(now));
      await db.query(createSession(s, now));
    },
    async touchSession(id: string, now: Date, idleMs: number): Promise<SessionRecord | undefined> {
      const [row] = await db.query(touchSession(id, now, idleMs));
      return row ? toSession(row) : undefined;
    },
    async deleteSession(id: string): Promise<SessionRecord | undefined> {
      const [row] = await db.query(deleteSession(id));
      return row ? toSession(row) : undefined;
    },
    async addLogin(stateHash: string, verifier: string, nonce: string, now: Date): Promise<void> {
      await db.query(addLogin(stateHash, verifier, nonce, now));
    },
    async takeLogin(
      stateHash: string,
      now: Date,
      maxAgeMs: number,
    ): Promise<{ verifier: string; nonce: string } | undefined> {
      const [row] = await db.query(takeLogin(stateHash, now, maxAgeMs));
      return row && row.fresh === true ? { verifier: String(row.verifier), nonce: String(row.nonce) } : undefined;
    },
  };
}

export type SessionsRole = ReturnType<typeof sessionsRole>;
