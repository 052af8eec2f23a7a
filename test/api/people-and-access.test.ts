/**
 * People and access, for machines' keys (docs/operations.md, "People and access"): roles decide the
 * routes, sources decide the data. Two clinics (sources A and B, whose patients share ids, as two EMRs'
 * may); a care manager's key for A reaches none of B's patients by any route, search or export (each
 * tried below), an integration key no patient route, a programme lead only figures; an expired or
 * revoked key is refused at once; the access log names who read what, with the role; every route of the
 * API has its roles in the one table.
 */
import os from 'node:os';
import request from 'supertest';
import type { Express } from 'express';
import { createApiApp } from '../../src/api/app';
import { makeApiKey } from '../../src/api/auth';
import { Metrics } from '../../src/api/metrics';
import { OPENAPI } from '../../src/api/openapi';
import { ROUTE_ROLES } from '../../src/api/permissions';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { SyncRunner } from '../../src/sync/runner';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';
import { outOfScopeTries } from '../helpers/scope-tries';

let emrA: SandboxServer;
let emrB: SandboxServer;
let store: Store;
let app: Express;
let config: AppConfig;
let runner: SyncRunner;
const keys: Record<string, string> = {};
const ADMIN = 'admin-env-key-0123456789';

async function key(name: string, roles: string[], sources: string[] | null, expiresAt: Date | null = null) {
  keys[name] = (await makeApiKey(store, { name, roles, sources, expiresAt, createdBy: 'test' })).key;
}
const as = (name: string) => ({ 'X-API-Key': keys[name] ?? ADMIN });

beforeAll(async () => {
  emrA = await seededSandbox({ patients: 6, seed: 21, fixtures: false });
  emrB = await seededSandbox({ patients: 6, seed: 22, fixtures: false });
  store = await memoryStore();
  config = {
    ...loadConfig({ env: {}, cwd: os.tmpdir() }),
    sources: [testSource({ id: 'A', baseUrl: emrA.baseUrl }), testSource({ id: 'B', baseUrl: emrB.baseUrl })],
  };
  for (const s of config.sources) await syncSource(store, config, s, { asOf: new Date(TEST_ANCHOR) });
  runner = new SyncRunner(store, config);
  app = createApiApp({ store, config, runner, metrics: new Metrics(false), apiKeys: [ADMIN] });
  await key('care-a', ['care-manager'], ['A']);
  await key('integration', ['integration'], null);
  await key('lead-a', ['programme-lead'], ['A']);
  await key('lead-ab', ['programme-lead'], ['A', 'B']);
  await key('expired', ['care-manager'], null);
  await store.createApiKey(
    {
      id: 'key-expired',
      name: 'expired',
      roles: ['care-manager'],
      sources: null,
      expiresAt: new Date(Date.now() - 1000),
      createdBy: 'test',
    },
    (await import('../../src/api/auth')).keyDigest('an-expired-key-value'),
  );
}, 120_000);

afterAll(async () => {
  await runner.stop();
  await emrA.close();
  await emrB.close();
  await store.close();
});

test('every route of the API has its roles in the one table, and the table names no route that is not there', () => {
  const open = new Set([
    'GET /api/health',
    'GET /api/ready',
    'GET /api/metrics',
    'GET /api/openapi.json',
    'GET /api/sign-in',
  ]);
  const documented = Object.entries(OPENAPI.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
  );
  expect(documented.filter((r) => !open.has(r) && !ROUTE_ROLES[r])).toEqual([]);
  expect(Object.keys(ROUTE_ROLES).filter((r) => !documented.includes(r))).toEqual([]);
});

test('a care manager of A: none of B’s patients by any route, search or export (each tried here)', async () => {
  const patient = (await store.listComputations('B'))[0]?.patientId as string;
  // The same id in A (the two sandboxes generate the same ids): A's record only, never B's.
  expect((await store.listComputations('A')).some((c) => c.patientId === patient)).toBe(true);
  const tries = outOfScopeTries(patient);
  for (const [method, path, body] of tries) {
    const r = method === 'GET' ? request(app).get(path) : request(app).post(path).send(body);
    const res = await r.set(as('care-a'));
    expect({ path, status: res.status }).toEqual({ path, status: 404 });
    expect(JSON.stringify(res.body) + (res.text ?? '')).not.toMatch(/"sourceId":"B"/);
  }
  // Without ?source: A's only.
  const lists: [string, (b: unknown) => { sourceId: string }[]][] = [
    ['/api/patients?pageSize=500', (b) => (b as { patients: { sourceId: string }[] }).patients],
    ['/api/worklist?pageSize=500', (b) => (b as { rows: { sourceId: string }[] }).rows],
    ['/api/safety', (b) => (b as { patients: { sourceId: string }[] }).patients],
    [`/api/patients/${patient}/engagement`, (b) => (b as { results: { sourceId: string }[] }).results],
    [`/api/patients/${patient}/indicators`, (b) => (b as { history: { sourceId: string }[] }).history],
  ];
  for (const [path, rows] of lists) {
    const res = await request(app).get(path).set(as('care-a'));
    expect({ path, status: res.status }).toEqual({ path, status: 200 });
    const seen = [...new Set(rows(res.body).map((r) => r.sourceId))];
    // Safety lists only flagged patients: there may be none; every other list has A's.
    expect({ path, seen }).toEqual({ path, seen: path === '/api/safety' && seen.length === 0 ? [] : ['A'] });
  }
  const csv = await request(app).get('/api/worklist?format=csv').set(as('care-a'));
  expect(
    csv.text
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .every((l) => l.startsWith('A,') || l.includes(',A,')),
  ).toBe(true);
  const overview = await request(app).get(`/api/patients/${patient}/overview`).set(as('care-a'));
  expect(overview.body.sourceId).toBe('A');
  const found = await request(app).post('/api/patients/search').set(as('care-a')).send({ identifier: patient });
  expect((found.body.matches as { sourceId: string }[]).every((m) => m.sourceId === 'A')).toBe(true);
  const sources = await request(app).get('/api/sources').set(as('care-a'));
  expect((sources.body.sources as { id: string }[]).map((s) => s.id)).toEqual(['A']);
});

