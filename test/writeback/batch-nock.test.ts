/** Batched write-back: new writes go together in transaction Bundles; a rejected transaction is split until only the bad write fails. */
import nock from 'nock';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { FhirClient } from '../../src/fhir/client';
import { dispatchOutbox } from '../../src/writeback/dispatch';
import type { UpsertPayload } from '../../src/writeback/outbox-item';
import { comparableHash } from '../../src/writeback/content';
import { useNockAndStore } from '../helpers/nock-store';

const BASE = 'https://emr.test/fhir';
const SYSTEM = 'https://fhir-engage.dev/fhir/identifier';
const ctx = useNockAndStore();

function payload(n: number, bad = false): UpsertPayload {
  const resource: Observation = {
    resourceType: 'Observation',
    identifier: [{ system: SYSTEM, value: `p${n}/engagement-score/2026-06` }],
    status: 'final',
    code: { text: bad ? 'refused by the EMR' : 'score' },
    subject: { reference: `Patient/p${n}` },
    valueInteger: n,
  };
  return {
    op: 'upsert',
    identifierSystem: SYSTEM,
    identifier: `p${n}/engagement-score/2026-06`,
    rule: 'engagement-score',
    patientId: `p${n}`,
    resourceType: 'Observation',
    resource,
    entities: [`Patient/p${n}`],
    contentHash: comparableHash(resource as unknown as Record<string, unknown>),
  };
}

async function enqueue(sourceId: string, payloads: UpsertPayload[]): Promise<void> {
  await ctx.store().enqueueOutbox(
    sourceId,
    'run',
    payloads.map((p) => ({
      target: BASE,
      dedupeKey: `${BASE}|${sourceId}|${p.identifier}`,
      resourceType: 'Observation',
      payload: p,
    })),
  );
}

/** A transaction answer: each create 201 with an id, each Provenance 201; 422 for the whole when it holds a refused write. */
function answer(raw: unknown): [number, unknown] {
  // nock hands over an application/fhir+json body as text.
  const body = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Bundle;
  const entries = body.entry ?? [];
  if (entries.some((e) => (e.resource as Observation | undefined)?.code?.text === 'refused by the EMR')) {
    return [422, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'business-rule' }] }];
  }
  return [
    200,
    {
      resourceType: 'Bundle',
      type: 'transaction-response',
      entry: entries.map((e, i) => ({
        response: { status: '201 Created' },
        resource: { ...e.resource, id: `x${i}`, meta: { versionId: '1' } },
      })),
    },
  ];
}

function dispatch(sourceId: string, writeBatchSize: number, transactions = true) {
  return dispatchOutbox({
    store: ctx.store(),
    client: new FhirClient({ baseUrl: BASE, auth: { type: 'none' }, maxRetries: 0 }),
    sourceId,
    runId: 'run',
    workerId: 'w',
    transactions,
    writeBatchSize,
    now: () => new Date('2026-06-01T00:00:00Z'),
  });
}

test('new writes go in transaction Bundles of writeBatchSize, each with its Provenance: 5 writes, 2 requests', async () => {
  await enqueue(
    'b1',
    [1, 2, 3, 4, 5].map((n) => payload(n)),
  );
  const sizes: number[] = [];
  nock(BASE)
    .post('/', (b: Bundle) => sizes.push(b.entry?.length ?? 0) > 0)
    .times(2)
    .reply((_uri, body) => answer(body));
  const counts = await dispatch('b1', 3);
  expect(counts.byType.Observation).toEqual({ created: 5 });
  expect(sizes).toEqual([6, 4]);
  expect(await ctx.store().outboxCounts('b1')).toEqual({ sent: 5 });
});

test('a transaction rejected as a whole is split in halves until only the refused write fails; it alone is dead-lettered', async () => {
  await enqueue('b2', [payload(11), payload(12), payload(13, true), payload(14)]);
  const sizes: number[] = [];
  // 4 → rejected; 2 (ok) + 2 → rejected; 1 (bad, rejected) + 1 (ok).
  nock(BASE)
    .post('/', (b: Bundle) => sizes.push((b.entry?.length ?? 0) / 2) > 0)
    .times(5)
    .reply((_uri, body) => answer(body));
  const counts = await dispatch('b2', 50);
  expect(sizes).toEqual([4, 2, 2, 1, 1]);
  expect(counts.byType.Observation).toEqual({ created: 3, failed: 1 });
  const [letter] = await ctx.store().listDeadLetters({ sourceId: 'b2' });
  expect(letter).toMatchObject({ stage: 'write', resourceId: 'p13/engagement-score/2026-06' });
});

test('a server without transactions gets one request per write', async () => {
  await enqueue(
    'b3',
    [21, 22].map((n) => payload(n)),
  );
  nock(BASE)
    .post('/Observation')
    .times(2)
    .reply(201, (_uri, body) => ({ ...(body as object), id: 'o', meta: { versionId: '1' } }))
    .post('/Provenance')
    .times(2)
    .reply(201, { resourceType: 'Provenance', id: 'pv' });
  expect((await dispatch('b3', 50, false)).byType.Observation).toEqual({ created: 2 });
});

test('a 5xx to a batch keeps every write of it for a later attempt', async () => {
  await enqueue(
    'b4',
    [31, 32].map((n) => payload(n)),
  );
  nock(BASE)
    .post('/')
    .reply(503, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] });
  expect((await dispatch('b4', 50)).byType.Observation).toEqual({ 'retry-later': 2 });
  expect(await ctx.store().outboxCounts('b4')).toEqual({ pending: 2 });
});
