/**
 * The seam between the store and a PostgreSQL engine. Two implementations:
 * PGlite (embedded, one process) and a PostgreSQL server through `pg`.
 */

/** A parameterised statement: values are never interpolated into text. */
export interface SqlQuery {
  text: string;
  values: unknown[];
}

export interface Db {
  query<R = Record<string, unknown>>(q: SqlQuery): Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** Returned by `tryWithAdvisoryLock` when another holder has the lock. */
export const LOCK_BUSY: unique symbol = Symbol('lock-busy');
export type LockBusy = typeof LOCK_BUSY;

export interface Driver extends Db {
  readonly kind: 'pglite' | 'postgres';
  /** Human description without credentials, for messages. */
  readonly description: string;
  transaction<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` holding the named lock, or returns LOCK_BUSY at once if another
   * holder has it. On PostgreSQL this is a session-level pg_advisory_lock, so
   * it spans processes and dies with a crashed holder's connection. If that
   * connection is lost while `fn` runs (server restart, failover,
   * pg_terminate_backend), the lock is gone: `lockLost` is aborted with the
   * reason, and `fn` must stop.
   */
  tryWithAdvisoryLock<T>(name: string, fn: (lockLost: AbortSignal) => Promise<T>): Promise<T | LockBusy>;
  close(): Promise<void>;
}
