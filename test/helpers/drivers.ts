/**
 * The store drivers a suite runs on: PGlite always, and the PostgreSQL server
 * named by TEST_DATABASE_URL when set, in a schema of its own dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Driver } from '../../src/store/driver';
import { openPglite } from '../../src/store/pglite-driver';
import { openPostgres } from '../../src/store/pg-driver';
import { migrate } from '../../src/store/migrate';
import { Store } from '../../src/store/store';

export interface DriverFactory {
  name: 'pglite' | 'postgres';
  open(): Promise<Driver>;
  /** Removes whatever `open` created. */
  cleanup(): Promise<void>;
  /** Schema used on PostgreSQL (for a second connection to the same data). */
  schema?: string;
  url?: string;
}

export function testSchemaName(): string {
  return `t_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

export function driverFactories(): DriverFactory[] {
  const list: DriverFactory[] = [{ name: 'pglite', open: () => openPglite({}), cleanup: async () => undefined }];
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    const schema = testSchemaName();
    list.push({
      name: 'postgres',
      schema,
      url,
      open: () => openPostgres({ url, schema }),
      cleanup: () => dropSchema(url, schema),
    });
  }
  return list;
}

/**
 * A migrated store on one driver for the tests of a describe block: opened before them (handed to
 * `opened`), closed and its schema dropped after them.
 */
export function useMigratedStore(factory: DriverFactory, opened: (driver: Driver, store: Store) => void): void {
  let driver: Driver | undefined;
  beforeAll(async () => {
    driver = await factory.open();
    await migrate(driver);
    opened(driver, new Store(driver, driver));
  });
  afterAll(async () => {
    await driver?.close();
    await factory.cleanup();
  });
}
