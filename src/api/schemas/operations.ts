/** The operators' responses: health, readiness, dead letters and the access log. */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Instant, Nullable, OperationOutcome } from './common';

export const Health = Closed({ status: Type.Literal('ok') });

export const Ready = Closed({
  status: Type.Literal('ready'),
  store: Type.Union([Type.Literal('pglite'), Type.Literal('postgres')]),
});

const DeadLetterStage = Type.Union(
  ['pull', 'validate', 'map', 'indicators', 'actions', 'write'].map((s) => Type.Literal(s)),
);

export const DeadLetter = Closed({
  id: Type.Integer({ minimum: 1 }),
  sourceId: Type.String(),
  runId: Nullable(Type.String()),
  stage: DeadLetterStage,
  resourceType: Nullable(Type.String()),
  resourceId: Nullable(Type.String()),
  payload: Type.Optional(Type.Unknown({ description: 'the stored resource, with includePayload=true only' })),
  outcome: OperationOutcome,
  createdAt: Instant,
});

export const DeadLettersResponse = Closed({ deadLetters: Type.Array(DeadLetter) });

export const RetryDone = Closed({ retried: Type.Literal(true), action: Type.String() });

export const Dismissed = Closed({ id: Type.Integer(), dismissed: Type.Literal(true) });

export const AccessLogResponse = Closed({
  entries: Type.Array(
    Closed({
      id: Type.Integer(),
      at: Instant,
      keyId: Type.String({ description: 'who: a person’s subject at the identity provider, or an API key’s id' }),
      actorKind: Type.String({ description: 'person or key' }),
      actorName: Nullable(Type.String({ description: 'the person’s name, or the key’s name' })),
      role: Nullable(Type.String({ description: 'the role the route needed' })),
      change: Nullable(Type.String({ description: 'for a Task action or a note: what changed, in words' })),
      client: Nullable(Type.String()),
      method: Type.String(),
      route: Type.String({ description: 'the route’s pattern, never the URL' }),
      status: Type.Integer(),
      sourceId: Nullable(Type.String()),
      patientId: Nullable(Type.String()),
    }),
  ),
});

export type DeadLetter = Static<typeof DeadLetter>;
export type DeadLettersResponse = Static<typeof DeadLettersResponse>;
export type RetryDone = Static<typeof RetryDone>;
