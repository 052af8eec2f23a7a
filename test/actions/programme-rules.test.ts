/** Reminders, survey assignments and satisfaction as pure rules: designed cases for each decision. */
import type { Observation, Task } from '@medplum/fhirtypes';
import { planPatient, type DesiredUpsert, type DesiredWrite } from '../../src/actions/plan';
import { reminderChannel } from '../../src/actions/reminders';
import { DEFAULT_ACTION_SETTINGS as A, type ActionSettings, type RuleName } from '../../src/config/action-settings';
import { computeIndicators } from '../../src/indicators/compute';
import { DEFAULT_INDICATOR_SETTINGS as S } from '../../src/config/indicator-settings';
import { netPromoterScore, npsCategory } from '../../src/indicators/satisfaction';
import type { AppointmentItem, EngagementModel, ResponseItem } from '../../src/mapping/model';
import type { WrittenResource } from '../../src/store/types';
import { sharedValidator } from '../../src/validation/validator';
import { emptyModel, writtenTask } from '../helpers/model';

const NOW = new Date('2026-06-01T12:00:00Z');
const day = (o: number): string => new Date(NOW.getTime() + o * 86_400_000).toISOString();
const ONLY = (...rules: RuleName[]): ActionSettings => ({
  ...A,
  disabled: (
    [
      'engagement-score',
      'appointment-adherence',
      'questionnaire-total',
      'outreach-no-shows',
      'phq9-follow-up',
      'overdue-activity',
      'phq9-item9-safety',
      'appointment-reminder',
      'reminder-no-channel',
      'survey-assignment',
      'post-visit-survey',
      'patient-satisfaction',
    ] as RuleName[]
  ).filter((r) => !rules.includes(r)),
});

const model = (parts: Partial<EngagementModel> = {}): EngagementModel =>
  emptyModel({ patient: { contacts: [{ system: 'phone', use: 'mobile' }], language: 'es' }, ...parts });
const booked = (id: string, offsetDays: number): AppointmentItem => ({
  id,
  status: 'upcoming',
  sourceStatus: 'booked',
  start: day(offsetDays),
});
const written = (
  identifierValue: string,
  rule: string,
  status = 'requested',
  state: WrittenResource['state'] = 'open',
): WrittenResource => writtenTask(identifierValue, rule, { status, state, serverId: 'x', updatedAt: NOW });
const plan = (m: EngagementModel, w: WrittenResource[], settings: ActionSettings) =>
  planPatient(computeIndicators(m, NOW, S), m, w, settings, NOW).writes;
const upserts = (writes: DesiredWrite[]): DesiredUpsert[] =>
  writes.filter((x): x is DesiredUpsert => x.op === 'upsert');
const summary = (writes: DesiredWrite[]): string[] =>
  writes.map((x) => `${x.op}:${x.identifier}${x.op === 'close' ? `:${x.status}` : ''}`).sort();

