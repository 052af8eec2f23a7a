/** Who is asking, and the API keys admins make (docs/operations.md, "People and access"). */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Instant, Nullable } from './common';

const Roles = Type.Array(Type.String({ description: 'care-manager, programme-lead, integration or admin' }));
const Sources = Nullable(Type.Array(Type.String({ description: 'a source they may see (null: every source)' })));

export const Me = Closed({
  kind: Type.String({ description: 'person (signed in) or key' }),
  id: Type.String(),
  name: Type.String(),
  roles: Roles,
  sources: Sources,
  csrfToken: Type.Optional(
    Type.String({ description: 'a signed-in person’s: sent as X-CSRF-Token with every change' }),
  ),
});

export const LoggedOut = Closed({
  loggedOut: Type.Literal(true),
  next: Type.String({ description: 'where the browser goes: the identity provider’s sign-out, or /' }),
});

export const SignIn = Closed({
  sso: Type.Boolean(),
  provider: Type.Optional(Type.String({ description: 'the identity provider’s host' })),
  login: Type.Optional(Type.String({ description: 'where sign-in starts' })),
});

export const ApiKeyView = Closed({
  id: Type.String(),
  name: Type.String(),
  roles: Roles,
  sources: Sources,
  expiresAt: Nullable(Instant),
  createdBy: Nullable(Type.String()),
  createdAt: Instant,
  revokedAt: Nullable(Instant),
});

export const ApiKeys = Closed({ keys: Type.Array(ApiKeyView) });

export const NewApiKey = Closed({
  key: Type.String({ description: 'the key itself: shown this once, only its digest is stored' }),
  details: ApiKeyView,
});

export type Me = Static<typeof Me>;
export type SignIn = Static<typeof SignIn>;
export type ApiKeyView = Static<typeof ApiKeyView>;
export type ApiKeys = Static<typeof ApiKeys>;
export type NewApiKey = Static<typeof NewApiKey>;
