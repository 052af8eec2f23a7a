/** Pulling from the sandbox EMR over real HTTP into a real store. */
import type { Appointment, Resource } from '@medplum/fhirtypes';
import { readCapabilities } from '../../src/fhir/capabilities';
import { pullSource } from '../../src/fhir/pull';
import type { PullContext } from '../../src/fhir/pull-context';
import { createSourceClient, newTransportStats } from '../../src/fhir/source-client';
import type { SourceConfig } from '../../src/config/types';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { sharedValidator } from '../../src/validation/validator';
import { INVALID_VARIANTS } from '../../src/sandbox/seed';
import { seededSandbox } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

let store: Store;
beforeAll(async () => {
  store = await memoryStore();
});
afterAll(() => store.close());

async function pull(
  source: SourceConfig,
  extra: Partial<PullContext> = {},
): Promise<Awaited<ReturnType<typeof pullSource>>> {
  const stats = newTransportStats();
  const client = createSourceClient(source, stats);
  const capabilities = await readCapabilities(client, source.resourceTypes);
  return pullSource({
    source,
    store,
    client,
    validator: sharedValidator(),
    runId: `run-${Date.now()}`,
    capabilities,
    transportStats: stats,
    ...extra,
  });
}

function count(emr: SandboxServer, type: string): number {
  return emr.repo.count(type);
}

