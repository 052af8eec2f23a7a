/**
 * fhir-engage never writes what the data does not support: not from a
 * partial pull, not about patients the EMR did not return, not about a
 * record merged into another; credentials that are refused stop a run at once.
 */
import { reasonsForLog } from '../../src/sync/completeness';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Appointment, Patient, Resource, Task } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import type { PatientIndicators } from '../../src/indicators/compute';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { runCliProcessAsync } from '../helpers/cli';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';
import type { SandboxServer } from '../../src/sandbox/server';

const config: AppConfig = loadConfig({ env: {}, cwd: os.tmpdir() });
const AS_OF = new Date(TEST_ANCHOR);
const ours = (r: Resource): boolean =>
  ((r as { identifier?: { system?: string }[] }).identifier ?? []).some(
    (i) => i.system === DEFAULT_ACTION_SETTINGS.identifierSystem,
  );
const written = (emr: SandboxServer): Resource[] =>
  [...emr.repo.all('Task'), ...emr.repo.all('Observation')].filter(ours);
const daysBefore = (n: number): string => new Date(AS_OF.getTime() - n * 86_400_000).toISOString();

function noShow(id: string, patientId: string, daysAgo: number): Appointment {
  return {
    resourceType: 'Appointment',
    id,
    status: 'noshow',
    start: daysBefore(daysAgo),
    end: daysBefore(daysAgo - 0.02),
    participant: [{ actor: { reference: `Patient/${patientId}` }, status: 'accepted' }],
  };
}

let store: Store;
beforeAll(async () => {
  store = await memoryStore();
});
afterAll(() => store.close());

test('sync in system mode against an EMR that refuses system-wide Appointment/QuestionnaireResponse searches writes nothing, exits 1 and says to use per-patient mode', async () => {
  const emr = await seededSandbox(
    { patients: 6, seed: 21 },
    { quirks: { requirePatientFor: ['Appointment', 'QuestionnaireResponse'] } },
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-trust-'));
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: strict-emr\n    baseUrl: ${emr.baseUrl}\n    approval: { firstRun: write }\n`,
  );
  try {
    const res = await runCliProcessAsync(['sync', '--as-of', TEST_ANCHOR], {
      cwd: dir,
      env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') },
    });
    expect(res.status).toBe(1);
    expect(written(emr)).toHaveLength(0);
    expect(emr.repo.all('Provenance')).toHaveLength(0);
    expect(res.stdout).toContain('PARTIALLY-FAILED');
    expect(res.stdout).toMatch(/fix: the server requires a patient for Appointment searches: set `mode: per-patient`/);
    expect(res.stdout).toMatch(/held back: 6 patient\(s\) not recomputed/);
    expect(res.stdout).toContain('Appointment failed');
  } finally {
    await emr.close();
  }
});

test('per-patient mode: a patient whose searches are refused is held back; the others are computed and written for', async () => {
  const emr = await seededSandbox({ patients: 5, seed: 22 }, { quirks: { restrictedPatients: ['gen-pat-000002'] } });
  try {
    const source = testSource({ id: 'restricted', baseUrl: emr.baseUrl, mode: 'per-patient', maxRetries: 0 });
    const summary = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
    expect(summary.status).toBe('partially-failed');
    expect(summary.heldBack.patients).toBe(1);
    // The line names the patient held back (its EMR id) and the failing request, its values hidden in words.
    const line = summary.heldBack.reasons.join('\n');
    expect(line).toMatch(/Appointment: 1 patient\(s\) could not be searched \(Patient\/gen-pat-000002\): /);
    expect(line).not.toMatch(/=\*/);
    expect(summary.pull.find((t) => t.resourceType === 'Appointment')).toMatchObject({
      status: 'partial',
      failedPatients: 1,
    });
    expect(await store.getComputations('gen-pat-000002', source.id)).toHaveLength(0);
    expect(await store.getComputations('gen-pat-000001', source.id)).toHaveLength(1);
    const about = (id: string) => written(emr).filter((r) => JSON.stringify(r).includes(`Patient/${id}"`));
    expect(about('gen-pat-000002')).toHaveLength(0);
    expect(about('gen-pat-000001').length).toBeGreaterThan(0);

    // The record is released: the next run pulls it (the watermark did not move past it) and computes it.
    emr.setQuirks({});
    const next = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
    expect(next.status).toBe('succeeded');
    expect(next.heldBack.patients).toBe(0);
    expect(await store.getComputations('gen-pat-000002', source.id)).toHaveLength(1);
  } finally {
    await emr.close();
  }
});

