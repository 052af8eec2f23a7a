/**
 * The one HTTP path of fhir-engage (global fetch underneath). Every request to
 * an EMR or a token endpoint goes through `send`: pacing, per-request timeout,
 * retries with exponential back-off and full jitter on 429/502/503/504,
 * network errors and truncated bodies, honouring Retry-After.
 */
import type { OperationOutcome } from '@medplum/fhirtypes';
import { HttpError } from '../errors';
import { answerExcerpt, redactUrl } from '../log/redact';
import { IdleTimer, idleTimedChunks, readBoundedBody } from './bounded-body';
import { Limiter, realClock, type Clock } from './limiter';
import type { Dispatcher } from 'undici';

export const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);
/** First back-off step; doubles per attempt up to MAX_BACKOFF_MS. */
export const BASE_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 30_000;
/** A Retry-After longer than this is not waited for: the request fails instead of stalling the run. */
export const MAX_RETRY_AFTER_MS = 300_000;
/** No retry sooner than this, whatever the server says (`Retry-After: 0` made 6 tries in 22 ms) or the jitter draws. */
export const MIN_RETRY_DELAY_MS = 250;
/** Redirects followed for one request, each hop checked by the guard. */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export type TransportEvent =
  | { type: 'response'; method: string; url: string; status: number; durationMs: number }
  | { type: 'retry'; method: string; url: string; attempt: number; delayMs: number; reason: string }
  /** A new access token was issued (FhirClient): when it expires, for monitoring. */
  | { type: 'token'; expiresAt: number };

export interface TransportOptions {
  timeoutMs: number;
  maxRetries: number;
  requestsPerSecond: number;
  concurrency: number;
  clock?: Clock;
  random?: () => number;
  onEvent?: (e: TransportEvent) => void;
  userAgent?: string;
  /** Proxy and TLS (src/fhir/network.ts); undefined: direct, system CAs. */
  dispatcher?: Dispatcher;
  /** Bound on a response body read whole (after decompression); default DEFAULT_MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
  /** Bound on decompressed / compressed bytes; default DEFAULT_MAX_INFLATION_RATIO. */
  maxInflationRatio?: number;
  /**
   * Called with every URL before it is fetched, the first and each redirect's: throws (an HttpError)
   * to refuse it. FhirClient's checks the origin against the source's (src/fhir/origins.ts).
   */
  guard?: (url: string) => void;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Parse the body as JSON (default true). */
  json?: boolean;
}

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  url: string;
  /** An error answer that is not JSON (an HTML page, a proxy's text), as received: for the person reading the error. */
  text?: string;
}

/** A response opened by `openStream`: `chunks` for a 2xx, otherwise the parsed `body`. */
export interface StreamResponse {
  status: number;
  headers: Headers;
  url: string;
  body: unknown;
  chunks: AsyncIterable<Uint8Array> | undefined;
  /** Stops the download (the connection is closed). */
  cancel: () => void;
}

/** Seconds or an HTTP date, as RFC 9110 allows; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function isOutcome(body: unknown): body is OperationOutcome {
  return (
    typeof body === 'object' && body !== null && (body as { resourceType?: string }).resourceType === 'OperationOutcome'
  );
}

class RetryableFailure extends Error {
  constructor(
    readonly reason: string,
    readonly status: number | undefined,
    readonly retryAfterMs: number | undefined,
    readonly remoteOutcome?: OperationOutcome,
    /** The socket was closed under a request it was reused for (keep-alive race): it never reached the server. */
    readonly staleConnection = false,
    /** What the server answered (its content type and first bytes, redacted), for the person reading the error. */
    readonly answer?: { contentType: string | null; excerpt: string },
  ) {
    super(reason);
  }
}

/** Codes of a kept-alive connection the server closed just as it was reused. */
const STALE_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

function networkFailure(err: unknown, aborted: boolean, timeoutMs: number): RetryableFailure {
  if (aborted) return new RetryableFailure(`no response within ${timeoutMs} ms`, undefined, undefined);
  // fetch wraps the socket's error as `cause`; some layers (interceptors, proxies) throw it as it is.
  const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code;
  return new RetryableFailure(
    `network error (${code ?? (err as Error).name})`,
    undefined,
    undefined,
    undefined,
    code !== undefined && STALE_CONNECTION_CODES.has(code),
  );
}

export class HttpTransport {
  private readonly limiter: Limiter;
  private readonly clock: Clock;
  private readonly random: () => number;

