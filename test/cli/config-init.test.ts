/**
 * `fhir-engage config init` (docs/onboarding/): a sources file for an EMR profile from flags (no
 * terminal), secrets as ${ENV} references in a .env skeleton (mode 0600), a signing key for SMART
 * Backend Services, every wrong answer at once, and doctor on the result.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeSandboxCredentials } from '../../src/sandbox/credentials';
import { COHORT_GROUP_ID } from '../../src/sandbox/seed';
import type { SandboxServer } from '../../src/sandbox/server';
import { runCliProcessAsync } from '../helpers/cli';
import { seededSandbox } from '../helpers/sandbox';

let emr: SandboxServer;
let token: string;
beforeAll(async () => {
  const creds = await makeSandboxCredentials('bearer', mkdtempSync(path.join(os.tmpdir(), 'init-creds-')));
  emr = await seededSandbox({ patients: 3, seed: 5 }, { auth: creds.server });
  token = (creds.client(emr.tokenUrl) as { token: string }).token;
});
afterAll(() => emr.close());

const init = (dir: string, args: string[], env: Record<string, string> = {}) =>
  runCliProcessAsync(['config', 'init', '--yes', ...args], {
    cwd: dir,
    env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data'), ...env },
  });

test('a bearer source from flags: the file, a .env to fill (0600), then — with the secret set — doctor says a sync would work', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'init-bearer-'));
  const first = await init(dir, [
    '--profile',
    'bearer',
    '--id',
    'clinic',
    '--base-url',
    emr.baseUrl,
    '--time-zone',
    'Europe/Madrid',
  ]);
  expect(first.status).toBe(0);
  const yaml = readFileSync(path.join(dir, 'fhir-engage.config.yaml'), 'utf8');
  expect(yaml).toContain('token: "${CLINIC_SECRET}"');
  expect(yaml).toContain('timeZone: Europe/Madrid');
  expect(readFileSync(path.join(dir, '.env'), 'utf8')).toMatch(/^CLINIC_SECRET=$/m);
  expect(statSync(path.join(dir, '.env')).mode & 0o777).toBe(0o600);
  expect(first.stdout).toContain('not ready yet');
  expect(first.stdout).toContain('CLINIC_SECRET, which is not set: set it in .env or the environment');
  // Filled in, and asked again: the file is not replaced without --force; with it, doctor runs.
  writeFileSync(path.join(dir, '.env'), `CLINIC_SECRET=${token}\n`, { mode: 0o600 });
  const refused = await init(dir, ['--profile', 'bearer', '--id', 'clinic', '--base-url', emr.baseUrl]);
  expect(refused.status).toBe(2);
  expect(refused.stderr).toContain('exists already');
  const second = await init(dir, ['--profile', 'bearer', '--id', 'clinic', '--base-url', emr.baseUrl, '--force']);
  expect(second.status).toBe(0);
  expect(second.stdout).toContain('doctor: a sync would work');
  expect(second.stdout).toContain('next: `fhir-engage sync --dry-run`');
  expect(second.stdout + second.stderr).not.toContain(token);
}, 60_000);

test('Epic: a signing key is made (0600) and named in the source; doctor against an EMR that is not there says what to fix', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'init-epic-'));
  const res = await init(
    dir,
    [
      '--profile',
      'epic',
      '--id',
      'north',
      '--base-url',
      'http://127.0.0.1:9/api/FHIR/R4',
      '--client-id',
      'np-123',
      '--group',
      'e3x',
    ],
    {
      FHIR_ENGAGE_KEYS_DIR: path.join(dir, 'keys'),
    },
  );
  expect(res.status).toBe(0);
  const yaml = readFileSync(path.join(dir, 'fhir-engage.config.yaml'), 'utf8');
  const keyFile = /keyFile: "([^"]+)"/.exec(yaml)?.[1] as string;
  expect(keyFile.startsWith(path.join(dir, 'keys'))).toBe(true);
  expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  expect(yaml).toContain('type: smart-backend');
  expect(yaml).toContain('bulk: { level: group, groupId: "e3x" }');
  expect(yaml).toContain('    mode: per-patient');
  expect(res.stderr).toContain('/.well-known/jwks.json');
  expect(res.stdout).toContain('doctor: a sync would NOT work yet');
  expect(res.stdout).toContain('fix:');
}, 60_000);

test('every wrong answer at once, in words; an unknown profile is named', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'init-bad-'));
  const res = await init(dir, [
    '--profile',
    'client-credentials',
    '--id',
    'Bad Id',
    '--base-url',
    'emr.example',
    '--time-zone',
    'CST',
  ]);
  expect(res.status).toBe(2);
  for (const text of [
    '--id: lower-case letters',
    '--base-url: an http:// or https:// address',
    '--client-id is required',
    '--token-url is required',
    '--time-zone: an IANA zone',
  ])
    expect(res.stderr).toContain(text);
  const epic = await init(dir, ['--profile', 'epic', '--id', 'x', '--base-url', 'https://x', '--client-id', 'c']);
  expect(epic.status).toBe(2);
  expect(epic.stderr).toContain("--group is required for Epic: the Group of the programme's patients");
  const unknown = await init(dir, ['--profile', 'meditech', '--id', 'x', '--base-url', 'https://x']);
  expect(unknown.status).toBe(2);
  expect(unknown.stderr).toContain(
    '--profile must be one of epic, oracle-health, smart-backend, client-credentials, bearer',
  );
}, 60_000);

test('Epic end to end from flags: the key registered by JWKS URL, doctor green once the key is published, a sync succeeds and the next one searches the Group by patient', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'init-epic-e2e-'));
  // Where the EMR reads the client's public keys (fhir-engage serve's /.well-known/jwks.json in production).
  let published: string | undefined;
  const jwks = http.createServer((_req, res) => {
    res.writeHead(published ? 200 : 404, { 'content-type': 'application/json' });
    res.end(published ?? '{}');
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', () => r()));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  const epic = await seededSandbox(
    { patients: 6, seed: 8 },
    { auth: { mode: 'smart-backend', clientId: 'np-123', jwksUrl }, quirks: { refusePopulationSearches: true } },
  );
  const env = { FHIR_ENGAGE_KEYS_DIR: path.join(dir, 'keys'), FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') };
  try {
    const args = ['--profile', 'epic', '--id', 'north', '--base-url', epic.baseUrl, '--client-id', 'np-123'];
    const res = await init(dir, [...args, '--group', COHORT_GROUP_ID, '--time-zone', 'America/Chicago'], env);
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('doctor: a sync would NOT work yet');
    expect(res.stdout).toContain('`fhir-engage serve` publishes it at http://127.0.0.1:8080/.well-known/jwks.json');
    expect(res.stdout).toContain('next: start `fhir-engage serve`, then `fhir-engage doctor` again');

    published = (await runCliProcessAsync(['keys', 'jwks'], { cwd: dir, env })).stdout;
    const doctor = await runCliProcessAsync(['doctor'], { cwd: dir, env });
    expect(doctor.stdout).toContain(`read Group/${COHORT_GROUP_ID}: 6 member(s)`);
    expect(doctor.status).toBe(0);
    const first = await runCliProcessAsync(['sync'], { cwd: dir, env });
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('pulled (Bulk Data $export):');
    const second = await runCliProcessAsync(['sync'], { cwd: dir, env });
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/Appointment +incremental: 6 page\(s\)/);
    expect(epic.counters().refusedSystemSearch).toBe(0);
  } finally {
    await epic.close();
    await new Promise<void>((r) => jwks.close(() => r()));
  }
}, 180_000);
