import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCliProcess, ROOT } from '../helpers/cli';
import { migrate } from '../../src/store/migrate';
import { openPglite } from '../../src/store/pglite-driver';
import { Store } from '../../src/store/store';

const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'fe-cli-'));

describe('fhir-engage CLI', () => {
  test('--version prints the package version and exits 0', () => {
    const res = runCliProcess(['--version']);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(res.status).toBe(0);
    expect(res.stdout.trim()).toBe(pkg.version);
  });

  test('--help lists the commands', () => {
    const res = runCliProcess(['--help']);
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/config\s+inspect the configuration/);
    expect(res.stdout).toMatch(/db\s+manage the store/);
  });

  test('an unknown command or option is a usage error: exit 2', () => {
    expect(runCliProcess(['frobnicate']).status).toBe(2);
    const res = runCliProcess(['config', 'check', '--no-such-option']);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain("unknown option '--no-such-option'");
  });

  test('config check: a broken file prints the field path and exits 2; a good one exits 0', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'bad.yaml'), 'sources:\n  - id: a\n    baseUrl: https://x\n    pageSize: many\n');
    const bad = runCliProcess(['config', 'check', '--config', 'bad.yaml'], { cwd: dir });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('bad.yaml:4: sources[0].pageSize must be integer');

    writeFileSync(
      path.join(dir, 'good.yaml'),
      'sources:\n  - id: a\n    baseUrl: https://x\n    auth: { type: bearer, token: "${TOKEN}" }\n',
    );
    const good = runCliProcess(['config', 'check', '--config', 'good.yaml'], {
      cwd: dir,
      env: { TOKEN: 'tok-never-printed' },
    });
    expect(good.status).toBe(0);
    expect(good.stdout).toContain('a: https://x (auth bearer');
    expect(good.stdout).toContain('configuration OK');
    expect(good.stdout + good.stderr).not.toContain('tok-never-printed');
  });

  test('a bad LOG_LEVEL is a configuration error (exit 2), not a crash', () => {
    const res = runCliProcess(['config', 'check'], { cwd: tmp(), env: { LOG_LEVEL: 'loud' } });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "loud"');
  });

  test('config check honours FHIR_ENGAGE_CONFIG', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 's.json'), '{"sources":[{"id":"x","baseUrl":"https://x","mode":"bogus"}]}');
    const res = runCliProcess(['config', 'check'], { cwd: dir, env: { FHIR_ENGAGE_CONFIG: 's.json' } });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('sources[0].mode must be one of "system", "per-patient"');
  });

  test('db migrate is idempotent on the embedded store', () => {
    const dir = tmp();
    const env = { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') };
    const first = runCliProcess(['db', 'migrate'], { cwd: dir, env });
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('applied 001_initial');
    const second = runCliProcess(['db', 'migrate'], { cwd: dir, env });
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('nothing to do');
    const status = runCliProcess(['db', 'status'], { cwd: dir, env });
    expect(status.status).toBe(0);
    expect(status.stdout).toContain('applied  001_initial');
  });

  const pgUrl = process.env.TEST_DATABASE_URL;
  (pgUrl ? test : test.skip)('db migrate is idempotent on PostgreSQL (DATABASE_URL)', async () => {
    const { dropSchema, testSchemaName } = await import('../helpers/drivers');
    const schema = testSchemaName();
    const env = { DATABASE_URL: pgUrl, DATABASE_SCHEMA: schema };
    try {
      expect(runCliProcess(['db', 'migrate'], { env }).stdout).toContain('applied 001_initial');
      const again = runCliProcess(['db', 'migrate'], { env });
      expect(again.status).toBe(0);
      expect(again.stdout).toContain('nothing to do');
      expect(again.stdout).not.toContain('@127.0.0.1:5432/test?');
    } finally {
      await dropSchema(pgUrl!, schema);
    }
  });

  test("dead-letters shows the server's own words of an export error (diagnostics as well as details.text)", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-dl-'));
    const driver = await openPglite({ dataDir: path.join(dir, 'data') });
    await migrate(driver);
    await new Store(driver, driver).addDeadLetters([
      {
        sourceId: 'bulk',
        runId: 'r1',
        stage: 'pull',
        resourceType: 'Appointment',
        resourceId: 'a-7',
        outcome: {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'exception', diagnostics: 'Appointment/a-7 could not be exported' }],
        },
      },
    ]);
    await driver.close();
    const res = runCliProcess(['dead-letters'], { cwd: dir, env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') } });
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(
      /#\d+ \S+ bulk pull Appointment\/a-7\n {4}error exception: Appointment\/a-7 could not be exported/,
    );
  });

  test('an unreachable PostgreSQL is a clear failure, exit 1, without the password', () => {
    const res = runCliProcess(['db', 'migrate'], { env: { DATABASE_URL: 'postgres://u:hunter2@127.0.0.1:1/db' } });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('cannot connect to PostgreSQL postgres://u:***@127.0.0.1:1/db');
    expect(res.stderr).not.toContain('hunter2');
  });

  test("a password in the connection URL's query (?password=, sslpassword=) is not printed by config check, db status or a connection error", () => {
    const env = { DATABASE_URL: 'postgres://u@127.0.0.1:1/db?sslmode=disable&password=hunter2&sslpassword=s3cret' };
    const check = runCliProcess(['config', 'check'], { env });
    expect(check.stdout + check.stderr).toContain(
      'postgres://u@127.0.0.1:1/db?sslmode=disable&password=***&sslpassword=***',
    );
    for (const res of [check, runCliProcess(['db', 'status'], { env }), runCliProcess(['db', 'migrate'], { env })]) {
      expect(res.stdout + res.stderr).not.toMatch(/hunter2|s3cret/);
    }
    expect(runCliProcess(['db', 'status'], { env }).stderr).toContain(
      'cannot connect to PostgreSQL postgres://u@127.0.0.1:1/db?sslmode=disable&password=***',
    );
  });

  test('a second process cannot open the same embedded store', async () => {
    const { openPglite } = await import('../../src/store/pglite-driver');
    const dir = tmp();
    const held = await openPglite({ dataDir: path.join(dir, 'data') });
    try {
      const res = runCliProcess(['db', 'migrate'], { cwd: dir, env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') } });
      expect(res.status).toBe(1);
      expect(res.stderr).toContain(`is in use by process ${process.pid}`);
      // Held by a process that is no service (no address or key left): the message says what works and how.
      const runs = runCliProcess(['runs'], { cwd: dir, env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') } });
      expect(runs.status).toBe(1);
      expect(runs.stderr).toContain('`runs`, `dead-letters` and `report` read through its API by themselves');
      expect(runs.stderr).toContain('POST /api/sources/{id}/sync');
    } finally {
      await held.close();
    }
  });
});
