/** API key / bearer token check with a constant-time comparison. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { unauthorized } from '@medplum/core';
import { sendOutcome } from './errors';
import type { Store } from '../store/store';
import type { Actor } from '../actions/care-team';

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

/** Makes a key, stores its digest, returns the key itself (to show once). */
export async function newApiKey(store: Pick<Store, 'addApiKey'>): Promise<string> {
  const key = randomBytes(24).toString('base64url');
  await store.addApiKey(`key-${randomBytes(4).toString('hex')}`, keyDigest(key));
  return key;
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

/** Keys from the environment (plain) and keys fhir-engage made (their stored hex digests). */
export function requireApiKey(keys: string[], storedDigests: string[] = [], now: () => number = Date.now) {
  const digests = [...keys.map(digest), ...storedDigests.map((h) => Buffer.from(h, 'hex'))];
  const failures = new Map<string, { count: number; since: number }>();
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers.authorization;
    const presented =
      (req.headers['x-api-key'] as string | undefined) ?? (header && /^Bearer\s+(.+)$/i.exec(header)?.[1]);
    if (presented && digests.length > 0 && keyMatches(presented, digests)) {
      // Who did it, for audit (a dismissed dead letter): a key's id, never the key.
      res.locals.keyId = keyId(presented);
      next();
      return;
    }
    if (presented && digests.length > 0) {
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
        return;
      }
      if (failures.size > 10_000) failures.clear();
      failures.set(client, { count: (current?.count ?? 0) + 1, since: current?.since ?? now() });
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
              digests.length === 0
                ? 'no API key is configured (FHIR_ENGAGE_API_KEY): this route is disabled'
                : presented
                  ? 'the API key was not accepted'
                  : 'an API key is required (X-API-Key header or Authorization: Bearer)',
          },
        },
      ],
    });
  };
}

/** Who is acting in this request, for Provenance and the access log: the API key (by its id) until people sign in. */
export function actorOf(res: Response): Actor {
  const id = String(res.locals.keyId);
  return { kind: 'key', id, display: `API key ${id}` };
}
