/** Safety flags (docs/indicators.md, "Safety"): the count for the navigation, and the list the care team works first. */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Instant, Nullable, Tier } from './common';

export const SafetyCount = Closed({
  count: Type.Integer({ minimum: 0, description: 'patients with a safety flag (no patient data)' }),
});

export const SafetyList = Closed({
  patients: Type.Array(
    Closed({
      sourceId: Type.String(),
      patientId: Type.String(),
      name: Nullable(Type.String({ description: 'as the EMR has it (patient data: the read is in the access log)' })),
      age: Nullable(Type.Integer({ minimum: 0 })),
      phone: Nullable(Type.String()),
      reasons: Type.Array(Type.String(), { description: 'the flag in words' }),
      openSafetyTasks: Type.Integer({ minimum: 0 }),
      since: Nullable(Instant),
      tier: Nullable(Tier),
      score: Nullable(Type.Number()),
    }),
  ),
});

export type SafetyCount = Static<typeof SafetyCount>;
export type SafetyList = Static<typeof SafetyList>;
