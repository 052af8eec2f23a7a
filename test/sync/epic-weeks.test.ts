/**
 * Epic's rules, end to end: a server that answers no population search (Patient needs _id, an
 * identifier or demographics; the other types a patient) and exports by Group. Followed as the Epic
 * guide says (`pull.method: auto`, `mode: per-patient`, the Group for Bulk Data), the first run exports
 * and every later run searches the Group's members one by one: ten simulated days, each run succeeds,
 * the Group's new members come with their history, and no search is refused.
 */
import os from 'node:os';
import type { Appointment, Group } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config/load';
import { DEFAULT_PULL, type AppConfig } from '../../src/config/types';
import type { Store } from '../../src/store/store';
import { runClinicDays } from '../../src/sandbox/clinic';
import { COHORT_GROUP_ID } from '../../src/sandbox/seed';
import type { SandboxServer } from '../../src/sandbox/server';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const DAY_MS = 86_400_000;
const config: AppConfig = loadConfig({ env: {}, cwd: os.tmpdir() });
const ANCHOR = new Date(TEST_ANCHOR);

let store: Store;
let emr: SandboxServer;
beforeAll(async () => {
  store = await memoryStore();
  emr = await seededSandbox({ patients: 40, seed: 23 }, { quirks: { refusePopulationSearches: true } });
});
afterAll(async () => {
  await emr.close();
  await store.close();
});

const cohort = (): Group => emr.repo.peek('Group', COHORT_GROUP_ID) as Group;
const storedIds = async (type: string): Promise<Set<string>> => new Set(await store.listResourceIds('epic', type));

test('the sandbox refuses population searches as Epic does, and answers those that name a patient or ids', async () => {
  const ask = async (q: string): Promise<number> => (await fetch(`${emr.baseUrl}/${q}`)).status;
  expect(await ask('Patient?_count=10')).toBe(400);
  expect(await ask('Appointment?_count=10')).toBe(400);
  expect(await ask('Patient?_id=gen-pat-0001,gen-pat-0002')).toBe(200);
  expect(await ask('Appointment?patient=gen-pat-0001')).toBe(200);
  expect(emr.counters().refusedSystemSearch).toBe(2);
  emr.setQuirks({ refusePopulationSearches: true });
});

test('ten simulated days through the Epic setup: Group export first, then per-patient searches over the members', async () => {
  // Four patients with a history are outside the Group at first, and join it on day 5.
  const outside = cohort()
    .member!.map((m) => m.entity.reference!.slice('Patient/'.length))
    .slice(0, 4);
  await emr.repo.updateResource({
    ...cohort(),
    member: cohort().member!.filter((m) => !outside.some((id) => m.entity.reference === `Patient/${id}`)),
  } as Group & { id: string });
  const source = testSource({
    id: 'epic',
    baseUrl: emr.baseUrl,
    mode: 'per-patient',
    perPatientGroup: COHORT_GROUP_ID,
    pull: { ...DEFAULT_PULL, method: 'auto', bulk: { ...DEFAULT_PULL.bulk, level: 'group', groupId: COHORT_GROUP_ID } },
  });

  const first = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
  expect(first.status).toBe('succeeded');
  expect(first.pullMethod).toBe('bulk');
  for (const id of outside) expect((await storedIds('Patient')).has(id)).toBe(false);

  const days = async (after: Date, n: number) =>
    runClinicDays({ store, config, source, repo: emr.repo, after, days: n, seed: 5 });
  const early = await days(new Date(ANCHOR.getTime() - DAY_MS), 5);
  await emr.repo.updateResource({
    ...cohort(),
    member: [...cohort().member!, ...outside.map((id) => ({ entity: { reference: `Patient/${id}` } }))],
  } as Group & { id: string });
  const late = await days(new Date(ANCHOR.getTime() + 4 * DAY_MS), 5);
  const summaries = [...early.summaries, ...late.summaries];

  expect(summaries).toHaveLength(10);
  for (const s of summaries) {
    expect(s.status).toBe('succeeded');
    expect(s.pullMethod).not.toBe('bulk');
    expect(s.pull.filter((t) => t.status !== 'ok' && t.status !== 'skipped')).toEqual([]);
  }
  expect(emr.counters().refusedSystemSearch).toBe(0);

  // The new members came with their history: every Appointment of theirs in the EMR is stored.
  const stored = await storedIds('Appointment');
  const theirs = (emr.repo.all('Appointment') as Appointment[]).filter((a) =>
    a.participant.some((p) => outside.some((id) => p.actor?.reference === `Patient/${id}`)),
  );
  expect(theirs.length).toBeGreaterThan(0);
  expect(theirs.filter((a) => !stored.has(a.id as string))).toEqual([]);
  const joinedDay = late.summaries[0]!.pull.find((t) => t.resourceType === 'Appointment')!;
  // The four, and whoever the clinic admitted that day.
  const fresh = /^(\d+) new member\(s\) searched from the beginning$/;
  expect(Number(joinedDay.notes.map((n) => fresh.exec(n)?.[1]).find(Boolean))).toBeGreaterThanOrEqual(4);
  // Patients who joined the clinic during the ten days (added to the Group by the simulation) are stored too.
  const arrived = cohort().member!.filter((m) => m.entity.reference!.startsWith('Patient/gen-pat-new-'));
  const patients = await storedIds('Patient');
  expect(arrived.filter((m) => !patients.has(m.entity.reference!.slice('Patient/'.length)))).toEqual([]);
  // Every run completed: nobody is left marked new (they are searched from the watermark as the others).
  expect(await store.getCheckpoint('epic', 'Group.members')).toBeUndefined();
}, 300_000);

