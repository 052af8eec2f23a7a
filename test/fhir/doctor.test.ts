/**
 * `doctor` against the sandbox in its auth modes and quirks: a healthy source
 * passes (exit 0); each failure names its cause and its fix and exits 1.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { explainNetworkError, diagnoseSource } from '../../src/fhir/doctor';
import { COHORT_GROUP_ID } from '../../src/sandbox/seed';
import { makeSandboxCredentials, type SandboxAuthMode } from '../../src/sandbox/credentials';
import type { SandboxServer } from '../../src/sandbox/server';
import { runCliProcessAsync } from '../helpers/cli';
import { seededSandbox } from '../helpers/sandbox';
import { testSource } from '../helpers/source';

const servers: SandboxServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

async function sandboxWith(
  mode: SandboxAuthMode,
  quirks = {},
): Promise<{ emr: SandboxServer; auth: ReturnType<Awaited<ReturnType<typeof makeSandboxCredentials>>['client']> }> {
  const creds = await makeSandboxCredentials(mode, mkdtempSync(path.join(os.tmpdir(), 'fe-doc-')));
  const emr = await seededSandbox({ patients: 3, seed: 5 }, { auth: creds.server, quirks });
  servers.push(emr);
  return { emr, auth: creds.client(emr.tokenUrl) };
}

test.each(['open', 'bearer', 'client_credentials', 'smart-backend'] as SandboxAuthMode[])(
  'a healthy source in %s mode: every check passes, with the write test',
  async (mode) => {
    const { emr, auth } = await sandboxWith(mode);
    const d = await diagnoseSource(testSource({ id: `doc-${mode}`, baseUrl: emr.baseUrl }, auth), { writeTest: true });
    expect(d.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(d.ok).toBe(true);
    expect(d.checks.map((c) => c.step)).toEqual(
      expect.arrayContaining(['reach', 'metadata', 'search Patient', 'search Appointment', 'write Task', 'write test']),
    );
    if (mode === 'client_credentials' || mode === 'smart-backend')
      expect(d.checks.find((c) => c.step === 'token')?.status).toBe('ok');
    // The test Task was cancelled.
    const tasks = emr.repo.all('Task').filter((t) => JSON.stringify(t).includes('urn:fhir-engage:doctor'));
    expect(tasks.map((t) => (t as { status: string }).status)).toEqual(['cancelled']);
  },
);

test('a wrong client secret: the token check fails naming the client id and secret as what to check', async () => {
  const { emr, auth } = await sandboxWith('client_credentials');
  const d = await diagnoseSource(
    testSource(
      { id: 'doc-secret', baseUrl: emr.baseUrl },
      {
        ...(auth as { type: 'client_credentials'; tokenUrl: string; clientId: string; clientSecret: string }),
        clientSecret: 'wrong',
      },
    ),
  );
  expect(d.ok).toBe(false);
  expect(d.checks.find((c) => c.step === 'token')).toMatchObject({
    status: 'fail',
    detail: 'the token endpoint does not accept this client id and secret',
    fix: expect.stringContaining('auth.clientId'),
  });
});

test('an EMR that refuses system-wide searches: the fix names per-patient mode with the refused types', async () => {
  const { emr, auth } = await sandboxWith('open', { requirePatientFor: ['Appointment', 'QuestionnaireResponse'] });
  const d = await diagnoseSource(testSource({ id: 'doc-pp', baseUrl: emr.baseUrl }, auth));
  expect(d.ok).toBe(false);
  const failed = d.checks.filter((c) => c.status === 'fail');
  expect(failed.map((c) => c.step)).toEqual(['search Appointment', 'search QuestionnaireResponse']);
  expect(failed[0]?.fix).toBe(
    'set mode: per-patient on the source, with perPatientTypes: [Appointment, QuestionnaireResponse]',
  );
  // With that fix, it passes.
  const fixed = await diagnoseSource(
    testSource(
      {
        id: 'doc-pp2',
        baseUrl: emr.baseUrl,
        mode: 'per-patient',
        perPatientTypes: ['Appointment', 'QuestionnaireResponse'],
      },
      auth,
    ),
  );
  expect(fixed.ok).toBe(true);
});

test('an EMR that answers no population search (Epic): the fix names perPatientGroup; with it every search passes through the Group', async () => {
  const { emr, auth } = await sandboxWith('open', { refusePopulationSearches: true });
  const d = await diagnoseSource(testSource({ id: 'doc-epic', baseUrl: emr.baseUrl }, auth));
  expect(d.ok).toBe(false);
  const failed = d.checks.filter((c) => c.status === 'fail');
  expect(failed.map((c) => c.step)).toEqual([
    'search Patient',
    'search Appointment',
    'search CarePlan',
    'search QuestionnaireResponse',
  ]);
  expect(failed[0]?.fix).toContain('set mode: per-patient with perPatientGroup');
  const fixed = await diagnoseSource(
    testSource({ id: 'doc-epic2', baseUrl: emr.baseUrl, mode: 'per-patient', perPatientGroup: COHORT_GROUP_ID }, auth),
  );
  expect(fixed.checks.filter((c) => c.status === 'fail')).toEqual([]);
  expect(fixed.checks.find((c) => c.step === `read Group/${COHORT_GROUP_ID}`)).toMatchObject({
    status: 'ok',
    detail: '3 member(s): the patients searched one by one',
  });
  const missing = await diagnoseSource(
    testSource({ id: 'doc-epic3', baseUrl: emr.baseUrl, mode: 'per-patient', perPatientGroup: 'no-such-group' }, auth),
  );
  expect(missing.checks.find((c) => c.step === 'read Group/no-such-group')).toMatchObject({
    status: 'fail',
    fix: expect.stringContaining('check perPatientGroup'),
  });
});

test('unreachable hosts and untrusted certificates are explained with a fix', async () => {
  // A port nothing listens on (taken, then freed).
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const down = await diagnoseSource(
    testSource({ id: 'doc-down', baseUrl: `http://127.0.0.1:${port}/fhir`, timeoutMs: 2000 }),
  );
  expect(down.checks).toEqual([
    expect.objectContaining({ step: 'reach', status: 'fail', detail: `127.0.0.1:${port} refused the connection` }),
  ]);
  expect(
    explainNetworkError(
      'GET https://emr/metadata failed after 1 attempt(s): network error (ENOTFOUND)',
      'emr.hospital.example',
    ).fix,
  ).toContain('HTTPS_PROXY');
  expect(explainNetworkError('network error (UNABLE_TO_VERIFY_LEAF_SIGNATURE)', 'emr').fix).toContain('tls.caFile');
});

test('the CLI: exit 0 for a healthy source, 1 with the fix printed otherwise; --json', async () => {
  const { emr } = await sandboxWith('open', { requirePatientFor: ['Appointment'] });
  const { emr: healthy } = await sandboxWith('open');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-doc-cli-'));
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: good\n    baseUrl: ${healthy.baseUrl}\n  - id: strict\n    baseUrl: ${emr.baseUrl}\n`,
  );
  const good = await runCliProcessAsync(['doctor', '--source', 'good'], {
    cwd: dir,
    env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') },
  });
  expect(good.status).toBe(0);
  expect(good.stdout).toContain('good (');
  expect(good.stdout).toContain('a sync would work');
  const bad = await runCliProcessAsync(['doctor', '--json'], {
    cwd: dir,
    env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') },
  });
  expect(bad.status).toBe(1);
  const json = JSON.parse(bad.stdout) as { ok: boolean; sources: { sourceId: string; ok: boolean }[] };
  expect(json).toMatchObject({
    ok: false,
    sources: [
      { sourceId: 'good', ok: true },
      { sourceId: 'strict', ok: false },
    ],
  });
}, 60_000);

test('without a sources file, doctor checks the built-in sandbox path and says how to add a source; exit 0', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'doctor-nosources-'));
  const res = await runCliProcessAsync(['doctor'], { cwd: dir, env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') } });
  expect(res.stderr).toBe('');
  expect(res.status).toBe(0);
  expect(res.stdout).toContain('No sources file: checking the built-in sandbox EMR');
  expect(res.stdout).toMatch(/^sandbox \(http:\/\/127\.0\.0\.1:\d+\/fhir\/R4\): a sync would work$/m);
  expect(res.stdout).toContain('✓ token: token issued');
  expect(res.stdout).toContain('To connect your EMR: write fhir-engage.config.yaml');
}, 60_000);

test('a failed step quotes what the EMR answered — status, content type, its first bytes with numbers and emails masked — never "see above" with nothing above', async () => {
  const http = await import('node:http');
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/fhir/metadata'))
      return void res.writeHead(200, { 'content-type': 'application/fhir+json' }).end(
        JSON.stringify({
          resourceType: 'CapabilityStatement',
          fhirVersion: '4.0.1',
          status: 'active',
          kind: 'instance',
          format: ['json'],
          date: '2026-01-01',
        }),
      );
    res
      .writeHead(502, { 'content-type': 'text/html; charset=utf-8' })
      .end(
        '<html><body><h1>Bad gateway</h1><p>Upstream 10.1.2.3 for patient 123456789 (jane@example.org) timed out</p></body></html>',
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const d = await diagnoseSource(
      testSource({ id: 'proxy', baseUrl: `http://127.0.0.1:${port}/fhir`, maxRetries: 0 }),
    );
    const search = d.checks.find((c) => c.step === 'search Patient');
    expect(search?.status).toBe('fail');
    expect(search?.detail).toContain('HTTP 502; it answered (text/html)');
    expect(search?.detail).toContain('(text/html) "<html><body><h1>Bad gateway</h1><p>Upstream');
    expect(search?.detail).not.toMatch(/123456789|jane@example\.org/);
    expect(search?.detail).toContain('for patient # (email) timed out');
    expect(search?.fix).toContain('quoted above');
  } finally {
    server.close();
  }
});
