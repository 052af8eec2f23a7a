/** The write-back rules as pure functions: what each rule writes, and the Task lifecycle decisions. */
import type { Task } from '@medplum/fhirtypes';
import { planPatient, type DesiredUpsert } from '../../src/actions/plan';
import { DEFAULT_ACTION_SETTINGS as A, type ActionSettings, type RuleName } from '../../src/config/action-settings';
import { computeIndicators } from '../../src/indicators/compute';
import { DEFAULT_INDICATOR_SETTINGS as S } from '../../src/config/indicator-settings';
import type { EngagementModel, ResponseItem } from '../../src/mapping/model';
import type { WrittenResource } from '../../src/store/types';
import { sharedValidator } from '../../src/validation/validator';
import { engagementCodeSystem } from '../../src/actions/codesystem';
import { emptyModel, writtenTask } from '../helpers/model';

const NOW = new Date('2026-06-01T00:00:00Z');
const day = (o: number): string => new Date(NOW.getTime() + o * 86_400_000).toISOString();

const model = emptyModel;
const phq = (id: string, offset: number, total: number, item9 = 0, stated = true): ResponseItem => ({
  id,
  instrument: 'phq9',
  status: 'completed',
  authored: day(offset),
  answers: [],
  score: {
    instrument: 'phq9',
    total,
    complete: true,
    ...(stated ? { statedTotal: total } : { computedTotal: total }),
    items: { item9 },
    missing: [],
  },
});
const written = (identifierValue: string, rule: string, state: WrittenResource['state'] = 'open'): WrittenResource =>
  writtenTask(identifierValue, rule, { state });
/** The rules that existed before the programme layer: tests of those leave reminders and surveys out. */
const CORE = {
  ...A,
  disabled: [
    'appointment-reminder',
    'reminder-no-channel',
    'survey-assignment',
    'post-visit-survey',
    'patient-satisfaction',
  ] as RuleName[],
};
const plan = (m: EngagementModel, w: WrittenResource[] = [], settings: ActionSettings = CORE) =>
  planPatient(computeIndicators(m, NOW, S), m, w, settings, NOW);
const rules = (m: EngagementModel, w: WrittenResource[] = []) => plan(m, w).writes.map((x) => `${x.op}:${x.rule}`);

const noShows = model({
  appointments: [
    { id: 'a1', status: 'no-show', start: day(-10) },
    { id: 'a2', status: 'no-show', start: day(-40) },
    { id: 'a3', status: 'kept', start: day(-70) },
  ],
});

test('two no-shows in 90 days → an outreach Task referencing the latest no-show; one is not enough', () => {
  const writes = plan(noShows).writes;
  const outreach = writes.find((w) => w.rule === 'outreach-no-shows') as DesiredUpsert;
  expect(outreach.identifier).toBe('p1/outreach-no-shows/2026-06-01');
  expect(outreach.resource).toMatchObject({
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    for: { reference: 'Patient/p1' },
    reasonReference: { reference: 'Appointment/a1' },
    code: { coding: [{ system: A.codeSystem, code: 'outreach-no-shows' }] },
  });
  expect(rules(model({ appointments: [{ id: 'a1', status: 'no-show', start: day(-10) }] }))).not.toContain(
    'upsert:outreach-no-shows',
  );
});

test('an open outreach Task is reused for the episode, not duplicated with a new date', () => {
  const w = [written('p1/outreach-no-shows/2026-05-01', 'outreach-no-shows')];
  const outreach = plan(noShows, w).writes.filter((x) => x.rule === 'outreach-no-shows');
  expect(outreach.map((x) => x.identifier)).toEqual(['p1/outreach-no-shows/2026-05-01']);
});

test('the item 9 safety Task is stat and planned first', () => {
  const writes = plan(model({ responses: [phq('q1', -2, 16, 1)], appointments: noShows.appointments })).writes;
  expect(writes[0]).toMatchObject({
    rule: 'phq9-item9-safety',
    priority: 0,
    resource: { priority: 'stat', reasonReference: { reference: 'QuestionnaireResponse/q1' } },
  });
});

