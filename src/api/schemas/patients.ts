/** One patient: current engagement, indicator history, identifier search and the dashboard's overview. */
import { Type, type Static } from '@sinclair/typebox';
import { TaskView } from './care-team';
import { Closed, Instant, Nullable, Open, Tier } from './common';

export const EngagementResponse = Closed({
  results: Type.Array(
    Closed({
      sourceId: Type.String(),
      patientId: Type.String(),
      asOf: Nullable(Instant),
      tier: Tier,
      score: Nullable(Type.Number({ minimum: 0, maximum: 100 })),
      why: Type.String({ description: 'the tier’s reasons in words' }),
      indicators: Open(
        {
          patientId: Type.String(),
          asOf: Type.String(),
          engagement: Open({ score: Nullable(Type.Number()), tier: Tier, why: Type.String() }),
        },
        'every indicator of the patient (appointments, carePlans, questionnaires, phq9, gad7, satisfaction, engagement): docs/indicators.md',
      ),
    }),
  ),
});

export const IndicatorHistoryResponse = Closed({
  history: Type.Array(
    Closed({
      sourceId: Type.String(),
      indicator: Type.String({ description: 'e.g. engagement.score, phq9.latest' }),
      value: Type.Unknown({ description: 'a number, or an object for the *.latest indicators' }),
      asOf: Instant,
      runId: Nullable(Type.String()),
    }),
  ),
});

export const PatientMatches = Closed({
  matches: Type.Array(Closed({ sourceId: Type.String(), patientId: Type.String() })),
});

const Point = Closed({ date: Type.String(), value: Type.Number() });
const Band = Closed({ band: Type.String(), from: Type.Number(), to: Type.Number() });
const ScoreChart = Closed({ points: Type.Array(Point), bands: Type.Array(Band), max: Type.Number() });

/** The patient view: tier and why, trends, upcoming appointments with their reminders, what fhir-engage wrote and its status in the EMR. */
export const PatientOverview = Closed({
  sourceId: Type.String(),
  patientId: Type.String(),
  asOf: Instant,
  tier: Tier,
  score: Nullable(Type.Number()),
  why: Type.String(),
  patient: Closed({
    name: Nullable(Type.String()),
    age: Nullable(Type.Integer({ minimum: 0 })),
    sex: Nullable(Type.String()),
    phone: Nullable(Type.String()),
    language: Nullable(Type.String()),
    programmes: Type.Array(Type.String(), { description: 'the programmes the patient is enrolled in now, by name' }),
  }),
  safety: Closed({
    flagged: Type.Boolean({ description: 'shown as a red banner above everything on the page' }),
    reasons: Type.Array(Type.String()),
    openSafetyTasks: Type.Integer({ minimum: 0 }),
  }),
  figures: Closed({
    adherence: Nullable(Type.Number()),
    noShowRate: Nullable(Type.Number()),
    carePlanCompletion: Nullable(Type.Number()),
    phq9: Nullable(
      Closed({ total: Type.Integer(), band: Type.String(), date: Type.String(), response: Nullable(Type.String()) }),
    ),
    gad7: Nullable(Closed({ total: Type.Integer(), band: Type.String(), date: Type.String() })),
    satisfaction: Nullable(Closed({ recommend: Type.Number(), date: Type.String() })),
  }),
  charts: Closed({
    phq9: ScoreChart,
    gad7: ScoreChart,
    adherence: Type.Array(Point),
    satisfaction: Type.Array(Point),
  }),
  upcoming: Type.Array(
    Closed({
      id: Type.String(),
      start: Type.String(),
      status: Type.String(),
      reminders: Type.Array(Closed({ state: Type.String(), status: Nullable(Type.String()) })),
    }),
  ),
  written: Type.Array(
    Closed({
      resourceType: Type.String(),
      rule: Type.String(),
      state: Type.String(),
      statusInEmr: Nullable(Type.String()),
      inWords: Type.String({
        description: 'the one state shown: who ended it (fhir-engage or a person), or that it waits',
      }),
      serverId: Nullable(Type.String()),
      updatedAt: Instant,
      task: Nullable(TaskView),
    }),
  ),
});

export type EngagementResponse = Static<typeof EngagementResponse>;
export type IndicatorHistoryResponse = Static<typeof IndicatorHistoryResponse>;
export type PatientMatches = Static<typeof PatientMatches>;
export type PatientOverview = Static<typeof PatientOverview>;
export type ScoreBand = Static<typeof Band>;
