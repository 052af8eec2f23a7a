/** The API's one error shape: a FHIR OperationOutcome, with no stack trace and no patient data. */
import type { NextFunction, Request, Response } from 'express';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { EngageError, getStatus, HttpError, OperationOutcomeError, serverError } from '../errors';
import { logger } from '../log/logger';

/** Only what is safe to show a client: codes, element paths and our own texts (never diagnostics or an EMR's text). */
function publicOutcome(result: OperationOutcome): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    ...(result.id ? { id: result.id } : {}),
    issue: result.issue.map((i) => ({
      severity: i.severity,
      code: i.code,
      ...(i.expression ? { expression: i.expression } : {}),
      ...(i.details ? { details: i.details } : {}),
    })),
  };
}

/** Answers an OperationOutcome with the status Medplum's getStatus reads from it. */
export function sendOutcome(res: Response, result: OperationOutcome, status = getStatus(result)): void {
  res.status(status).json(publicOutcome(result));
}

const invalid = (code: OperationOutcome['issue'][0]['code'], text: string): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code, details: { text } }],
});

/** What body parsing and URL decoding refuse (express and body-parser set `status`), in our words: the request is never echoed. */
const CLIENT_ERRORS: Record<string, [number, OperationOutcome]> = {
  'entity.parse.failed': [400, invalid('structure', 'request body is not valid JSON')],
  'entity.too.large': [413, invalid('too-costly', 'request body is too large')],
  'encoding.unsupported': [415, invalid('not-supported', 'unsupported Content-Encoding')],
  'charset.unsupported': [415, invalid('not-supported', 'unsupported charset')],
  'request.size.invalid': [400, invalid('structure', 'request body length does not match Content-Length')],
  'request.aborted': [400, invalid('incomplete', 'request aborted')],
};

export function errorMiddleware(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  const e = err as { type?: string; status?: number; statusCode?: number };
  const known = e.type ? CLIENT_ERRORS[e.type] : undefined;
  if (known) {
    sendOutcome(res, known[1], known[0]);
    return;
  }
  const status = e.status ?? e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && !(err instanceof EngageError)) {
    // A malformed URL (bad percent-encoding), a bad gzip body, or another request the framework refused.
    sendOutcome(
      res,
      invalid('invalid', 'the request could not be read (malformed URL, encoding or body)'),
      status === 404 ? 400 : status,
    );
    return;
  }
  // Our own messages carry no patient data; an EMR's answer (HttpError) is never passed on.
  if (err instanceof EngageError && !(err instanceof HttpError)) {
    sendOutcome(res, err.outcome);
    return;
  }
  logger().error(
    { err: err instanceof OperationOutcomeError || err instanceof Error ? err : new Error(String(err)) },
    'API request failed',
  );
  const internal = serverError(new Error('internal error'));
  sendOutcome(res, {
    ...internal,
    issue: [{ severity: 'error', code: 'exception', details: { text: 'internal error; see the service log' } }],
  });
}
