/**
 * Client-side authentication for one server: none, bearer, basic, OAuth2
 * client_credentials and SMART Backend Services (a JWT assertion signed with
 * RS384 or ES384 via jose). Tokens are cached, refreshed ahead of expiry, and
 * dropped on a 401 so that the caller can retry once with a fresh one.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importJWK, importPKCS8, SignJWT, type JWK, type KeyLike } from 'jose';
import type { AuthConfig } from '../config/types';
import { configError, HttpError } from '../errors';
import { redactUrl } from '../log/redact';
import { outcomeOf, type HttpTransport } from './transport';
import type { Clock } from './limiter';

/** Refresh this long before a token's stated expiry (or at 80 % of a short lifetime). */
export const TOKEN_REFRESH_MARGIN_MS = 60_000;
/** SMART Backend Services: the assertion must expire within five minutes. */
const ASSERTION_LIFETIME_SECONDS = 300;

export interface AuthProvider {
  /** The Authorization header value, or undefined for none. */
  authorization(): Promise<string | undefined>;
  /** Forget the cached token (after a 401); true when a new one can be fetched. */
  invalidate(): boolean;
  /** The last token's grant (scopes the server granted, expiry), for `doctor` and monitoring. */
  grant?(): { scope?: string; expiresAt: number } | undefined;
}

interface TokenResponse {
  access_token?: string;
  expires_in?: number;
  token_type?: string;
  scope?: string;
}

class StaticAuth implements AuthProvider {
  constructor(private readonly value: string | undefined) {}
  async authorization(): Promise<string | undefined> {
    return this.value;
  }
  invalidate(): boolean {
    return false;
  }
}

abstract class TokenAuth implements AuthProvider {
  private token: { value: string; refreshAt: number } | undefined;
  private granted: { scope?: string; expiresAt: number } | undefined;
  private inflight: Promise<string> | undefined;

  constructor(
    protected readonly transport: HttpTransport,
    protected readonly clock: Clock,
  ) {}

  protected abstract requestToken(): Promise<{
    tokenUrl: string;
    body: URLSearchParams;
    headers?: Record<string, string>;
  }>;

  async authorization(): Promise<string> {
    if (this.token && this.clock.now() < this.token.refreshAt) {
      return `Bearer ${this.token.value}`;
    }
    // Concurrent requests share one token fetch.
    this.inflight ??= this.fetchToken().finally(() => {
      this.inflight = undefined;
    });
    return `Bearer ${await this.inflight}`;
  }

  invalidate(): boolean {
    this.token = undefined;
    return true;
  }

  grant(): { scope?: string; expiresAt: number } | undefined {
    return this.granted;
  }

  private async fetchToken(): Promise<string> {
    const { tokenUrl, body, headers } = await this.requestToken();
    const res = await this.transport.send<TokenResponse & { error?: string; error_description?: string }>({
      method: 'POST',
      url: tokenUrl,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
      body: body.toString(),
    });
    if (res.status !== 200 || typeof res.body?.access_token !== 'string') {
      const oauth = typeof res.body === 'object' && res.body ? res.body.error : undefined;
      throw new HttpError({
        method: 'POST',
        url: redactUrl(tokenUrl),
        status: res.status,
        code: 'login',
        text: `token request to ${redactUrl(tokenUrl)} failed: HTTP ${res.status}${oauth ? ` (${oauth})` : ''}`,
        remoteOutcome: outcomeOf(res.body),
      });
    }
    const lifetimeMs = (typeof res.body.expires_in === 'number' ? res.body.expires_in : 300) * 1000;
    const margin = Math.min(TOKEN_REFRESH_MARGIN_MS, lifetimeMs * 0.2);
    const now = this.clock.now();
    this.token = { value: res.body.access_token, refreshAt: now + lifetimeMs - margin };
    this.granted = {
      ...(typeof res.body.scope === 'string' ? { scope: res.body.scope } : {}),
      expiresAt: now + lifetimeMs,
    };
    return res.body.access_token;
  }
}

class ClientCredentialsAuth extends TokenAuth {
  constructor(
    transport: HttpTransport,
    clock: Clock,
    private readonly config: Extract<AuthConfig, { type: 'client_credentials' }>,
  ) {
    super(transport, clock);
  }

