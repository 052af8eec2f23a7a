/** A read-only EMR: everything is written to a separate FHIR server, with its own auth. */
import os from 'node:os';
import { loadConfig } from '../../src/config/load';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';
import { startSandbox } from '../../src/sandbox/server';

test('writes go to the write target (with its auth), none to the source EMR', async () => {
  const emr = await seededSandbox({ patients: 6, seed: 17, fixtures: false });
  const target = await startSandbox({ auth: { mode: 'bearer', token: 'target-token' } });
  const store = await memoryStore();
  try {
    const source = testSource({
      id: 'ro',
      baseUrl: emr.baseUrl,
      writeTarget: { baseUrl: target.baseUrl, auth: { type: 'bearer', token: 'target-token' } },
    });
    const s = await syncSource(store, loadConfig({ env: {}, cwd: os.tmpdir() }), source, {
      asOf: new Date(TEST_ANCHOR),
      strict: true,
    });
    expect(s.status).toBe('succeeded');
    expect(emr.repo.count('Task') + emr.repo.count('Observation') + emr.repo.count('Provenance')).toBe(0);
    expect(target.repo.count('Observation')).toBe(s.writes.Observation?.created);
    expect(target.repo.count('Provenance')).toBe((s.writes.Observation?.created ?? 0) + (s.writes.Task?.created ?? 0));
    expect(target.counters().unauthorized).toBe(0);
  } finally {
    await emr.close();
    await target.close();
    await store.close();
  }
});
