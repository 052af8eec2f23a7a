/**
 * Signing people in with the organisation's identity provider (docs/operations.md, "People and access"):
 * OpenID Connect's authorization code flow with PKCE (S256), by `openid-client`. /auth/login stores the
 * sign-in's verifier and nonce by its state and sends the browser to the provider; /auth/callback takes
 * the sign-in once (a replayed or unknown state fails), exchanges the code with the verifier, checks the
 * ID token (issuer, audience, nonce, signature), maps the person's claims to roles and sources, and opens
 * a session: an HttpOnly, SameSite=Lax cookie (Secure behind https) of a random value whose digest is
 * stored, with idle and absolute timeouts and a CSRF token. /auth/logout ends it here and, where the
 * provider offers it, there (RP-initiated logout).
 */
import { createHash, randomBytes } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import { generators, Issuer, type BaseClient } from 'openid-client';
import { grantOf, type SsoSettings } from '../config/sso-settings';
import { logger } from '../log/logger';
import type { Store } from '../store/store';

export const SESSION_COOKIE = 'fe_session';
/** A sign-in not finished within this is refused. */
const LOGIN_MAX_AGE_MS = 10 * 60_000;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A request's cookies by name (the one the session needs: no library for one header). */
export function cookiesOf(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) out[part.slice(0, at).trim()] = decodeURIComponent(part.slice(at + 1).trim());
  }
  return out;
}

/** The session id a cookie value names (its digest: the store never holds the value). */
export const sessionIdOf = (cookieValue: string): string => sha256(cookieValue);

function cookie(settings: SsoSettings, value: string, maxAgeSeconds: number): string {
  const secure = settings.publicUrl.startsWith('https://') ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure}`;
}

const page = (res: Response, status: number, title: string, text: string): void =>
  void res
    .status(status)
    .set({ 'Content-Security-Policy': "default-src 'none'", 'Cache-Control': 'no-store' })
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p><p><a href="/">Back to fhir-engage</a></p></body></html>`,
    );

/** The provider's metadata, discovered once per issuer (sign-in and sign-out share it); a failure is tried again next time. */
const issuers = new Map<string, Promise<Issuer>>();
function issuerOf(url: string): Promise<Issuer> {
  let found = issuers.get(url);
  if (!found) {
    found = Issuer.discover(url);
    issuers.set(url, found);
    found.catch(() => issuers.delete(url));
  }
  return found;
}

export function ssoRoutes(store: Store, settings: SsoSettings, now: () => Date = () => new Date()): express.Router {
  const router = express.Router();
  let client: Promise<BaseClient> | undefined;
  const clientOf = (): Promise<BaseClient> =>
    (client ??= issuerOf(settings.issuer).then(
      (issuer) =>
        new issuer.Client({
          client_id: settings.clientId,
          client_secret: settings.clientSecret,
          redirect_uris: [`${settings.publicUrl}/auth/callback`],
          post_logout_redirect_uris: [`${settings.publicUrl}/`],
          response_types: ['code'],
        }),
    )).catch((err: unknown) => {
      client = undefined;
      throw err;
    });

  router.get('/login', async (_req, res, next) => {
    try {
      const c = await clientOf();
      const state = generators.state();
      const nonce = generators.nonce();
      const verifier = generators.codeVerifier();
      await store.addLogin(sha256(state), verifier, nonce, now());
      res.set('Cache-Control', 'no-store').redirect(
        c.authorizationUrl({
          scope: settings.scopes.join(' '),
          state,
          nonce,
          code_challenge: generators.codeChallenge(verifier),
          code_challenge_method: 'S256',
        }),
      );
    } catch (err) {
      next(err);
    }
  });

  router.get('/callback', (req, res, next) => void finishSignIn(req, res, store, settings, clientOf, now).catch(next));

  return router;
}

/**
 * The provider sent the browser back: the sign-in taken once by its state, the code exchanged with its
 * verifier, the ID token checked, the claims granting roles and sources, a session opened.
 */
async function finishSignIn(
  req: Request,
  res: Response,
  store: Store,
  settings: SsoSettings,
  clientOf: () => Promise<BaseClient>,
  now: () => Date,
): Promise<void> {
  const state = typeof req.query.state === 'string' ? req.query.state : '';
  const login = state ? await store.takeLogin(sha256(state), now(), LOGIN_MAX_AGE_MS) : undefined;
  if (!login) return page(res, 400, 'Sign-in failed', 'This sign-in is unknown, used already or too old: start again.');
  let claims: Record<string, unknown>;
  let idToken: string | undefined;
  try {
    const c = await clientOf();
    const tokens = await c.callback(`${settings.publicUrl}/auth/callback`, c.callbackParams(req), {
      state,
      nonce: login.nonce,
      code_verifier: login.verifier,
    });
    claims = { ...tokens.claims(), ...(tokens.access_token ? await c.userinfo(tokens).catch(() => ({})) : {}) };
    idToken = tokens.id_token;
  } catch (err) {
    logger().warn({ err, event: 'sso-callback-failed' }, 'a sign-in failed at the identity provider');
    return page(res, 400, 'Sign-in failed', 'The identity provider did not confirm this sign-in: start again.');
  }
  const grant = grantOf(settings, claims);
  if (!grant.roles.length)
    return page(res, 403, 'No access', 'Your account has no role in fhir-engage: ask an administrator.');
  const value = randomBytes(32).toString('base64url');
  const at = now();
  const name = String(claims.name ?? claims.email ?? claims.sub);
  await store.createSession(
    {
      id: sessionIdOf(value),
      subject: String(claims.sub),
      name,
      roles: grant.roles,
      sources: grant.sources,
      csrf: randomBytes(24).toString('base64url'),
      idToken: idToken ?? null,
      expiresAt: new Date(at.getTime() + settings.session.absoluteHours * 3_600_000),
    },
    at,
  );
  logger().info({ event: 'signed-in', roles: grant.roles }, 'a person signed in');
  res
    .set('Set-Cookie', cookie(settings, value, settings.session.absoluteHours * 3600))
    .set('Cache-Control', 'no-store')
    .redirect('/');
}

/** Ends a session here, and says where the provider ends it (RP-initiated logout), when it offers that. */
export async function endSession(
  store: Store,
  settings: SsoSettings,
  req: Request,
  res: Response,
): Promise<{ next: string }> {
  const value = cookiesOf(req)[SESSION_COOKIE];
  const ended = value ? await store.deleteSession(sessionIdOf(value)) : undefined;
  res.set('Set-Cookie', cookie(settings, '', 0));
  try {
    const issuer = await issuerOf(settings.issuer);
    const endpoint = issuer.metadata.end_session_endpoint;
    if (endpoint) {
      const url = new URL(endpoint);
      if (ended?.idToken) url.searchParams.set('id_token_hint', ended.idToken);
      url.searchParams.set('post_logout_redirect_uri', `${settings.publicUrl}/`);
      url.searchParams.set('client_id', settings.clientId);
      return { next: url.toString() };
    }
  } catch (err) {
    logger().warn(
      { err, event: 'sso-logout-discovery-failed' },
      'could not reach the identity provider to sign out there',
    );
  }
  return { next: '/' };
}
