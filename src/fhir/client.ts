/**
 * A FHIR client for one server: the one transport plus authentication, FHIR
 * headers, and FHIR-shaped errors. A 401 drops the cached token and retries
 * once with a fresh one before failing.
 */
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { AuthConfig } from '../config/types';
import { HttpError } from '../errors';
import { answerExcerpt, redactUrl } from '../log/redact';
import { createAuthProvider, type AuthProvider } from './auth';
import { realClock, type Clock } from './limiter';
import { dispatcherFor, type NetworkSettings } from './network';
import { OriginPolicy } from './origins';
import { HttpTransport, outcomeOf, type HttpResponse, type StreamResponse, type TransportEvent } from './transport';

export const FHIR_JSON = 'application/fhir+json';

export interface FhirClientOptions {
  baseUrl: string;
  auth: AuthConfig;
  timeoutMs?: number;
  maxRetries?: number;
  requestsPerSecond?: number;
  concurrency?: number;
  clock?: Clock;
  random?: () => number;
  onEvent?: (e: TransportEvent) => void;
  userAgent?: string;
  /** Proxy and extra CAs (src/fhir/network.ts). */
  network?: NetworkSettings;
  /** Origins besides the base URL's that URLs from the server may point to (the source's `allowedOrigins`). */
  allowedOrigins?: readonly string[];
  /** Response size bounds (the source's `limits`); the transport's defaults otherwise. */
  maxResponseBytes?: number;
  maxInflationRatio?: number;
}

export interface FhirRequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Send the access token: by default to the source's own origin only; true: also to an allowed
   * origin (a Bulk Data file whose manifest says requiresAccessToken); false: never.
   */
  authenticate?: boolean;
}

function summariseRemote(outcome: OperationOutcome | undefined): string {
  // Issue codes and element paths only: a server's free text can quote patient data.
  if (!outcome?.issue?.length) return '';
  const parts = outcome.issue.slice(0, 3).map((i) => [i.code, ...(i.expression ?? i.location ?? [])].join(' '));
  return ` (server: ${parts.join('; ')})`;
}

export class FhirClient {
  readonly baseUrl: string;
  private readonly transport: HttpTransport;
  private readonly auth: AuthProvider;
  private readonly onEvent: ((e: TransportEvent) => void) | undefined;
  private reportedExpiry: number | undefined;
  readonly origins: OriginPolicy;

  constructor(options: FhirClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.onEvent = options.onEvent;
    const clock = options.clock ?? realClock;
    const tokenUrl = 'tokenUrl' in options.auth ? options.auth.tokenUrl : undefined;
    this.origins = new OriginPolicy(this.baseUrl, [...(options.allowedOrigins ?? []), ...(tokenUrl ? [tokenUrl] : [])]);
    this.transport = new HttpTransport({
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 5,
      requestsPerSecond: options.requestsPerSecond ?? 10,
      concurrency: options.concurrency ?? 4,
      clock,
      random: options.random,
      onEvent: options.onEvent,
      userAgent: options.userAgent,
      dispatcher: options.network ? dispatcherFor(options.network) : undefined,
      guard: (url) => this.origins.check(url),
      maxResponseBytes: options.maxResponseBytes,
      maxInflationRatio: options.maxInflationRatio,
    });
    this.auth = createAuthProvider(options.auth, this.baseUrl, this.transport, clock);
  }

  /** An absolute URL for a path relative to the base (absolute URLs, e.g. next links, are kept as given). */
  url(pathOrUrl: string): string {
    return /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.baseUrl}/${pathOrUrl.replace(/^\/+/, '')}`;
  }

  /** Sends a request; any status is returned (callers decide), except retryable ones that never succeeded. */
  async request<T = Resource>(
    method: string,
    pathOrUrl: string,
    options: FhirRequestOptions = {},
  ): Promise<HttpResponse<T>> {
    const url = this.url(pathOrUrl);
    const send = async (): Promise<HttpResponse<T>> => {
      const authorization = this.sendsToken(url, options) ? await this.authorization() : undefined;
      return this.transport.send<T>({
        method,
        url,
        headers: {
          accept: FHIR_JSON,
          ...(options.body !== undefined ? { 'content-type': FHIR_JSON } : {}),
          ...(authorization ? { authorization } : {}),
          ...options.headers,
        },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    };
    const res = await send();
    if (res.status === 401 && this.auth.invalidate()) {
      return send();
    }
    return res;
  }

  private sendsToken(url: string, options: FhirRequestOptions): boolean {
    return options.authenticate !== false && this.origins.mayCarryToken(url, options.authenticate === true);
  }

  /** The Authorization header; a newly issued token is reported (its expiry) to the client's onEvent. */
  private async authorization(): Promise<string | undefined> {
    const value = await this.auth.authorization();
    const grant = this.auth.grant?.();
    if (grant && grant.expiresAt !== this.reportedExpiry) {
      this.reportedExpiry = grant.expiresAt;
      this.onEvent?.({ type: 'token', expiresAt: grant.expiresAt });
    }
    return value;
  }

  /** Fetches a token now (when the auth uses one) and says what was granted; throws the token endpoint's refusal. */
  async checkAuthorization(): Promise<{ scope?: string; expiresAt: number } | undefined> {
    await this.auth.authorization();
    return this.auth.grant?.();
  }

  /** A GET whose 2xx body is streamed (NDJSON files); a 401 is retried once with a fresh token, as `request` does. */
  async stream(url: string, options: Omit<FhirRequestOptions, 'body'> = {}): Promise<StreamResponse> {
    const open = async (): Promise<StreamResponse> => {
      const authorization = this.sendsToken(url, options) ? await this.authorization() : undefined;
      return this.transport.openStream({
        method: 'GET',
        url,
        headers: { ...(authorization ? { authorization } : {}), ...options.headers },
      });
    };
    const res = await open();
    if (res.status === 401 && options.authenticate !== false && this.auth.invalidate()) return open();
    return res;
  }

  /** GET that must answer 200 with JSON; anything else is an HttpError naming the URL (query values removed). */
  async getOk<T = Resource>(pathOrUrl: string): Promise<T> {
    const res = await this.request<T>('GET', pathOrUrl);
    if (res.status !== 200) {
      throw this.errorFor('GET', res);
    }
    return res.body;
  }

  /** GET of a search page: must be a Bundle. */
  async getBundle(pathOrUrl: string): Promise<Bundle> {
    const body = await this.getOk<unknown>(pathOrUrl);
    if (typeof body !== 'object' || body === null || (body as { resourceType?: string }).resourceType !== 'Bundle') {
      const safe = redactUrl(this.url(pathOrUrl));
      throw new HttpError({
        method: 'GET',
        url: safe,
        status: 200,
        code: 'structure',
        text: `GET ${safe} did not return a Bundle`,
      });
    }
    return body as Bundle;
  }

  errorFor(method: string, res: HttpResponse<unknown>): HttpError {
    const safe = redactUrl(res.url);
    const remote = outcomeOf(res.body);
    return new HttpError({
      method,
      url: safe,
      status: res.status,
      code:
        res.status === 401 || res.status === 403
          ? 'security'
          : res.status === 404
            ? 'not-found'
            : res.status === 412
              ? 'conflict'
              : 'processing',
      text: `${method} ${safe} answered HTTP ${res.status}${summariseRemote(remote)}`,
      remoteOutcome: remote,
      answer: { contentType: res.headers.get('content-type'), excerpt: answerExcerpt(res.body ?? res.text) },
    });
  }
}
