import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCliProcessAsync } from '../helpers/cli';
import { seededSandbox } from '../helpers/sandbox';
import { waitFor } from '../helpers/wait';

test('serve: the API answers, a triggered sync runs, SIGTERM stops it cleanly with exit 0', async () => {
  const emr = await seededSandbox({ patients: 3, seed: 2, fixtures: false });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-serve-'));
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: served\n    baseUrl: ${emr.baseUrl}\n    approval: { firstRun: write }\n    schedule: "0 3 * * *"\n`,
  );
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'fhir-engage.js'), 'serve', '--port', '0', '--host', '127.0.0.1'],
    {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        LOG_LEVEL: 'silent',
        LOG_FORMAT: 'pretty',
        FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data'),
        FHIR_ENGAGE_API_KEY: 'k-serve',
      },
    },
  );
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor('serve to be ready', () => err.includes('serving until SIGTERM'));
    const api = /API: (\S+) /.exec(err)?.[1] as string;
    expect(api).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api$/);
    expect(err).toContain('scheduled served: "0 3 * * *"');
    expect(await (await fetch(`${api}/health`)).json()).toEqual({ status: 'ok' });
    const trigger = await fetch(`${api}/sources/served/sync`, { method: 'POST', headers: { 'x-api-key': 'k-serve' } });
    expect(trigger.status).toBe(202);
    const { runId } = (await trigger.json()) as { runId: string };
    let status = 'running';
    await waitFor(
      'the triggered run to end',
      async () => {
        const run = await fetch(`${api}/runs/${runId}`, { headers: { 'x-api-key': 'k-serve' } });
        if (run.status === 200) status = ((await run.json()) as { status: string }).status;
        return status !== 'running';
      },
      { intervalMs: 100 },
    );
    expect(status).toBe('succeeded');
    // Each run in one line where the service's messages go.
    await waitFor('the run line', () => err.includes(`sync served run ${runId}: SUCCEEDED in `));
    expect(err).toMatch(
      new RegExp(
        `sync served run ${runId}: SUCCEEDED in [\\d.]+ s: \\d+ resources received \\(\\d+ new, 0 changed\\), \\d+ patient\\(s\\) recomputed, \\d+ write\\(s\\) sent`,
      ),
    );

    // The service holds the embedded store: the read commands go through its API instead of failing.
    const port = /:(\d+)\/api$/.exec(api)?.[1] as string;
    const cliEnv = {
      FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data'),
      FHIR_ENGAGE_API_KEY: 'k-serve',
      FHIR_ENGAGE_PORT: port,
    };
    const runs = await runCliProcessAsync(['runs', '--json'], { cwd: dir, env: cliEnv });
    expect(runs.status).toBe(0);
    expect(runs.stderr).toContain(`reading through its API at ${api}`);
    expect(
      runs.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string; status: string }).id),
    ).toContain(runId);
    const letters = await runCliProcessAsync(['dead-letters'], { cwd: dir, env: cliEnv });
    expect(letters.status).toBe(0);
    const report = await runCliProcessAsync(['report', '--format', 'csv'], { cwd: dir, env: cliEnv });
    expect(report.status).toBe(0);
    expect(report.stdout).toMatch(/,reminder effect,/);
    // With nothing but the data directory: the address and the key the service left there (owner-only).
    const bare = await runCliProcessAsync(['runs', '--json'], {
      cwd: dir,
      env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') },
    });
    expect(bare.status).toBe(0);
    expect(bare.stderr).toContain(`reading through its API at ${api}`);
    expect(bare.stdout).toContain(runId);
    expect(statSync(path.join(dir, 'data', 'service-cli.json')).mode & 0o777).toBe(0o600);
    const wrongKey = await runCliProcessAsync(['runs'], { cwd: dir, env: { ...cliEnv, FHIR_ENGAGE_API_KEY: 'nope' } });
    expect(wrongKey.status).not.toBe(0);
    expect(wrongKey.stderr).toContain('answered HTTP 401 (is FHIR_ENGAGE_API_KEY one of its keys?)');
  } finally {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Stopped: nothing answers there any more, and the key it left is gone.
    expect(existsSync(path.join(dir, 'data', 'service-cli.json'))).toBe(false);
    await emr.close();
  }
  expect(err).toContain('stopped');
});
