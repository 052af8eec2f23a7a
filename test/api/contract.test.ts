/**
 * The API's contract: every JSON response the routes send validates against the schema its OpenAPI
 * fragment names (src/api/schemas/), on both stores, over a store filled by a real sync of the
 * sandbox EMR. A field added to a response and not to its schema, a type that changes (a date sent
 * as something other than ISO 8601), a documented route that sends something else: each fails here.
 */
import os from 'node:os';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import request from 'supertest';
import type { Express } from 'express';
import { createApiApp } from '../../src/api/app';
import { Metrics } from '../../src/api/metrics';
import { OPENAPI } from '../../src/api/openapi';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { SyncRunner } from '../../src/sync/runner';
import { driverFactories, useMigratedStore } from '../helpers/drivers';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';

const KEY = 'contract-key-0123456789';
const auth = { 'X-API-Key': KEY };
type Operation = { responses: Record<string, { content?: Record<string, { schema?: object }> }> };
const operations = Object.entries(OPENAPI.paths).flatMap(([path, ops]) =>
  Object.entries(ops as Record<string, Operation>).map(([method, op]) => ({ path, method, op })),
);

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'doc', components: OPENAPI.components });
const validators = new Map<string, ValidateFunction>();
/** The validator of an operation's response with `status`, its $refs resolved against the document's components. */
function validatorOf(path: string, method: string, status: number): ValidateFunction {
  const key = `${method} ${path} ${status}`;
  const op = (OPENAPI.paths[path] as Record<string, Operation>)[method] as Operation;
  const schema = op.responses[String(status)]?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`${key} has no JSON schema in the OpenAPI document`);
  if (!validators.has(key)) {
    const resolved = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/')) as object;
    validators.set(key, ajv.compile(resolved));
  }
  return validators.get(key) as ValidateFunction;
}

test('every JSON success response in the document has a schema that names its fields', () => {
  const bare = operations.flatMap(({ path, method, op }) =>
    Object.entries(op.responses)
      .filter(([status]) => status.startsWith('2'))
      .filter(([, r]) => {
        const schema = r.content?.['application/json']?.schema as
          { properties?: object; anyOf?: object[]; $ref?: string } | undefined;
        return r.content?.['application/json'] && !schema?.properties && !schema?.anyOf && !schema?.$ref;
      })
      .map(([status]) => `${method.toUpperCase()} ${path} ${status}`),
  );
  expect(bare).toEqual(['GET /api/openapi.json 200']);
});

