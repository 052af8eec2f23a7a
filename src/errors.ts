/**
 * The one error hierarchy of fhir-engage. Every error the engine raises is an
 * `OperationOutcomeError` from @medplum/core carrying a FHIR OperationOutcome,
 * so the API, the CLI and the dead-letter table all speak the same shape.
 *
 * Messages name *what* and *where* (file, field path, URL without query
 * values) and never include patient data.
 */
import {
  badRequest,
  conflict,
  getStatus,
  normalizeOperationOutcome,
  notFound,
  OperationOutcomeError,
  operationOutcomeToString,
  serverError,
} from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

type IssueType = OperationOutcomeIssue['code'];

/*
 * Outcome constructors are Medplum's (badRequest, conflict, serverError,
 * normalizeOperationOutcome) and getStatus reads the HTTP status from the
 * outcome's id; the two below add what 4.5.2 lacks: a not-found with our own
 * text, and a 422 (Medplum's id for it is "business-rule").
 */
export { badRequest, conflict, getStatus, normalizeOperationOutcome, OperationOutcomeError, serverError };

/** 404 with a message of ours (Medplum's `notFound` says only "Not found"). */
export function notFoundOutcome(text: string): OperationOutcome {
  return { ...notFound, issue: [{ severity: 'error', code: 'not-found', details: { text } }] };
}

/** 422: understood, but cannot be processed as it stands (the issues say why). */
export function unprocessable(result: OperationOutcome | string): OperationOutcome {
  const issues: OperationOutcomeIssue[] =
    typeof result === 'string'
      ? [{ severity: 'error', code: 'business-rule', details: { text: result } }]
      : result.issue;
  return { resourceType: 'OperationOutcome', id: 'business-rule', issue: issues };
}

/** Process exit codes the CLI promises to scripts. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
} as const;

/** Extra, machine-readable classification carried next to the outcome. */
export type ErrorKind = 'config' | 'store' | 'http' | 'validation' | 'mapping' | 'internal';

export class EngageError extends OperationOutcomeError {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, outcome: OperationOutcome, cause?: unknown) {
    super(outcome, cause);
    this.kind = kind;
    this.name = 'EngageError';
  }
}

export function outcome(
  code: IssueType,
  text: string,
  expression?: string[],
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity, code, details: { text } };
  if (expression && expression.length > 0) {
    issue.expression = expression;
  }
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

/** A configuration problem: exits 2 from the CLI. */
export function configError(text: string, expression?: string[], cause?: unknown): EngageError {
  return new EngageError('config', outcome('invalid', text, expression), cause);
}

/** Several configuration problems reported together, each with its path. */
export function configErrors(issues: { text: string; expression?: string[] }[]): EngageError {
  const result: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity: 'error',
      code: 'invalid',
      details: { text: i.text },
      ...(i.expression ? { expression: i.expression } : {}),
    })),
  };
  return new EngageError('config', result);
}

/** A store problem; the driver's error is kept as `cause`, not in the message. */
export function storeError(text: string, cause?: unknown): EngageError {
  return new EngageError('store', outcome('exception', text), cause);
}

/**
 * An HTTP exchange with a FHIR server or token endpoint failed. `url` has its
 * query values removed (they may hold PHI); `remoteOutcome` is the server's
 * own OperationOutcome when it sent one (kept for the dead-letter table, not
 * for logs).
 */
export class HttpError extends EngageError {
  readonly status: number | undefined;
  readonly url: string;
  readonly method: string;
  readonly remoteOutcome: OperationOutcome | undefined;
  /** What the server answered, for a person: its content type and the first bytes, redacted (log/redact.ts answerExcerpt). */
  readonly answer: { contentType: string | null; excerpt: string } | undefined;
  constructor(options: {
    method: string;
    url: string;
    status?: number;
    text: string;
    code?: IssueType;
    remoteOutcome?: OperationOutcome;
    answer?: { contentType: string | null; excerpt: string };
    cause?: unknown;
  }) {
    super('http', outcome(options.code ?? 'exception', options.text), options.cause);
    this.name = 'HttpError';
    this.status = options.status;
    this.url = options.url;
    this.method = options.method;
    this.remoteOutcome = options.remoteOutcome;
    this.answer = options.answer;
  }
}

export function internalError(text: string, cause?: unknown): EngageError {
  return new EngageError('internal', outcome('exception', text), cause);
}

export function isConfigError(err: unknown): boolean {
  return err instanceof EngageError && err.kind === 'config';
}

/** One line per issue, for a terminal. */
export function describeError(err: unknown): string {
  if (err instanceof OperationOutcomeError) {
    return err.outcome.issue
      .map((i) => {
        const text = i.details?.text ?? i.diagnostics ?? i.code;
        const at = i.expression?.join(', ');
        const where = at && !text.includes(at) ? ` (at ${at})` : '';
        return `${i.severity}: ${text}${where}`;
      })
      .join('\n');
  }
  if (err instanceof Error) {
    return err.message;
  }
  return String(err);
}

export { operationOutcomeToString };
