import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { driverFactories, type DriverFactory } from '../helpers/drivers';
import type { Driver } from '../../src/store/driver';
import { assertSchemaCurrent, loadMigrations, migrate, migrationStatus } from '../../src/store/migrate';

describe.each(driverFactories())('migrations on $name', (factory) => {
  let driver: Driver;
  beforeAll(async () => {
    driver = await factory.open();
  });
  afterAll(async () => {
    await driver.close();
    await factory.cleanup();
  });

  test('apply once, then report nothing to do; a failing migration applies nothing', async () => {
    const known = loadMigrations();
    expect(await migrate(driver, known)).toEqual(known.map((m) => m.name));
    expect(await migrate(driver, known)).toEqual([]);
    await expect(assertSchemaCurrent(driver, known)).resolves.toBeUndefined();

    const broken = [
      ...known,
      { name: '998_ok', sql: 'CREATE TABLE will_be_rolled_back (x int)' },
      { name: '999_bad', sql: 'CREATE TABLE oops (' },
    ];
    await expect(migrate(driver, broken)).rejects.toThrow('migration 999_bad failed');
    expect((await migrationStatus(driver, broken)).pending).toEqual(['998_ok', '999_bad']);
    await expect(driver.query({ text: 'SELECT * FROM will_be_rolled_back', values: [] })).rejects.toThrow();
  });

  test('a schema newer than the code is a clear error', async () => {
    const known = loadMigrations();
    await migrate(driver, [...known, { name: '500_future', sql: 'SELECT 1' }]);
    await expect(migrate(driver, known)).rejects.toThrow(
      'the database schema is newer than this version of fhir-engage: it has migration(s) 500_future',
    );
    await expect(assertSchemaCurrent(driver, known)).rejects.toThrow('newer than this version');
  });

  test('pending migrations make the schema not current', async () => {
    const known = loadMigrations();
    await expect(
      assertSchemaCurrent(driver, [
        ...known,
        { name: '500_future', sql: 'SELECT 1' },
        { name: '600_next', sql: 'SELECT 1' },
      ]),
    ).rejects.toThrow('pending: 600_next');
  });
});

test('upgrading to 006 marks the patients an earlier version would have recomputed, and no others', async () => {
  const [factory] = driverFactories() as [DriverFactory];
  const driver = await factory.open();
  try {
    const known = loadMigrations();
    const before = known.filter((m) => m.name < '006');
    await migrate(driver, before);
    const exec = (text: string): Promise<unknown> => driver.query({ text, values: [] });
    // p-stale changed after its model was built, p-new has no model, p-current is up to date.
    await exec(`INSERT INTO resources (source_id, resource_type, resource_id, content_hash, patient_id, resource, updated_at) VALUES
      ('s', 'Patient', 'p-stale', 'h', 'p-stale', '{}', '2026-06-02'), ('s', 'Patient', 'p-new', 'h', 'p-new', '{}', '2026-06-01'),
      ('s', 'Patient', 'p-current', 'h', 'p-current', '{}', '2026-06-01')`);
    await exec(`INSERT INTO patient_models (source_id, patient_id, model, model_hash, updated_at) VALUES
      ('s', 'p-stale', '{}', 'h', '2026-06-01T12:00:00Z'), ('s', 'p-current', '{}', 'h', '2026-06-01T12:00:00Z')`);
    await migrate(driver, known);
    const rows = await driver.query<{ patient_id: string }>({
      text: 'SELECT patient_id FROM patients_to_compute ORDER BY patient_id',
      values: [],
    });
    expect(rows.map((r) => r.patient_id)).toEqual(['p-new', 'p-stale']);
  } finally {
    await driver.close();
    await factory.cleanup();
  }
});

test('migration files are read in name order and must be named NNN_name.sql', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-mig-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, '002_second.sql'), 'SELECT 2');
  writeFileSync(path.join(dir, '001_first.sql'), 'SELECT 1');
  writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
  expect(loadMigrations(dir).map((m) => m.name)).toEqual(['001_first', '002_second']);
});
