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

const Alert = Closed({
  id: Type.Integer(),
  sourceId: Type.String(),
  patientId: Type.String(),
  taskServerId: Nullable(Type.String()),
  channel: Type.Union([Type.Literal('webhook'), Type.Literal('email')]),
  state: Type.Union([
    Type.Literal('pending'),
    Type.Literal('sent'),
    Type.Literal('acknowledged'),
    Type.Literal('resolved'),
  ]),
  sends: Type.Integer({ minimum: 0 }),
  attempts: Type.Integer({ minimum: 0 }),
  lastError: Nullable(Type.String()),
  lastSentAt: Nullable(Instant),
  acknowledgedAt: Nullable(Instant),
  acknowledgedBy: Nullable(Type.String()),
});

/** Safety alerts: what was sent, by which channel, and who acknowledged it. */
export const SafetyAlerts = Closed({ alerts: Type.Array(Alert) });

export const Acknowledged = Closed({
  acknowledged: Type.Integer({ minimum: 0, description: 'alerts of the same Task acknowledged (one per channel)' }),
});

export type SafetyAlerts = Static<typeof SafetyAlerts>;
export type SafetyCount = Static<typeof SafetyCount>;
export type SafetyList = Static<typeof SafetyList>;
