/** The patient list: every computed patient, the least engaged first, with what a care manager scans. */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Nullable, Tier } from './common';

export const PatientList = Closed({
  total: Type.Integer({ minimum: 0 }),
  page: Type.Integer({ minimum: 1 }),
  pageSize: Type.Integer({ minimum: 1 }),
  patients: Type.Array(
    Closed({
      sourceId: Type.String(),
      patientId: Type.String(),
      name: Nullable(Type.String()),
      age: Nullable(Type.Integer({ minimum: 0 })),
      tier: Tier,
      score: Nullable(Type.Number()),
      lastContactDays: Nullable(
        Type.Integer({ description: 'days since the last kept visit, answer or completed activity' }),
      ),
      openTasks: Type.Integer({ minimum: 0, description: 'open Tasks a person acts on' }),
      safety: Type.Boolean({ description: 'a safety flag in the latest indicators' }),
    }),
  ),
});

export type PatientList = Static<typeof PatientList>;
