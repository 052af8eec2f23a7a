/** The API's one error shape: a FHIR OperationOutcome, with no stack trace and no patient data. */
import type { NextFunction, Request, Response } from 'express';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { EngageError, getStatus, HttpError, OperationOutcomeError, serverError } from '../errors';
import { logger } from '../log/logger';

/** Only what is safe to show a client: codes, element paths and our own texts (never diagnostics or an EMR's text). */
function publicOutcome(result: OperationOutcome): OperationOutcome {
  return { resourceType: 'OperationOutcome', ...(result.id ? { id: result.id } : {}), issue: result.issue.map((i) => ({ severity: i.severity, code: i.code, ...(i.expression ? { expression: i.expression } : {}), ...(i.details ? { details: i.details } : {}) })) };
}

/** Answers an OperationOutcome with the status Medplum's getStatus reads from it. */
export function sendOutcome(res: Response, result: OperationOutcome, status = getStatus(result)): void {
  res.status(status).json(publicOutcome(result));
}

export function errorMiddleware(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  if ((err as { type?: string }).type === 'entity.parse.failed') {
    sendOutcome(res, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure', details: { text: 'request body is not valid JSON' } }] });
    return;
  }
  // Our own messages carry no patient data; an EMR's answer (HttpError) is never passed on.
  if (err instanceof EngageError && !(err instanceof HttpError)) {
    sendOutcome(res, err.outcome);
    return;
  }
  logger().error({ err: err instanceof OperationOutcomeError || err instanceof Error ? err : new Error(String(err)) }, 'API request failed');
  const internal = serverError(new Error('internal error'));
  sendOutcome(res, { ...internal, issue: [{ severity: 'error', code: 'exception', details: { text: 'internal error; see the service log' } }] });
}
