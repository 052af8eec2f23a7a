/** FHIR clients for a configured source: the read side, and the write target (the same server unless configured). */
import { sourceLimits, type SourceConfig } from '../config/types';
import { FhirClient } from './client';
import type { Clock } from './limiter';
import type { TransportEvent } from './transport';
import { version } from '../version';

export interface TransportStats {
  requests: number;
  retries: number;
  errors: number;
  /** When the last access token issued in the run expires (ms since the epoch), if the source uses tokens. */
  tokenExpiresAt?: number;
}

export interface SourceClientOptions {
  clock?: Clock;
  random?: () => number;
  onEvent?: (e: TransportEvent) => void;
}

export function newTransportStats(): TransportStats {
  return { requests: 0, retries: 0, errors: 0 };
}

/** A client for the source's read side; `stats` is updated on every response and retry. */
export function createSourceClient(
  source: SourceConfig,
  stats: TransportStats,
  options: SourceClientOptions = {},
): FhirClient {
  return new FhirClient({
    baseUrl: source.baseUrl,
    auth: source.auth,
    timeoutMs: source.timeoutMs,
    maxRetries: source.maxRetries,
    requestsPerSecond: source.rateLimit.requestsPerSecond,
    concurrency: source.rateLimit.concurrency,
    clock: options.clock,
    random: options.random,
    userAgent: `fhir-engage/${version()}`,
    network: { proxy: source.proxy, caFile: source.tls?.caFile },
    allowedOrigins: source.allowedOrigins,
    maxResponseBytes: Math.round(sourceLimits(source).maxResponseMB * 1024 * 1024),
    maxInflationRatio: sourceLimits(source).maxInflationRatio,
    onEvent: (e) => {
      if (e.type === 'response') {
        stats.requests++;
        if (e.status >= 400) stats.errors++;
      } else if (e.type === 'retry') {
        stats.retries++;
      } else {
        stats.tokenExpiresAt = e.expiresAt;
      }
      options.onEvent?.(e);
    },
  });
}

/** The client writes go to: the write target when configured, with its own auth (or the source's). */
export function createWriteClient(
  source: SourceConfig,
  stats: TransportStats,
  options: SourceClientOptions = {},
): FhirClient {
  if (!source.writeTarget) return createSourceClient(source, stats, options);
  return createSourceClient(
    { ...source, baseUrl: source.writeTarget.baseUrl, auth: source.writeTarget.auth ?? source.auth },
    stats,
    options,
  );
}
