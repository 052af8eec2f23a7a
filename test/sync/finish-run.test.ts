/**
 * The end of a run is recorded even when the store refuses connections for a few seconds as the
 * run ends (a server restart): found by the reliability suite, where a run that outlived a
 * PostgreSQL restart stayed "running" in the store (two attempts 250 ms apart were not enough).
 */
import os from 'node:os';
import { loadConfig } from '../../src/config/load';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

test('recording the end of a run is tried again for several seconds while the store is away', async () => {
  const emr = await seededSandbox({ patients: 3, seed: 2, fixtures: false });
  const store = await memoryStore();
  try {
    const config = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), sources: [] };
    const source = testSource({ id: 'finish', baseUrl: emr.baseUrl, writeBack: false });
    const real = store.finishRun.bind(store);
    const attempts: number[] = [];
    store.finishRun = async (...args: Parameters<typeof real>) => {
      attempts.push(Date.now());
      // Refused for ~3 s, as while a server restarts.
      if (attempts.length <= 4) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return real(...args);
    };
    const summary = await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    expect(summary.status).toBe('succeeded');
    expect(attempts).toHaveLength(5);
    expect((attempts[4] as number) - (attempts[0] as number)).toBeGreaterThanOrEqual(3000);
    expect((await store.getRun(summary.runId))?.status).toBe('succeeded');
  } finally {
    await store.close();
    await emr.close();
  }
}, 60_000);