test('members who joined stay new across an interrupted run: their history comes on the next one', async () => {
  const own = await memoryStore();
  try {
    const members = (): string[] => cohort().member!.map((m) => m.entity.reference!.slice('Patient/'.length));
    const joining = members().slice(10, 13);
    const without = cohort().member!.filter((m) => !joining.some((id) => m.entity.reference === `Patient/${id}`));
    await emr.repo.updateResource({ ...cohort(), member: without } as Group & { id: string });
    const source = testSource({
      id: 'epic-stop',
      baseUrl: emr.baseUrl,
      mode: 'per-patient',
      perPatientGroup: COHORT_GROUP_ID,
      pull: {
        ...DEFAULT_PULL,
        method: 'auto',
        bulk: { ...DEFAULT_PULL.bulk, level: 'group', groupId: COHORT_GROUP_ID },
      },
    });
    const asOf = new Date(ANCHOR.getTime() + 20 * DAY_MS);
    expect((await syncSource(own, config, source, { asOf })).pullMethod).toBe('bulk');
    await emr.repo.updateResource({
      ...cohort(),
      member: [...without, ...joining.map((id) => ({ entity: { reference: `Patient/${id}` } }))],
    } as Group & { id: string });

    // Stopped once their Patients are stored, before their Appointments are searched.
    const stop = new AbortController();
    const stopped = await syncSource(own, config, source, {
      asOf,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.type === 'type-finished' && e.report.resourceType === 'Patient') stop.abort();
      },
    });
    expect(stopped.status).toBe('interrupted');
    const patients = new Set(await own.listResourceIds('epic-stop', 'Patient'));
    expect(joining.every((id) => patients.has(id))).toBe(true);
    expect((await own.getCheckpoint<{ fresh: string[] }>('epic-stop', 'Group.members'))?.state.fresh).toEqual(
      [...joining].sort(),
    );

    const next = await syncSource(own, config, source, { asOf });
    expect(next.status).toBe('succeeded');
    const stored = new Set(await own.listResourceIds('epic-stop', 'Appointment'));
    const theirs = (emr.repo.all('Appointment') as Appointment[]).filter((a) =>
      a.participant.some((p) => joining.some((id) => p.actor?.reference === `Patient/${id}`)),
    );
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.filter((a) => !stored.has(a.id as string))).toEqual([]);
    expect(await own.getCheckpoint('epic-stop', 'Group.members')).toBeUndefined();
  } finally {
    await own.close();
  }
}, 120_000);
