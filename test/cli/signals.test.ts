/** The CLI as an operator meets it: Ctrl-C during a sync, and a port already taken. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCliProcessAsync } from '../helpers/cli';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';

test('SIGINT during a sync stops it after the page in progress and records the run as interrupted; the next run resumes it', async () => {
  const emr = await seededSandbox({ patients: 10, seed: 41 }, { quirks: { delayMs: 150 } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-sigint-'));
  writeFileSync(path.join(dir, 'fhir-engage.config.yaml'), `sources:\n  - id: slow\n    baseUrl: ${emr.baseUrl}\n    pageSize: 5\n`);
  const env = { PATH: process.env.PATH, LOG_LEVEL: 'silent', FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') };
  try {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'fhir-engage.js'), 'sync', '--as-of', TEST_ANCHOR], { cwd: dir, env });
    let err = '';
    let out = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 600 && !err.includes('Appointment: full'); i++) await new Promise((r) => setTimeout(r, 50));
    // The first Appointment page is committed before the second is asked for: once two Appointment
    // searches have reached the EMR, a checkpoint exists and the signal falls mid-type.
    const before = emr.counters().searches;
    for (let i = 0; i < 600 && emr.counters().searches < before + 2; i++) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(err).toContain('SIGINT: stopping after the work in progress is committed');
    expect(out).toContain('INTERRUPTED');

    emr.setQuirks({});
    const runs = await runCliProcessAsync(['runs', '--json'], { cwd: dir, env });
    expect(runs.stdout.trim().split('\n').map((l) => JSON.parse(l).status)).toEqual(['interrupted']);
    const next = await runCliProcessAsync(['sync', '--as-of', TEST_ANCHOR], { cwd: dir, env });
    expect(next.status).toBe(0);
    // Whichever type the signal stopped (usually Appointment, the slow one) continues from its checkpoint.
    expect(next.stdout).toMatch(/^ {2}(Appointment|CarePlan|QuestionnaireResponse)\s+resumed/m);
  } finally {
    await emr.close();
  }
}, 60_000);

test('serve on a port already in use says so and exits 2', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-port-'));
  writeFileSync(path.join(dir, 'fhir-engage.config.yaml'), 'sources:\n  - id: any\n    baseUrl: http://127.0.0.1:9/fhir\n');
  try {
    const res = await runCliProcessAsync(['serve', '--port', String(port), '--host', '127.0.0.1'], { cwd: dir, env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data'), FHIR_ENGAGE_API_KEY: 'k' } });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(res.stderr).not.toContain('Cannot read properties');
  } finally {
    taken.close();
  }
});