describe('pull from the sandbox EMR', () => {
  let emr: SandboxServer;
  let source: SourceConfig;
  beforeAll(async () => {
    emr = await seededSandbox({ patients: 50, seed: 5, fixtures: false });
    source = testSource({ id: 'e2e', baseUrl: emr.baseUrl, pageSize: 50, overlapSeconds: 0 });
  });
  afterAll(() => emr.close());

  test('a full pull stores every resource once; an incremental pull after 3 changes fetches only those', async () => {
    const first = await pull(source);
    for (const type of source.resourceTypes) {
      const r = first.types.find((t) => t.resourceType === type);
      expect(r).toMatchObject({ status: 'ok', mode: 'full', new: count(emr, type), deadLettered: 0 });
    }
    expect(first.types.find((t) => t.resourceType === 'Appointment')?.pages).toBeGreaterThanOrEqual(3);
    // Questionnaires the responses refer to were fetched so scoring can use them.
    expect(first.types.find((t) => t.resourceType === 'Questionnaire')?.new).toBe(2);
    expect(await store.countResources('e2e')).toEqual({
      Appointment: count(emr, 'Appointment'),
      CarePlan: count(emr, 'CarePlan'),
      Patient: 50,
      Questionnaire: 2,
      QuestionnaireResponse: count(emr, 'QuestionnaireResponse'),
    });

    // Change three resources in the EMR.
    const appts = emr.repo.all('Appointment') as Appointment[];
    const changed = [appts[0], appts[5], appts[10]] as Appointment[];
    for (const a of changed)
      await emr.repo.updateResource({ ...a, status: 'cancelled', cancelationReason: { text: 'changed by test' } });

    emr.setQuirks({});
    const second = await pull(source);
    const apptReport = second.types.find((t) => t.resourceType === 'Appointment');
    expect(apptReport).toMatchObject({ mode: 'incremental', received: 3, changed: 3, new: 0, unchanged: 0, pages: 1 });
    for (const type of ['Patient', 'CarePlan', 'QuestionnaireResponse']) {
      expect(second.types.find((t) => t.resourceType === type)).toMatchObject({
        mode: 'incremental',
        received: 0,
        pages: 1,
      });
    }
    // One page per type, nothing else (the sandbox does not count GET /metadata).
    expect(emr.counters().requests).toBe(4);
    expect(second.changedPatients.length).toBeGreaterThanOrEqual(1);
    const stored = await store.getResource('e2e', 'Appointment', changed[0]?.id as string);
    expect(stored?.resource).toMatchObject({ status: 'cancelled' });
  });

  test("the patients' identifiers are read only when a page has something new to attribute", async () => {
    const rosterSource = { ...source, id: 'roster', overlapSeconds: 3600 };
    emr.setQuirks({});
    const spy = jest.spyOn(store, 'patientRoster');
    try {
      await pull(rosterSource);
      expect(spy).toHaveBeenCalledTimes(1);
      spy.mockClear();
      // The overlap window brings every resource again: all stored versions, skipped, nothing to attribute.
      const again = await pull(rosterSource);
      expect(again.types.reduce((n, t) => n + t.unchanged, 0)).toBeGreaterThan(0);
      expect(spy).not.toHaveBeenCalled();
      const appt = (await store.resourcesOfType('e2e', 'Appointment'))[1] as unknown as Appointment;
      await emr.repo.updateResource({ ...appt, comment: 'changed for the roster test' });
      await pull(rosterSource);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  test('a crash after page 2 resumes from the checkpoint: every resource stored exactly once; only the pages in flight and fetched ahead are fetched again', async () => {
    const crashSource = { ...source, id: 'crash', resourceTypes: ['Appointment' as const], pageSize: 40 };
    emr.setQuirks({});
    const total = count(emr, 'Appointment');
    const expectedPages = Math.ceil(total / 40);
    const crashed = await pull(crashSource, {
      afterPageCommitted: (_type, page) => {
        if (page === 2) throw new Error('simulated crash');
      },
    }).catch((e: unknown) => e);
    // The pull reports the failure of the type rather than throwing. Page 3's statement was under way
    // while page 2 was counted: it is stored and counted too.
    expect(crashed).toMatchObject({
      types: [expect.objectContaining({ resourceType: 'Appointment', status: 'failed', pages: 3, new: 120 })],
    });
    expect((await store.countResources('crash')).Appointment).toBe(120);
    // The checkpoint is page 2's: page 3 went out while page 2 was in flight, so it could not carry its own.
    expect((await store.getCheckpoint('crash', 'Appointment'))?.state).toMatchObject({ kind: 'pages', pages: 2 });
    expect(await store.getWatermark('crash', 'Appointment')).toBeUndefined();
    // Pages 1 to 3; page 4 fetched and validated while pages 2 and 3 were stored, and page 5 fetched meanwhile.
    expect(emr.counters().requests).toBe(5);

    emr.setQuirks({});
    const resumed = await pull(crashSource);
    // From page 3: stored already, so skipped by version; the rest new.
    expect(resumed.types[0]).toMatchObject({
      status: 'ok',
      mode: 'resumed',
      new: total - 120,
      unchanged: 40,
      pages: expectedPages - 2,
    });
    expect(emr.counters().requests).toBe(expectedPages - 2);
    expect((await store.countResources('crash')).Appointment).toBe(total);
    expect(await store.getCheckpoint('crash', 'Appointment')).toBeUndefined();
    expect(await store.getWatermark('crash', 'Appointment')).toBeDefined();
  });

  test('next links that expire mid-search: the search starts again from its watermark, stored pages are skipped, each resource stored once', async () => {
    const expiring = { ...source, id: 'expiring', resourceTypes: ['Appointment' as const], pageSize: 20 };
    emr.setQuirks({ opaqueNextLinks: true, expireNextLinksAt: [4, 15] });
    const report = await pull(expiring);
    const appointment = report.types.find((t) => t.resourceType === 'Appointment');
    expect(emr.counters().expiredLinks).toBe(2);
    expect(appointment).toMatchObject({ status: 'ok', new: count(emr, 'Appointment') });
    expect(appointment?.notes.join(' ')).toMatch(
      /next link was refused after page \d+ \(HTTP 400, expired paging state\); the search started again/,
    );
    // The pages stored before the refusal came again and were skipped, not stored twice.
    expect(appointment?.unchanged).toBeGreaterThan(0);
    expect((await store.countResources('expiring')).Appointment).toBe(count(emr, 'Appointment'));
    emr.setQuirks({});
  });

  test('a refused next link fails the type after three fresh starts (a server that never pages far enough)', async () => {
    const never = { ...source, id: 'never', resourceTypes: ['Appointment' as const], pageSize: 20 };
    emr.setQuirks({ opaqueNextLinks: true, expireNextLinksEvery: 1 });
    const report = await pull(never);
    expect(report.types.find((t) => t.resourceType === 'Appointment')).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/400/),
    });
    expect(emr.counters().expiredLinks).toBe(4);
    emr.setQuirks({});
  });

  test('survives the quirks of a real EMR: capped pages, 429s, 503s, opaque links, one truncated body', async () => {
    const quirky = {
      ...source,
      id: 'quirky',
      resourceTypes: ['Patient' as const, 'Appointment' as const],
      pageSize: 100,
      maxRetries: 6,
    };
    emr.setQuirks({
      maxPageSize: 15,
      rateLimitEvery: 7,
      retryAfterSeconds: 0,
      errorRate: 0.1,
      errorStatuses: [503],
      opaqueNextLinks: true,
      malformedJsonOnSearch: 3,
      seed: 3,
    });
    const report = await pull(quirky);
    const c = emr.counters();
    expect(c.cappedPages).toBeGreaterThan(3);
    expect(c.rateLimited).toBeGreaterThan(0);
    expect(c.malformedBodies).toBe(1);
    expect(c.opaqueLinks).toBeGreaterThan(3);
    expect(report.types.every((t) => t.status === 'ok')).toBe(true);
    expect(report.types.reduce((s, t) => s + t.retries, 0)).toBe(c.rateLimited + c.serverErrors + c.malformedBodies);
    expect(await store.countResources('quirky')).toMatchObject({ Patient: 50, Appointment: count(emr, 'Appointment') });
  });

  test('per-patient mode searches each patient when the EMR refuses system-wide searches', async () => {
    const pp = {
      ...source,
      id: 'pp',
      mode: 'per-patient' as const,
      resourceTypes: ['Patient' as const, 'Appointment' as const],
      rateLimit: { requestsPerSecond: 1000, concurrency: 3 },
    };
    emr.setQuirks({ requirePatientFor: ['Appointment'] });
    const report = await pull(pp);
    expect(emr.counters().refusedSystemSearch).toBe(0);
    expect(report.types.find((t) => t.resourceType === 'Appointment')).toMatchObject({
      status: 'ok',
      new: count(emr, 'Appointment'),
    });
    // A system-mode source against the same EMR fails that type clearly and still pulls the others.
    const sys = { ...pp, id: 'sys-refused', mode: 'system' as const };
    emr.setQuirks({ requirePatientFor: ['Appointment'] });
    const refused = await pull(sys);
    const failed = refused.types.find((t) => t.resourceType === 'Appointment');
    expect(failed?.status).toBe('failed');
    expect(failed?.error).toContain('answered HTTP 400 (server: required)');
    expect(refused.types.find((t) => t.resourceType === 'Patient')?.status).toBe('ok');
  });

  test('a type without _lastUpdated in the CapabilityStatement is pulled in full each time, storing nothing new', async () => {
    const nolu = { ...source, id: 'nolu', resourceTypes: ['CarePlan' as const] };
    emr.setQuirks({ omitLastUpdatedFor: ['CarePlan'] });
    await pull(nolu);
    emr.setQuirks({ omitLastUpdatedFor: ['CarePlan'] });
    const again = await pull(nolu);
    expect(again.types[0]).toMatchObject({
      mode: 'full',
      received: count(emr, 'CarePlan'),
      unchanged: count(emr, 'CarePlan'),
      new: 0,
      changed: 0,
    });
    expect(again.types[0]?.notes.join(' ')).toContain('does not support _lastUpdated');
  });
});

