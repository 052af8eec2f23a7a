/** Who is enrolled in which programme: each criterion in and out, combinations, and the default programme. */
import type { Group } from '@medplum/fhirtypes';
import { DEFAULT_PROGRAMME, type EnrolmentCriterion } from '../../src/config/programme-settings';
import { enrolledIn, groupMembers, groupsNamed, meets, type EnrolmentFacts } from '../../src/mapping/enrolment';
import { emptyModel } from '../helpers/model';

const NOW = new Date('2026-06-01T00:00:00Z');
const day = (o: number): string => new Date(NOW.getTime() + o * 86_400_000).toISOString();
const none: EnrolmentFacts = { groups: new Map(), identifiers: [] };
const SCT = 'http://snomed.info/sct';

const model = emptyModel;

const visit = (offset: number, status: 'kept' | 'no-show' | 'upcoming' | 'cancelled' = 'kept') => ({
  id: `a${offset}`,
  status,
  start: day(offset),
  codes: [`${SCT}|722162001`],
  actors: ['Practitioner/dr-1', 'Location/clinic-2'],
});

test('carePlan: an active plan, of a listed category (system|code or bare code) unless none is listed', () => {
  const plan = (status: string, codes: string[]) => model({ carePlans: [{ id: 'c', status, codes }] });
  const diabetes = `${SCT}|698360004`;
  expect(meets({ carePlan: {} }, plan('active', []), none, NOW)).toBe(true);
  expect(meets({ carePlan: {} }, plan('completed', []), none, NOW)).toBe(false);
  expect(meets({ carePlan: { statuses: ['completed'] } }, plan('completed', []), none, NOW)).toBe(true);
  expect(meets({ carePlan: { codes: [diabetes] } }, plan('active', [diabetes]), none, NOW)).toBe(true);
  expect(meets({ carePlan: { codes: ['698360004'] } }, plan('active', [diabetes]), none, NOW)).toBe(true);
  expect(meets({ carePlan: { codes: [`http://other|698360004`] } }, plan('active', [diabetes]), none, NOW)).toBe(false);
  expect(meets({ carePlan: { codes: [diabetes] } }, plan('active', ['assess-plan']), none, NOW)).toBe(false);
});

test('appointment: kept, missed or booked, in the window, of a listed kind or with a listed practitioner or location', () => {
  const c = (a: Partial<Extract<EnrolmentCriterion, { appointment: unknown }>['appointment']>): EnrolmentCriterion => ({
    appointment: a,
  });
  expect(meets(c({}), model({ appointments: [visit(-100)] }), none, NOW)).toBe(true);
  expect(meets(c({ withinDays: 90 }), model({ appointments: [visit(-100)] }), none, NOW)).toBe(false);
  expect(meets(c({ aheadDays: 30 }), model({ appointments: [visit(20, 'upcoming')] }), none, NOW)).toBe(true);
  expect(meets(c({ aheadDays: 10 }), model({ appointments: [visit(20, 'upcoming')] }), none, NOW)).toBe(false);
  expect(meets(c({}), model({ appointments: [visit(-5, 'cancelled')] }), none, NOW)).toBe(false);
  expect(meets(c({ codes: ['722162001'] }), model({ appointments: [visit(-5)] }), none, NOW)).toBe(true);
  expect(meets(c({ codes: [`${SCT}|408443003`] }), model({ appointments: [visit(-5)] }), none, NOW)).toBe(false);
  expect(meets(c({ actors: ['Location/clinic-2'] }), model({ appointments: [visit(-5)] }), none, NOW)).toBe(true);
  expect(meets(c({ actors: ['Practitioner/dr-9'] }), model({ appointments: [visit(-5)] }), none, NOW)).toBe(false);
});