  constructor(private readonly options: TransportOptions) {
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.limiter = new Limiter(options.requestsPerSecond, options.concurrency, this.clock);
  }

  /** fetch's `dispatcher` option (an undici extension Node's fetch accepts) when a proxy or CA applies. */
  private via(): Record<string, unknown> {
    return this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {};
  }

  /** Back-off before retry `attempt` (1-based): full jitter over an exponential ceiling. */
  backoffMs(attempt: number): number {
    const ceiling = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (attempt - 1));
    return Math.round(this.random() * ceiling);
  }

  async send<T = unknown>(request: HttpRequest): Promise<HttpResponse<T>> {
    const safeUrl = redactUrl(request.url);
    this.options.guard?.(request.url);
    return this.withRetries(request, safeUrl, () => this.once<T>(request, safeUrl), {
      freeStaleRetry: request.method === 'GET' || request.method === 'HEAD',
      longRetryAfter: 'fail',
    });
  }

  /**
   * A response whose body is read as it arrives (Bulk Data NDJSON files): pacing, retries and
   * Retry-After apply until the status line; a 2xx body is then handed over as chunks, with the
   * timeout applying to each wait for the next chunk rather than to the whole download.
   * Any other status is answered like `send` (body parsed, retryable ones retried).
   */
  async openStream(request: HttpRequest): Promise<StreamResponse> {
    const safeUrl = redactUrl(request.url);
    this.options.guard?.(request.url);
    return this.withRetries(request, safeUrl, () => this.openOnce(request, safeUrl), {
      freeStaleRetry: false,
      longRetryAfter: 'cap',
    });
  }

  /**
   * The one retry loop: `attempt` under the limiter, again after back-off (at least MIN_RETRY_DELAY_MS,
   * or the server's Retry-After) on a RetryableFailure, up to maxRetries. `freeStaleRetry`: a reused
   * connection the server closed as the request went out is tried once more at once, uncounted (it
   * never reached the server). `longRetryAfter`: a Retry-After past MAX_RETRY_AFTER_MS fails the
   * request (`fail`) or is waited for only that long (`cap`, a download under way).
   */
  private async withRetries<R>(
    request: HttpRequest,
    safeUrl: string,
    attemptOnce: () => Promise<R>,
    policy: { freeStaleRetry: boolean; longRetryAfter: 'fail' | 'cap' },
  ): Promise<R> {
    let freeRetry = policy.freeStaleRetry;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.limiter.run(attemptOnce);
      } catch (err) {
        if (!(err instanceof RetryableFailure)) throw err;
        if (err.staleConnection && freeRetry) {
          freeRetry = false;
          attempt--;
          continue;
        }
        if (attempt >= this.options.maxRetries) {
          throw new HttpError({
            method: request.method,
            url: safeUrl,
            status: err.status,
            code: err.status === 429 ? 'throttled' : 'transient',
            text: `${request.method} ${safeUrl} failed after ${attempt + 1} attempt(s): ${err.reason}`,
            remoteOutcome: err.remoteOutcome,
            ...(err.answer ? { answer: err.answer } : {}),
          });
        }
        if (
          policy.longRetryAfter === 'fail' &&
          err.retryAfterMs !== undefined &&
          err.retryAfterMs > MAX_RETRY_AFTER_MS
        ) {
          throw new HttpError({
            method: request.method,
            url: safeUrl,
            status: err.status,
            code: 'throttled',
            text: `${request.method} ${safeUrl}: the server asked to wait ${Math.round(err.retryAfterMs / 1000)} s (Retry-After), more than the ${MAX_RETRY_AFTER_MS / 1000} s allowed`,
          });
        }
        const delayMs = Math.max(
          MIN_RETRY_DELAY_MS,
          Math.min(err.retryAfterMs ?? this.backoffMs(attempt + 1), MAX_RETRY_AFTER_MS),
        );
        this.options.onEvent?.({
          type: 'retry',
          method: request.method,
          url: safeUrl,
          attempt: attempt + 1,
          delayMs,
          reason: err.reason,
        });
        await this.clock.sleep(delayMs);
      }
    }
  }

  /** One answer received, for the caller's counters (status and time, never the body). */
  private announce(request: HttpRequest, safeUrl: string, status: number, started: number): void {
    this.options.onEvent?.({
      type: 'response',
      method: request.method,
      url: safeUrl,
      status,
      durationMs: this.clock.now() - started,
    });
  }

  private async openOnce(request: HttpRequest, safeUrl: string): Promise<StreamResponse> {
    const started = this.clock.now();
    const controller = new AbortController();
    const timeoutMs = this.options.timeoutMs;
    const timer = new IdleTimer(controller, timeoutMs);
    let res: Response;
    try {
      res = await this.fetchFollowing(request, controller.signal);
    } catch (err) {
      timer.clear();
      if (err instanceof HttpError) throw err;
      throw networkFailure(err, controller.signal.aborted, timeoutMs);
    }
    this.announce(request, safeUrl, res.status, started);
    if (!res.ok || !res.body) {
      let text = '';
      try {
        text = await readBoundedBody(res, request, safeUrl, controller, this.options);
      } catch (err) {
        if (err instanceof HttpError) {
          timer.clear();
          throw err;
        }
      }
      timer.clear();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      if (RETRYABLE_STATUSES.has(res.status))
        throw new RetryableFailure(
          `HTTP ${res.status}`,
          res.status,
          parseRetryAfter(res.headers.get('retry-after'), this.clock.now()),
          isOutcome(body) ? body : undefined,
        );
      return {
        status: res.status,
        headers: res.headers,
        url: request.url,
        body,
        chunks: undefined,
        cancel: () => undefined,
      };
    }
    return {
      status: res.status,
      headers: res.headers,
      url: request.url,
      body: undefined,
      chunks: idleTimedChunks(res.body, timer, request.method, safeUrl),
      cancel: () => controller.abort(),
    };
  }

  /**
   * fetch with redirects followed here rather than by fetch: each hop is checked by the guard
   * (a redirect to another origin is refused unless that origin is allowed), and the
   * Authorization header never leaves the origin the request was made to.
   */
  private async fetchFollowing(request: HttpRequest, signal: AbortSignal): Promise<Response> {
    let url = request.url;
    let method = request.method;
    let body = request.body;
    let headers: Record<string, string> = { 'user-agent': this.options.userAgent ?? 'fhir-engage', ...request.headers };
    const origin = new URL(request.url).origin;
    for (let hops = 0; ; hops++) {
      const res = await fetch(url, { method, headers, body, signal, redirect: 'manual', ...this.via() });
      const location = REDIRECT_STATUSES.has(res.status) ? res.headers.get('location') : null;
      if (!location) return res;
      await res.body?.cancel().catch(() => undefined);
      const to = new URL(location, url).toString();
      if (hops >= MAX_REDIRECTS) {
        throw new HttpError({
          method: request.method,
          url: redactUrl(request.url),
          status: res.status,
          code: 'too-costly',
          text: `${request.method} ${redactUrl(request.url)}: more than ${MAX_REDIRECTS} redirects`,
        });
      }
      this.options.guard?.(to);
      if (new URL(to).origin !== origin) {
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
      url = to;
    }
  }

  private async once<T>(request: HttpRequest, safeUrl: string): Promise<HttpResponse<T>> {
    const started = this.clock.now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFollowing(request, controller.signal);
      text = await readBoundedBody(res, request, safeUrl, controller, this.options);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw networkFailure(err, controller.signal.aborted, this.options.timeoutMs);
    } finally {
      clearTimeout(timer);
    }
    this.announce(request, safeUrl, res.status, started);
    let body: unknown = text;
    const wantJson = request.json ?? true;
    if (wantJson && text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        if (res.ok) {
          // A 2xx with a body that is not JSON is most often a truncated transfer: worth another try.
          throw new RetryableFailure(
            `the response body is not valid JSON (${text.length} bytes; truncated or not FHIR)`,
            res.status,
            undefined,
          );
        }
        body = undefined;
      }
    }
    if (RETRYABLE_STATUSES.has(res.status)) {
      throw new RetryableFailure(
        `HTTP ${res.status}`,
        res.status,
        parseRetryAfter(res.headers.get('retry-after'), this.clock.now()),
        isOutcome(body) ? body : undefined,
        false,
        { contentType: res.headers.get('content-type'), excerpt: answerExcerpt(body ?? text) },
      );
    }
    const raw = !res.ok && body === undefined && text ? { text } : {};
    return { status: res.status, headers: res.headers, body: body as T, url: request.url, ...raw };
  }
}

/** The server's OperationOutcome in a response body, if it sent one. */
export function outcomeOf(body: unknown): OperationOutcome | undefined {
  return isOutcome(body) ? body : undefined;
}
