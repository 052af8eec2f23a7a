/**
 * Authentication modes of the sandbox: open, static bearer, OAuth2
 * client_credentials and SMART Backend Services (signed JWT assertion checked
 * with jose against a registered public key). Issued tokens expire after a
 * configurable lifetime so that expiry mid-run can be tested.
 */
import { unauthorized } from '@medplum/core';
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { createRemoteJWKSet, importJWK, jwtVerify, type JWK } from 'jose';
import type { QuirkCounters } from './quirks';

export type SandboxAuth =
  | { mode: 'open' }
  | { mode: 'bearer'; token: string }
  | { mode: 'client_credentials'; clientId: string; clientSecret: string; tokenLifetimeSeconds?: number }
  /** The client's public key given as a JWK, or fetched from its registered JWKS URL (as Epic and Oracle Health do). */
  | { mode: 'smart-backend'; clientId: string; publicJwk?: JWK; jwksUrl?: string; tokenLifetimeSeconds?: number };

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** SMART Backend Services: an assertion may live at most five minutes. */
const MAX_ASSERTION_SECONDS = 300;

export class AuthState {
  private readonly tokens = new Map<string, number>();
  private readonly seenJti = new Set<string>();
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(
    readonly auth: SandboxAuth,
    private readonly counters: () => QuirkCounters,
    private readonly now: () => number,
  ) {}

  /** True when the request may proceed; otherwise the 401 has been sent. */
  check(req: Request, res: Response): boolean {
    if (this.auth.mode === 'open') return true;
    const header = req.headers.authorization ?? '';
    const token = /^Bearer\s+(.+)$/i.exec(header)?.[1];
    const ok =
      token !== undefined &&
      (this.auth.mode === 'bearer' ? token === this.auth.token : (this.tokens.get(token) ?? 0) > this.now());
    if (!ok) {
      this.counters().unauthorized++;
      res
        .status(401)
        .set('WWW-Authenticate', 'Bearer realm="sandbox"')
        .type('application/fhir+json')
        .send({
          ...unauthorized,
          issue: [
            {
              severity: 'error',
              code: 'login',
              details: { text: token ? 'Access token is invalid or expired' : 'Access token required' },
            },
          ],
        });
    }
    return ok;
  }

  private issue(res: Response, lifetime: number, scope: string): void {
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, this.now() + lifetime * 1000);
    this.counters().tokensIssued++;
    res.json({ access_token: token, token_type: 'bearer', expires_in: lifetime, scope });
  }

  private oauthError(res: Response, status: number, error: string, description: string): void {
    res.status(status).json({ error, error_description: description });
  }

  /** POST handler of the token endpoint (form-encoded, as OAuth2 requires). */
  async token(req: Request, res: Response, tokenUrl: string): Promise<void> {
    const body = (req.body ?? {}) as Record<string, string | undefined>;
    const scope = body.scope ?? 'system/*.read';
    if (body.grant_type !== 'client_credentials') {
      return this.oauthError(res, 400, 'unsupported_grant_type', 'grant_type must be client_credentials');
    }
    if (this.auth.mode === 'client_credentials') {
      let id = body.client_id;
      let secret = body.client_secret;
      const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      if (basic) {
        const decoded = Buffer.from(basic, 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        id = decodeURIComponent(decoded.slice(0, i));
        secret = decodeURIComponent(decoded.slice(i + 1));
      }
      if (id !== this.auth.clientId || secret !== this.auth.clientSecret) {
        return this.oauthError(res, 401, 'invalid_client', 'unknown client or wrong secret');
      }
      return this.issue(res, this.auth.tokenLifetimeSeconds ?? 300, scope);
    }
    if (this.auth.mode === 'smart-backend') {
      if (body.client_assertion_type !== JWT_BEARER || !body.client_assertion) {
        return this.oauthError(res, 400, 'invalid_request', `client_assertion_type must be ${JWT_BEARER}`);
      }
      try {
        const auth = this.auth;
        const options = {
          issuer: auth.clientId,
          subject: auth.clientId,
          audience: tokenUrl,
          algorithms: ['RS384', 'ES384'],
          currentDate: new Date(this.now()),
        };
        let verified: { payload: { exp?: number; jti?: string } };
        if (auth.jwksUrl) {
          // The header's kid picks the key from the client's published set.
          this.jwks ??= createRemoteJWKSet(new URL(auth.jwksUrl), { cacheMaxAge: 0 });
          verified = await jwtVerify(body.client_assertion, this.jwks, options);
        } else if (auth.publicJwk) {
          const alg = (auth.publicJwk.alg as string | undefined) ?? (auth.publicJwk.kty === 'EC' ? 'ES384' : 'RS384');
          verified = await jwtVerify(body.client_assertion, await importJWK(auth.publicJwk, alg), options);
        } else {
          throw new Error('the sandbox has no key for this client');
        }
        const payload = verified.payload;
        if (!payload.exp || !payload.jti) throw new Error('exp and jti are required');
        if (payload.exp - Math.floor(this.now() / 1000) > MAX_ASSERTION_SECONDS)
          throw new Error('exp is more than five minutes away');
        if (this.seenJti.has(payload.jti)) throw new Error('jti was already used');
        this.seenJti.add(payload.jti);
      } catch (err) {
        return this.oauthError(res, 401, 'invalid_client', `client assertion rejected: ${(err as Error).message}`);
      }
      return this.issue(res, this.auth.tokenLifetimeSeconds ?? 300, scope);
    }
    return this.oauthError(res, 400, 'unsupported_grant_type', `the sandbox runs with auth mode ${this.auth.mode}`);
  }
}
