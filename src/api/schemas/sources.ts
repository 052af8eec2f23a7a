/** Sources: what is configured (never a secret), with each one's last and next run. */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Instant, Nullable } from './common';
import { RunView } from './runs';

/** What a held plan would write: counts by programme, rule and resource type, up to three example patients each. */
export const PlanSummary = Closed({
  total: Type.Integer({ minimum: 0 }),
  byRule: Type.Array(
    Closed({
      programme: Nullable(
        Type.String({ description: 'the programme that asked for it, or that the patient left (a close)' }),
      ),
      rule: Type.String(),
      resourceType: Type.String(),
      op: Type.String({ description: 'upsert (write) or close' }),
      count: Type.Integer({ minimum: 0 }),
      examples: Type.Array(Type.String(), { maxItems: 3, description: 'patient ids' }),
    }),
  ),
  upToOutboxId: Type.Integer({ minimum: 0 }),
});

/** Writes held for a person's approval (docs/programme.md, "A first run that asks before it writes"). */
export const HeldPlan = Closed({
  reason: Type.Union([Type.Literal('first-run'), Type.Literal('volume')]),
  detail: Type.String(),
  heldAt: Instant,
  plan: PlanSummary,
});

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
  approval: Nullable(HeldPlan),
});

export const SourcesResponse = Closed({ sources: Type.Array(Source) });

export const SyncStarted = Closed({
  runId: Type.String(),
  status: Type.Literal('running'),
  run: Type.String({ description: 'the run’s URL' }),
});

/** A held plan approved and sent: what was sent, by type and outcome. */
export const Approved = Closed({
  approved: Type.Literal(true),
  approvedBy: Type.String(),
  plan: PlanSummary,
  sent: Type.Record(Type.String(), Type.Record(Type.String(), Type.Integer())),
});

export type Source = Static<typeof Source>;
export type HeldPlan = Static<typeof HeldPlan>;
export type Approved = Static<typeof Approved>;
export type SourcesResponse = Static<typeof SourcesResponse>;
export type SyncStarted = Static<typeof SyncStarted>;
