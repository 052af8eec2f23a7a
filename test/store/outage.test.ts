/**
 * PostgreSQL going away under a run: backends terminated (as by a failover,
 * a restart or pg_terminate_backend) fail the run cleanly, release the lock,
 * never crash the process, and the next run completes.
 */
import os from 'node:os';
import pg from 'pg';
import { loadConfig } from '../../src/config/load';
import { migrate } from '../../src/store/migrate';
import { openPostgres } from '../../src/store/pg-driver';
import { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { SyncRunner } from '../../src/sync/runner';
import { dropSchema, testSchemaName } from '../helpers/drivers';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';

const url = process.env.TEST_DATABASE_URL;
const config = loadConfig({ env: {}, cwd: os.tmpdir() });
const AS_OF = new Date(TEST_ANCHOR);

/** Ends every backend of one application_name, as a DBA or a failover would. */
async function terminate(applicationName: string): Promise<number> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const res = await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [applicationName],
    );
    return res.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

(url ? describe : describe.skip)('store outage on PostgreSQL', () => {
  const schema = testSchemaName();
  const applicationName = `fe-outage-${schema}`;
  afterAll(() => dropSchema(url as string, schema));

  test('backends terminated during the pull: the run fails cleanly (lock released, error recorded), the process lives, the next run completes', async () => {
    const driver = await openPostgres({ url: url as string, schema, applicationName });
    await migrate(driver);
    const store = new Store(driver, driver);
    const emr = await seededSandbox({ patients: 8, seed: 31 });
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);
    process.on('uncaughtException', onUnhandled);
    try {
      const source = testSource({ id: 'outage', baseUrl: emr.baseUrl, pageSize: 10 });
      let killed = 0;
      const failed = await syncSource(store, config, source, {
        asOf: AS_OF,
        afterPageCommitted: async (type, page) => {
          if (type === 'Appointment' && page === 1) killed = await terminate(applicationName);
        },
      });
      expect(killed).toBeGreaterThan(0);
      expect(failed.status).toBe('failed');
      // Names where the run stopped and what happens next, not only the lost lock.
      expect(failed.error).toMatch(
        /connection .* was lost \(terminating connection due to administrator command\) during the pull of Appointment; the run stopped there and the next run resumes/,
      );
      expect(emr.repo.all('Task')).toHaveLength(0);
      const [recorded] = await store.listRuns({ sourceId: 'outage', limit: 1 });
      expect(recorded).toMatchObject({ id: failed.runId, status: 'failed' });

      // The lock went with the connection: a service's next tick runs at once and finishes the work.
      const runner = new SyncRunner(store, { ...config, sources: [source] });
      const { done } = await runner.trigger('outage', { asOf: AS_OF });
      const next = await done;
      expect(next?.status).toBe('succeeded');
      expect(emr.repo.all('Task').length).toBeGreaterThan(0);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('uncaughtException', onUnhandled);
      await emr.close();
      await driver.close();
    }
  });

  test('backends terminated while a run is computing or writing: the run fails, nothing is duplicated, the next run writes the rest', async () => {
    const driver = await openPostgres({ url: url as string, schema, applicationName });
    const store = new Store(driver, driver);
    const emr = await seededSandbox({ patients: 8, seed: 32 });
    try {
      const source = testSource({ id: 'outage-write', baseUrl: emr.baseUrl });
      const failed = await syncSource(store, config, source, {
        asOf: AS_OF,
        beforeDispatch: async () => void (await terminate(applicationName)),
      });
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatch(/was lost \(.*\) during the write-back; the run stopped there/);
      const next = await syncSource(store, config, source, { asOf: AS_OF });
      expect(next.status).toBe('succeeded');
      const ids = emr.repo
        .all('Task')
        .flatMap((t) => (t as { identifier?: { value?: string }[] }).identifier?.map((i) => i.value) ?? []);
      expect(ids.length).toBeGreaterThan(0);
      expect(new Set(ids).size).toBe(ids.length);
      const again = await syncSource(store, config, source, { asOf: AS_OF });
      expect(again.planned).toBe(0);
    } finally {
      await emr.close();
      await driver.close();
    }
  });
});
