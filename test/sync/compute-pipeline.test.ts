/**
 * The compute stage loads the next batch and commits the previous one while
 * it computes: batches still commit in order, progress counts what is
 * committed, and a commit that fails ends the run with the earlier batches
 * kept, nothing left running, and the rest computed by the next run.
 */
import { loadConfig } from '../../src/config/load';
import type { Store } from '../../src/store/store';
import type { SyncEvent } from '../../src/sync/events';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const PATIENTS = 450; // three batches of 200, the last one short
const AS_OF = new Date(TEST_ANCHOR);

/** The store, except that the n-th compute commit (saveComputations inside a transaction) fails. */
function failingNthCommit(store: Store, n: number): { store: Store; commits: string[][] } {
  const commits: string[][] = [];
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'transaction') return Reflect.get(target, prop, receiver) as unknown;
      return <T>(fn: (tx: Store) => Promise<T>): Promise<T> =>
        target.transaction((tx) =>
          fn(
            new Proxy(tx, {
              get(t, p, r) {
                if (p !== 'saveComputations') return Reflect.get(t, p, r) as unknown;
                return async (...args: Parameters<Store['saveComputations']>) => {
                  commits.push(args[1].map((i) => i.patientId));
                  if (commits.length === n) throw new Error('injected: the database refused the commit');
                  return t.saveComputations(...args);
                };
              },
            }),
          ),
        );
    },
  });
  return { store: proxy, commits };
}

test('a failed commit of the second batch: the first stays, nothing is left running, the next run computes the rest', async () => {
  const emr = await seededSandbox({ patients: PATIENTS, seed: 31 });
  const store = await memoryStore();
  try {
    const config = loadConfig({ env: {}, cwd: '/nonexistent' });
    const source = testSource({ id: 'pipe', baseUrl: emr.baseUrl, writeBack: false });
    const failing = failingNthCommit(store, 2);
    const events: SyncEvent[] = [];
    const first = await syncSource(failing.store, config, source, { asOf: AS_OF, onEvent: (e) => events.push(e) });
    expect(first.status).toBe('failed');
    expect(first.error).toContain('injected: the database refused the commit');
    // One batch committed, in full; the second rolled back; the third never committed.
    expect(failing.commits.map((c) => c.length)).toEqual([200, 200]);
    const stored = await store.listComputations(source.id);
    expect(stored.map((c) => c.patientId).sort()).toEqual([...failing.commits[0]!].sort());
    expect(events.filter((e) => e.type === 'computed').map((e) => (e as { patients: number }).patients)).toEqual([200]);

    const progress: number[] = [];
    const second = await syncSource(store, config, source, {
      asOf: AS_OF,
      onEvent: (e) => e.type === 'computed' && progress.push(e.patients),
    });
    expect(second.status).toBe('succeeded');
    expect(second.patients.recomputed).toBe(PATIENTS - 200);
    expect(progress).toEqual([200, PATIENTS - 200]);
    expect(await store.listComputations(source.id)).toHaveLength(PATIENTS);
  } finally {
    await store.close();
    await emr.close();
  }
}, 120_000);