test('roles decide the routes: 403 in words for what the key’s roles do not cover', async () => {
  const refused: [string, string, string][] = [
    ['care-a', 'GET', '/api/runs'],
    ['care-a', 'GET', '/api/dead-letters'],
    ['care-a', 'GET', '/api/access-log'],
    ['care-a', 'GET', '/api/keys'],
    ['care-a', 'POST', '/api/sources/A/sync'],
    ['integration', 'GET', '/api/patients'],
    ['integration', 'GET', '/api/worklist'],
    ['integration', 'GET', '/api/safety'],
    ['integration', 'GET', '/api/sources/A/patients/x/messages'],
    ['integration', 'POST', '/api/patients/search'],
    ['lead-a', 'GET', '/api/patients'],
    ['lead-a', 'GET', '/api/worklist'],
    ['lead-a', 'GET', '/api/runs'],
  ];
  for (const [who, method, path] of refused) {
    const res = await (method === 'GET' ? request(app).get(path) : request(app).post(path).send({})).set(as(who));
    expect({ who, path, status: res.status }).toEqual({ who, path, status: 403 });
    expect(res.body.issue[0].details.text).toMatch(/^this needs the role /);
  }
  expect((await request(app).get('/api/runs').set(as('integration'))).status).toBe(200);
  expect((await request(app).get('/api/dead-letters').set(as('integration'))).status).toBe(200);
  const figures = await request(app).get('/api/programme').set(as('lead-a'));
  expect(figures.status).toBe(200);
  expect((await request(app).get('/api/programme?source=B').set(as('lead-a'))).status).toBe(404);
  const several = await request(app).get('/api/programme').set(as('lead-ab'));
  expect(several.status).toBe(400);
  expect(several.body.issue[0].details.text).toContain('name one source with ?source=');
  expect((await request(app).get('/api/programme?source=B').set(as('lead-ab'))).status).toBe(200);
  expect((await request(app).get('/api/me').set(as('care-a'))).body).toMatchObject({
    kind: 'key',
    name: 'care-a',
    roles: ['care-manager'],
    sources: ['A'],
  });
});

test('an expired or revoked key is refused at once; keys are made and revoked by an admin only', async () => {
  const expired = await request(app).get('/api/me').set('X-API-Key', 'an-expired-key-value');
  expect(expired.status).toBe(401);
  expect(expired.body.issue[0].details.text).toContain('unknown, expired or revoked');
  const made = await request(app)
    .post('/api/keys')
    .set(as('admin'))
    .send({ name: 'export job', roles: ['programme-lead'], sources: ['A'], expiresAt: '2099-01-01T00:00:00Z' });
  expect(made.status).toBe(201);
  expect(made.body.details).toMatchObject({ name: 'export job', roles: ['programme-lead'], sources: ['A'] });
  const fresh = made.body.key as string;
  expect((await request(app).get('/api/programme').set('X-API-Key', fresh)).status).toBe(200);
  const listed = await request(app).get('/api/keys').set(as('admin'));
  expect(JSON.stringify(listed.body)).not.toContain(fresh);
  expect((await request(app).post(`/api/keys/${made.body.details.id}/revoke`).set(as('admin'))).status).toBe(200);
  expect((await request(app).get('/api/programme').set('X-API-Key', fresh)).status).toBe(401);
  for (const bad of [
    { name: 'x', roles: ['root'] },
    { name: 'x', roles: ['admin'], sources: ['C'] },
    { name: 'x', roles: ['admin'], expiresAt: '2001-01-01T00:00:00Z' },
  ])
    expect((await request(app).post('/api/keys').set(as('admin')).send(bad)).status).toBe(400);
  expect(
    (
      await request(app)
        .post('/api/keys')
        .set(as('care-a'))
        .send({ name: 'x', roles: ['admin'] })
    ).status,
  ).toBe(403);
});

test('the access log names who read which patient, with the role, and filters by person', async () => {
  const patient = (await store.listComputations('A'))[0]?.patientId as string;
  await request(app).get(`/api/patients/${patient}/overview`).set(as('care-a'));
  const log = await request(app).get(`/api/access-log?patient=${patient}`).set(as('admin'));
  expect(log.status).toBe(200);
  const mine = (log.body.entries as { actorName: string; role: string; route: string; sourceId: string }[]).find(
    (e) => e.route === '/api/patients/:id/overview',
  );
  expect(mine).toMatchObject({ actorName: 'care-a', role: 'care-manager', sourceId: 'A' });
  const me = (await request(app).get('/api/me').set(as('care-a'))).body.id as string;
  const byPerson = await request(app).get(`/api/access-log?person=${me}`).set(as('admin'));
  expect((byPerson.body.entries as { keyId: string }[]).every((e) => e.keyId === me)).toBe(true);
  expect(byPerson.body.entries.length).toBeGreaterThan(0);
});
