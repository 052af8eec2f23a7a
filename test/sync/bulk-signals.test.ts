/**
 * Bulk Data signals a conformant server sends and a client must not ignore: error files (what could
 * not be exported comes back in a later run, counted against the server's truth), `deleted` entries,
 * types the server does not offer, transient errors while polling, and `doctor` for a bulk-only source.
 */
import os from 'node:os';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import { diagnoseSource } from '../../src/fhir/doctor';
import { namedInError } from '../../src/fhir/bulk-files';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { bulkSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const config: AppConfig = loadConfig({ env: {}, cwd: os.tmpdir() });
const AS_OF = new Date(TEST_ANCHOR);
const FAST = { preparationMs: 50, retryAfterSeconds: 1 };
const TYPES = ['Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse'] as const;

async function storedIds(store: Store, sourceId: string, type: string): Promise<string[]> {
  return store.listResourceIds(sourceId, type);
}

function serverIds(emr: SandboxServer, type: string): string[] {
  return emr.repo
    .all(type)
    .map((r) => r.id as string)
    .sort();
}

let store: Store;
beforeAll(async () => {
  store = await memoryStore();
});
afterAll(() => store.close());

test('the type an export error names is found in its expression, location, diagnostics or text', () => {
  const types = ['Patient', 'Appointment'];
  expect(
    namedInError(
      {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'exception', details: { text: 'Appointment/a-1 could not be exported' } }],
      },
      types,
    ),
  ).toEqual({ resourceType: 'Appointment', resourceId: 'a-1' });
  expect(
    namedInError(
      { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', expression: ['Patient'] }] },
      types,
    ),
  ).toEqual({ resourceType: 'Patient' });
  expect(
    namedInError(
      {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'exception', diagnostics: 'PatientAppointmentLink failed' }],
      },
      types,
    ),
  ).toBeUndefined();
  expect(
    namedInError(
      { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: 'disk full' }] },
      types,
    ),
  ).toBeUndefined();
});

test('error files: the types they name keep their watermarks, the run says so and holds patients back; the next run brings back every resource that failed', async () => {
  const emr = await seededSandbox(
    { patients: 40, seed: 21 },
    { bulk: FAST, quirks: { bulkErrorEvery: 9, bulkErrorExports: 1 } },
  );
  try {
    const source = bulkSource(emr, 'bulk-errors');
    const first = await syncSource(store, config, source, { asOf: AS_OF });
    expect(first.status).toBe('partially-failed');
    const failing = first.pull.filter((t) => t.status === 'partial');
    expect(failing.length).toBeGreaterThan(0);
    let deadLetters = 0;
    for (const t of failing) {
      expect(t.exportErrors).toBeGreaterThan(0);
      expect(t.notes.join(' ')).toContain(`the ${t.resourceType} watermark stays where it was`);
      expect(await store.getWatermark(source.id, t.resourceType)).toBeUndefined();
      // Filed under the type the OperationOutcome names, with the server's text.
      const letters = await store.listDeadLetters({ sourceId: source.id, resourceType: t.resourceType });
      expect(letters).toHaveLength(t.exportErrors as number);
      expect(letters[0]?.outcome.issue[0]?.details?.text).toMatch(
        new RegExp(`^${t.resourceType}/\\S+ could not be exported$`),
      );
      deadLetters += letters.length;
    }
    expect(await store.countDeadLetters({ sourceId: source.id })).toBe(deadLetters);
    expect(first.heldBack.reasons.join(' ')).toContain('the server could not export');
    expect(first.patients.recomputed).toBe(0);
    // Fewer stored than the server holds, for the failing types.
    for (const t of failing)
      expect((await storedIds(store, source.id, t.resourceType)).length).toBeLessThan(
        serverIds(emr, t.resourceType).length,
      );

    const second = await syncSource(store, config, source, { asOf: AS_OF });
    expect(second.status).toBe('succeeded');
    for (const type of TYPES) expect(await storedIds(store, source.id, type)).toEqual(serverIds(emr, type));
    expect(second.patients.recomputed).toBe(40);
  } finally {
    await emr.close();
  }
});

