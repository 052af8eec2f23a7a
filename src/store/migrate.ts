/**
 * Plain SQL migrations (src/store/migrations/NNN_name.sql), applied in name
 * order inside one transaction under a transaction-level advisory lock, so
 * that two processes starting together migrate once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Driver } from './driver';
import { storeError } from '../errors';

export interface Migration {
  name: string;
  sql: string;
}

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ name: f.replace(/\.sql$/, ''), sql: readFileSync(path.join(dir, f), 'utf8') }));
}

export interface MigrationStatus {
  applied: string[];
  pending: string[];
  /** Applied in the database but unknown to this version of fhir-engage. */
  unknown: string[];
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  name text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

async function appliedNames(db: Pick<Driver, 'query'>): Promise<string[]> {
  const rows = await db.query<{ name: string }>({
    text: 'SELECT name FROM schema_migrations ORDER BY name',
    values: [],
  });
  return rows.map((r) => r.name);
}

function compare(known: Migration[], applied: string[]): MigrationStatus {
  const knownNames = new Set(known.map((m) => m.name));
  const appliedSet = new Set(applied);
  return {
    applied,
    pending: known.filter((m) => !appliedSet.has(m.name)).map((m) => m.name),
    unknown: applied.filter((n) => !knownNames.has(n)),
  };
}

function newerSchemaError(unknown: string[]): Error {
  return storeError(
    `the database schema is newer than this version of fhir-engage: it has migration(s) ${unknown.join(', ')} ` +
      'that this version does not know. Upgrade fhir-engage, or point it at another database.',
  );
}

/** What is applied and what is pending, without changing anything. */
export async function migrationStatus(driver: Driver, known: Migration[] = loadMigrations()): Promise<MigrationStatus> {
  await driver.exec(CREATE_TABLE);
  return compare(known, await appliedNames(driver));
}

/** Applies pending migrations; returns the names applied now (empty: nothing to do). */
export async function migrate(driver: Driver, known: Migration[] = loadMigrations()): Promise<string[]> {
  await driver.exec(CREATE_TABLE);
  return driver.transaction(async (tx) => {
    await tx.query({ text: "SELECT pg_advisory_xact_lock(hashtextextended('fhir-engage:migrate', 0))", values: [] });
    const status = compare(known, await appliedNames(tx));
    if (status.unknown.length > 0) {
      throw newerSchemaError(status.unknown);
    }
    const todo = known.filter((m) => status.pending.includes(m.name));
    for (const m of todo) {
      try {
        await tx.exec(m.sql);
      } catch (err) {
        throw storeError(`migration ${m.name} failed: ${(err as Error).message}`, err);
      }
      await tx.query({ text: 'INSERT INTO schema_migrations (name) VALUES ($1)', values: [m.name] });
    }
    return todo.map((m) => m.name);
  });
}

/** Fails unless the schema is exactly what this version expects (used before work and by /ready). */
export async function assertSchemaCurrent(driver: Driver, known: Migration[] = loadMigrations()): Promise<void> {
  const status = await migrationStatus(driver, known);
  if (status.unknown.length > 0) {
    throw newerSchemaError(status.unknown);
  }
  if (status.pending.length > 0) {
    throw storeError(
      `the database schema is out of date (pending: ${status.pending.join(', ')}); run: fhir-engage db migrate`,
    );
  }
}
