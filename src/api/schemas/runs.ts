/** Runs: as stored, as the dashboard lists them, and live progress. */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Counts, Instant, Nullable, Open } from './common';

const PullTypeView = Closed({
  resourceType: Type.String(),
  status: Type.String(),
  mode: Type.String(),
  received: Type.Integer(),
  new: Type.Integer(),
  changed: Type.Integer(),
  deadLettered: Type.Integer(),
});

/** A run as the dashboard lists it (from the summary stored with the run). */
export const RunView = Closed({
  id: Type.String(),
  sourceId: Type.String(),
  status: Type.String(),
  asOf: Instant,
  startedAt: Instant,
  finishedAt: Nullable(Instant),
  durationMs: Nullable(Type.Number()),
  pullMethod: Nullable(Type.String()),
  pull: Type.Array(PullTypeView),
  stages: Nullable(Counts),
  deadLetters: Nullable(Closed({ thisRun: Type.Integer(), open: Type.Integer() })),
  writes: Nullable(Type.Record(Type.String(), Counts)),
  heldBack: Nullable(Closed({ patients: Type.Integer(), reasons: Type.Array(Type.String()) })),
  patients: Nullable(Closed({ recomputed: Type.Integer(), total: Type.Integer() })),
  error: Nullable(Open({ message: Type.Optional(Type.String()) })),
});

const RunStatus = Type.Union(
  ['running', 'succeeded', 'partially-failed', 'failed', 'interrupted'].map((s) => Type.Literal(s)),
);

/** A run as stored: its options and its full summary (counts) as the run recorded them. */
export const Run = Closed({
  id: Type.String(),
  sourceId: Type.String(),
  status: RunStatus,
  asOf: Instant,
  options: Open({}, 'the options the run was started with'),
  counts: Open({}, 'the run summary: pull per type, stages, writes, dead letters (see docs/operations.md)'),
  error: Nullable(Open({ message: Type.Optional(Type.String()) })),
  startedAt: Instant,
  heartbeatAt: Instant,
  finishedAt: Nullable(Instant),
});

/** A run going on in this process: its stage, what each type's pull has done, how many patients are computed. */
export const RunProgress = Closed({
  runId: Type.String(),
  sourceId: Type.String(),
  stage: Type.Union([
    Type.Literal('pull'),
    Type.Literal('compute'),
    Type.Literal('dispatch'),
    Type.Literal('finished'),
  ]),
  types: Type.Record(
    Type.String(),
    Closed({
      status: Type.String(),
      received: Type.Integer(),
      new: Type.Integer(),
      changed: Type.Integer(),
      deadLettered: Type.Integer(),
    }),
  ),
  computed: Closed({ patients: Type.Integer(), total: Type.Integer() }),
  detail: Type.Optional(Type.String()),
  failedUnrecorded: Type.Optional(Type.String()),
  updatedAt: Instant,
});

export const RunsResponse = Closed({ runs: Type.Array(Run) });

export const RunResponse = Type.Union([
  Closed({ ...Run.properties, view: RunView, progress: Nullable(RunProgress) }),
  Closed(
    {
      id: Type.String(),
      sourceId: Type.String(),
      status: Type.Union([Type.Literal('running'), Type.Literal('failed')]),
      recorded: Type.Literal(false),
      error: Type.Optional(Closed({ message: Type.String() })),
      progress: RunProgress,
    },
    'a run this process started that ended before the store could record it',
  ),
]);

export type RunView = Static<typeof RunView>;
export type RunProgress = Static<typeof RunProgress>;
export type RunsResponse = Static<typeof RunsResponse>;
export type RunResponse = Static<typeof RunResponse>;