test('a computed PHQ-9 total becomes an Observation derived from the response; a stated one does not', () => {
  const computed = plan(model({ responses: [phq('q1', -2, 7, 0, false)] })).writes.find(
    (w) => w.rule === 'questionnaire-total',
  ) as DesiredUpsert;
  expect(computed.resource).toMatchObject({
    code: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] },
    valueInteger: 7,
    derivedFrom: [{ reference: 'QuestionnaireResponse/q1' }],
    category: [{ coding: [{ code: 'survey' }] }],
  });
  expect(rules(model({ responses: [phq('q1', -2, 7, 0, true)] }))).not.toContain('upsert:questionnaire-total');
});

test('when the reason has gone: outreach is cancelled, a follow-up completed, a safety Task never closed', () => {
  const w = [
    written('p1/outreach-no-shows/2026-04-01', 'outreach-no-shows'),
    written('p1/phq9-follow-up/q0', 'phq9-follow-up'),
    written('p1/phq9-item9-safety/q0', 'phq9-item9-safety'),
  ];
  const closes = plan(model(), w).writes.filter((x) => x.op === 'close');
  expect(closes.map((c) => [c.rule, c.op === 'close' && c.status])).toEqual([
    ['outreach-no-shows', 'cancelled'],
    ['phq9-follow-up', 'completed'],
  ]);
});

test('a Task a person has taken on is left alone while the reason holds, and forgotten when it has gone', () => {
  const taken = [written('p1/outreach-no-shows/2026-05-01', 'outreach-no-shows', 'handled-by-person')];
  expect(rules(noShows, taken)).not.toContain('upsert:outreach-no-shows');
  expect(plan(model(), taken)).toMatchObject({ writes: [], forget: ['p1/outreach-no-shows/2026-05-01'] });
});

test('no writes about a deceased or inactive patient; their open Tasks are cancelled', () => {
  const w = [written('p1/outreach-no-shows/2026-05-01', 'outreach-no-shows')];
  for (const patient of [{ deceased: true }, { active: false }]) {
    const writes = plan({ ...noShows, patient }, w).writes;
    expect(writes.map((x) => `${x.op}:${x.rule}`)).toEqual(['close:outreach-no-shows']);
  }
});

test('disabled rules write nothing', () => {
  expect(
    plan(noShows, [], {
      ...A,
      disabled: [...CORE.disabled, 'outreach-no-shows', 'engagement-score', 'appointment-adherence'],
    }).writes,
  ).toEqual([]);
});

test('every resource the rules produce is valid FHIR and passes profiles/', () => {
  const rich = model({
    appointments: noShows.appointments,
    activities: [{ id: 'c1#0', planId: 'c1', status: 'scheduled', due: day(-3) }],
    responses: [
      phq('q1', -40, 14, 1, false),
      {
        ...phq('g1', -40, 9, 0, false),
        instrument: 'gad7',
        score: { instrument: 'gad7', total: 9, computedTotal: 9, complete: true, items: {}, missing: [] },
      },
    ],
  });
  const writes = plan(rich, [], { ...CORE, taskOwner: 'Organization/care-team' }).writes as DesiredUpsert[];
  expect(new Set(writes.map((w) => w.rule)).size).toBeGreaterThanOrEqual(6);
  for (const w of writes) expect(sharedValidator().validate(w.resource, 'outgoing')).toEqual({ valid: true });
  expect((writes.find((w) => w.resourceType === 'Task')?.resource as Task).owner).toEqual({
    reference: 'Organization/care-team',
  });
});

test("fhir-engage's CodeSystem is valid FHIR and has every code the rules use", () => {
  const cs = engagementCodeSystem(A.codeSystem);
  expect(sharedValidator().validate(cs, 'outgoing')).toEqual({ valid: true });
  const codes = new Set(cs.concept?.map((c) => c.code));
  const writes = plan(model({ appointments: noShows.appointments, responses: [phq('q1', -40, 14, 1)] }))
    .writes as DesiredUpsert[];
  for (const w of writes) {
    for (const coding of (w.resource as { code?: { coding?: { system?: string; code?: string }[] } }).code?.coding ??
      []) {
      if (coding.system === A.codeSystem) expect(codes.has(coding.code as string)).toBe(true);
    }
  }
});
