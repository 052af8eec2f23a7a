/**
 * Which roles each route of the API needs (docs/operations.md, "People and access"), in one table; a
 * protected route missing from it is refused to everyone (fail closed, and test/api/permissions.test.ts
 * fails). Checked before the route runs; which sources a caller may see is checked where data is read
 * (identity.ts `scopeOf`, `checkSource`).
 */
import type { NextFunction, Request, Response } from 'express';
import { forbidden } from '@medplum/core';
import { sendOutcome } from './errors';
import { principalOf, ROLES, type Role } from './identity';

const EVERYONE = ROLES;
const CARE: readonly Role[] = ['care-manager'];
const FIGURES: readonly Role[] = ['programme-lead', 'care-manager'];
const INTEGRATION: readonly Role[] = ['integration'];
const ADMIN: readonly Role[] = ['admin'];

/** `METHOD /api/path` (the OpenAPI pattern) → the roles any one of which may call it. */
export const ROUTE_ROLES: Readonly<Record<string, readonly Role[]>> = {
  'GET /api/me': EVERYONE,
  'POST /api/logout': EVERYONE,
  'GET /api/sources': EVERYONE,
  'POST /api/sources/{id}/sync': INTEGRATION,
  'POST /api/sources/{id}/approve': INTEGRATION,
  'GET /api/runs': INTEGRATION,
  'GET /api/runs/{id}': INTEGRATION,
  'GET /api/dead-letters': INTEGRATION,
  'POST /api/dead-letters/{id}/dismiss': INTEGRATION,
  'POST /api/dead-letters/{id}/retry': INTEGRATION,
  'GET /api/safety/count': CARE,
  'GET /api/safety': CARE,
  'GET /api/safety/alerts': CARE,
  'POST /api/safety/alerts/{id}/acknowledge': CARE,
  'GET /api/worklist': CARE,
  'POST /api/worklist/search': CARE,
  'POST /api/sources/{id}/tasks/{taskId}/actions': CARE,
  'POST /api/sources/{id}/patients/{patientId}/contacts': CARE,
  'GET /api/sources/{id}/patients/{patientId}/care-team': CARE,
  'GET /api/sources/{id}/patients/{patientId}/messages': CARE,
  'GET /api/sources/{id}/care-team/writes/{writeId}': CARE,
  'GET /api/sources/{id}/practitioners': CARE,
  'GET /api/patients': CARE,
  'POST /api/patients/search': CARE,
  'GET /api/patients/{id}/engagement': CARE,
  'GET /api/patients/{id}/indicators': CARE,
  'GET /api/patients/{id}/overview': CARE,
  'GET /api/programme': FIGURES,
  'GET /api/programme/report': FIGURES,
  'GET /api/access-log': ADMIN,
  'GET /api/keys': ADMIN,
  'POST /api/keys': ADMIN,
  'POST /api/keys/{id}/revoke': ADMIN,
};

/** The roles a request needs (HEAD as GET), or undefined when the path is not one of the API's. */
export function rolesFor(
  method: string,
  path: string,
  patterns: readonly { pattern: string; regex: RegExp }[],
): { pattern: string; roles: readonly Role[] } | undefined {
  const m = method === 'HEAD' ? 'GET' : method;
  const found = patterns.find((p) => p.regex.test(path) && ROUTE_ROLES[`${m} ${p.pattern}`]);
  // A method the path does not take has no route: its 405 follows. A documented route missing from the
  // table is refused to everyone (and test/api/people-and-access.test.ts fails).
  if (!found) return undefined;
  return { pattern: found.pattern, roles: ROUTE_ROLES[`${m} ${found.pattern}`] as readonly Role[] };
}

/** Refuses (403, in words) a caller without a role the route needs; unknown paths go on to their 404. */
export function authorize(patterns: readonly { pattern: string; regex: RegExp }[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const needed = rolesFor(req.method, `/api${req.path}`, patterns);
    if (!needed) return next();
    const p = principalOf(res);
    const role = p.roles.find((r) => needed.roles.includes(r));
    if (role) {
      res.locals.role = role;
      return next();
    }
    const who = p.kind === 'person' ? 'your account' : 'this API key';
    sendOutcome(
      res,
      {
        ...forbidden,
        issue: [
          {
            severity: 'error',
            code: 'forbidden',
            details: {
              text: needed.roles.length
                ? `this needs the role ${needed.roles.join(' or ')}; ${who} has ${p.roles.join(', ') || 'no role'}`
                : 'this route is not open to anyone',
            },
          },
        ],
      },
      403,
    );
  };
}
