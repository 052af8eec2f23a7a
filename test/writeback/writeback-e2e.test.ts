/** Write-back against the sandbox EMR over HTTP: exactly once, Provenance, Task lifecycle, crash safety. */
import type { Appointment, Provenance, Resource, Task } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config/load';
import type { AppConfig, SourceConfig } from '../../src/config/types';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import type { SyncSummary } from '../../src/sync/events';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import type { PatientIndicators } from '../../src/indicators/compute';
import { SYNC_RUN_EXTENSION } from '../../src/writeback/provenance';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';
import os from 'node:os';

const SYSTEM = DEFAULT_ACTION_SETTINGS.identifierSystem;
const AS_OF = new Date(TEST_ANCHOR);
const config: AppConfig = { ...loadConfig({ env: {}, cwd: os.tmpdir() }) };

function ours<T extends Resource>(emr: SandboxServer, type: string): T[] {
  return emr.repo
    .all(type)
    .filter((r) =>
      (r as { identifier?: { system?: string }[] }).identifier?.some((i) => i.system === SYSTEM),
    ) as unknown as T[];
}

function identifierOf(r: Resource): string {
  return ((r as { identifier?: { system?: string; value?: string }[] }).identifier ?? []).find(
    (i) => i.system === SYSTEM,
  )?.value as string;
}

function totalWrites(s: SyncSummary): number {
  return Object.values(s.writes).reduce((n, w) => n + w.created + w.updated + w.cancelled + w.completed, 0);
}

