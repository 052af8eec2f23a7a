/**
 * Embedded PostgreSQL (PGlite, WebAssembly) in a data directory. PGlite is
 * single-process: a pid file keeps a second process from opening the same
 * directory, and advisory locks are held in memory for this process only.
 * Several processes or service instances need a PostgreSQL server (DATABASE_URL).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Db, Driver, LockBusy, SqlQuery } from './driver';
import { LOCK_BUSY } from './driver';
import { storeError } from '../errors';
import { ensureOwnerOnlyDir, restrictToOwner } from '../owner-only';
import { logger } from '../log/logger';

const PID_FILE = 'fhir-engage.pid';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims the data directory for this process; a pid file left by a dead process is taken over. */
function claimDataDir(dataDir: string): () => void {
  const pidFile = path.join(dataDir, PID_FILE);
  let existing: number | undefined;
  try {
    existing = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    existing = undefined;
  }
  if (existing && existing !== process.pid && processAlive(existing)) {
    throw storeError(
      `the embedded store ${dataDir} is in use by process ${existing}; PGlite allows one process at a time. ` +
        'While `serve` or `start` runs, `runs`, `dead-letters` and `report` read through its API by themselves; to sync, use its dashboard ' +
        'or POST /api/sources/{id}/sync. Otherwise stop that process, use another FHIR_ENGAGE_DATA_DIR, ' +
        'or set DATABASE_URL to share a PostgreSQL server (then every command works alongside the service).',
    );
  }
  writeFileSync(pidFile, String(process.pid), { mode: 0o600 });
  return () => {
    try {
      if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) {
        rmSync(pidFile);
      }
    } catch {
      // Already gone: nothing to release.
    }
  };
}

function wrap(q: { query: PGlite['query']; exec: PGlite['exec'] }): Db {
  return {
    async query<R>(sql: SqlQuery): Promise<R[]> {
      const result = await q.query<R>(sql.text, sql.values);
      return result.rows;
    },
    async exec(sql: string): Promise<void> {
      await q.exec(sql);
    },
  };
}

export interface PgliteOptions {
  /** Directory of the database; undefined keeps it in memory (tests). */
  dataDir?: string;
}

export async function openPglite(options: PgliteOptions): Promise<Driver> {
  let release = (): void => undefined;
  const dataDir = options.dataDir;
  if (dataDir) {
    try {
      ensureOwnerOnlyDir(dataDir);
    } catch (err) {
      throw storeError(`cannot create the data directory ${dataDir}`, err);
    }
    // Every row and the write-ahead log are in these files: owner-only, checked at every start.
    const wider = restrictToOwner(dataDir);
    if (wider.length > 0) {
      logger().warn(
        { event: 'store-permissions', dataDir, fixed: wider.length },
        `the embedded store ${dataDir} was open to other local users (${wider.length} files or directories wider than 0700/0600): made owner-only`,
      );
    }
    release = claimDataDir(dataDir);
  }
  let pg: PGlite;
  try {
    pg = dataDir ? new PGlite(dataDir) : new PGlite();
    await pg.waitReady;
  } catch (err) {
    release();
    throw storeError(`cannot open the embedded store ${dataDir ?? '(memory)'}`, err);
  }
  // PGlite makes its files 0666 whatever the umask (the directory, 0700, keeps others out meanwhile).
  if (dataDir) restrictToOwner(dataDir);
  const held = new Set<string>();
  const db = wrap(pg);
  return {
    kind: 'pglite',
    description: options.dataDir ? `PGlite at ${options.dataDir}` : 'PGlite in memory',
    ...db,
    transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
      return pg.transaction((tx) => fn(wrap(tx)));
    },
    async tryWithAdvisoryLock<T>(name: string, fn: (lockLost: AbortSignal) => Promise<T>): Promise<T | LockBusy> {
      if (held.has(name)) {
        return LOCK_BUSY;
      }
      held.add(name);
      try {
        // One process owns the embedded store: the lock cannot be lost while it runs.
        return await fn(new AbortController().signal);
      } finally {
        held.delete(name);
      }
    },
    async close(): Promise<void> {
      try {
        await pg.close();
        // Files PGlite made while open (new relations, WAL segments) leave owner-only too.
        if (dataDir) restrictToOwner(dataDir);
      } finally {
        release();
      }
    },
  };
}
