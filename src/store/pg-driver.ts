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
/** Query parameters of a connection URL whose values are credentials (password, sslpassword, a token…). */
const CREDENTIAL_PARAM = /pass|secret|token|credential|auth/i;

/** A connection URL as it may be shown: no password, wherever the URL carries it. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = u.password ? '***' : '';
    // libpq takes credentials in the query too (`?password=`, `sslpassword=`): shown as *** like the one in user:pass@.
    for (const name of [...u.searchParams.keys()]) {
      if (CREDENTIAL_PARAM.test(name)) u.searchParams.set(name, '***');
    }
    return u
      .toString()
      .replace(/=\*\*\*/g, '=***')
      .replace(/%2A%2A%2A/g, '***');
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
  /** application_name of the connections (pg_stat_activity), default "fhir-engage". */
  applicationName?: string;
}

/**
 * A checked-out client has no listener of the pool's: a server that ends
 * its backend (restart, failover, pg_terminate_backend, code 57P01) would
 * raise an unhandled 'error' and kill the process. Every checkout listens
 * while it is held; the query in progress fails with the error instead.
 */
function listen(client: pg.PoolClient, onError: (err: Error) => void): () => void {
  client.on('error', onError);
  return () => client.off('error', onError);
}

export async function openPostgres(options: PgOptions): Promise<Driver> {
  const description = `PostgreSQL ${describeUrl(options.url)} schema ${options.schema}`;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    options: `-c search_path=${quoteIdent(options.schema)}`,
    application_name: options.applicationName ?? 'fhir-engage',
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
      let broken: Error | undefined;
      const unlisten = listen(client, (err) => (broken = err));
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        unlisten();
        // A connection that failed is destroyed, not returned to the pool.
        client.release(broken ?? undefined);
      }
    },
    async tryWithAdvisoryLock<T>(name: string, fn: (lockLost: AbortSignal) => Promise<T>): Promise<T | LockBusy> {
      // Session-level lock on a dedicated connection: released on unlock, or by the server if we die.
      const key = `${options.schema}:${name}`;
      const client = await pool.connect();
      const lost = new AbortController();
      const unlisten = listen(client, (err) => {
        if (!lost.signal.aborted)
          lost.abort(storeError(`the database connection holding the lock "${name}" was lost (${err.message})`, err));
      });
      let locked = false;
      try {
        const res = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [
          key,
        ]);
        locked = res.rows[0]?.ok === true;
        if (!locked) {
          return LOCK_BUSY;
        }
        return await fn(lost.signal);
      } finally {
        if (locked && !lost.signal.aborted) {
          await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch(() => undefined);
        }
        unlisten();
        // A lost connection took its lock with it; it is destroyed, not pooled.
        client.release(lost.signal.aborted ? (lost.signal.reason as Error) : undefined);
      }
    },
    async close(): Promise<void> {
      await pool.end();
    },
  };
}
