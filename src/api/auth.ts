/** API keys: made, stored as digests, checked (docs/operations.md, "People and access"). */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { forbidden, unauthorized } from '@medplum/core';
import type { SsoSettings } from '../config/sso-settings';
import { cookiesOf, SESSION_COOKIE, sessionIdOf } from './sso';
import { sendOutcome } from './errors';
import type { Store } from '../store/store';
import type { ApiKeyRecord } from '../store/api-keys';
import { isRole, ROLES, type Principal } from './identity';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The SHA-256 of a key, as stored for keys fhir-engage makes (hex). */
export function keyDigest(key: string): string {
  return digest(key).toString('hex');
}

export function keyMatches(presented: string, digests: Buffer[]): boolean {
  const p = digest(presented);
  // Every key is compared (no early exit), each in constant time.
  let ok = false;
  for (const d of digests) ok = (d.length === p.length && timingSafeEqual(p, d)) || ok;
  return ok;
}

/** Makes the first-start key (every role, every source), stores its digest, returns the key itself (to show once). */
export async function newApiKey(store: Pick<Store, 'addApiKey'>): Promise<string> {
  const key = randomBytes(24).toString('base64url');
  await store.addApiKey(`key-${randomBytes(4).toString('hex')}`, keyDigest(key));
  return key;
}

/** Makes a named key with roles, sources and an expiry; returns the key itself (to show once) and its record. */
export async function makeApiKey(
  store: Pick<Store, 'createApiKey'>,
  k: { name: string; roles: string[]; sources: string[] | null; expiresAt: Date | null; createdBy: string | null },
): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = randomBytes(24).toString('base64url');
  const record = await store.createApiKey({ id: `key-${randomBytes(4).toString('hex')}`, ...k }, keyDigest(key));
  return { key, record };
}

/** A short, stable, non-reversible name of a key. */
export function keyId(key: string): string {
  return `key-${digest(key).toString('hex').slice(0, 8)}`;
}

/**
 * Wrong keys accepted per client address per minute; past it, wrong keys are answered 429 (guessing
 * is slowed down). Only a key presented and refused counts: a request without one (a page's image
 * tag, a CORS preflight) is told 401 and counts for nothing, and a request with a valid key is never
 * refused by this limit, so nobody can lock the dashboard for the people behind the same proxy.
 */
export const AUTH_FAILURES_PER_MINUTE = 30;

/** Keys of FHIR_ENGAGE_API_KEY: every role, every source (a bootstrap key: docs/operations.md says to replace it). */
function envPrincipal(presented: string): Principal {
  const id = keyId(presented);
  return { kind: 'key', id, name: id, roles: [...ROLES], sources: null };
}

function keyPrincipal(k: ApiKeyRecord): Principal {
  return { kind: 'key', id: k.id, name: k.name, roles: k.roles.filter(isRole), sources: k.sources };
}

/**
 * Who is asking, from an API key (X-API-Key, or Authorization: Bearer): a key of FHIR_ENGAGE_API_KEY
 * (compared in constant time), else a stored key looked up by its digest at each request — an expired
 * or revoked key is refused at once. Wrong keys are slowed down per client address.
 */
