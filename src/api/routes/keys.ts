/**
 * Who am I, and API keys for machines (docs/operations.md, "People and access"): an admin lists them,
 * makes one (a name, roles, the sources it may see, an expiry; the key is shown once, its digest
 * stored) and revokes one (refused at once: keys are looked up at each request).
 */
import type { Request, Response } from 'express';
import { badRequest, EngageError, notFoundOutcome } from '../../errors';
import type { ApiKeyRecord } from '../../store/api-keys';
import { makeApiKey } from '../auth';
import { isRole, principalOf, ROLES } from '../identity';
import { body, errors, json, p, secured, type RouteModule } from '../openapi-parts';
import { param } from '../params';
import { reply } from '../reply';
import { ApiKeys, ApiKeyView, LoggedOut, Me, NewApiKey, SignIn } from '../schemas/people';
import { endSession } from '../sso';

const view = (k: ApiKeyRecord): ApiKeyView => ({
  id: k.id,
  name: k.name,
  roles: k.roles,
  sources: k.sources,
  expiresAt: k.expiresAt?.toISOString() ?? null,
  createdBy: k.createdBy,
  createdAt: k.createdAt.toISOString(),
  revokedAt: k.revokedAt?.toISOString() ?? null,
});

const NEW_KEY_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'roles'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 80 },
    roles: { type: 'array', minItems: 1, items: { enum: [...ROLES] } },
    sources: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'absent: every source' },
    expiresAt: { type: 'string', format: 'date-time', description: 'absent: never (not advised)' },
  },
};

/** The new key's settings from the request body, checked in words. */
function newKeyInput(req: Request, known: readonly string[]) {
  const b = (req.body ?? {}) as { name?: unknown; roles?: unknown; sources?: unknown; expiresAt?: unknown };
  const bad = (text: string) => new EngageError('validation', badRequest(text));
  if (typeof b.name !== 'string' || !b.name.trim() || b.name.length > 80) throw bad('name: 1 to 80 characters');
  if (!Array.isArray(b.roles) || !b.roles.length || !b.roles.every((r) => typeof r === 'string' && isRole(r)))
    throw bad(`roles: one or more of ${ROLES.join(', ')}`);
  let sources: string[] | null = null;
  if (b.sources !== undefined) {
    if (!Array.isArray(b.sources) || !b.sources.length || !b.sources.every((s) => typeof s === 'string'))
      throw bad('sources: a list of source ids (absent: every source)');
    const unknown = (b.sources as string[]).filter((s) => !known.includes(s));
    if (unknown.length) throw bad(`sources: no source ${unknown.join(', ')}; sources: ${known.join(', ')}`);
    sources = b.sources as string[];
  }
  let expiresAt: Date | null = null;
  if (b.expiresAt !== undefined) {
    expiresAt = typeof b.expiresAt === 'string' ? new Date(b.expiresAt) : new Date(Number.NaN);
    if (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now())
      throw bad('expiresAt: an ISO instant in the future');
  }
  return { name: b.name.trim(), roles: b.roles as string[], sources, expiresAt };
}

export const keyRoutes: RouteModule = {
  paths: {
    '/api/me': {
      get: {
        summary: 'Who is asking: a person or a key, their roles and the sources they may see',
        security: secured,
        responses: { '200': json('the caller', Me), ...errors },
      },
    },
    '/api/logout': {
      post: {
        summary:
          'End a person’s session (with the CSRF token), and where the identity provider offers it, there too: `next` is where the browser goes',
        security: secured,
        responses: { '200': json('signed out', LoggedOut), ...errors },
      },
    },
    '/api/keys': {
      get: {
        summary: 'API keys (admin): name, roles, sources, expiry, who made them, revoked; never the keys',
        security: secured,
        responses: { '200': json('the keys', ApiKeys), ...errors },
      },
      post: {
        summary: 'Make an API key (admin): the key is answered this once, only its digest is kept',
        security: secured,
        requestBody: body('the key’s name, roles, sources and expiry', NEW_KEY_BODY),
        responses: { '201': json('the key and its settings', NewApiKey), ...errors },
      },
    },
    '/api/keys/{id}/revoke': {
      post: {
        summary: 'Revoke an API key (admin): refused from the next request on',
        security: secured,
        parameters: [p('id')],
        responses: { '200': json('the key, revoked', ApiKeyView), ...errors },
      },
    },
  },
  register(api, { store, config }) {
    api.get('/me', (_req: Request, res: Response) => {
      const { kind, id, name, roles, sources } = principalOf(res);
      const csrf = res.locals.csrf as string | undefined;
      reply(res, Me, { kind, id, name, roles, sources, ...(csrf ? { csrfToken: csrf } : {}) });
    });
    api.post('/logout', async (req: Request, res: Response) => {
      if (principalOf(res).kind !== 'person' || !config.sso)
        throw new EngageError('validation', badRequest('an API key does not sign out: an admin revokes it'));
      reply(res, LoggedOut, { loggedOut: true, ...(await endSession(store, config.sso, req, res)) });
    });
    api.get('/keys', async (_req, res) => reply(res, ApiKeys, { keys: (await store.listApiKeys()).map(view) }));
    api.post('/keys', async (req, res) => {
      const input = newKeyInput(
        req,
        config.sources.map((s) => s.id),
      );
      const made = await makeApiKey(store, { ...input, createdBy: principalOf(res).name });
      res.locals.change = `made API key ${made.record.id} (${made.record.name}: ${made.record.roles.join(', ')})`;
      reply(res, NewApiKey, { key: made.key, details: view(made.record) }, 201);
    });
    api.post('/keys/:id/revoke', async (req, res) => {
      const revoked = await store.revokeApiKey(param(req, 'id'), new Date());
      if (!revoked) throw new EngageError('validation', notFoundOutcome('no such API key'));
      res.locals.change = `revoked API key ${revoked.id} (${revoked.name})`;
      reply(res, ApiKeyView, view(revoked));
    });
  },
};

/** How people sign in to this service: with the organisation's identity provider, or with an API key. Open. */
export const signInRoutes: RouteModule = {
  open: true,
  paths: {
    '/api/sign-in': {
      get: {
        summary: 'How to sign in: the identity provider (start at /auth/login) or an API key',
        responses: { '200': json('how to sign in', SignIn) },
      },
    },
  },
  register(api, { config }) {
    api.get('/sign-in', (_req, res) =>
      reply(
        res,
        SignIn,
        config.sso ? { sso: true, provider: new URL(config.sso.issuer).host, login: '/auth/login' } : { sso: false },
      ),
    );
  },
};