test('a run in which every type failed is "failed", and writes nothing', async () => {
  const emr = await seededSandbox({ patients: 3, seed: 23 }, { quirks: { errorRate: 1, errorStatuses: [500] } });
  try {
    const summary = await syncSource(
      store,
      config,
      testSource({ id: 'all-down', baseUrl: emr.baseUrl, maxRetries: 0 }),
      { asOf: AS_OF },
    );
    expect(summary.status).toBe('failed');
    expect(summary.pull.every((t) => t.status === 'failed')).toBe(true);
    expect(written(emr)).toHaveLength(0);
  } finally {
    await emr.close();
  }
});

test('refused credentials (401) stop the run at once with one message, not one 401 per type', async () => {
  const emr = await seededSandbox({ patients: 3, seed: 24 }, { auth: { mode: 'bearer', token: 'the-right-token' } });
  try {
    const summary = await syncSource(
      store,
      config,
      testSource({ id: 'bad-token', baseUrl: emr.baseUrl }, { type: 'bearer', token: 'a-wrong-token' }),
      { asOf: AS_OF },
    );
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatch(
      /^error: authentication failed: GET \S+\/Patient\?_count=\(hidden\) answered HTTP 401/,
    );
    expect(summary.error?.split('\n')).toHaveLength(1);
    expect(emr.counters().unauthorized).toBe(1);
    expect(written(emr)).toHaveLength(0);
  } finally {
    await emr.close();
  }
});

test('resources about a patient the EMR did not return are dead letters ("unknown patient"); nothing is computed or written for that id', async () => {
  const emr = await seededSandbox({ patients: 3, seed: 25 });
  await emr.repo.createResource(noShow('ghost-appt-1', 'ghost-1', 10));
  await emr.repo.createResource(noShow('ghost-appt-2', 'ghost-1', 20));
  try {
    const source = testSource({ id: 'ghosts', baseUrl: emr.baseUrl });
    const summary = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
    expect(summary.identity.unknownPatients).toBe(1);
    expect(summary.status).toBe('partially-failed');
    expect(await store.getComputations('ghost-1', source.id)).toHaveLength(0);
    expect(written(emr).filter((r) => JSON.stringify(r).includes('Patient/ghost-1'))).toHaveLength(0);
    const letters = (await store.listDeadLetters({ sourceId: source.id })).filter((d) =>
      d.resourceId?.startsWith('ghost-appt'),
    );
    expect(letters.map((d) => d.resourceId).sort()).toEqual(['ghost-appt-1', 'ghost-appt-2']);
    expect(letters[0]?.outcome.issue[0]).toMatchObject({
      code: 'not-found',
      details: { text: expect.stringContaining('unknown patient') },
    });
    // Seen again: the same open dead letters, and the run is no longer a failure because of them.
    const again = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
    expect(again.deadLetters.thisRun).toBe(0);
    expect(again.status).toBe('succeeded');
  } finally {
    await emr.close();
  }
});

