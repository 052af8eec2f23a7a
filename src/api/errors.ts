/** The API's one error shape: a FHIR OperationOutcome, with no stack trace and no patient data. */
import type { NextFunction, Request, Response } from 'express';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { getStatus } from '@medplum/core';
import { EngageError, HttpError, OperationOutcomeError } from '../errors';
import { logger } from '../log/logger';

export function sendOutcome(res: Response, status: number, code: OperationOutcomeIssue['code'], text: string): void {
  res.status(status).json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] });
}

export function errorMiddleware(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  if ((err as { type?: string }).type === 'entity.parse.failed') {
    sendOutcome(res, 400, 'structure', 'request body is not valid JSON');
    return;
  }
  if (err instanceof EngageError && !(err instanceof HttpError)) {
    const first = err.outcome.issue[0];
    const status = first?.code === 'not-found' ? 404 : first?.code === 'conflict' ? 409 : err.kind === 'config' ? 400 : getStatus(err.outcome) || 500;
    // Our own messages carry no patient data; an EMR's text is never passed on.
    res.status(status >= 400 ? status : 500).json({ resourceType: 'OperationOutcome', issue: err.outcome.issue.map((i) => ({ severity: i.severity, code: i.code, details: i.details })) });
    return;
  }
  logger().error({ err: err instanceof OperationOutcomeError || err instanceof Error ? err : new Error(String(err)) }, 'API request failed');
  sendOutcome(res, 500, 'exception', 'internal error; see the service log');
}
