/** The whole loop against the sandbox EMR, on each store driver: pull, indicators, write-back; a second run writes nothing. */
import os from 'node:os';
import type { Resource, Task } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import type { PatientIndicators } from '../../src/indicators/compute';
import { migrate } from '../../src/store/migrate';
import { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { SyncRunner } from '../../src/sync/runner';
import { scheduledTick } from '../../src/scheduler/serve';
import { openPostgres } from '../../src/store/pg-driver';
import { driverFactories } from '../helpers/drivers';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { waitFor } from '../helpers/wait';

const config: AppConfig = loadConfig({ env: {}, cwd: os.tmpdir() });
const AS_OF = new Date(TEST_ANCHOR);
const ours = (r: Resource): boolean =>
  ((r as { identifier?: { system?: string }[] }).identifier ?? []).some(
    (i) => i.system === DEFAULT_ACTION_SETTINGS.identifierSystem,
  );

describe.each(driverFactories())('end to end on $name', (factory) => {
  test('a full run stores indicators and writes Tasks and Observations; the second run writes nothing', async () => {
    const driver = await factory.open();
    await migrate(driver);
    const store = new Store(driver, driver);
    const emr = await seededSandbox({ patients: 25, seed: 99, fixtures: true });
    try {
      const source = testSource({ id: `e2e-${factory.name}`, baseUrl: emr.baseUrl, pageSize: 50 });
      const first = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
      expect(first.status).toBe('succeeded');
      expect(first.patients.total).toBeGreaterThanOrEqual(25);
      const computations = await store.listComputations(source.id);
      const scored = computations
        .map((c) => c.indicators as PatientIndicators)
        .filter((i) => i.engagement.score !== null);
      expect(scored.length).toBeGreaterThanOrEqual(25);
      const history = await store.indicatorHistory({ sourceId: source.id, patientId: 'gen-pat-000001' });
      expect(history.map((h) => h.indicator)).toContain('engagement.score');
      const tasks = emr.repo.all('Task').filter(ours) as Task[];
      const observations = emr.repo.all('Observation').filter(ours);
      expect(tasks.length).toBeGreaterThan(0);
      expect(observations.length).toBeGreaterThanOrEqual(scored.length);
      expect(first.writes.Task?.created).toBe(tasks.length);
      expect(first.writes.Observation?.created).toBe(observations.length);

      const second = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
      expect(second.status).toBe('succeeded');
      expect(second.planned).toBe(0);
      expect(second.pull.every((t) => t.new === 0 && t.changed === 0)).toBe(true);
      expect(emr.repo.all('Task').filter(ours)).toHaveLength(tasks.length);
      expect(emr.repo.all('Observation').filter(ours)).toHaveLength(observations.length);
      expect(await store.indicatorHistory({ sourceId: source.id, patientId: 'gen-pat-000001' })).toHaveLength(
        history.length,
      );

      // A run that finds nothing new recomputes no patient and leaves the day's programme figures as they were.
      const entry = async (): Promise<unknown> =>
        (
          await driver.query({ text: 'SELECT run_id FROM programme_history WHERE source_id = $1', values: [source.id] })
        )[0]?.run_id;
      const recordedBy = await entry();
      const third = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
      expect(third.status).toBe('succeeded');
      expect(third.patients.recomputed).toBe(0);
      expect(third.patients.total).toBe(first.patients.total);
      expect(await entry()).toBe(recordedBy);
      expect(recordedBy).not.toBe(third.runId);
    } finally {
      await emr.close();
      await driver.close();
      await factory.cleanup();
    }
  });
});

const pg = driverFactories().find((f) => f.name === 'postgres');
(pg ? describe : describe.skip)('two service instances on one PostgreSQL', () => {
  test('each scheduled tick runs once, whichever instance fires first', async () => {
    const a = await pg!.open();
    await migrate(a);
    const b = await openPostgres({ url: pg!.url!, schema: pg!.schema! });
    const storeA = new Store(a, a);
    const storeB = new Store(b, b);
    const emr = await seededSandbox({ patients: 5, seed: 1, fixtures: false });
    try {
      const source = testSource({ id: 'scheduled', baseUrl: emr.baseUrl, schedule: '* * * * *' });
      const cfg = { ...config, sources: [source] };
      const runnerA = new SyncRunner(storeA, cfg);
      const runnerB = new SyncRunner(storeB, cfg);
      // Faked time: both instances fire for the same minutes, a few seconds apart.
      const minutes = ['2026-06-01T10:00:00.120Z', '2026-06-01T10:01:00.050Z', '2026-06-01T10:02:00.300Z'];
      const started: string[] = [];
      for (const m of minutes) {
        const fired = new Date(m);
        const [x, y] = await Promise.all([
          scheduledTick(storeA, runnerA, source, fired, 'A'),
          scheduledTick(storeB, runnerB, source, new Date(fired.getTime() + 700), 'B'),
        ]);
        started.push(...[x, y].filter((r): r is string => r !== undefined));
        await waitFor(
          'both instances to finish the tick',
          () => !runnerA.isRunning('scheduled') && !runnerB.isRunning('scheduled'),
          { timeoutMs: 10_000 },
        );
      }
      expect(started).toHaveLength(minutes.length);
      const runs = await storeA.listRuns({ sourceId: 'scheduled' });
      expect(runs.map((r) => r.id).sort()).toEqual([...started].sort());
      expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
    } finally {
      await emr.close();
      await b.close();
      await a.close();
      await pg!.cleanup();
    }
  });
});

describe('service start-up', () => {
  test('a run left "running" by a dead process is resumed at once', async () => {
    const { memoryStore } = await import('../helpers/store');
    const { resumeInterrupted } = await import('../../src/scheduler/serve');
    const store = await memoryStore();
    const emr = await seededSandbox({ patients: 3, seed: 5, fixtures: false });
    try {
      const source = testSource({ id: 'resume', baseUrl: emr.baseUrl });
      const cfg = { ...config, sources: [source, testSource({ id: 'idle', baseUrl: emr.baseUrl })] };
      await store.createRun({ id: 'dead-run', sourceId: 'resume', asOf: AS_OF });
      const runner = new SyncRunner(store, cfg);
      const started = await resumeInterrupted(store, runner, cfg);
      expect(started).toHaveLength(1);
      await waitFor('the resumed run to end', () => !runner.isRunning('resume'), { timeoutMs: 10_000 });
      const runs = await store.listRuns({ sourceId: 'resume' });
      expect(runs.map((r) => [r.id, r.status])).toEqual([
        [started[0], 'succeeded'],
        ['dead-run', 'interrupted'],
      ]);
      expect(await store.listRuns({ sourceId: 'idle' })).toEqual([]);
    } finally {
      await emr.close();
      await store.close();
    }
  });
});
