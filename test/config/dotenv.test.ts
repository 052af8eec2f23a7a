/** .env beside the sources file (config init writes one): read at start, the environment winning over it. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadDotEnv } from '../../src/config/env';
import { runCliProcess } from '../helpers/cli';

test('the values of .env are set where the environment sets nothing; the environment wins', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dotenv-'));
  writeFileSync(path.join(dir, '.env'), '# a comment\nEMR_SECRET=from-file\nLOG_LEVEL=debug\nEMPTY=\n', {
    mode: 0o600,
  });
  const env: NodeJS.ProcessEnv = { LOG_LEVEL: 'warn' };
  expect(loadDotEnv(dir, env).sort()).toEqual(['EMPTY', 'EMR_SECRET']);
  expect(env).toEqual({ LOG_LEVEL: 'warn', EMR_SECRET: 'from-file', EMPTY: '' });
  expect(loadDotEnv(mkdtempSync(path.join(os.tmpdir(), 'dotenv-none-')), {})).toEqual([]);
});

test('the CLI reads .env from its working directory: a ${VAR} of the sources file set there is found', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dotenv-cli-'));
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    'sources:\n  - id: a\n    baseUrl: https://emr.example/fhir\n    auth: { type: bearer, token: "${EMR_TOKEN}" }\n',
  );
  const env = { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') };
  const without = runCliProcess(['config', 'check'], { cwd: dir, env });
  expect(without.status).toBe(2);
  expect(without.stderr).toContain('EMR_TOKEN, which is not set: set it in .env or the environment');
  writeFileSync(path.join(dir, '.env'), 'EMR_TOKEN=abc123\n', { mode: 0o600 });
  const withFile = runCliProcess(['config', 'check'], { cwd: dir, env });
  expect(withFile.stderr).toBe('');
  expect(withFile.status).toBe(0);
  expect(withFile.stdout).toContain('configuration OK');
  expect(withFile.stdout + withFile.stderr).not.toContain('abc123');
});

test('a .env that cannot be read stops the CLI at once with the reason, exit 2', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dotenv-bad-'));
  mkdirSync(path.join(dir, '.env'));
  const res = runCliProcess(['config', 'check'], { cwd: dir, env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') } });
  expect(res.status).toBe(2);
  expect(res.stderr).toMatch(/^error: cannot read environment file .*\.env: EISDIR/);
});
