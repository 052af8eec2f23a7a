/** The worklist (docs/programme.md, "Worklist"): the care team's open Tasks by urgency, a page at a time. */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Instant, Nullable } from './common';

const Kind = Type.Union(
  ['safety', 'reply', 'outreach', 'follow-up', 'overdue-activity', 'survey', 'no-channel'].map((k) => Type.Literal(k)),
);

export const Worklist = Closed({
  total: Type.Integer({ minimum: 0, description: 'rows matching the filters (every page)' }),
  page: Type.Integer({ minimum: 1 }),
  pageSize: Type.Integer({ minimum: 1 }),
  counts: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
    description: 'rows per section, whatever the kind filter',
  }),
  owners: Type.Array(Type.String(), { description: 'every owner of an open Task (the owner filter’s choices)' }),
  programmes: Type.Array(Type.String(), {
    description: 'every programme of a listed patient (the programme filter’s choices)',
  }),
  rows: Type.Array(
    Closed({
      kind: Kind,
      sourceId: Type.String(),
      patientId: Type.String(),
      taskId: Nullable(Type.String()),
      name: Nullable(Type.String()),
      age: Nullable(Type.Integer({ minimum: 0 })),
      phone: Nullable(Type.String()),
      why: Type.String(),
      since: Nullable(Instant),
      due: Nullable(Instant),
      owner: Nullable(Type.String()),
      status: Nullable(Type.String()),
      tier: Nullable(Type.String()),
      programmes: Type.Array(Type.String()),
    }),
  ),
});

export type Worklist = Static<typeof Worklist>;
