/**
 * Who is asking (docs/operations.md, "People and access"): a person signed in, or an API key, each with
 * roles and the sources they may see. Roles: `care-manager` (worklist, patients, Task actions, notes),
 * `programme-lead` (programme figures and reports), `integration` (sources, runs, dead letters,
 * doctor), `admin` (keys, the access log). Sources: a list, or null for every source.
 */
import type { Request, Response } from 'express';
import type { Actor } from '../actions/care-team';
import { badRequest, EngageError, notFoundOutcome } from '../errors';
import type { SourceScope } from '../store/rows';

export const ROLES = ['care-manager', 'programme-lead', 'integration', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);

export interface Principal {
  kind: 'person' | 'key';
  /** A person's subject at the identity provider, or the key's id. */
  id: string;
  /** A person's name, or the key's name. */
  name: string;
  roles: Role[];
  /** The sources they may see; null: every source. */
  sources: string[] | null;
}

export function principalOf(res: Response): Principal {
  const p = res.locals.principal as Principal | undefined;
  if (!p) throw new Error('no principal on a protected route');
  return p;
}

/** Who acted, for Provenance and the access log. */
export function actorOf(res: Response): Actor {
  const p = principalOf(res);
  return p.kind === 'person'
    ? { kind: 'person', id: p.id, display: p.name }
    : { kind: 'key', id: p.id, display: `API key ${p.name}` };
}

export const mayRead = (p: Principal, sourceId: string): boolean => p.sources === null || p.sources.includes(sourceId);

/** Outside the caller's sources, a source does not exist for them (404, as an unknown one). */
export const notInScope = (): EngageError => new EngageError('validation', notFoundOutcome('no such source'));

/** A source named in the path, checked against the caller's sources. */
export function checkSource(res: Response, sourceId: string): void {
  if (!mayRead(principalOf(res), sourceId)) throw notInScope();
}

/**
 * The sources a read covers: `?source=` when the caller may see it (else 404, as an unknown source),
 * otherwise every source the caller may see.
 */
export function scopeOf(req: Request, res: Response): SourceScope {
  return scopeFor(res, typeof req.query.source === 'string' && req.query.source !== '' ? req.query.source : undefined);
}

/**
 * Programme figures are made over one source or over all: a caller limited to one source gets that
 * one; a caller limited to several names one (`?source=`), in words when they did not.
 */
export function figuresSource(req: Request, res: Response): string | undefined {
  const scope = scopeOf(req, res);
  if (scope === null || scope === undefined) return undefined;
  if (typeof scope === 'string') return scope;
  if (scope.length === 1) return scope[0];
  throw new EngageError(
    'validation',
    badRequest(
      `name one source with ?source=: your access covers ${scope.join(', ')}, and programme figures are made over one source or over all of them`,
    ),
  );
}

/** The same for a source asked elsewhere (a request body). */
export function scopeFor(res: Response, asked: string | undefined): SourceScope {
  const p = principalOf(res);
  if (asked !== undefined) {
    if (!mayRead(p, asked)) throw notInScope();
    return asked;
  }
  return p.sources;
}
