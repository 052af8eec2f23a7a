/** How a pull fails, and how its failures are told apart (what stops a run, a type, or one search). */
import { EngageError, HttpError, outcome } from '../errors';
import { redactUrl } from '../log/redact';

/**
 * The source refused our credentials (HTTP 401 after a fresh token, or the
 * token endpoint said no): every further request would fail the same way,
 * so the run stops at once with this one error.
 */
export class AuthenticationFailed extends EngageError {
  constructor(cause: HttpError) {
    const what = cause.outcome.issue[0]?.details?.text ?? `HTTP ${cause.status}`;
    super(
      'http',
      outcome(
        'login',
        `authentication failed: ${what}. Check the source's auth settings (client id, secret or key, token URL, scopes).`,
      ),
      cause,
    );
  }
}

export function isAuthenticationFailure(err: unknown): err is HttpError {
  return err instanceof HttpError && (err.status === 401 || err.outcome.issue[0]?.code === 'login');
}

/** A 400 to a system-wide search that names a patient parameter: the server wants per-patient searches. */
export function asksForPatient(err: unknown): boolean {
  if (!(err instanceof HttpError) || err.status !== 400) return false;
  const remote = err.remoteOutcome?.issue ?? [];
  const text = remote
    .map((i) => `${i.code} ${i.details?.text ?? ''} ${i.diagnostics ?? ''} ${(i.expression ?? []).join(' ')}`)
    .join(' ');
  return /\b(patient|subject)\b/i.test(text) || remote.some((i) => i.code === 'required');
}

/** The run was asked to stop (signal): the page in progress is committed, nothing more is asked for. */
export class Interrupted extends Error {}

/** A request refused as a client error (not 429, not authentication): for a next link, paging state the server dropped. */
export function isRefusedLink(err: unknown): err is HttpError & { status: number } {
  return (
    err instanceof HttpError &&
    err.status !== undefined &&
    err.status >= 400 &&
    err.status < 500 &&
    err.status !== 429 &&
    err.status !== 401 &&
    err.status !== 403
  );
}

/** Some patients failed: the watermark must not move, or their data before it would never be pulled. */
export class PartialPull extends Error {
  constructor(readonly maxLastUpdated: string | undefined) {
    super('partial');
  }
}

/** A search given up because of what the server sent (not retried: it would send the same). */
export function searchStopped(url: string, why: string): HttpError {
  const safe = redactUrl(url);
  return new HttpError({ method: 'GET', url: safe, code: 'too-costly', text: `GET ${safe}: ${why}` });
}