export function authenticate(options: { envKeys: string[]; store: Store; sso?: SsoSettings; now?: () => number }) {
  const now = options.now ?? Date.now;
  const envDigests = options.envKeys.map(digest);
  const failures = new Map<string, { count: number; since: number }>();
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const header = req.headers.authorization;
    const presented =
      (req.headers['x-api-key'] as string | undefined) ?? (header && /^Bearer\s+(.+)$/i.exec(header)?.[1]);
    const cookie = options.sso && !presented ? cookiesOf(req)[SESSION_COOKIE] : undefined;
    if (cookie && options.sso) return sessionAuth(options.store, options.sso, cookie, now, req, res, next);
    if (presented) {
      const principal = keyMatches(presented, envDigests)
        ? envPrincipal(presented)
        : await options.store
            .liveApiKey(keyDigest(presented), new Date(now()))
            .then((k) => (k ? keyPrincipal(k) : undefined));
      if (principal) {
        res.locals.principal = principal;
        // Who did it, for audit: a key's id, never the key.
        res.locals.keyId = principal.id;
        return next();
      }
      if (throttled(failures, req, res, now)) return;
    }
    res.set('WWW-Authenticate', 'Bearer realm="fhir-engage"');
    sendOutcome(res, {
      ...unauthorized,
      issue: [
        {
          severity: 'error',
          code: 'login',
          details: {
            text:
              options.envKeys.length === 0 && !(await options.store.hasLiveApiKey(new Date(now())))
                ? 'no API key is configured (FHIR_ENGAGE_API_KEY, or `fhir-engage api-key new`): this route is disabled'
                : presented
                  ? 'the API key was not accepted (unknown, expired or revoked)'
                  : 'an API key is required (X-API-Key header or Authorization: Bearer)',
          },
        },
      ],
    });
  };
}

/** Counts a wrong key from the client's address; past the limit answers 429 and says so. */
function throttled(
  failures: Map<string, { count: number; since: number }>,
  req: Request,
  res: Response,
  now: () => number,
): boolean {
  // req.ip: the connection's address, or X-Forwarded-For's when the proxy is trusted (FHIR_ENGAGE_TRUSTED_PROXIES).
  const client = req.ip ?? req.socket.remoteAddress ?? 'unknown';
  const seen = failures.get(client);
  const current = seen && now() - seen.since <= 60_000 ? seen : undefined;
  if (current && current.count >= AUTH_FAILURES_PER_MINUTE) {
    res.set('Retry-After', String(Math.max(1, Math.ceil((current.since + 60_000 - now()) / 1000))));
    sendOutcome(
      res,
      {
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            code: 'throttled',
            details: { text: 'too many wrong API keys from this address: try again later' },
          },
        ],
      },
      429,
    );
    return true;
  }
  if (failures.size > 10_000) failures.clear();
  failures.set(client, { count: (current?.count ?? 0) + 1, since: current?.since ?? now() });
  return false;
}

/** Safe methods: never a state change, so no CSRF token is asked of them. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A person's session (docs/operations.md): live (idle and absolute timeouts), and for a state-changing
 * request the session's CSRF token in X-CSRF-Token (a page of another site cannot read it).
 */
async function sessionAuth(
  store: Store,
  sso: SsoSettings,
  cookie: string,
  now: () => number,
  req: Request,
  res: Response,
  next: NextFunction,
): Promise<void> {
  const session = await store.touchSession(sessionIdOf(cookie), new Date(now()), sso.session.idleMinutes * 60_000);
  if (!session) {
    res.set('WWW-Authenticate', 'Bearer realm="fhir-engage"');
    return sendOutcome(res, {
      ...unauthorized,
      issue: [{ severity: 'error', code: 'login', details: { text: 'your session has ended: sign in again' } }],
    });
  }
  if (!SAFE.has(req.method)) {
    const given = Buffer.from(String(req.headers['x-csrf-token'] ?? ''));
    const want = Buffer.from(session.csrf);
    if (given.length !== want.length || !timingSafeEqual(given, want))
      return sendOutcome(
        res,
        {
          ...forbidden,
          issue: [
            {
              severity: 'error',
              code: 'forbidden',
              details: { text: 'this change lacks its CSRF token (X-CSRF-Token): reload the page and try again' },
            },
          ],
        },
        403,
      );
  }
  res.locals.principal = {
    kind: 'person',
    id: session.subject,
    name: session.name,
    roles: session.roles.filter(isRole),
    sources: session.sources,
  } satisfies Principal;
  res.locals.keyId = session.subject;
  res.locals.csrf = session.csrf;
  next();
}
