import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

test('fhir-engage sandbox serves until SIGTERM and prints its base URL and credentials', async () => {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'fhir-engage.js'), 'sandbox', '--port', '0', '--patients', '3', '--auth', 'bearer'],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH, LOG_LEVEL: 'silent', LOG_FORMAT: 'pretty' },
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor('the sandbox to listen', () => out.includes('press Ctrl-C'), { intervalMs: 100 });
    const baseUrl = /listening: (\S+)/.exec(out)?.[1] as string;
    const token = /bearer token (\S+)/.exec(out)?.[1] as string;
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir\/R4$/);
    expect((await fetch(`${baseUrl}/Patient`)).status).toBe(401);
    const res = await fetch(`${baseUrl}/Patient`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(out).toMatch(/Patient \d+/);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  expect(out).toContain('sandbox stopped');
});

test('fhir-engage sandbox simulate: days of clinic life on the embedded store, each synced, then the programme report', async () => {
  const { mkdtempSync } = await import('node:fs');
  const os = await import('node:os');
  const { runCliProcessAsync } = await import('../helpers/cli');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-sim-'));
  const res = await runCliProcessAsync(['sandbox', 'simulate', '--days', '3', '--patients', '15', '--seed', '4'], {
    cwd: dir,
    env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') },
  });
  expect(res.status).toBe(0);
  expect(res.stdout).toMatch(/^day 0 \(\d{4}-\d{2}-\d{2}\): first sync succeeded/m);
  expect(res.stdout.match(/^\d{4}-\d{2}-\d{2}: \d+ appointment\(s\) kept, .* sync succeeded/gm)).toHaveLength(3);
  expect(res.stdout).toContain('# Programme report: the simulated clinic');
  expect(res.stdout).toContain('| reminder effect | attendance with a reminder |');
  // The same store again: its sandbox data (npm start's, or this simulation's) is not replaced by surprise.
  const again = await runCliProcessAsync(['sandbox', 'simulate', '--days', '1', '--patients', '15'], {
    cwd: dir,
    env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') },
  });
  expect(again.status).toBe(2);
  expect(again.stderr).toContain("already holds the built-in sandbox's data");
  expect(again.stderr).toContain('add --reset, or set FHIR_ENGAGE_DATA_DIR to another folder');
  const reset = await runCliProcessAsync(['sandbox', 'simulate', '--days', '1', '--patients', '15', '--reset'], {
    cwd: dir,
    env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') },
  });
  expect(reset.status).toBe(0);
  // Without FHIR_ENGAGE_DATA_DIR: a store of its own, never ./data (npm start's), said on stderr.
  const own = await runCliProcessAsync(['sandbox', 'simulate', '--days', '1', '--patients', '10'], {
    cwd: dir,
    env: {},
  });
  expect(own.status).toBe(0);
  expect(own.stderr).toContain('simulating in its own store, ./data-simulate');
  expect(existsSync(path.join(dir, 'data-simulate'))).toBe(true);
}, 180_000);