test('a merged record (link replaced-by): its data counts for the survivor, and nothing is written about it', async () => {
  const emr = await seededSandbox({ patients: 2, seed: 26 });
  const survivor: Patient = {
    resourceType: 'Patient',
    id: 'survivor-1',
    active: true,
    gender: 'female',
    birthDate: '1970-02-03',
    telecom: [{ system: 'phone', value: '555-0100' }],
  };
  const replaced: Patient = {
    resourceType: 'Patient',
    id: 'merged-1',
    active: false,
    link: [{ type: 'replaced-by', other: { reference: 'Patient/survivor-1' } }],
  };
  await emr.repo.createResource(survivor);
  await emr.repo.createResource(replaced);
  await emr.repo.createResource(noShow('merged-appt-1', 'merged-1', 10));
  await emr.repo.createResource(noShow('merged-appt-2', 'merged-1', 20));
  try {
    const source = testSource({ id: 'merges', baseUrl: emr.baseUrl });
    const summary = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
    expect(summary.identity.merged).toBe(1);
    expect(await store.getComputations('merged-1', source.id)).toHaveLength(0);
    const [computed] = await store.getComputations('survivor-1', source.id);
    expect((computed?.indicators as PatientIndicators).appointments.noShows).toBe(2);
    const tasks = emr.repo.all('Task').filter(ours) as Task[];
    expect(tasks.some((t) => t.for?.reference === 'Patient/survivor-1')).toBe(true);
    expect(written(emr).filter((r) => JSON.stringify(r).includes('Patient/merged-1"'))).toHaveLength(0);
  } finally {
    await emr.close();
  }
});

test('valid FHIR in the shapes real EMRs send is read, not rejected: absent gender, logical and absolute references; a resource naming no patient is a dead letter with the reason', async () => {
  const emr = await seededSandbox({ patients: 1, seed: 27 });
  const dar = {
    extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }],
  };
  await emr.repo.createResource({
    resourceType: 'Patient',
    id: 'oh-1',
    active: true,
    _gender: dar,
    _birthDate: dar,
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.6.1000', value: 'OH-1' }],
  } as Patient);
  await emr.repo.createResource({
    ...noShow('oh-appt-logical', 'x', 12),
    participant: [
      { actor: { identifier: { system: 'urn:oid:2.16.840.1.113883.6.1000', value: 'OH-1' } }, status: 'accepted' },
    ],
  });
  await emr.repo.createResource({
    ...noShow('oh-appt-absolute', 'x', 25),
    participant: [{ actor: { reference: `${emr.baseUrl}/Patient/oh-1` }, status: 'accepted' }],
  });
  await emr.repo.createResource({
    ...noShow('oh-appt-other-server', 'x', 30),
    participant: [{ actor: { reference: 'https://elsewhere.example.org/fhir/Patient/oh-1' }, status: 'accepted' }],
  });
  try {
    const source = testSource({ id: 'shapes', baseUrl: emr.baseUrl });
    const summary = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
    const [computed] = await store.getComputations('oh-1', source.id);
    expect((computed?.indicators as PatientIndicators).appointments.noShows).toBe(2);
    expect(summary.pull.find((t) => t.resourceType === 'Patient')?.deadLettered).toBe(0);
    const letters = await store.listDeadLetters({ sourceId: source.id });
    expect(letters.map((d) => [d.resourceId, d.stage])).toEqual([['oh-appt-other-server', 'map']]);
    expect(letters[0]?.outcome.issue[0]?.details?.text).toBe(
      'no patient: the reference names a patient on another server; nothing is computed from this Appointment',
    );
    expect((emr.repo.all('Task').filter(ours) as Task[]).some((t) => t.for?.reference === 'Patient/oh-1')).toBe(true);
  } finally {
    await emr.close();
  }
});

test('the log of a held-back run keeps no patient identifier; the run summary names the patients', () => {
  const reasons = ['Appointment: 2 patient(s) could not be searched (Patient/p-17, Patient/p-18): HTTP 403'];
  expect(reasonsForLog(reasons)).toEqual([
    'Appointment: 2 patient(s) could not be searched (named in the run summary): HTTP 403',
  ]);
});
