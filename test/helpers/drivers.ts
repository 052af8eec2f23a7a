/**
 * The store drivers a suite runs on: PGlite always, and the PostgreSQL server
 * named by TEST_DATABASE_URL when set, in a schema of its own dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Driver } from '../../src/store/driver';
import { openPglite } from '../../src/store/pglite-driver';
import { openPostgres } from '../../src/store/pg-driver';

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
  const list: DriverFactory[] = [
    { name: 'pglite', open: () => openPglite({}), cleanup: async () => undefined },
  ];
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