describe('appointment reminders', () => {
  const R = ONLY('appointment-reminder', 'reminder-no-channel');

  test('a booked appointment 10 days ahead gets a 7-day and a 1-day reminder: focus, timing, channel and language, never the number', () => {
    const writes = upserts(plan(model({ appointments: [booked('a1', 10)] }), [], R));
    expect(writes.map((w) => w.identifier)).toEqual(['p1/appointment-reminder/a1/7d', 'p1/appointment-reminder/a1/1d']);
    const t = writes[0]!.resource as Task;
    expect(t).toMatchObject({
      focus: { reference: 'Appointment/a1' },
      for: { reference: 'Patient/p1' },
      executionPeriod: { end: day(10) },
      // The send window, 09:00 to 19:00 on the day 7 days before the visit (UTC: no zone configured).
      restriction: { period: { start: `${day(3).slice(0, 10)}T09:00:00Z`, end: `${day(3).slice(0, 10)}T19:00:00Z` } },
    });
    expect(t.input?.map((i) => i.valueCode)).toEqual(['sms', 'es']);
    for (const w of writes) expect(sharedValidator().validate(w.resource, 'outgoing')).toEqual({ valid: true });
  });

  test('a lead time already past is not created late; one written before is kept until the visit', () => {
    expect(upserts(plan(model({ appointments: [booked('a1', 3)] }), [], R)).map((w) => w.identifier)).toEqual([
      'p1/appointment-reminder/a1/1d',
    ]);
    const before = [written('p1/appointment-reminder/a1/7d', 'appointment-reminder')];
    expect(summary(plan(model({ appointments: [booked('a1', 3)] }), before, R))).toEqual([
      'upsert:p1/appointment-reminder/a1/1d',
      'upsert:p1/appointment-reminder/a1/7d',
    ]);
  });

  test('a rescheduled appointment (same id, new start) moves its reminders and cancels none that are still valid', () => {
    const before = [
      written('p1/appointment-reminder/a1/7d', 'appointment-reminder'),
      written('p1/appointment-reminder/a1/1d', 'appointment-reminder'),
    ];
    const writes = plan(model({ appointments: [booked('a1', 20)] }), before, R);
    expect(summary(writes)).toEqual(['upsert:p1/appointment-reminder/a1/1d', 'upsert:p1/appointment-reminder/a1/7d']);
    expect((upserts(writes)[0]!.resource as Task).executionPeriod?.end).toBe(day(20));
  });

  test('a cancelled, missed or past appointment cancels its open reminders; one the messaging platform completed is left alone', () => {
    const before = [
      written('p1/appointment-reminder/a1/7d', 'appointment-reminder'),
      written('p1/appointment-reminder/a1/1d', 'appointment-reminder', 'completed', 'handled-by-person'),
    ];
    for (const a of [
      { id: 'a1', status: 'cancelled' as const, start: day(5) },
      { id: 'a1', status: 'no-show' as const, start: day(-1) },
      { ...booked('a1', -1) },
    ]) {
      expect(summary(plan(model({ appointments: [a] }), before, R))).toEqual([
        'close:p1/appointment-reminder/a1/7d:cancelled',
      ]);
    }
  });

  test("the channel: the patient's ranked choice first, else the programme's order; ended contact points do not count", () => {
    const order = A.reminders.channels;
    expect(reminderChannel([{ system: 'email' }, { system: 'phone', use: 'home' }], order, NOW)).toBe('email');
    expect(
      reminderChannel(
        [
          { system: 'email', rank: 2 },
          { system: 'phone', use: 'home', rank: 1 },
        ],
        order,
        NOW,
      ),
    ).toBe('phone');
    expect(
      reminderChannel(
        [
          { system: 'phone', use: 'mobile', until: day(-1) },
          { system: 'phone', use: 'home' },
        ],
        order,
        NOW,
      ),
    ).toBe('phone');
    expect(reminderChannel([{ system: 'fax' }], order, NOW)).toBeUndefined();
  });

  test('no reachable channel: no reminder, one Task for staff ("no way to remind") while a visit is upcoming', () => {
    const m = model({ patient: { contacts: [{ system: 'fax' }] }, appointments: [booked('a1', 10), booked('a2', 40)] });
    expect(summary(plan(m, [], R))).toEqual(['upsert:p1/reminder-no-channel']);
    expect((upserts(plan(m, [], R))[0]!.resource as Task).focus).toEqual({ reference: 'Appointment/a1' });
    expect(
      summary(plan(model({ patient: {} }), [written('p1/reminder-no-channel', 'reminder-no-channel')], R)),
    ).toEqual(['close:p1/reminder-no-channel:cancelled']);
  });
});