describe('invalid resources from the EMR', () => {
  test('land in dead letters with the path of the offending element; the rest is stored', async () => {
    const emr = await seededSandbox({ patients: 5, seed: 2, fixtures: false, invalidResources: 4 });
    try {
      const source = testSource({ id: 'invalid', baseUrl: emr.baseUrl, resourceTypes: ['Patient', 'Appointment'] });
      const report = await pull(source);
      const appt = report.types.find((t) => t.resourceType === 'Appointment');
      expect(appt).toMatchObject({ status: 'ok', deadLettered: 4, new: count(emr, 'Appointment') - 4 });
      const letters = await store.listDeadLetters({ sourceId: 'invalid' });
      const byId = Object.fromEntries(letters.map((l) => [l.resourceId, l]));
      INVALID_VARIANTS.forEach((variant, i) => {
        const letter = byId[`invalid-appt-00${i + 1}`];
        expect(letter?.stage).toBe('validate');
        expect(letter?.outcome.issue.flatMap((x: { expression?: string[] }) => x.expression ?? [])).toContain(
          variant.expression,
        );
        expect((letter?.payload as Resource).id).toBe(`invalid-appt-00${i + 1}`);
      });
      // Pulled again (e.g. a --full run): the same invalid resources are not dead-lettered twice.
      await pull(source, { full: true });
      expect(await store.countDeadLetters({ sourceId: 'invalid' })).toBe(4);
    } finally {
      await emr.close();
    }
  });
});