test('deleted entries of a _since export remove the resources, recompute their patients, and are counted', async () => {
  const emr = await seededSandbox({ patients: 15, seed: 22 }, { bulk: FAST });
  try {
    const source = bulkSource(emr, 'bulk-deleted');
    expect((await syncSource(store, config, source, { asOf: AS_OF })).status).toBe('succeeded');
    const gone = emr.repo.all('Appointment').slice(0, 3) as {
      id: string;
      participant: { actor?: { reference?: string } }[];
    }[];
    for (const a of gone) await emr.repo.deleteResource('Appointment', a.id);
    const next = await syncSource(store, config, source, { asOf: AS_OF });
    expect(next.status).toBe('succeeded');
    const appts = next.pull.find((t) => t.resourceType === 'Appointment');
    expect(appts?.deleted).toBe(3);
    expect(appts?.since).toBeDefined();
    for (const a of gone) expect(await store.getResource(source.id, 'Appointment', a.id)).toBeUndefined();
    expect(await storedIds(store, source.id, 'Appointment')).toEqual(serverIds(emr, 'Appointment'));
    const patients = new Set(
      gone.flatMap((a) =>
        a.participant.map((p) => /Patient\/(.+)$/.exec(p.actor?.reference ?? '')?.[1]).filter(Boolean),
      ),
    );
    expect(next.patients.recomputed).toBeGreaterThanOrEqual(patients.size);
  } finally {
    await emr.close();
  }
});

test('a type the server does not offer is not requested (the kick-off succeeds for the rest) and the run says why', async () => {
  const emr = await seededSandbox(
    { patients: 10, seed: 23 },
    { bulk: FAST, quirks: { notOfferedTypes: ['CarePlan'] } },
  );
  try {
    const run = await syncSource(store, config, bulkSource(emr, 'bulk-offered'), { asOf: AS_OF });
    const carePlan = run.pull.find((t) => t.resourceType === 'CarePlan');
    expect(carePlan).toMatchObject({ status: 'skipped' });
    expect(carePlan?.notes.join(' ')).toContain(
      "the server's CapabilityStatement does not list CarePlan: not requested in the export",
    );
    for (const type of ['Patient', 'Appointment', 'QuestionnaireResponse'])
      expect(run.pull.find((t) => t.resourceType === type)?.status).toBe('ok');
    expect(emr.bulkCounters().exportsStarted).toBe(1);
  } finally {
    await emr.close();
  }
});

test('transient errors while polling (500 with OperationOutcome code transient) are retried within the run', async () => {
  const emr = await seededSandbox(
    { patients: 8, seed: 24 },
    { bulk: { preparationMs: 0, retryAfterSeconds: 1 }, quirks: { bulkTransientPollErrors: 2 } },
  );
  try {
    const run = await syncSource(store, config, bulkSource(emr, 'bulk-transient'), { asOf: AS_OF });
    expect(run.status).toBe('succeeded');
    expect(emr.bulkCounters().polls).toBeGreaterThanOrEqual(3);
    expect(await storedIds(store, 'bulk-transient', 'Patient')).toEqual(serverIds(emr, 'Patient'));
  } finally {
    await emr.close();
  }
});

test('doctor checks what a bulk-only source needs: a kick-off (accepted, then cancelled), not searches', async () => {
  const emr = await seededSandbox({ patients: 3, seed: 25 }, { bulk: FAST });
  try {
    const diagnosis = await diagnoseSource(bulkSource(emr, 'bulk-doctor'));
    expect(diagnosis.ok).toBe(true);
    expect(diagnosis.checks.find((c) => c.step === 'bulk export')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('export of Patient, Appointment, CarePlan, QuestionnaireResponse was accepted'),
    });
    expect(diagnosis.checks.some((c) => c.step.startsWith('search '))).toBe(false);
    expect(emr.bulkCounters()).toMatchObject({ exportsStarted: 1, cancelled: 1 });
  } finally {
    await emr.close();
  }
});

test('a stop while the server still prepares the export cancels it (DELETE on the status URL), and the run is interrupted', async () => {
  const emr = await seededSandbox({ patients: 5, seed: 26 }, { bulk: { preparationMs: 60_000, retryAfterSeconds: 1 } });
  try {
    const stop = new AbortController();
    const run = await syncSource(store, config, bulkSource(emr, 'bulk-stop'), {
      asOf: AS_OF,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.type === 'bulk' && e.phase === 'waiting') stop.abort();
      },
    });
    expect(run.status).toBe('interrupted');
    expect(emr.bulkCounters()).toMatchObject({ exportsStarted: 1, cancelled: 1 });
    expect(await store.getBulkExport('bulk-stop')).toBeUndefined();
  } finally {
    await emr.close();
  }
});
