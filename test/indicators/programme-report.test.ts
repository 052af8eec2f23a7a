/** Programme aggregates over designed data: each figure from a known history, with its counts. */
import { computeIndicators } from '../../src/indicators/compute';
import type { Tier } from '../../src/indicators/engagement';
import { percentile90, programmeReport, type ProgrammeInput } from '../../src/indicators/programme-report';
import { DEFAULT_INDICATOR_SETTINGS as S } from '../../src/config/indicator-settings';
import type { EngagementModel } from '../../src/mapping/model';
import type { TaskEvent } from '../../src/store/types';
import { emptyModel } from '../helpers/model';
import { newcombeDifference, wilson } from '../../src/indicators/proportions';
import { reportRows } from '../../src/indicators/programme-report-format';

const FROM = new Date('2026-05-01T00:00:00Z');
const TO = new Date('2026-06-01T00:00:00Z');
const at = (d: string): Date => new Date(`2026-05-${d}T10:00:00Z`);
const model = (patientId: string, parts: Partial<EngagementModel> = {}): EngagementModel =>
  emptyModel({ patientId, ...parts });
const ev = (
  identifierValue: string,
  rule: string,
  status: string,
  changed: string,
  extra: Partial<TaskEvent> = {},
): TaskEvent => ({
  sourceId: 's',
  identifierValue,
  taskId: identifierValue,
  patientId: identifierValue.split('/')[0] as string,
  rule,
  status,
  owner: null,
  focus: null,
  authoredOn: null,
  changedAt: at(changed),
  ...extra,
});

function input(parts: Partial<ProgrammeInput>): ProgrammeInput {
  const patients = (parts.patients ?? []).map((p) => ({ ...p, indicators: computeIndicators(p.model, TO, S) }));
  return {
    from: FROM,
    to: TO,
    patients,
    written: [],
    taskEvents: [],
    tiersAt: { from: new Map(), to: new Map() },
    ...parts,
    ...(parts.patients ? { patients } : {}),
  };
}

test('reminder effect: attendance of due appointments with and without a reminder', () => {
  const m = model('p1', {
    appointments: [
      { id: 'a1', status: 'kept', start: at('03').toISOString() },
      { id: 'a2', status: 'no-show', start: at('05').toISOString() },
      { id: 'a3', status: 'kept', start: at('07').toISOString() },
      { id: 'a4', status: 'no-show', start: at('09').toISOString() },
      { id: 'a5', status: 'no-show', start: at('11').toISOString() },
      { id: 'a6', status: 'kept', start: '2026-04-01T00:00:00Z' },
    ],
  });
  const written = ['a1', 'a2', 'a3'].map((a) => ({
    sourceId: 's',
    identifierValue: `p1/appointment-reminder/${a}/1d`,
    rule: 'appointment-reminder',
    patientId: 'p1',
  }));
  // Reminders reached the EMR on 2 May: every visit of the period is after it.
  const taskEvents = [ev('p1/appointment-reminder/a1/1d', 'appointment-reminder', 'requested', '02')];
  const r = programmeReport(input({ patients: [{ sourceId: 's', model: m } as never], written, taskEvents }));
  expect(r.reminderEffect.value).toEqual({
    withReminder: { numerator: 2, denominator: 3, rate: 0.667, tooFew: true, ci: wilson(2, 3) },
    withoutReminder: { numerator: 0, denominator: 2, rate: 0, tooFew: true, ci: wilson(0, 2) },
    difference: 0.667,
    differenceCi: newcombeDifference(2, 3, 0, 2),
    remindersSince: at('02').toISOString(),
  });
  const row = reportRows(r).find((x) => x.part === 'difference (percentage points)');
  expect(row?.value).toMatch(/^\+66\.7 pp \(95 % CI .* pp to .* pp\) \(too few to judge\)$/);
});