describe('write-back to the sandbox EMR', () => {
  let emr: SandboxServer;
  let store: Store;
  let source: SourceConfig;
  beforeAll(async () => {
    emr = await seededSandbox({ patients: 30, seed: 40, fixtures: false });
    store = await memoryStore();
    source = testSource({ id: 'wb', baseUrl: emr.baseUrl, overlapSeconds: 0 });
    // A known scenario on top of the generated data: three patients missed their last two visits.
    for (const patient of ['gen-pat-000002', 'gen-pat-000005', 'gen-pat-000009']) {
      const past = emr.repo
        .all('Appointment')
        .filter(
          (a) =>
            (a as Appointment).participant.some((p) => p.actor?.reference === `Patient/${patient}`) &&
            Date.parse((a as Appointment).start as string) < AS_OF.getTime(),
        )
        .sort(
          (a, b) => Date.parse((b as Appointment).start as string) - Date.parse((a as Appointment).start as string),
        ) as Appointment[];
      for (const a of past.slice(0, 2))
        await emr.repo.updateResource({
          ...a,
          status: 'noshow',
          start: new Date(AS_OF.getTime() - (past.indexOf(a) + 1) * 20 * 86_400_000).toISOString(),
        });
    }
  });
  afterAll(async () => {
    await emr.close();
    await store.close();
  });

  test('the first sync writes the expected Tasks and Observations, each with a Provenance', async () => {
    const s = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
    expect(s.status).toBe('succeeded');
    const indicators = (await store.listComputations('wb')).map((c) => c.indicators as PatientIndicators);
    const tasks = ours<Task>(emr, 'Task');
    const observations = ours<Resource>(emr, 'Observation');
    const count = (rule: string): number => tasks.filter((t) => t.code?.coding?.[0]?.code === rule).length;
    // The data must carry positive item 9 answers, or the safety checks below would check nothing.
    expect(indicators.filter((i) => i.phq9.item9.flagged).length).toBeGreaterThan(0);
    expect(count('phq9-item9-safety')).toBe(indicators.filter((i) => i.phq9.item9.flagged).length);
    expect(count('outreach-no-shows')).toBe(indicators.filter((i) => i.appointments.noShowsRecent >= 2).length);
    expect(count('phq9-follow-up')).toBe(indicators.filter((i) => i.phq9.followUp.due).length);
    expect(count('overdue-activity')).toBe(indicators.reduce((n, i) => n + i.carePlans.overdue.length, 0));
    const scoreObs = observations.filter(
      (o) => (o as { code?: { coding?: { code?: string }[] } }).code?.coding?.[0]?.code === 'engagement-score',
    );
    expect(scoreObs).toHaveLength(indicators.filter((i) => i.engagement.score !== null).length);
    expect(s.writes.Task?.created).toBe(tasks.length);
    expect(s.writes.Observation?.created).toBe(observations.length);
    expect(tasks.length).toBeGreaterThan(5);

    // Contents of a safety Task.
    const safety = tasks.find((t) => t.code?.coding?.[0]?.code === 'phq9-item9-safety');
    expect(safety).toBeDefined();
    {
      expect(safety).toMatchObject({
        status: 'requested',
        intent: 'order',
        priority: 'stat',
        for: { reference: expect.stringMatching(/^Patient\//) },
        reasonReference: { reference: expect.stringMatching(/^QuestionnaireResponse\//) },
      });
      expect(safety?.description).toContain('item 9');
    }
    // Exactly one Provenance per written resource, naming fhir-engage and the run.
    const provenance = emr.repo.all('Provenance') as Provenance[];
    expect(provenance).toHaveLength(tasks.length + observations.length);
    const p = provenance.find((x) => x.target[0]?.reference === `Task/${tasks[0]?.id}`);
    expect(p?.agent[0]?.who?.display).toMatch(/^fhir-engage \d+\.\d+\.\d+/);
    expect(p?.extension?.find((e) => e.url === SYNC_RUN_EXTENSION)?.valueString).toBe(s.runId);
  });

  test('the same sync again writes nothing at all', async () => {
    const before = {
      tasks: emr.repo.count('Task'),
      obs: emr.repo.count('Observation'),
      prov: emr.repo.count('Provenance'),
    };
    const s = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
    expect(s.status).toBe('succeeded');
    expect(s.planned).toBe(0);
    expect(totalWrites(s)).toBe(0);
    expect({
      tasks: emr.repo.count('Task'),
      obs: emr.repo.count('Observation'),
      prov: emr.repo.count('Provenance'),
    }).toEqual(before);
  });

  test('a Task moved on by a person is left alone; outreach Tasks are cancelled once no-shows age out', async () => {
    const outreach = ours<Task>(emr, 'Task').filter((t) => t.code?.coding?.[0]?.code === 'outreach-no-shows');
    expect(outreach.length).toBeGreaterThanOrEqual(2);
    const [takenOn, ...others] = outreach as [Task, ...Task[]];
    await emr.repo.updateResource({ ...takenOn, status: 'in-progress', note: [{ text: 'called, left a message' }] });

    const later = new Date(AS_OF.getTime() + 150 * 86_400_000);
    const s = await syncSource(store, config, source, { asOf: later, strict: true });
    expect(s.status).toBe('succeeded');
    expect(emr.repo.peek('Task', takenOn.id as string)).toMatchObject({
      status: 'in-progress',
      note: [{ text: 'called, left a message' }],
    });
    for (const t of others) {
      expect(emr.repo.peek('Task', t.id as string)).toMatchObject({
        status: 'cancelled',
        statusReason: { text: expect.stringContaining('no-shows') },
      });
    }
    expect(s.writes.Task?.cancelled).toBeGreaterThanOrEqual(others.length);
    expect(s.writes.Task?.leftToPerson).toBeGreaterThanOrEqual(1);
    // Item 9 safety Tasks are never closed automatically (150 days on, their answers have aged out).
    const safetyTasks = ours<Task>(emr, 'Task').filter((x) => x.code?.coding?.[0]?.code === 'phq9-item9-safety');
    expect(safetyTasks.length).toBeGreaterThan(0);
    for (const t of safetyTasks) expect(t.status).toBe('requested');
    // Nothing written twice: one resource per identifier.
    const ids = [...ours<Task>(emr, 'Task'), ...ours<Resource>(emr, 'Observation')].map(identifierOf);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('crash safety of the outbox', () => {
  test.each([
    ['between the outbox commit and the send', 'beforeDispatch'],
    ['between the send and the ack', 'afterSend'],
  ] as const)('a crash %s: after a restart each resource exists exactly once', async (_label, hook) => {
    const emr = await seededSandbox({ patients: 12, seed: 8, fixtures: false });
    const store = await memoryStore();
    try {
      const source = testSource({ id: 'crash', baseUrl: emr.baseUrl });
      let sent = 0;
      const crash = await syncSource(store, config, source, {
        asOf: AS_OF,
        strict: true,
        ...(hook === 'beforeDispatch'
          ? {
              beforeDispatch: () => {
                throw new Error('killed before dispatch');
              },
            }
          : {
              afterSend: () => {
                if (++sent === 3) throw new Error('killed after a send');
              },
            }),
      });
      expect(crash.status).toBe('failed');
      const again = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
      expect(again.status).toBe('succeeded');
      const written = [...ours<Task>(emr, 'Task'), ...ours<Resource>(emr, 'Observation')];
      const ids = written.map(identifierOf);
      expect(ids.length).toBeGreaterThan(10);
      expect(new Set(ids).size).toBe(ids.length);
      expect(emr.repo.count('Provenance')).toBe(written.length);
      expect(await store.outboxCounts('crash')).toEqual({ sent: expect.any(Number) });
      const third = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
      expect(third.planned).toBe(0);
    } finally {
      await emr.close();
      await store.close();
    }
  });
});

describe('dry run', () => {
  test('computes everything, prints a transaction Bundle, sends and stores nothing', async () => {
    const emr = await seededSandbox({ patients: 5, seed: 3, fixtures: false });
    const store = await memoryStore();
    try {
      const source = testSource({ id: 'dry', baseUrl: emr.baseUrl });
      const s = await syncSource(store, config, source, { asOf: AS_OF, dryRun: true, strict: true });
      expect(s.status).toBe('succeeded');
      expect(s.dryRunBundle?.type).toBe('transaction');
      const entries = s.dryRunBundle?.entry ?? [];
      expect(entries.length).toBe(s.planned * 2);
      expect(entries.filter((e) => e.resource?.resourceType === 'Provenance')).toHaveLength(s.planned);
      expect(entries[0]?.request?.ifNoneExist).toMatch(/^identifier=/);
      expect(ours(emr, 'Task')).toHaveLength(0);
      expect(emr.repo.count('Provenance')).toBe(0);
      expect(await store.outboxCounts('dry')).toEqual({});
      // The real run after a dry run still computes and writes everything.
      const real = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
      expect(real.planned).toBe(s.planned);
    } finally {
      await emr.close();
      await store.close();
    }
  });
});

describe('batched write-back on the sandbox', () => {
  test('a first sync sends its writes in transaction Bundles: at most 0.05 HTTP requests per write; one request per write with writeBatchSize 1', async () => {
    const measure = async (writeBatchSize: number): Promise<{ writes: number; requests: number }> => {
      const emr = await seededSandbox({ patients: 15, seed: 22, fixtures: false });
      const store = await memoryStore();
      try {
        let before = 0;
        const s = await syncSource(
          store,
          config,
          testSource({ id: `batch-${writeBatchSize}`, baseUrl: emr.baseUrl, writeBatchSize }),
          { asOf: AS_OF, strict: true, beforeDispatch: () => void (before = emr.counters().requests) },
        );
        expect(s.status).toBe('succeeded');
        return { writes: totalWrites(s), requests: emr.counters().requests - before };
      } finally {
        await emr.close();
        await store.close();
      }
    };
    const batched = await measure(50);
    expect(batched.writes).toBeGreaterThan(100);
    expect(batched.requests / batched.writes).toBeLessThanOrEqual(0.05);
    const single = await measure(1);
    expect(single.writes).toBe(batched.writes);
    expect(single.requests).toBe(single.writes);
  }, 60_000);
});
