/**
 * SMART Backend Services keys: `keys generate` writes a private key only its
 * owner can read and prints the public JWKS; the API publishes it at
 * /.well-known/jwks.json; the sandbox, registered with that JWKS URL (as Epic
 * and Oracle Health registrations are), accepts the token request signed with
 * the generated key.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createApiApp } from '../../src/api/app';
import { listen } from '../../src/listen';
import { Metrics } from '../../src/api/metrics';
import { loadConfig } from '../../src/config/load';
import { SandboxRepository } from '../../src/sandbox/repository';
import { seedRepository } from '../../src/sandbox/seed';
import { startSandbox, type SandboxServer } from '../../src/sandbox/server';
import { syncSource } from '../../src/sync/run';
import { SyncRunner } from '../../src/sync/runner';
import { runCliProcessAsync } from '../helpers/cli';
import { TEST_ANCHOR } from '../helpers/sandbox';
import { memoryStore } from '../helpers/store';

test('keys generate → JWKS served by the API → the sandbox (registered with the JWKS URL) accepts the signed token request; a sync succeeds', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-keys-'));
  const generated = await runCliProcessAsync(['keys', 'generate', '--kid', 'engage-2026-11', '--alg', 'ES384'], {
    cwd: dir,
    env: { FHIR_ENGAGE_KEYS_DIR: path.join(dir, 'keys') },
  });
  expect(generated.status).toBe(0);
  const keyFile = path.join(dir, 'keys', 'engage-2026-11.pem');
  expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  expect(readFileSync(keyFile, 'utf8')).toContain('BEGIN PRIVATE KEY');
  const printed = JSON.parse(generated.stdout) as { keys: { kid: string; kty: string; d?: string }[] };
  expect(printed.keys).toEqual([
    expect.objectContaining({ kid: 'engage-2026-11', kty: 'EC', alg: 'ES384', use: 'sig' }),
  ]);
  expect(printed.keys[0]?.d).toBeUndefined(); // never the private part
  // Never overwritten.
  const again = await runCliProcessAsync(['keys', 'generate', '--kid', 'engage-2026-11'], {
    cwd: dir,
    env: { FHIR_ENGAGE_KEYS_DIR: path.join(dir, 'keys') },
  });
  expect(again.status).toBe(2);
  expect(again.stderr).toContain('exists already: keys are never overwritten');

  // The API publishes the key (a second key in the keys directory would be published too, for a rotation).
  const store = await memoryStore();
  let api: Server | undefined;
  let emr: SandboxServer | undefined;
  try {
    const apiConfig = {
      ...loadConfig({ env: { FHIR_ENGAGE_KEYS_DIR: path.join(dir, 'keys') }, cwd: dir }),
      sources: [],
    };
    const runner = new SyncRunner(store, apiConfig);
    const served = await listen(
      createApiApp({ store, config: apiConfig, runner, metrics: new Metrics(false), apiKeys: ['k'] }),
      0,
      '127.0.0.1',
    );
    api = served.server;
    const jwksUrl = `http://127.0.0.1:${served.port}/.well-known/jwks.json`;
    const jwks = (await (await fetch(jwksUrl)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual(['engage-2026-11']);

    const repo = new SandboxRepository();
    await seedRepository(repo, { patients: 3, seed: 2, anchor: TEST_ANCHOR, fixtures: false });
    emr = await startSandbox({ repo, auth: { mode: 'smart-backend', clientId: 'engage-client', jwksUrl } });
    writeFileSync(
      path.join(dir, 'fhir-engage.config.yaml'),
      `sources:\n  - id: backend\n    baseUrl: ${emr.baseUrl}\n    writeBack: false\n    auth:\n      type: smart-backend\n      clientId: engage-client\n      keyFile: keys/engage-2026-11.pem\n      keyId: engage-2026-11\n      algorithm: ES384\n      tokenUrl: ${emr.tokenUrl}\n      scope: system/*.read\n`,
    );
    const config = loadConfig({ env: {}, cwd: dir });
    const summary = await syncSource(store, config, config.sources[0]!, { asOf: new Date(TEST_ANCHOR) });
    expect(summary.status).toBe('succeeded');
    expect(emr.counters().tokensIssued).toBe(1);
    // The token's expiry is in the run's summary (and so in the fhir_engage_token_expiry_timestamp_seconds gauge).
    expect(summary.requests.tokenExpiresAt).toBeGreaterThan(Date.now());
    // The same JWKS, from the sources' side: the smart-backend source's key is published under its keyId.
    expect(
      (
        await runCliProcessAsync(['keys', 'jwks'], {
          cwd: dir,
          env: { FHIR_ENGAGE_KEYS_DIR: path.join(dir, 'nowhere') },
        })
      ).stdout,
    ).toContain('"kid": "engage-2026-11"');
  } finally {
    await emr?.close();
    await new Promise<void>((r) => (api ? api.close(() => r()) : r()));
    await store.close();
  }
}, 60_000);