describe.each(driverFactories())('responses match their schemas on $name', (factory) => {
  let emr: SandboxServer;
  let store: Store;
  let app: Express;
  let runner: SyncRunner;
  let config: AppConfig;
  useMigratedStore(factory, (_driver, s) => (store = s));

  beforeAll(async () => {
    emr = await seededSandbox({ patients: 12, seed: 7, fixtures: false, invalidResources: 2 });
    config = {
      ...loadConfig({ env: {}, cwd: os.tmpdir() }),
      sources: [
        testSource({ id: 'clinic', baseUrl: emr.baseUrl, schedule: '0 3 * * *' }),
        // Never written: its first plan is held for approval.
        testSource({ id: 'held', baseUrl: emr.baseUrl, approval: { firstRun: 'hold' } }),
      ],
    };
    await syncSource(store, config, config.sources[0]!, { asOf: new Date(TEST_ANCHOR), strict: true });
    await syncSource(store, config, config.sources[1]!, { asOf: new Date(TEST_ANCHOR), strict: true });
    runner = new SyncRunner(store, config);
    app = createApiApp({ store, config, runner, metrics: new Metrics(false), apiKeys: [KEY] });
  }, 120_000);
  afterAll(async () => {
    await runner.stop();
    await emr.close();
  });

  /** Sends the request and checks the answer against the document: its status is documented and its body valid. */
  async function check(method: 'get' | 'post', path: string, url: string, expected: number, body?: object) {
    const res = await (
      method === 'get'
        ? request(app).get(url)
        : request(app)
            .post(url)
            .send(body ?? {})
    ).set(auth);
    expect(res.status).toBe(expected);
    const validate = validatorOf(path, method, expected);
    if (!validate(res.body)) throw new Error(`${method.toUpperCase()} ${url}: ${ajv.errorsText(validate.errors)}`);
    return res.body as Record<string, unknown>;
  }

  test('every documented route answers with what its schema says', async () => {
    const patient = (await store.listResourceIds('clinic', 'Patient'))[0] as string;
    const anyRun = ((await check('get', '/api/runs', '/api/runs', 200)).runs as { id: string }[])[0]!.id;
    await check('get', '/api/health', '/api/health', 200);
    await check('get', '/api/ready', '/api/ready', 200);
    await check('get', '/api/sources', '/api/sources', 200);
    await check('get', '/api/runs/{id}', `/api/runs/${anyRun}`, 200);
    await check('get', '/api/patients/{id}/engagement', `/api/patients/${patient}/engagement`, 200);
    await check('get', '/api/patients/{id}/indicators', `/api/patients/${patient}/indicators`, 200);
    await check('get', '/api/patients/{id}/overview', `/api/patients/${patient}/overview`, 200);
    await check('post', '/api/patients/search', '/api/patients/search', 200, { identifier: 'nobody' });
    await check('get', '/api/programme', '/api/programme', 200);
    const day = TEST_ANCHOR.slice(0, 10);
    const withPeriod = await check('get', '/api/programme', `/api/programme?from=2020-01-01&to=${day}T23:59:59Z`, 200);
    expect((withPeriod.history as unknown[]).length).toBeGreaterThan(0);
    await check('get', '/api/access-log', '/api/access-log', 200);
    await check('get', '/api/safety/count', '/api/safety/count', 200);
    await check('get', '/api/safety', '/api/safety', 200);
    await check('get', '/api/safety/alerts', '/api/safety/alerts', 200);
    await check('get', '/api/worklist', '/api/worklist', 200);
    await check('get', '/api/patients', '/api/patients', 200);
    await check('post', '/api/worklist/search', '/api/worklist/search', 200, { search: 'nobody' });
    const letters = await check('get', '/api/dead-letters', '/api/dead-letters?includePayload=true', 200);
    const id = (letters.deadLetters as { id: number }[])[0]!.id;
    await check('post', '/api/dead-letters/{id}/dismiss', `/api/dead-letters/${id}/dismiss`, 200, { reason: 'test' });
    const report = await request(app).get(`/api/programme/report?format=json&to=${day}T23:59:59Z`).set(auth);
    const validate = validatorOf('/api/programme/report', 'get', 200);
    expect(report.type).toBe('application/json');
    if (!validate(JSON.parse(report.text))) throw new Error(JSON.stringify(validate.errors));
  });

  test('a held plan is listed with its source, approved and sent once; a second approval is a 409', async () => {
    const listed = (await check('get', '/api/sources', '/api/sources', 200)).sources as {
      id: string;
      approval: { reason: string; plan: { total: number } } | null;
    }[];
    const held = listed.find((s) => s.id === 'held');
    expect(held?.approval?.reason).toBe('first-run');
    // The plan names example patients: the listing that carried them is in the access log, patient by patient.
    const examples = new Set(
      (held?.approval as unknown as { plan: { byRule: { examples: string[] }[] } }).plan.byRule.flatMap(
        (r) => r.examples,
      ),
    );
    const logged = (await store.listAccess({ limit: 500 })).filter((a) => a.route === '/api/sources');
    expect(new Set(logged.map((a) => a.patientId))).toEqual(examples);
    expect(logged.every((a) => a.sourceId === 'held')).toBe(true);
    expect(listed.find((s) => s.id === 'clinic')?.approval).toBeNull();
    const approved = await check('post', '/api/sources/{id}/approve', '/api/sources/held/approve', 200);
    expect(approved).toMatchObject({ approved: true, approvedBy: expect.stringMatching(/^key:/) });
    expect((approved.plan as { total: number }).total).toBe(held?.approval?.plan.total);
    const after = (await check('get', '/api/sources', '/api/sources', 200)).sources as {
      id: string;
      approval: unknown;
    }[];
    expect(after.find((s) => s.id === 'held')?.approval).toBeNull();
    await check('post', '/api/sources/{id}/approve', '/api/sources/held/approve', 409);
    await check('post', '/api/sources/{id}/approve', '/api/sources/nowhere/approve', 404);
  });

  test('errors are OperationOutcomes as documented', async () => {
    await check('get', '/api/runs/{id}', '/api/runs/no-such-run', 404);
    await check('get', '/api/runs', '/api/runs?limit=0', 400);
    await check('post', '/api/dead-letters/{id}/retry', '/api/dead-letters/999999/retry', 404);
  });

  test('a sync started through the API answers 202 with its run, and the live run matches its schema', async () => {
    const started = await check('post', '/api/sources/{id}/sync', '/api/sources/clinic/sync', 202);
    await check('get', '/api/runs/{id}', `/api/runs/${String(started.runId)}`, 200);
  });
});
