/** Programme figures: the summary now, every figure over a period, and the recorded history (docs/programme.md). */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Figure, Interval, Nullable, Open, Rate, Tier } from './common';

export const ProgrammeSummary = Closed({
  patients: Type.Integer(),
  tiers: Type.Record(Tier, Type.Integer()),
  medianEngagementScore: Nullable(Type.Number()),
  medianAdherence: Nullable(Type.Number()),
  medianNoShowRate: Nullable(Type.Number()),
  phq9WithBaseline: Type.Integer(),
  phq9ResponseShare: Nullable(Type.Number()),
  phq9RemissionShare: Nullable(Type.Number()),
  cms159: Closed({
    met: Type.Integer(),
    notMet: Type.Integer(),
    pending: Type.Integer(),
    rate: Nullable(Type.Number()),
  }),
  item9Flags: Type.Integer(),
  phq9FollowUpsDue: Type.Integer(),
  overdueActivities: Type.Integer(),
});

const reportFigures = {
  period: Closed({ from: Type.String(), to: Type.String() }),
  patients: Type.Integer(),
  reminderEffect: Figure(
    Closed({
      withReminder: Closed({ ...Rate.properties, ci: Type.Optional(Nullable(Interval)) }),
      withoutReminder: Closed({ ...Rate.properties, ci: Type.Optional(Nullable(Interval)) }),
      difference: Nullable(Type.Number({ description: 'with − without, a fraction (shown in percentage points)' })),
      differenceCi: Type.Optional(Nullable(Interval)),
      remindersSince: Type.Optional(Nullable(Type.String())),
    }),
  ),
  delivery: Type.Optional(
    Figure(Type.Record(Type.String(), Rate, { description: 'per channel (sms, email): delivered ÷ outcome known' })),
  ),
  outreachOutcome: Figure(Rate),
  careTeam: Figure(
    Closed({
      turnaroundDays: Type.Record(
        Type.String(),
        Closed({ completed: Type.Integer(), median: Nullable(Type.Number()), p90: Nullable(Type.Number()) }),
      ),
      closedByPerson: Rate,
      cancelledByFhirEngage: Type.Integer(),
      openByOwner: Type.Record(Type.String(), Type.Integer()),
    }),
  ),
  tierMovement: Figure(
    Closed({
      transitions: Type.Record(Type.String(), Type.Integer()),
      improved: Nullable(Type.Integer({ description: 'null: no baseline in the period' })),
      worsened: Nullable(Type.Integer()),
      unchanged: Nullable(Type.Integer()),
    }),
  ),
  clinicalOutcome: Figure(Closed({ withElevatedBaseline: Type.Integer(), response: Rate, remission: Rate })),
  surveyResponse: Figure(Type.Record(Type.String(), Rate)),
  satisfaction: Figure(
    Closed({
      responses: Type.Integer(),
      meanRecommend: Nullable(Type.Number()),
      nps: Nullable(Type.Number()),
      meanExperience: Nullable(Type.Number()),
      responseRate: Rate,
    }),
  ),
};

const Enrolment = Figure(
  Closed({
    enrolled: Type.Integer({ minimum: 0, description: 'patients enrolled at the end of the period' }),
    started: Type.Integer({ minimum: 0, description: 'enrolments that started in the period' }),
    ended: Type.Integer({ minimum: 0, description: 'enrolments that ended in the period (disenrolments)' }),
  }),
);

/** One programme's figures over its patients (those enrolled in it at some time in the period). */
const ProgrammeBreakdown = Closed({
  sourceId: Type.String(),
  id: Type.String(),
  name: Type.String(),
  report: Closed({ ...reportFigures, enrolment: Enrolment }),
});

const withProgrammes = {
  ...reportFigures,
  enrolment: Type.Optional(Enrolment),
  programmes: Type.Optional(Type.Array(ProgrammeBreakdown)),
};

export const ProgrammeReport = Closed(withProgrammes);

/** The report as a JSON file (the `report` command's output): the figures and whose they are. */
export const ProgrammeReportFile = Closed({
  scope: Type.String({ description: '"one source" or "all sources"' }),
  ...withProgrammes,
});

/** A day's figures as recorded after a run: open, since an entry keeps the shape of the version that recorded it. */
export const ProgrammeHistoryEntry = Closed({
  sourceId: Type.String(),
  asOf: Type.String({ format: 'date', description: 'the day the figures were recorded for' }),
  figures: Open({
    ...Type.Partial(Type.Object(withProgrammes)).properties,
    summary: Type.Optional(Open(Type.Partial(ProgrammeSummary).properties)),
  }),
});

export const ProgrammePeriodResponse = Closed({
  summary: ProgrammeSummary,
  report: ProgrammeReport,
  history: Type.Array(ProgrammeHistoryEntry),
});

export const ProgrammeResponse = Type.Union([ProgrammeSummary, ProgrammePeriodResponse]);

export type ProgrammeSummary = Static<typeof ProgrammeSummary>;
export type ProgrammeReport = Static<typeof ProgrammeReport>;
export type ProgrammeHistoryEntry = Static<typeof ProgrammeHistoryEntry>;
export type ProgrammePeriodResponse = Static<typeof ProgrammePeriodResponse>;
export type Rate = Static<typeof Rate>;
