/**
 * The compute stage on its own, over resources put straight into a store: who is computed (changed
 * patients; merged records count for their survivor; unknown patients' data is dead-lettered), what
 * is committed with them (models, indicator history, outbox rows), what a hold-back or a dry run keeps.
 */
import os from 'node:os';
import type { Resource } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import { loadMappings } from '../../src/mapping/load';
import { loadInstruments } from '../../src/mapping/scoring';
import type { Store } from '../../src/store/store';
import { computeStage, type ComputeContext } from '../../src/sync/compute';
import type { SyncEvent } from '../../src/sync/events';
import { sharedValidator } from '../../src/validation/validator';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const AS_OF = new Date('2026-06-01T12:00:00Z');
const source = testSource({ id: 'clinic', baseUrl: 'https://emr.test/fhir/r4' });
let store: Store;
let config: AppConfig;

beforeEach(async () => {
  store = await memoryStore();
  config = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), sources: [source] };
});
afterEach(() => store.close());

const patient = (id: string, extra: Record<string, unknown> = {}): Resource =>
  ({
    resourceType: 'Patient',
    id,
    active: true,
    telecom: [{ system: 'phone', value: '555-0100' }],
    ...extra,
  }) as Resource;
const noShow = (id: string, patientId: string, day: string): Resource =>
  ({
    resourceType: 'Appointment',
    id,
    status: 'noshow',
    start: `${day}T09:00:00Z`,
    end: `${day}T09:30:00Z`,
    participant: [{ actor: { reference: `Patient/${patientId}` }, status: 'accepted' }],
  }) as Resource;

async function put(resources: Resource[]): Promise<void> {
  await store.upsertResources(
    'clinic',
    'pull-run',
    resources.map((r) => ({
      resource: r as { resourceType: string; id: string },
      patientId:
        r.resourceType === 'Patient'
          ? (r.id as string)
          : (r as { participant?: { actor?: { reference?: string } }[] }).participant?.[0]?.actor?.reference?.slice(8),
    })),
  );
}

function context(over: Partial<ComputeContext> = {}): ComputeContext & { events: SyncEvent[] } {
  const events: SyncEvent[] = [];
  return {
    store,
    config,
    source,
    runId: 'run-1',
    asOf: AS_OF,
    dryRun: false,
    strict: true,
    mappings: loadMappings({ sourceId: 'clinic' }),
    instruments: loadInstruments({ sourceId: 'clinic' }),
    validator: sharedValidator(),
    emit: (e) => events.push(e),
    aborted: () => false,
    events,
    ...over,
  };
}

const none = { all: false, patients: new Set<string>(), reasons: [] };

test('changed patients are computed and committed with their history and outbox rows; a second pass has nothing to do', async () => {
  await put([patient('p1'), patient('p2'), noShow('a1', 'p1', '2026-05-20'), noShow('a2', 'p1', '2026-05-27')]);
  const ctx = context();
  const result = await computeStage(ctx, none);
  expect(result).toMatchObject({ recomputed: 2, heldBack: 0, unknownPatients: 0, deadLettersAdded: 0 });
  expect(result.planned).toBeGreaterThan(0);
  expect((await store.getComputations('p1')).map((c) => c.sourceId)).toEqual(['clinic']);
  expect((await store.indicatorHistory({ patientId: 'p1', indicator: 'appointments.noShowsRecent' }))[0]?.value).toBe(
    2,
  );
  expect(ctx.events).toContainEqual({ type: 'computed', patients: 2, total: 2 });
  // Two no-shows: an outreach Task is queued for p1, in the same commit.
  const claimed = await store.claimOutbox({ workerId: 'w', limit: 100, leaseSeconds: 60, sourceId: 'clinic' });
  expect(claimed.map((c) => (c.payload as { identifier: string }).identifier)).toContain(
    'p1/outreach-no-shows/2026-06-01',
  );
  expect(await computeStage(context(), none)).toMatchObject({ recomputed: 0, planned: 0 });
});

test('data about a patient the source never returned is dead-lettered, not computed', async () => {
  await put([patient('p1'), noShow('a9', 'ghost', '2026-05-20')]);
  const result = await computeStage(context(), none);
  expect(result).toMatchObject({ recomputed: 1, unknownPatients: 1, deadLettersAdded: 1 });
  const [letter] = await store.listDeadLetters({ sourceId: 'clinic' });
  expect(letter).toMatchObject({ stage: 'map', resourceType: 'Appointment', resourceId: 'a9' });
  expect(letter?.outcome.issue[0]?.details?.text).toContain('unknown patient');
});

test('a record merged into another counts for its survivor and is computed no more', async () => {
  await put([
    patient('keep'),
    patient('old', { active: false, link: [{ type: 'replaced-by', other: { reference: 'Patient/keep' } }] }),
    noShow('a1', 'old', '2026-05-20'),
    noShow('a2', 'keep', '2026-05-27'),
  ]);
  const result = await computeStage(context(), none);
  expect(result).toMatchObject({ recomputed: 1, mergedPatients: 1 });
  expect(await store.getComputations('old')).toEqual([]);
  const [keep] = await store.indicatorHistory({ patientId: 'keep', indicator: 'appointments.noShowsRecent' });
  expect(keep?.value).toBe(2);
});

test('held back: nothing is computed and the patients stay pending; a dry run plans but stores nothing', async () => {
  await put([patient('p1'), noShow('a1', 'p1', '2026-05-20'), noShow('a2', 'p1', '2026-05-27')]);
  const held = await computeStage(context(), { all: true, patients: new Set(), reasons: ['the pull failed'] });
  expect(held).toMatchObject({ recomputed: 0, heldBack: 1 });
  const one = await computeStage(context(), { all: false, patients: new Set(['p1']), reasons: [] });
  expect(one).toMatchObject({ recomputed: 0, heldBack: 1 });
  const dry = await computeStage(context({ dryRun: true }), none);
  expect(dry.recomputed).toBe(1);
  expect(dry.payloads.length).toBeGreaterThan(0);
  expect(await store.getComputations('p1')).toEqual([]);
  expect(await store.patientsToRecompute('clinic', AS_OF)).toEqual(['p1']);
});
