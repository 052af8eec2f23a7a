/**
 * Reading a request's path and query parameters: every bad value is a 400 (BadQuery) whose message
 * names the parameter and never echoes the value.
 */
import type express from 'express';
import type { Request, Response } from 'express';
import { findUnsafeValues, hasForbiddenCharacter, MAX_JSON_DEPTH } from '../validation/json-safety';
import { dayOrInstant, UTC } from '../local-time';

/** A bad query parameter: its message is ours (it names the parameter, never echoes the value). */
export class BadQuery extends Error {}

export const param = (req: Request, name: string): string => String((req.params as Record<string, string>)[name]);

export const query = (req: Request, name: string): string | undefined => {
  const v = (req.query as Record<string, unknown>)[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
};

/** Years a date parameter may name: what PostgreSQL's timestamptz and every report can hold and show. */
const FIRST_YEAR = 1;
const LAST_YEAR = 9999;

export function instant(req: Request, name: string, zone = UTC): Date | undefined {
  const v = query(req, name);
  if (v === undefined) return undefined;
  const t = dayOrInstant(v, zone);
  if (Number.isNaN(t)) throw new BadQuery(`${name} must be an ISO date or instant`);
  const year = new Date(t).getUTCFullYear();
  if (year < FIRST_YEAR || year > LAST_YEAR)
    throw new BadQuery(`${name} must be a date from year ${FIRST_YEAR} to ${LAST_YEAR}`);
  return new Date(t);
}

/** `from` and `to` of a period (the 30 days before `to` when `from` is absent); `from` must come first. */
/** `?from=&to=`: dates are days in the clinic's zone (`zone`), instants are instants; the last 30 days by default. */
export function period(req: Request, zone = UTC, end: Date = new Date()): { start: Date; end: Date } {
  const to = instant(req, 'to', zone) ?? end;
  const start = instant(req, 'from', zone) ?? new Date(to.getTime() - 30 * 86_400_000);
  if (start >= to) throw new BadQuery('from must be before to');
  return { start, end: to };
}

/** `?limit=`: a whole number from 1 to `max`, or `fallback` when absent; anything else is a 400 (not silently a default). */
export function limitOf(req: Request, fallback: number, max: number): number {
  const v = query(req, 'limit');
  if (v === undefined) return fallback;
  const n = /^\d{1,7}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= max)) throw new BadQuery(`limit must be a whole number from 1 to ${max}`);
  return n;
}

/** A dead letter's id: a positive whole number. */
export function deadLetterId(req: Request): number {
  const id = Number(param(req, 'id'));
  if (!/^\d{1,15}$/.test(param(req, 'id')) || !Number.isSafeInteger(id) || id < 1)
    throw new BadQuery('the dead letter id must be a positive integer');
  return id;
}

/** Run ids, patient ids, source ids, dead-letter ids in a path: FHIR id characters only (no NUL, no odd encodings into SQL). */
export function checkPathId(_req: Request, _res: Response, next: express.NextFunction, value: string): void {
  next(/^[A-Za-z0-9\-.]{1,64}$/.test(value) ? undefined : new BadQuery('the id in the path is not a valid id'));
}

/**
 * Query parameters and JSON bodies with a character no text field may hold (a NUL, another control
 * character, an unpaired surrogate: the store refuses them and they were 500s) or nested past
 * MAX_JSON_DEPTH: 400 naming the parameter or the body's element, never echoing the value.
 */
export function rejectUnsafeInput(req: Request, _res: Response, next: express.NextFunction): void {
  for (const [name, value] of Object.entries(req.query as Record<string, unknown>)) {
    const [found] = findUnsafeValues(name, value, 1);
    if (found || hasForbiddenCharacter(name))
      return next(
        new BadQuery(
          `the query parameter ${found ? found.expression.replace(/\[\d+\]$/, '') : '(name)'} contains a character that is not allowed (a control character or an unpaired surrogate)`,
        ),
      );
  }
  const [inBody] = req.body === undefined ? [] : findUnsafeValues('body', req.body, 1);
  if (inBody) {
    return next(
      new BadQuery(
        inBody.kind === 'depth'
          ? `the request body nests deeper than ${MAX_JSON_DEPTH} levels`
          : `${inBody.expression} in the request body contains a character that is not allowed (a control character or an unpaired surrogate)`,
      ),
    );
  }
  next();
}
