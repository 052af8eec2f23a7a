/** The dispatcher against hand-written EMR answers: concurrent edits (412) and rejections (422). */
import nock from 'nock';
import type { Observation } from '@medplum/fhirtypes';
import { FhirClient } from '../../src/fhir/client';
import { dispatchOutbox } from '../../src/writeback/dispatch';
import type { UpsertPayload } from '../../src/writeback/outbox-item';
import { comparableHash } from '../../src/writeback/content';
import { useNockAndStore } from '../helpers/nock-store';

const BASE = 'https://emr.test/fhir';
const SYSTEM = 'https://fhir-engage.dev/fhir/identifier';
const ctx = useNockAndStore();

function observation(value: number): Observation {
  return {
    resourceType: 'Observation',
    identifier: [{ system: SYSTEM, value: 'p1/engagement-score/2026-06' }],
    status: 'final',
    code: { coding: [{ system: 'https://fhir-engage.dev/fhir/CodeSystem/engagement', code: 'engagement-score' }] },
    subject: { reference: 'Patient/p1' },
    valueInteger: value,
  };
}

async function enqueue(sourceId: string, resource: Observation, dedupe = ''): Promise<void> {
  const payload: UpsertPayload = {
    op: 'upsert',
    identifierSystem: SYSTEM,
    identifier: 'p1/engagement-score/2026-06',
    rule: 'engagement-score',
    patientId: 'p1',
    resourceType: 'Observation',
    resource,
    entities: ['Patient/p1'],
    contentHash: comparableHash(resource as unknown as Record<string, unknown>),
  };
  await ctx
    .store()
    .enqueueOutbox(sourceId, 'run', [
      { target: BASE, dedupeKey: `${BASE}|${payload.identifier}${dedupe}`, resourceType: 'Observation', payload },
    ]);
}

function run(sourceId: string) {
  return dispatchOutbox({
    store: ctx.store(),
    client: new FhirClient({ baseUrl: BASE, auth: { type: 'none' }, maxRetries: 0 }),
    sourceId,
    runId: 'run',
    workerId: 'w',
    transactions: false,
    now: () => new Date('2026-06-01T00:00:00Z'),
  });
}

test('412 on If-Match (edited concurrently) is re-read and retried once with the new version', async () => {
  await ctx.store().upsertWritten({
    sourceId: 's412',
    identifierValue: 'p1/engagement-score/2026-06',
    resourceType: 'Observation',
    patientId: 'p1',
    rule: 'engagement-score',
    target: BASE,
    serverId: 'o1',
    versionId: '1',
    contentHash: 'old',
    status: null,
    state: 'open',
    runId: 'r0',
  });
  await enqueue('s412', observation(80));
  const server = (v: string, value: number) => ({ ...observation(value), id: 'o1', meta: { versionId: v } });
  nock(BASE)
    .get('/Observation/o1')
    .reply(200, server('1', 60))
    .put('/Observation/o1')
    .matchHeader('if-match', 'W/"1"')
    .reply(412, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'conflict' }] })
    .get('/Observation/o1')
    .reply(200, server('2', 61))
    .put('/Observation/o1', (body: Observation) => body.valueInteger === 80)
    .matchHeader('if-match', 'W/"2"')
    .reply(200, server('3', 80))
    .post('/Provenance', (body: { target: { reference: string }[] }) => body.target[0]?.reference === 'Observation/o1')
    .reply(201, { resourceType: 'Provenance', id: 'pv1' });
  const counts = await run('s412');
  expect(counts.byType.Observation).toEqual({ updated: 1 });
  expect(await ctx.store().getWritten('s412', 'p1/engagement-score/2026-06')).toMatchObject({
    serverId: 'o1',
    versionId: '3',
    state: 'open',
  });
});

test('422 with an OperationOutcome goes to the dead letters with the EMR outcome; nothing is retried', async () => {
  await enqueue('s422', observation(50));
  const emrOutcome = {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'business-rule', diagnostics: 'Observation.code not in the allowed value set' }],
  };
  // A write never tried before goes straight to the conditional create.
  nock(BASE)
    .post('/Observation')
    .matchHeader('if-none-exist', `identifier=${encodeURIComponent(`${SYSTEM}|p1/engagement-score/2026-06`)}`)
    .reply(422, emrOutcome);
  const counts = await run('s422');
  expect(counts.byType.Observation).toEqual({ failed: 1 });
  const [letter] = await ctx.store().listDeadLetters({ sourceId: 's422' });
  expect(letter).toMatchObject({
    stage: 'write',
    resourceType: 'Observation',
    resourceId: 'p1/engagement-score/2026-06',
    outcome: emrOutcome,
  });
  expect(await ctx.store().outboxCounts('s422')).toEqual({ failed: 1 });
});