test('reminder effect compares concurrent groups only: visits due before reminders reached the EMR are left out of both', () => {
  const visits = Array.from({ length: 10 }, (_, i) => ({
    id: `v${i}`,
    status: (i % 2 ? 'no-show' : 'kept') as 'kept' | 'no-show',
    start: at(String(3 + i * 2).padStart(2, '0')).toISOString(),
  }));
  const m = model('p1', { appointments: visits });
  // Reminders start on 12 May; v5 (13 May) onwards counts. Reminded: v6, v8; not reminded: v5, v7, v9.
  const written = ['v6', 'v8'].map((a) => ({
    sourceId: 's',
    identifierValue: `p1/appointment-reminder/${a}/1d`,
    rule: 'appointment-reminder',
    patientId: 'p1',
  }));
  const taskEvents = [ev('p1/appointment-reminder/v6/1d', 'appointment-reminder', 'requested', '12')];
  const v = programmeReport(input({ patients: [{ sourceId: 's', model: m } as never], written, taskEvents }))
    .reminderEffect.value;
  expect([v.withReminder.numerator, v.withReminder.denominator]).toEqual([2, 2]);
  expect([v.withoutReminder.numerator, v.withoutReminder.denominator]).toEqual([0, 3]);
  // Without reminders ever, there is nothing to compare.
  const none = programmeReport(input({ patients: [{ sourceId: 's', model: m } as never], written })).reminderEffect
    .value;
  expect([none.withReminder.denominator, none.withoutReminder.denominator, none.difference]).toEqual([0, 0, null]);
});

test('reminders fhir-engage sent itself count when delivered: a failed text is no reminder; delivery rate per channel', () => {
  const m = model('p1', {
    appointments: ['a1', 'a2', 'a3', 'a4'].map((id, i) => ({
      id,
      status: (i % 2 ? 'no-show' : 'kept') as 'kept' | 'no-show',
      start: at(String(5 + i).padStart(2, '0')).toISOString(),
    })),
  });
  const reminder = (a: string): string => `p1/appointment-reminder/${a}/1d`;
  const written = ['a1', 'a2', 'a3', 'a4'].map((a) => ({
    sourceId: 's',
    identifierValue: reminder(a),
    rule: 'appointment-reminder',
    patientId: 'p1',
  }));
  const taskEvents = [ev(reminder('a1'), 'appointment-reminder', 'requested', '02')];
  const msg = (a: string, channel: string, state: string) => ({
    sourceId: 's',
    patientId: 'p1',
    taskIdentifier: reminder(a),
    channel,
    state,
  });
  // a1 delivered by SMS; a2 undelivered by SMS then delivered by email; a3 failed; a4 left to the EMR (no message).
  const messages = [
    msg('a1', 'sms', 'delivered'),
    msg('a2', 'sms', 'undelivered'),
    msg('a2', 'email', 'delivered'),
    msg('a3', 'sms', 'failed'),
    msg('a3', 'sms', 'cancelled'),
  ];
  const r = programmeReport(input({ patients: [{ sourceId: 's', model: m } as never], written, taskEvents, messages }));
  // With: a1 (kept), a2 (no-show), a4 (no-show, written: the EMR sends it); without: a3 (kept, its text failed).
  expect([r.reminderEffect.value.withReminder.numerator, r.reminderEffect.value.withReminder.denominator]).toEqual([
    1, 3,
  ]);
  expect([
    r.reminderEffect.value.withoutReminder.numerator,
    r.reminderEffect.value.withoutReminder.denominator,
  ]).toEqual([1, 1]);
  expect(r.delivery?.value).toEqual({
    email: { numerator: 1, denominator: 1, rate: 1, tooFew: true },
    sms: { numerator: 1, denominator: 3, rate: 0.333, tooFew: true },
  });
  expect(reportRows(r).find((x) => x.part === 'delivered by SMS')?.value).toBe('33.3 % (too few to judge)');
  // No messages: no delivery figure, the written Tasks count as before.
  expect(
    programmeReport(input({ patients: [{ sourceId: 's', model: m } as never], written, taskEvents })).delivery,
  ).toBeUndefined();
});