test('questionnaire: a completed response in the window, by instrument or canonical URL (version ignored)', () => {
  const answered = (offset: number, status: 'completed' | 'in-progress' = 'completed') =>
    model({
      responses: [
        {
          id: 'r1',
          status,
          authored: day(offset),
          instrument: 'phq9',
          questionnaire: 'http://loinc.org/q/44249-1|2.72',
          answers: [],
        },
      ],
    });
  expect(meets({ questionnaire: {} }, answered(-30), none, NOW)).toBe(true);
  expect(meets({ questionnaire: { withinDays: 14 } }, answered(-30), none, NOW)).toBe(false);
  expect(meets({ questionnaire: {} }, answered(-30, 'in-progress'), none, NOW)).toBe(false);
  expect(meets({ questionnaire: { instruments: ['phq9'] } }, answered(-3), none, NOW)).toBe(true);
  expect(meets({ questionnaire: { instruments: ['gad7'] } }, answered(-3), none, NOW)).toBe(false);
  expect(meets({ questionnaire: { questionnaires: ['http://loinc.org/q/44249-1'] } }, answered(-3), none, NOW)).toBe(
    true,
  );
});

test('patients and group: an explicit list (ids or identifiers) and a Group’s current members', () => {
  const facts: EnrolmentFacts = {
    groups: new Map([['referrals', new Set(['p1'])]]),
    identifiers: ['urn:mrn|12345'],
  };
  expect(meets({ patients: ['Patient/p1'] }, model(), none, NOW)).toBe(true);
  expect(meets({ patients: ['urn:mrn|12345'] }, model(), facts, NOW)).toBe(true);
  expect(meets({ patients: ['urn:mrn|99999', 'Patient/p2'] }, model(), facts, NOW)).toBe(false);
  expect(meets({ group: 'referrals' }, model(), facts, NOW)).toBe(true);
  expect(meets({ group: 'referrals' }, model({ patientId: 'p2' }), facts, NOW)).toBe(false);
  expect(meets({ group: 'unknown-group' }, model(), facts, NOW)).toBe(false);
  const group: Group = {
    resourceType: 'Group',
    type: 'person',
    actual: true,
    member: [
      { entity: { reference: 'Patient/a' } },
      { entity: { reference: 'https://emr.test/fhir/Patient/b/_history/2' } },
      { entity: { reference: 'Patient/c' }, inactive: true },
      { entity: { reference: 'Patient/d' }, period: { end: '2026-01-01' } },
      { entity: { reference: 'Practitioner/x' } },
    ],
  };
  expect([...groupMembers(group, NOW)].sort()).toEqual(['a', 'b']);
});

test('any and all combine; the Groups a set of programmes names are found at any depth', () => {
  const enrol: EnrolmentCriterion = {
    all: [{ group: 'referrals' }, { any: [{ carePlan: {} }, { appointment: { withinDays: 30 } }] }],
  };
  const facts: EnrolmentFacts = { groups: new Map([['referrals', new Set(['p1'])]]), identifiers: [] };
  expect(meets(enrol, model({ appointments: [visit(-10)] }), facts, NOW)).toBe(true);
  expect(meets(enrol, model({ appointments: [visit(-60)] }), facts, NOW)).toBe(false);
  expect(meets(enrol, model({ appointments: [visit(-10)] }), none, NOW)).toBe(false);
  expect(
    groupsNamed([
      { id: 'x', name: 'X', enrol },
      { id: 'y', name: 'Y', enrol: { group: 'b-list' } },
    ]),
  ).toEqual(['b-list', 'referrals']);
});

test('the default programme: a patient with no engagement signal is in no programme; each signal enrols', () => {
  const programmes = [DEFAULT_PROGRAMME];
  expect(enrolledIn(programmes, model(), none, NOW)).toEqual([]);
  // An appointment more than a year ago, a care plan that ended, a response two years ago: no signal.
  const stale = model({
    appointments: [visit(-400)],
    carePlans: [{ id: 'c', status: 'completed', codes: [] }],
    responses: [{ id: 'r', status: 'completed', authored: day(-730), answers: [] }],
  });
  expect(enrolledIn(programmes, stale, none, NOW)).toEqual([]);
  for (const signal of [
    model({ carePlans: [{ id: 'c', status: 'active', codes: [] }] }),
    model({ appointments: [visit(-300)] }),
    model({ appointments: [visit(60, 'upcoming')] }),
    model({ responses: [{ id: 'r', status: 'completed', authored: day(-200), answers: [] }] }),
  ])
    expect(enrolledIn(programmes, signal, none, NOW).map((p) => p.id)).toEqual(['default']);
});
