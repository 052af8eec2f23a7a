/**
 * PostgreSQL server through `pg`. Tables live in one schema (DATABASE_SCHEMA),
 * selected with search_path on every connection of the pool.
 */
import pg from 'pg';
import type { Db, Driver, LockBusy, SqlQuery } from './driver';
import { LOCK_BUSY } from './driver';
import { storeError } from '../errors';

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = u.password ? '***' : '';
    return u.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

function wrap(client: pg.Pool | pg.PoolClient): Db {
  return {
    async query<R>(sql: SqlQuery): Promise<R[]> {
      const result = await client.query(sql.text, sql.values);
      return result.rows as R[];
    },
    async exec(sql: string): Promise<void> {
      await client.query(sql);
    },
  };
}

export interface PgOptions {
  url: string;
  schema: string;
  poolSize?: number;
}

export async function openPostgres(options: PgOptions): Promise<Driver> {
  const description = `PostgreSQL ${describeUrl(options.url)} schema ${options.schema}`;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    options: `-c search_path=${quoteIdent(options.schema)}`,
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(options.schema)}`);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw storeError(`cannot connect to ${description}: ${(err as Error).message}`, err);
  }
  const db = wrap(pool);
  return {
    kind: 'postgres',
    description,
    ...db,
    async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async tryWithAdvisoryLock<T>(name: string, fn: () => Promise<T>): Promise<T | LockBusy> {
      // Session-level lock on a dedicated connection: released on unlock, or by the server if we die.
      const key = `${options.schema}:${name}`;
      const client = await pool.connect();
      let locked = false;
      try {
        const res = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [
          key,
        ]);
        locked = res.rows[0]?.ok === true;
        if (!locked) {
          return LOCK_BUSY;
        }
        return await fn();
      } finally {
        if (locked) {
          await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch(() => undefined);
        }
        client.release();
      }
    },
    async close(): Promise<void> {
      await pool.end();
    },
  };
}
