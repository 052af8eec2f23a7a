/**
 * Which servers a source's client may talk to. Every URL a server hands us (next links, Bulk Data
 * status and file URLs, error files, redirects, a discovered token endpoint) is checked here before
 * it is fetched: its origin (scheme, host, port) must be the source's, the configured token
 * endpoint's, or one listed in the source's `allowedOrigins` (e.g. the storage host a Bulk Data
 * server hands files out from). A followed link to another host once sent the source's access
 * token there and stored what came back as the source's data.
 *
 * The access token goes to the source's own origin only, or to a listed origin when the caller says
 * the resource needs it (a Bulk Data manifest's requiresAccessToken).
 */
import { HttpError } from '../errors';
import { redactUrl } from '../log/redact';

export class OriginPolicy {
  readonly sourceOrigin: string;
  private readonly allowed: Set<string>;

  /** `trusted`: origins from configuration (allowedOrigins, an explicit token URL). */
  constructor(baseUrl: string, trusted: readonly string[] = []) {
    this.sourceOrigin = new URL(baseUrl).origin;
    this.allowed = new Set([this.sourceOrigin, ...trusted.map((o) => new URL(o).origin)]);
  }

  isAllowed(url: string): boolean {
    return this.allowed.has(originOf(url));
  }

  /** Throws an HttpError (code security) naming the origin when `url` may not be fetched. */
  check(url: string): void {
    if (this.isAllowed(url)) return;
    const origin = originOf(url);
    throw new HttpError({
      method: 'GET',
      url: redactUrl(url),
      code: 'security',
      text: `refused to fetch ${redactUrl(url)}: its origin ${origin} is not the source's (${this.sourceOrigin}) and is not listed in the source's allowedOrigins`,
    });
  }

  /** Whether the access token may be sent with a request to `url`; `needsToken`: the caller says this resource requires it. */
  mayCarryToken(url: string, needsToken: boolean): boolean {
    const origin = originOf(url);
    return origin === this.sourceOrigin || (needsToken && this.allowed.has(origin));
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(not a URL)';
  }
}

/** Whether `err` is this policy's refusal of a URL (raised before anything was sent there). */
export function isRefusedOrigin(err: unknown): boolean {
  return err instanceof HttpError && err.status === undefined && err.outcome.issue[0]?.code === 'security';
}
