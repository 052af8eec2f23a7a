/** The CLI as an operator meets it: Ctrl-C during a sync, and a port already taken. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCliProcessAsync } from '../helpers/cli';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { waitFor } from '../helpers/wait';

/** The one run so far is recorded interrupted, and the next sync resumes a type from its checkpoint. */
async function expectInterruptedThenResumed(dir: string, env: Record<string, string | undefined>): Promise<void> {
  const runs = await runCliProcessAsync(['runs', '--json'], { cwd: dir, env });
  expect(
    runs.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { status: string }).status),
  ).toEqual(['interrupted']);
  const next = await runCliProcessAsync(['sync', '--as-of', TEST_ANCHOR], { cwd: dir, env });
  expect(next.status).toBe(0);
  expect(next.stdout).toMatch(/^ {2}(Patient|Appointment|CarePlan|QuestionnaireResponse)\s+resumed/m);
}

test('SIGINT during a sync stops it after the page in progress and records the run as interrupted; the next run resumes it', async () => {
  const emr = await seededSandbox({ patients: 10, seed: 41 }, { quirks: { delayMs: 150 } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-sigint-'));
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: slow\n    baseUrl: ${emr.baseUrl}\n    approval: { firstRun: write }\n    pageSize: 5\n`,
  );
  const env = {
    PATH: process.env.PATH,
    LOG_LEVEL: 'silent',
    LOG_FORMAT: 'pretty',
    FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data'),
  };
  try {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'fhir-engage.js'), 'sync', '--as-of', TEST_ANCHOR], {
      cwd: dir,
      env,
    });
    let err = '';
    let out = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('the sync to start pulling Appointments', () => err.includes('Appointment: full'));
    // The first Appointment page is committed before the second is asked for: once two Appointment
    // searches have reached the EMR, a checkpoint exists and the signal falls mid-type.
    const before = emr.counters().searches;
    await waitFor('two Appointment searches to reach the EMR', () => emr.counters().searches >= before + 2, {
      timeoutMs: 12_000,
      intervalMs: 20,
    });
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(err).toContain('SIGINT: stopping after the work in progress is committed');
    expect(out).toContain('INTERRUPTED');

    emr.setQuirks({});
    // Whichever type the signal stopped (usually Appointment, the slow one) continues from its checkpoint.
    await expectInterruptedThenResumed(dir, env);
  } finally {
    await emr.close();
  }
}, 60_000);

test('SIGTERM under serve lets the running sync commit its page, records it interrupted and exits 0; the next run resumes it (README, "Running as a service")', async () => {
  const emr = await seededSandbox({ patients: 10, seed: 42 }, { quirks: { delayMs: 150 } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-sigterm-'));
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: served\n    baseUrl: ${emr.baseUrl}\n    approval: { firstRun: write }\n    pageSize: 5\n`,
  );
  const env = {
    PATH: process.env.PATH,
    LOG_LEVEL: 'silent',
    LOG_FORMAT: 'pretty',
    FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data'),
    FHIR_ENGAGE_API_KEY: 'k-term',
    FHIR_ENGAGE_AS_OF: TEST_ANCHOR,
  };
  try {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'bin', 'fhir-engage.js'), 'serve', '--port', '0', '--host', '127.0.0.1'],
      { cwd: dir, env },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('serve to be ready', () => err.includes('serving until SIGTERM'));
    const api = /API: (\S+) /.exec(err)?.[1] as string;
    expect(
      (await fetch(`${api}/sources/served/sync`, { method: 'POST', headers: { 'x-api-key': 'k-term' } })).status,
    ).toBe(202);
    // Patients are in, and a type's pages are under way: the signal falls mid-search.
    await waitFor('the sync to reach its second type', () => emr.counters().searches >= 4, {
      timeoutMs: 20_000,
      intervalMs: 20,
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expectInterruptedThenResumed(dir, env);
  } finally {
    await emr.close();
  }
}, 90_000);

test('serve on a port already in use says so and exits 2', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-port-'));
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    'sources:\n  - id: any\n    baseUrl: http://127.0.0.1:9/fhir\n',
  );
  try {
    const res = await runCliProcessAsync(['serve', '--port', String(port), '--host', '127.0.0.1'], {
      cwd: dir,
      env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data'), FHIR_ENGAGE_API_KEY: 'k' },
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(res.stderr).not.toContain('Cannot read properties');
  } finally {
    taken.close();
  }
});
