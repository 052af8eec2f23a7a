/** Sources: what is configured (never a secret), with each one's last and next run. */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Instant, Nullable } from './common';
import { RunView } from './runs';

export const Source = Closed({
  id: Type.String(),
  name: Type.Optional(Type.String()),
  baseUrl: Type.String(),
  authType: Type.String(),
  mode: Type.String(),
  resourceTypes: Type.Array(Type.String()),
  schedule: Nullable(Type.String()),
  writeBack: Type.Boolean(),
  writeTarget: Nullable(Type.String({ description: 'where writes go when not to the source itself' })),
  running: Type.Boolean(),
  pullMethod: Type.String(),
  nextRun: Nullable(Instant),
  lastRun: Nullable(RunView),
});

export const SourcesResponse = Closed({ sources: Type.Array(Source) });

export const SyncStarted = Closed({
  runId: Type.String(),
  status: Type.Literal('running'),
  run: Type.String({ description: 'the run’s URL' }),
});

export type Source = Static<typeof Source>;
export type SourcesResponse = Static<typeof SourcesResponse>;
export type SyncStarted = Static<typeof SyncStarted>;