  protected async requestToken(): Promise<{
    tokenUrl: string;
    body: URLSearchParams;
    headers: Record<string, string>;
  }> {
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.config.scope) body.set('scope', this.config.scope);
    const basic = Buffer.from(
      `${encodeURIComponent(this.config.clientId)}:${encodeURIComponent(this.config.clientSecret)}`,
    ).toString('base64');
    return { tokenUrl: this.config.tokenUrl, body, headers: { authorization: `Basic ${basic}` } };
  }
}

/** Reads a PKCS#8 PEM or a JWK (JSON) private key file. */
export async function loadPrivateKey(
  keyFile: string,
  algorithm: string,
): Promise<{ key: KeyLike | Uint8Array; kid?: string }> {
  let text: string;
  try {
    text = readFileSync(keyFile, 'utf8');
  } catch {
    throw configError(`cannot read the SMART private key file ${keyFile}`, ['auth.keyFile']);
  }
  try {
    if (text.trimStart().startsWith('{')) {
      const jwk = JSON.parse(text) as JWK;
      return { key: await importJWK(jwk, algorithm), kid: jwk.kid };
    }
    return { key: await importPKCS8(text, algorithm) };
  } catch (err) {
    throw configError(
      `${keyFile} is not a ${algorithm} private key (PKCS#8 PEM or JWK): ${(err as Error).message}`,
      ['auth.keyFile'],
      err,
    );
  }
}

class SmartBackendAuth extends TokenAuth {
  private tokenUrl: string | undefined;
  private key: Promise<{ key: KeyLike | Uint8Array; kid?: string }> | undefined;

  constructor(
    transport: HttpTransport,
    clock: Clock,
    private readonly config: Extract<AuthConfig, { type: 'smart-backend' }>,
    private readonly baseUrl: string,
  ) {
    super(transport, clock);
    this.tokenUrl = config.tokenUrl;
  }

  /** The token endpoint from config, or from the server's .well-known/smart-configuration. */
  private async discoverTokenUrl(): Promise<string> {
    if (this.tokenUrl) return this.tokenUrl;
    const url = `${this.baseUrl.replace(/\/$/, '')}/.well-known/smart-configuration`;
    const res = await this.transport.send<{ token_endpoint?: string }>({
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
    });
    if (res.status !== 200 || typeof res.body?.token_endpoint !== 'string') {
      throw new HttpError({
        method: 'GET',
        url,
        status: res.status,
        code: 'not-found',
        text: `cannot discover the token endpoint: ${url} answered HTTP ${res.status} without token_endpoint; set auth.tokenUrl`,
      });
    }
    this.tokenUrl = res.body.token_endpoint;
    return this.tokenUrl;
  }

  protected async requestToken(): Promise<{ tokenUrl: string; body: URLSearchParams }> {
    const tokenUrl = await this.discoverTokenUrl();
    this.key ??= loadPrivateKey(this.config.keyFile, this.config.algorithm);
    const { key, kid } = await this.key;
    const nowSeconds = Math.floor(this.clock.now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({
        alg: this.config.algorithm,
        typ: 'JWT',
        ...((this.config.keyId ?? kid) ? { kid: this.config.keyId ?? kid } : {}),
      })
      .setIssuer(this.config.clientId)
      .setSubject(this.config.clientId)
      .setAudience(tokenUrl)
      .setJti(randomUUID())
      .setIssuedAt(nowSeconds)
      .setExpirationTime(nowSeconds + ASSERTION_LIFETIME_SECONDS)
      .sign(key);
    return {
      tokenUrl,
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: this.config.scope,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
    };
  }
}

export function createAuthProvider(
  config: AuthConfig,
  baseUrl: string,
  transport: HttpTransport,
  clock: Clock,
): AuthProvider {
  switch (config.type) {
    case 'none':
      return new StaticAuth(undefined);
    case 'bearer':
      return new StaticAuth(`Bearer ${config.token}`);
    case 'basic':
      return new StaticAuth(`Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}`);
    case 'client_credentials':
      return new ClientCredentialsAuth(transport, clock, config);
    case 'smart-backend':
      return new SmartBackendAuth(transport, clock, config, baseUrl);
  }
}
