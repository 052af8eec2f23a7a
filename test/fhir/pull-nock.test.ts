/** Pull behaviour against hand-written server answers (nock): dialect details a sandbox does not show. */
import nock from 'nock';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { pullSource } from '../../src/fhir/pull';
import { createSourceClient, newTransportStats } from '../../src/fhir/source-client';
import type { SourceConfig } from '../../src/config/types';
import { sharedValidator } from '../../src/validation/validator';
import { testSource } from '../helpers/source';
import { useNockAndStore } from '../helpers/nock-store';

const BASE = 'https://ehr.test/r4/ec2458f2-1e24-41c8-b71b-0e701af7583d';
const ctx = useNockAndStore();

const appt = (id: string, patient: string, lastUpdated = '2026-05-01T10:00:00Z') =>
  ({
    resourceType: 'Appointment',
    id,
    meta: { versionId: '1', lastUpdated },
    status: 'fulfilled',
    start: '2026-05-01T09:00:00Z',
    participant: [{ actor: { reference: `Patient/${patient}` }, status: 'accepted' }],
  }) as Resource;

function page(entries: Bundle['entry'], next?: string): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: entries,
    link: next ? [{ relation: 'next', url: next }] : [],
  };
}

function run(source: SourceConfig) {
  const stats = newTransportStats();
  return pullSource({
    source,
    store: ctx.store(),
    client: createSourceClient(source, stats),
    validator: sharedValidator(),
    runId: 'r1',
    transportStats: stats,
  });
}

test('opaque next links are followed exactly as given', async () => {
  const opaque = `${BASE}/Appointment?patient=1316020&-pageContext=eNqdU21r2zAQ_isrGfvkiJNfE0Mhjq0OQ2cbWwnbvhgjq5nAloLslHX0x09&-pageDirection=NEXT`;
  nock(BASE)
    .get('/Appointment')
    .query({ _count: '100' })
    .reply(200, page([{ resource: appt('a1', '1316020') }], opaque))
    .get('/Appointment')
    .query({
      patient: '1316020',
      '-pageContext': 'eNqdU21r2zAQ_isrGfvkiJNfE0Mhjq0OQ2cbWwnbvhgjq5nAloLslHX0x09',
      '-pageDirection': 'NEXT',
    })
    .reply(200, page([{ resource: appt('a2', '1316020') }]));
  const report = await run(testSource({ id: 'opaque', baseUrl: BASE, resourceTypes: ['Appointment'] }));
  expect(report.types[0]).toMatchObject({ status: 'ok', pages: 2, new: 2 });
});

test('per-patient mode searches each stored patient with patient=, following next links', async () => {
  const source = testSource({
    id: 'pp',
    baseUrl: BASE,
    mode: 'per-patient',
    resourceTypes: ['Patient', 'Appointment'],
    rateLimit: { requestsPerSecond: 1000, concurrency: 2 },
  });
  nock(BASE)
    .get('/Patient')
    .query({ _count: '100' })
    .reply(
      200,
      page([{ resource: { resourceType: 'Patient', id: 'p1' } }, { resource: { resourceType: 'Patient', id: 'p2' } }]),
    )
    .get('/Appointment')
    .query({ patient: 'p1', _count: '100' })
    .reply(200, page([{ resource: appt('a1', 'p1') }], `${BASE}/Appointment?patient=p1&page=2`))
    .get('/Appointment')
    .query({ patient: 'p1', page: '2' })
    .reply(200, page([{ resource: appt('a2', 'p1') }]))
    .get('/Appointment')
    .query({ patient: 'p2', _count: '100' })
    .reply(200, page([{ resource: appt('a3', 'p2') }]));
  const report = await run(source);
  expect(report.types.map((t) => [t.resourceType, t.status, t.new])).toEqual([
    ['Patient', 'ok', 2],
    ['Appointment', 'ok', 3],
  ]);
  expect(report.changedPatients).toEqual(['p1', 'p2']);
  expect(await ctx.store().getCheckpoint('pp', 'Appointment')).toBeUndefined();
  expect((await ctx.store().getWatermark('pp', 'Appointment'))?.toISOString()).toBe('2026-05-01T10:00:00.000Z');
});

