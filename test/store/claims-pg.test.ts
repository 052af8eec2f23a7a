/** Outbox claims on PostgreSQL with two connections: a row another worker holds is skipped, not waited for. */
import pg from 'pg';
import { migrate } from '../../src/store/migrate';
import { openPostgres } from '../../src/store/pg-driver';
import { Store } from '../../src/store/store';
import { dropSchema, testSchemaName } from '../helpers/drivers';

const url = process.env.TEST_DATABASE_URL;

(url ? test : test.skip)(
  'a claim skips outbox rows locked by another connection and returns at once with the others',
  async () => {
    const schema = testSchemaName();
    const driver = await openPostgres({ url: url as string, schema });
    const other = new pg.Client({ connectionString: url, options: `-c search_path="${schema}"` });
    other.on('error', () => undefined);
    try {
      await migrate(driver);
      const store = new Store(driver, driver);
      await store.enqueueOutbox(
        's',
        'r',
        ['a', 'b', 'c'].map((k) => ({
          target: 'https://emr',
          dedupeKey: `https://emr|${k}`,
          resourceType: 'Task',
          payload: { k },
        })),
      );
      await other.connect();
      await other.query('BEGIN');
      // Another worker is in the middle of claiming the oldest row.
      const held = await other.query<{ id: string }>(
        "SELECT id FROM outbox WHERE source_id = 's' ORDER BY id LIMIT 1 FOR UPDATE",
      );
      const heldId = Number(held.rows[0]?.id);
      const claimed = await Promise.race([
        store.claimOutbox({ workerId: 'w2', limit: 10, leaseSeconds: 60, sourceId: 's' }),
        new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 3000)),
      ]);
      expect(claimed).not.toBe('blocked');
      const ids = (claimed as { id: number }[]).map((i) => i.id);
      expect(ids).toHaveLength(2);
      expect(ids).not.toContain(heldId);
      await other.query('ROLLBACK');
      // Released: the next claim gets it.
      expect(
        (await store.claimOutbox({ workerId: 'w3', limit: 10, leaseSeconds: 60, sourceId: 's' })).map((i) => i.id),
      ).toEqual([heldId]);
    } finally {
      await other.end().catch(() => undefined);
      await driver.close();
      await dropSchema(url as string, schema);
    }
  },
);