describe('survey assignments', () => {
  const V = ONLY('survey-assignment', 'post-visit-survey');
  const phq = (id: string, offset: number, total: number): ResponseItem => ({
    id,
    instrument: 'phq9',
    status: 'completed',
    authored: day(offset),
    answers: [],
    score: { instrument: 'phq9', total, complete: true, items: {}, missing: [] },
  });
  const settings: ActionSettings = {
    ...V,
    surveys: { ...A.surveys, periodic: [A.surveys.periodic[0]!], postVisit: A.surveys.postVisit },
  };

  test('a PHQ-9 window opens every 28 days after the last answer, 14 after a score of 10 or more; none before it is due', () => {
    expect(summary(plan(model({ responses: [phq('q1', -27, 4)] }), [], settings))).toEqual([]);
    expect(summary(plan(model({ responses: [phq('q1', -28, 4)] }), [], settings))).toEqual([
      'upsert:p1/survey/phq9/2026-06-01',
    ]);
    expect(summary(plan(model({ responses: [phq('q1', -14, 12)] }), [], settings))).toEqual([
      'upsert:p1/survey/phq9/2026-06-01',
    ]);
    const t = upserts(plan(model(), [], settings))[0]!.resource as Task;
    expect(t).toMatchObject({
      status: 'requested',
      executionPeriod: { start: '2026-06-01T00:00:00.000Z', end: '2026-06-08T00:00:00.000Z' },
      input: [{ valueCanonical: 'http://loinc.org/q/44249-1' }],
    });
    // fhir-engage's code first (its rules and lists), then SDC's Task code (a patient app that follows SDC finds it).
    expect(t.code?.coding?.map((c) => `${c.system}#${c.code}`)).toEqual([
      `${A.codeSystem}#survey-assignment`,
      'http://hl7.org/fhir/uv/sdc/CodeSystem/temp#complete-questionnaire',
    ]);
    expect(sharedValidator().validate(t, 'outgoing')).toEqual({ valid: true });
  });

  test('a new window is never one that has already closed: due on a day whose window ends now, it opens today instead', () => {
    // Answered 2026-04-27 10:00 → due 2026-05-25 10:00; a window from 2026-05-25 would end at 2026-06-01 00:00, which is now.
    const at = new Date('2026-06-01T00:00:00Z');
    const m = model({ responses: [{ ...phq('q1', 0, 4), authored: '2026-04-27T10:00:00.000Z' }] });
    const [w] = upserts(planPatient(computeIndicators(m, at, S), m, [], settings, at).writes);
    expect(w?.identifier).toBe('p1/survey/phq9/2026-06-01');
    expect((w?.resource as Task).executionPeriod).toEqual({
      start: '2026-06-01T00:00:00.000Z',
      end: '2026-06-08T00:00:00.000Z',
    });
  });

  test('a response inside the window completes the Task and links it; the window then stays closed for nothing', () => {
    const before = [written('p1/survey/phq9/2026-05-30', 'survey-assignment')];
    const writes = upserts(plan(model({ responses: [phq('q2', -1, 6)] }), before, settings));
    expect(writes.map((w) => w.identifier)).toEqual(['p1/survey/phq9/2026-05-30']);
    expect(writes[0]!.resource).toMatchObject({
      status: 'completed',
      output: [{ valueReference: { reference: 'QuestionnaireResponse/q2' } }],
    });
    // Later, the window has closed: a completed Task is not closed again.
    const later = planPatient(
      computeIndicators(model({ responses: [phq('q2', -1, 6)] }), new Date(day(10)), S),
      model({ responses: [phq('q2', -1, 6)] }),
      [written('p1/survey/phq9/2026-05-30', 'survey-assignment', 'completed')],
      settings,
      new Date(day(10)),
    ).writes;
    expect(later).toEqual([]);
  });

  test('a window that closes unanswered cancels its Task (not responded); the next opens a cycle after the last one', () => {
    const before = [written('p1/survey/phq9/2026-05-20', 'survey-assignment')];
    const writes = plan(model({ responses: [phq('q1', -60, 4)] }), before, settings);
    expect(summary(writes)).toEqual(['close:p1/survey/phq9/2026-05-20:cancelled']);
    expect(writes[0]).toMatchObject({ reason: 'the window to answer closed without a response' });
  });

  test('a post-visit survey opens after each kept visit, is completed by a satisfaction response, and cancelled when its window closes', () => {
    const visit: AppointmentItem = { id: 'v1', status: 'kept', start: day(-2), end: day(-2) };
    const sat: ResponseItem = {
      id: 's1',
      instrument: 'satisfaction',
      status: 'completed',
      authored: day(-1),
      answers: [],
      score: {
        instrument: 'satisfaction',
        complete: true,
        items: { recommend: 9, explained: 4, listened: 5, time: 3 },
        missing: [],
      },
    };
    const post = ONLY('post-visit-survey');
    expect(upserts(plan(model({ appointments: [visit] }), [], post))[0]!.resource).toMatchObject({
      status: 'requested',
      focus: { reference: 'Appointment/v1' },
    });
    expect(upserts(plan(model({ appointments: [visit], responses: [sat] }), [], post))[0]!.resource).toMatchObject({
      status: 'completed',
      output: [{ valueReference: { reference: 'QuestionnaireResponse/s1' } }],
    });
    const old: AppointmentItem = { id: 'v0', status: 'kept', start: day(-9), end: day(-9) };
    expect(
      summary(plan(model({ appointments: [old] }), [written('p1/post-visit-survey/v0', 'post-visit-survey')], post)),
    ).toEqual(['close:p1/post-visit-survey/v0:cancelled']);
    expect(summary(plan(model({ appointments: [old] }), [], post))).toEqual([]);
  });
});

describe('patient satisfaction', () => {
  test('each satisfaction response is an Observation of the 0-10 score, with the experience mean, derived from the response', () => {
    const sat: ResponseItem = {
      id: 's1',
      instrument: 'satisfaction',
      status: 'completed',
      authored: day(-1),
      answers: [],
      score: {
        instrument: 'satisfaction',
        complete: true,
        items: { recommend: 6, explained: 4, listened: 5, time: 3 },
        missing: [],
      },
    };
    const [w] = upserts(plan(model({ responses: [sat] }), [], ONLY('patient-satisfaction')));
    const obs = w!.resource as Observation;
    expect(obs).toMatchObject({
      valueInteger: 6,
      derivedFrom: [{ reference: 'QuestionnaireResponse/s1' }],
      component: [{ valueQuantity: { value: 4 } }],
    });
    expect(sharedValidator().validate(obs, 'outgoing')).toEqual({ valid: true });
    const ind = computeIndicators(
      model({
        responses: [sat, { ...sat, id: 's0', authored: day(-30), score: { ...sat.score!, items: { recommend: 9 } } }],
      }),
      NOW,
      S,
    );
    expect(ind.satisfaction).toMatchObject({
      responses: 2,
      latest: { recommend: 6, category: 'detractor' },
      trend: -3,
    });
  });

  test('NPS of a known set of answers: % promoters − % detractors', () => {
    expect(netPromoterScore([10, 9, 8, 7, 8, 6, 3, 0, 10, 5])).toBe(-10); // 3 promoters, 3 passives, 4 detractors of 10
    expect(netPromoterScore([])).toBeNull();
    expect([npsCategory(9), npsCategory(8), npsCategory(6)]).toEqual(['promoter', 'passive', 'detractor']);
  });
});
