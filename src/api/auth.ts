/** API key / bearer token check with a constant-time comparison. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { unauthorized } from '@medplum/core';
import { sendOutcome } from './errors';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export function keyMatches(presented: string, keys: string[]): boolean {
  const p = digest(presented);
  // Every key is compared (no early exit), each in constant time.
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(p, digest(k)) || ok;
  return ok;
}

/** A short, stable, non-reversible name of a key. */
export function keyId(key: string): string {
  return `key-${digest(key).toString('hex').slice(0, 8)}`;
}

export function requireApiKey(keys: string[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers.authorization;
    const presented = (req.headers['x-api-key'] as string | undefined) ?? (header && /^Bearer\s+(.+)$/i.exec(header)?.[1]);
    if (!presented || keys.length === 0 || !keyMatches(presented, keys)) {
      res.set('WWW-Authenticate', 'Bearer realm="fhir-engage"');
      sendOutcome(res, { ...unauthorized, issue: [{ severity: 'error', code: 'login', details: { text: keys.length === 0 ? 'no API key is configured (FHIR_ENGAGE_API_KEY): this route is disabled' : 'an API key is required (X-API-Key header or Authorization: Bearer)' } }] });
      return;
    }
    // Who did it, for audit (a dismissed dead letter): a key's id, never the key.
    res.locals.keyId = keyId(presented);
    next();
  };
}