test('a server error is kept for a later attempt, not dead-lettered', async () => {
  await enqueue('s503', observation(50));
  nock(BASE).post('/Observation').reply(503);
  const counts = await run('s503');
  expect(counts.byType.Observation).toEqual({ 'retry-later': 1 });
  expect(await ctx.store().outboxCounts('s503')).toEqual({ pending: 1 });
  expect(await ctx.store().countDeadLetters({ sourceId: 's503' })).toBe(0);
});

test.each([500, 502])(
  'an HTTP %i answer to the write itself is tried again in a later pass, not dead-lettered',
  async (status) => {
    const sourceId = `s${status}-answer`;
    await enqueue(sourceId, observation(50), sourceId);
    // maxRetries 0 and a status the transport does not retry: the write's own answer decides.
    nock(BASE)
      .post('/Observation')
      .reply(status, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] });
    const counts = await run(sourceId);
    expect(counts.byType.Observation).toEqual({ 'retry-later': 1 });
    expect(counts.deadLettered).toBe(0);
    expect(await ctx.store().outboxCounts(sourceId)).toEqual({ pending: 1 });
    expect(await ctx.store().countDeadLetters({ sourceId })).toBe(0);
  },
);

test('a write-stage dead letter is counted once; the same write failing the same way again adds none', async () => {
  const emrOutcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'business-rule' }] };
  await enqueue('scount', observation(51), 'scount');
  nock(BASE).post('/Observation').reply(422, emrOutcome);
  expect((await run('scount')).deadLettered).toBe(1);
  const [letter] = await ctx.store().listDeadLetters({ sourceId: 'scount' });
  await ctx
    .store()
    .enqueueOutbox('scount', 'run2', [
      { target: BASE, dedupeKey: `${BASE}|again`, resourceType: 'Observation', payload: letter?.payload },
    ]);
  nock(BASE).post('/Observation').reply(422, emrOutcome);
  expect((await run('scount')).deadLettered).toBe(0);
  expect(await ctx.store().countDeadLetters({ sourceId: 'scount' })).toBe(1);
});

test('a retried write looks the resource up first: already there with the same content, nothing is sent', async () => {
  const resource = observation(42);
  await ctx.store().enqueueOutbox('sretry', 'run', [
    {
      target: BASE,
      dedupeKey: `${BASE}|x`,
      resourceType: 'Observation',
      payload: {
        op: 'upsert',
        identifierSystem: SYSTEM,
        identifier: 'p1/engagement-score/2026-06',
        rule: 'engagement-score',
        patientId: 'p1',
        resourceType: 'Observation',
        resource,
        entities: ['Patient/p1'],
        contentHash: comparableHash(resource as unknown as Record<string, unknown>),
      } satisfies UpsertPayload,
    },
  ]);
  // A first attempt died after sending (its process was killed): claimed, never acked.
  await ctx.store().claimOutbox({ workerId: 'dead', limit: 1, leaseSeconds: 300, sourceId: 'sretry' });
  await ctx.store().releaseOutboxClaims('sretry');
  nock(BASE)
    .get('/Observation')
    .query({ identifier: `${SYSTEM}|p1/engagement-score/2026-06` })
    .reply(200, {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [{ resource: { ...resource, id: 'o9', meta: { versionId: '1' } } }],
    });
  const counts = await dispatchOutbox({
    store: ctx.store(),
    client: new FhirClient({ baseUrl: BASE, auth: { type: 'none' }, maxRetries: 0 }),
    sourceId: 'sretry',
    runId: 'run',
    workerId: 'w2',
    transactions: false,
    now: () => new Date(),
  });
  expect(counts.byType.Observation).toEqual({ unchanged: 1 });
  expect(await ctx.store().getWritten('sretry', 'p1/engagement-score/2026-06')).toMatchObject({
    serverId: 'o9',
    state: 'open',
  });
});
