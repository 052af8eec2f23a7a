/**
 * `purge --source`'s store side, on every driver: a source that left the programme loses every row
 * in every table that holds a source's rows (its pulled resources, models, indicators, writes, dead
 * letters, runs), another source keeps all of its rows, and a source whose sync is running is left
 * alone.
 */
import os from 'node:os';
import { loadConfig } from '../../src/config/load';
import { LOCK_BUSY, type Driver } from '../../src/store/driver';
import { SOURCE_TABLES } from '../../src/store/queries';
import { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { driverFactories, useMigratedStore } from '../helpers/drivers';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';

const config = loadConfig({ env: {}, cwd: os.tmpdir() });

describe.each(driverFactories())('purging a source on $name', (factory) => {
  let driver: Driver;
  let store: Store;
  useMigratedStore(factory, (d, s) => {
    driver = d;
    store = s;
  });

  async function rowsOf(sourceId: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const table of SOURCE_TABLES)
      out[table] = (
        await driver.query<{ n: number }>({
          text: `SELECT count(*)::int AS n FROM ${table} WHERE source_id = $1`,
          values: [sourceId],
        })
      )[0]!.n;
    return out;
  }

  test('every table with a source_id column is purged, except the access log (the audit record)', async () => {
    const tables = await driver.query<{ table_name: string }>({
      text: "SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'source_id' AND table_schema = current_schema() ORDER BY table_name",
      values: [],
    });
    expect(tables.map((t) => t.table_name).filter((t) => t !== 'access_log')).toEqual([...SOURCE_TABLES].sort());
  });

  test('counts without removing, then removes every row of the source and nothing of another', async () => {
    const emr = await seededSandbox({ patients: 6, seed: 41 });
    try {
      for (const id of ['leaving', 'staying']) {
        const summary = await syncSource(store, config, testSource({ id, baseUrl: emr.baseUrl }), {
          asOf: new Date(TEST_ANCHOR),
        });
        expect(summary.status).not.toBe('failed');
      }
      const leaving = await rowsOf('leaving');
      const staying = await rowsOf('staying');
      for (const table of [
        'resources',
        'patient_models',
        'indicator_history',
        'outbox',
        'written_resources',
        'sync_runs',
        'watermarks',
        'programme_history',
      ])
        expect(leaving[table]).toBeGreaterThan(0);

      const counted = await store.purgeSource('leaving', false);
      expect(counted).toEqual(leaving);
      expect(await rowsOf('leaving')).toEqual(leaving);

      const removed = await store.purgeSource('leaving', true);
      expect(removed).toEqual(leaving);
      expect(Object.values(await rowsOf('leaving')).every((n) => n === 0)).toBe(true);
      expect(await rowsOf('staying')).toEqual(staying);
      expect((await store.listSources()).map((s) => s.id)).toEqual(['staying']);
    } finally {
      await emr.close();
    }
  }, 60_000);

  test('a source whose sync holds its lock is not purged', async () => {
    const before = await rowsOf('staying');
    const result = await store.tryWithAdvisoryLock('sync:staying', () => store.purgeSource('staying', true));
    expect(result).toBe(LOCK_BUSY);
    expect(await rowsOf('staying')).toEqual(before);
  });
});