test('95 % intervals: Wilson for a proportion and Newcombe for a difference reproduce the published examples', () => {
  // Newcombe 1998 (Stat Med 17:873), tables I and II: 81/263 and 56/70 − 48/80.
  expect(wilson(81, 263)).toEqual({ low: 0.2553, high: 0.3662 });
  expect(newcombeDifference(56, 70, 48, 80)).toEqual({ low: 0.0524, high: 0.3339 });
  expect(wilson(0, 0)).toBeNull();
  expect(wilson(0, 10)?.low).toBe(0);
});

test('care-team turnaround from a known Task history: median and 90th percentile per kind; closed by a person vs cancelled; open per owner', () => {
  const events: TaskEvent[] = [];
  // Five outreach Tasks authored on the 1st, completed 2, 4, 6, 8 and 20 days later.
  [2, 4, 6, 8, 20].forEach((d, i) => {
    const id = `p${i}/outreach-no-shows/x`;
    events.push(
      ev(id, 'outreach-no-shows', 'requested', '01', { authoredOn: at('01') }),
      ev(id, 'outreach-no-shows', 'completed', String(1 + d).padStart(2, '0'), { authoredOn: at('01') }),
    );
  });
  events.push(
    ev('p9/overdue-activity/c', 'overdue-activity', 'requested', '02'),
    ev('p9/overdue-activity/c', 'overdue-activity', 'cancelled', '12'),
  );
  events.push(
    ev('p8/phq9-follow-up/q', 'phq9-follow-up', 'requested', '03', { owner: 'Practitioner/nurse-1' }),
    ev('p8/phq9-follow-up/q', 'phq9-follow-up', 'in-progress', '04', { owner: 'Practitioner/nurse-1' }),
  );
  events.push(ev('p7/appointment-reminder/a/1d', 'appointment-reminder', 'completed', '05'));
  const r = programmeReport(input({ taskEvents: events })).careTeam.value;
  expect(r.turnaroundDays).toEqual({ 'outreach-no-shows': { completed: 5, median: 6, p90: 20 } });
  expect(r.closedByPerson).toEqual({ numerator: 5, denominator: 6, rate: 0.833, tooFew: true });
  expect(r.cancelledByFhirEngage).toBe(1);
  expect(r.openByOwner).toEqual({ 'Practitioner/nurse-1': 1 });
  expect(percentile90([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toBe(9);
});

test('tier movement between two dates: transitions, improved, worsened', () => {
  const from = new Map<string, Tier>([
    ['s|a', 'disengaged'],
    ['s|b', 'at-risk'],
    ['s|c', 'engaged'],
    ['s|d', 'at-risk'],
    ['s|e', 'unknown'],
  ]);
  const to = new Map<string, Tier>([
    ['s|a', 'at-risk'],
    ['s|b', 'engaged'],
    ['s|c', 'at-risk'],
    ['s|d', 'at-risk'],
    ['s|e', 'engaged'],
  ]);
  expect(programmeReport(input({ tiersAt: { from, to } })).tierMovement.value).toEqual({
    transitions: { 'at-risk → at-risk': 1, 'at-risk → engaged': 1, 'disengaged → at-risk': 1, 'engaged → at-risk': 1 },
    improved: 2,
    worsened: 1,
    unchanged: 1,
  });
});

test('survey response rate per instrument and satisfaction (mean, NPS, response rate) from a known set of answers', () => {
  const events = [
    ev('p1/survey/phq9/2026-05-02', 'survey-assignment', 'requested', '02'),
    ev('p1/survey/phq9/2026-05-02', 'survey-assignment', 'completed', '04'),
    ev('p2/survey/phq9/2026-05-02', 'survey-assignment', 'requested', '02'),
    ev('p2/survey/phq9/2026-05-02', 'survey-assignment', 'cancelled', '09'),
    ev('p1/post-visit-survey/v1', 'post-visit-survey', 'requested', '10', { authoredOn: at('10') }),
    ev('p1/post-visit-survey/v1', 'post-visit-survey', 'completed', '11'),
    ev('p2/post-visit-survey/v2', 'post-visit-survey', 'requested', '10', { authoredOn: at('10') }),
    ev('p2/post-visit-survey/v2', 'post-visit-survey', 'cancelled', '17'),
    ev('p3/post-visit-survey/v3', 'post-visit-survey', 'requested', '12', { authoredOn: at('12') }),
    ev('p4/post-visit-survey/v4', 'post-visit-survey', 'requested', '12', { authoredOn: at('12') }),
  ];
  const sat = (id: string, recommend: number, day: string) => ({
    id,
    instrument: 'satisfaction',
    status: 'completed' as const,
    authored: at(day).toISOString(),
    answers: [],
    score: { instrument: 'satisfaction', complete: true, items: { recommend, explained: 4 }, missing: [] },
  });
  const patients = [
    { sourceId: 's', model: model('p1', { responses: [sat('r1', 10, '11')] }) },
    { sourceId: 's', model: model('p3', { responses: [sat('r2', 5, '13')] }) },
  ] as never[];
  const r = programmeReport(input({ taskEvents: events, patients }));
  expect(r.surveyResponse.value).toEqual({
    phq9: { numerator: 1, denominator: 2, rate: 0.5, tooFew: true },
    satisfaction: { numerator: 1, denominator: 2, rate: 0.5, tooFew: true },
  });
  expect(r.satisfaction.value).toEqual({
    responses: 2,
    meanRecommend: 7.5,
    nps: 0,
    meanExperience: 4,
    // One definition of the post-visit survey's response rate: the survey response figure's.
    responseRate: r.surveyResponse.value.satisfaction,
  });
});

test('outreach outcome: a kept appointment within 30 days of the completed outreach', () => {
  const events = [
    ev('p1/outreach-no-shows/x', 'outreach-no-shows', 'completed', '05'),
    ev('p2/outreach-no-shows/y', 'outreach-no-shows', 'completed', '06'),
  ];
  const patients = [
    {
      sourceId: 's',
      model: model('p1', { appointments: [{ id: 'k', status: 'kept', start: at('20').toISOString() }] }),
    },
    {
      sourceId: 's',
      model: model('p2', { appointments: [{ id: 'n', status: 'no-show', start: at('20').toISOString() }] }),
    },
  ] as never[];
  expect(programmeReport(input({ taskEvents: events, patients })).outreachOutcome.value).toEqual({
    numerator: 1,
    denominator: 2,
    rate: 0.5,
    tooFew: true,
  });
});

test('tier movement is n/a without a baseline: no patient had a tier at the start of the period', () => {
  const to = new Map<string, Tier>([['s|a', 'engaged']]);
  expect(programmeReport(input({ tiersAt: { from: new Map(), to } })).tierMovement.value).toEqual({
    transitions: {},
    improved: null,
    worsened: null,
    unchanged: null,
  });
  expect(
    reportRows(programmeReport(input({ tiersAt: { from: new Map(), to } }))).find((x) => x.figure === 'tier movement')
      ?.value,
  ).toBe('n/a (no baseline in the period)');
});

test('a rate with 20 or more behind it is judged; under 20 it says so', () => {
  const events = Array.from({ length: 20 }, (_, i) =>
    ev(`p${i}/outreach-no-shows/x`, 'outreach-no-shows', 'completed', '05'),
  );
  const r = programmeReport(input({ taskEvents: events }));
  expect(r.careTeam.value.closedByPerson).toEqual({ numerator: 20, denominator: 20, rate: 1, tooFew: false });
  expect(reportRows(r).find((x) => x.figure === 'care-team efficiency')?.value).toBe('100.0 %');
  expect(
    reportRows(programmeReport(input({ taskEvents: events.slice(1) }))).find((x) => x.figure === 'care-team efficiency')
      ?.value,
  ).toBe('100.0 % (too few to judge)');
});