test('per-patient over a Group: Patient read by _id in chunks, one id at a time when the server refuses several; members only', async () => {
  const source = testSource({
    id: 'grp',
    baseUrl: BASE,
    mode: 'per-patient',
    perPatientGroup: 'cohort-1',
    resourceTypes: ['Patient', 'Appointment'],
    rateLimit: { requestsPerSecond: 1000, concurrency: 1 },
  });
  const patient = (id: string) => ({ resource: { resourceType: 'Patient', id } as Resource });
  const refused = {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'invalid', diagnostics: 'The _id parameter accepts one value' }],
  };
  nock(BASE)
    .get('/Group/cohort-1')
    .reply(200, {
      resourceType: 'Group',
      id: 'cohort-1',
      type: 'person',
      actual: true,
      member: [
        { entity: { reference: 'Patient/p2' } },
        { entity: { reference: 'Patient/p1' } },
        { entity: { reference: 'Patient/gone' }, inactive: true },
      ],
    })
    .get('/Patient')
    .query({ _id: 'p1,p2', _count: '100' })
    .reply(400, refused)
    .get('/Patient')
    .query({ _id: 'p1', _count: '100' })
    .reply(200, page([patient('p1')]))
    .get('/Patient')
    .query({ _id: 'p2', _count: '100' })
    .reply(200, page([patient('p2')]))
    .get('/Appointment')
    .query({ patient: 'p1', _count: '100' })
    .reply(200, page([{ resource: appt('a1', 'p1') }]))
    .get('/Appointment')
    .query({ patient: 'p2', _count: '100' })
    .reply(200, page([]));
  const report = await run(source);
  expect(report.types.map((t) => [t.resourceType, t.status, t.new])).toEqual([
    ['Patient', 'ok', 2],
    ['Appointment', 'ok', 1],
  ]);
  expect(report.types[0]?.notes).toEqual([
    'the server refused _id with several values; Patients are read one id at a time',
    '2 member(s) of Group/cohort-1',
    '2 new member(s) searched from the beginning',
  ]);
  // Settled: the next run searches them from the watermark.
  expect(await ctx.store().getCheckpoint('grp', 'Group.members')).toBeUndefined();
});

test('OperationOutcome entries in a Bundle are counted; an error one becomes a dead letter; included resources are stored', async () => {
  nock(BASE)
    .get('/QuestionnaireResponse')
    .query(true)
    .reply(
      200,
      page([
        {
          resource: {
            resourceType: 'QuestionnaireResponse',
            id: 'qr1',
            meta: { lastUpdated: '2026-05-02T00:00:00Z' },
            status: 'completed',
            subject: { reference: 'Patient/p1' },
            authored: '2026-05-02T00:00:00Z',
            questionnaire: 'Questionnaire/q1',
          },
          search: { mode: 'match' },
        },
        {
          resource: { resourceType: 'Questionnaire', id: 'q1', status: 'active', url: 'http://example.org/q1' },
          search: { mode: 'include' },
        },
        {
          resource: {
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'warning', code: 'incomplete', diagnostics: 'some results were filtered' }],
          },
          search: { mode: 'outcome' },
        },
        {
          resource: {
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'error', code: 'forbidden', diagnostics: 'results for 2 patients withheld' }],
          },
          search: { mode: 'outcome' },
        },
      ]),
    );
  const report = await run(testSource({ id: 'oo', baseUrl: BASE, resourceTypes: ['QuestionnaireResponse'] }));
  expect(report.types[0]).toMatchObject({ status: 'ok', received: 1, new: 2, included: 1, outcomes: 2 });
  const letters = await ctx.store().listDeadLetters({ sourceId: 'oo' });
  expect(letters.map((l) => [l.stage, l.outcome.issue[0]?.code])).toEqual([['pull', 'forbidden']]);
  // The included Questionnaire satisfied the response's reference: no extra fetch.
  expect(report.types.map((t) => t.resourceType)).toEqual(['QuestionnaireResponse']);
  expect(await ctx.store().getResource('oo', 'Questionnaire', 'q1')).toBeDefined();
});

test('a server error mid-pull keeps the pages already stored and reports the type as failed', async () => {
  nock(BASE)
    .get('/Appointment')
    .query({ _count: '100' })
    .reply(200, page([{ resource: appt('a1', 'p1') }], `${BASE}/Appointment?page=2`))
    .get('/Appointment')
    .query({ page: '2' })
    .reply(500, { resourceType: 'OperationOutcome', issue: [{ severity: 'fatal', code: 'exception' }] });
  const report = await run(testSource({ id: 'midfail', baseUrl: BASE, resourceTypes: ['Appointment'] }));
  expect(report.types[0]).toMatchObject({ status: 'failed', pages: 1, new: 1 });
  expect(report.types[0]?.error).toContain('answered HTTP 500 (server: exception)');
  expect(await ctx.store().countResources('midfail')).toEqual({ Appointment: 1 });
  expect(await ctx.store().getWatermark('midfail', 'Appointment')).toBeUndefined();
  expect((await ctx.store().getCheckpoint('midfail', 'Appointment'))?.state).toMatchObject({
    nextUrl: `${BASE}/Appointment?page=2`,
  });
});

test('an expired next link on resume falls back to the watermark search', async () => {
  await ctx.store().saveCheckpoint('expired', 'Appointment', 'old', {
    kind: 'pages',
    nextUrl: `${BASE}/Appointment?-pageContext=gone`,
    since: '2026-04-01T00:00:00.000Z',
    pages: 3,
  });
  nock(BASE)
    .get('/Appointment')
    .query({ '-pageContext': 'gone' })
    .reply(400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] })
    .get('/Appointment')
    .query({ _count: '100', _lastUpdated: 'gt2026-04-01T00:00:00.000Z' })
    .reply(200, page([{ resource: appt('a9', 'p9') }]));
  const report = await run(testSource({ id: 'expired', baseUrl: BASE, resourceTypes: ['Appointment'] }));
  expect(report.types[0]).toMatchObject({ status: 'ok', new: 1 });
  expect(report.types[0]?.notes.join(' ')).toContain('could not be resumed (HTTP 400)');
});
