/** Planning for a patient's programmes: nothing without one, each programme's rules and settings, one write per identifier. */
import type { Task } from '@medplum/fhirtypes';
import { planProgrammes, programmeSettings, type DesiredWrite } from '../../src/actions/plan';
import { DEFAULT_ACTION_SETTINGS as A } from '../../src/config/action-settings';
import { DEFAULT_INDICATOR_SETTINGS as S } from '../../src/config/indicator-settings';
import type { ProgrammeDefinition } from '../../src/config/programme-settings';
import { computeIndicators } from '../../src/indicators/compute';
import type { EngagementModel } from '../../src/mapping/model';
import type { WrittenResource } from '../../src/store/types';
import { writtenTask } from '../helpers/model';

const NOW = new Date('2026-06-01T00:00:00Z');
const day = (o: number): string => new Date(NOW.getTime() + o * 86_400_000).toISOString();

/** Two missed visits (outreach), one booked in ten days (reminders), a phone on file. */
const patient: EngagementModel = {
  sourceId: 's',
  patientId: 'p1',
  patient: { active: true, hasPhone: true, contacts: [{ system: 'phone', use: 'mobile' }] },
  appointments: [
    { id: 'a1', status: 'no-show', start: day(-20) },
    { id: 'a2', status: 'no-show', start: day(-10) },
    { id: 'a3', status: 'upcoming', sourceStatus: 'booked', start: day(10) },
  ],
  carePlans: [],
  activities: [],
  responses: [],
  requests: [],
};
const ind = computeIndicators(patient, NOW, S);

const reminders: ProgrammeDefinition = {
  id: 'diabetes',
  name: 'Diabetes',
  enrol: { group: 'diabetes-referrals' },
  rules: ['appointment-reminder', 'outreach-no-shows'],
  actions: { taskOwner: 'Organization/diabetes-team', reminders: { leadTimesDays: [1], channels: ['sms'] } },
};
const behavioural: ProgrammeDefinition = {
  id: 'bh',
  name: 'Behavioural health',
  enrol: { questionnaire: { instruments: ['phq9'] } },
  actions: { taskOwner: 'Organization/bh-team' },
};

const written = (identifierValue: string, rule: string): WrittenResource => writtenTask(identifierValue, rule);

const upserts = (writes: DesiredWrite[]) => writes.filter((w) => w.op === 'upsert');
const ids = (writes: DesiredWrite[]) =>
  upserts(writes)
    .map((w) => w.identifier)
    .sort();

test('in no programme: nothing is written, and an open Task is closed saying why', () => {
  const open = written('p1/appointment-reminder/a3/7d', 'appointment-reminder');
  const plan = planProgrammes(ind, patient, [open], A, [], NOW);
  expect(upserts(plan.writes)).toEqual([]);
  expect(plan.writes).toEqual([
    expect.objectContaining({
      op: 'close',
      identifier: open.identifierValue,
      status: 'cancelled',
      reason: 'the patient is no longer enrolled in a programme that runs this rule',
    }),
  ]);
});

test('a programme runs only its rules, with its own settings and Task owner', () => {
  const plan = planProgrammes(ind, patient, [], A, [reminders], NOW);
  expect(ids(plan.writes)).toEqual([
    'p1/appointment-reminder/a3/1d',
    `p1/outreach-no-shows/${NOW.toISOString().slice(0, 10)}`,
  ]);
  for (const w of upserts(plan.writes))
    expect((w.resource as Task).owner).toEqual({ reference: 'Organization/diabetes-team' });
});

test('two programmes asking for the same reminder write it once, as the first asks it', () => {
  const both = planProgrammes(ind, patient, [], A, [reminders, behavioural], NOW);
  const reminderIds = ids(both.writes).filter((i) => i.includes('appointment-reminder'));
  // diabetes asks 1 day before; behavioural health (the defaults) 7 and 1: three asks, two Tasks.
  expect(reminderIds).toEqual(['p1/appointment-reminder/a3/1d', 'p1/appointment-reminder/a3/7d']);
  const oneDay = upserts(both.writes).find((w) => w.identifier === 'p1/appointment-reminder/a3/1d');
  expect((oneDay?.resource as Task).owner).toEqual({ reference: 'Organization/diabetes-team' });
  const sevenDays = upserts(both.writes).find((w) => w.identifier === 'p1/appointment-reminder/a3/7d');
  expect((sevenDays?.resource as Task).owner).toEqual({ reference: 'Organization/bh-team' });
  expect(new Set(ids(both.writes)).size).toBe(ids(both.writes).length);
});

test('leaving one programme cancels the Tasks of its rules only; rules switched off in actions: close nothing', () => {
  const outreach = written(`p1/outreach-no-shows/${day(-1).slice(0, 10)}`, 'outreach-no-shows');
  const reminder = written('p1/appointment-reminder/a3/1d', 'appointment-reminder');
  const remindersOnly: ProgrammeDefinition = { ...reminders, id: 'r', rules: ['appointment-reminder'] };
  const plan = planProgrammes(ind, patient, [outreach, reminder], A, [remindersOnly], NOW);
  const closes = plan.writes.filter((w) => w.op === 'close');
  expect(closes.map((c) => [c.identifier, c.op === 'close' && c.reason])).toEqual([
    [outreach.identifierValue, 'the patient is no longer enrolled in a programme that runs this rule'],
  ]);
  const off = { ...A, disabled: ['outreach-no-shows' as const] };
  expect(
    planProgrammes(ind, patient, [outreach], off, [remindersOnly], NOW).writes.filter((w) => w.op === 'close'),
  ).toEqual([]);
});

test("a programme's settings: its own over the file's, its rules only, the file's switched-off rules kept off", () => {
  const s = programmeSettings({ ...A, disabled: ['engagement-score'] }, reminders);
  expect(s.taskOwner).toBe('Organization/diabetes-team');
  expect(s.reminders).toEqual({ leadTimesDays: [1], channels: ['sms'], sendWindow: A.reminders.sendWindow });
  expect(s.surveys).toEqual(A.surveys);
  expect(s.disabled).toContain('engagement-score');
  expect(s.disabled).toContain('survey-assignment');
  expect(s.disabled).not.toContain('appointment-reminder');
});
