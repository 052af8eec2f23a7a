/** The HTTP API with supertest, over a store filled by a real sync of the sandbox EMR. */
import os from 'node:os';
import request from 'supertest';
import type { Express } from 'express';
import { createApiApp } from '../../src/api/app';
import { Metrics } from '../../src/api/metrics';
import { OPENAPI } from '../../src/api/openapi';
import { keyDigest, keyId } from '../../src/api/auth';
import { storedKeys } from '../../src/scheduler/serve';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { SyncRunner } from '../../src/sync/runner';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';
import { waitFor } from '../helpers/wait';

const KEY = 'test-key-0123456789';
let emr: SandboxServer;
let store: Store;
let app: Express;
let config: AppConfig;
let runner: SyncRunner;
let metrics: Metrics;

beforeAll(async () => {
  emr = await seededSandbox({ patients: 8, seed: 4, fixtures: false, invalidResources: 2 });
  store = await memoryStore();
  config = {
    ...loadConfig({ env: {}, cwd: os.tmpdir() }),
    sources: [
      testSource({
        id: 'clinic',
        baseUrl: emr.baseUrl,
        resourceTypes: ['Patient', 'Appointment', 'QuestionnaireResponse'],
      }),
    ],
  };
  metrics = new Metrics(false);
  metrics.recordRun(await syncSource(store, config, config.sources[0]!, { asOf: new Date(TEST_ANCHOR), strict: true }));
  runner = new SyncRunner(store, config, metrics.observe);
  app = createApiApp({ store, config, runner, metrics, apiKeys: [KEY] });
});
afterAll(async () => {
  await runner.stop();
  await emr.close();
  await store.close();
});

const auth = { 'X-API-Key': KEY };

describe('open routes', () => {
  test('health, ready and metrics need no key', async () => {
    expect((await request(app).get('/api/health')).body).toEqual({ status: 'ok' });
    expect((await request(app).get('/api/ready')).body).toEqual({ status: 'ready', store: 'pglite' });
    const m = await request(app).get('/api/metrics');
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/fhir_engage_runs_total\{source="clinic",status="partially-failed"\} 1/);
    expect(m.text).toMatch(/fhir_engage_resources_pulled_total\{source="clinic",type="Appointment"\} \d+/);
    expect(m.text).toMatch(/fhir_engage_dead_letters_total\{source="clinic"\} 2/);
    expect(m.text).toMatch(/fhir_engage_writes_total\{source="clinic",type="Observation",outcome="created"\} \d+/);
  });
});

describe('auth', () => {
  test.each([
    '/api/sources',
    '/api/runs',
    '/api/programme',
    '/api/dead-letters',
    '/api/patients/gen-pat-000001/engagement',
  ])('%s needs an API key', async (path) => {
    const none = await request(app).get(path);
    expect(none.status).toBe(401);
    expect(none.body.resourceType).toBe('OperationOutcome');
    expect(none.body.issue[0].details.text).toContain('an API key is required');
    const wrong = await request(app).get(path).set('X-API-Key', 'wrong');
    expect(wrong.status).toBe(401);
    // A key was sent: saying one is "required" would send the user looking for the wrong fault.
    expect(wrong.body.issue[0].details.text).toBe('the API key was not accepted (unknown, expired or revoked)');
    expect((await request(app).get(path).set('Authorization', `Bearer ${KEY}`)).status).not.toBe(401);
  });

  test('with no key configured, protected routes are disabled', async () => {
    const open = createApiApp({ store, config, runner, metrics, apiKeys: [] });
    const res = await request(open).get('/api/sources').set('X-API-Key', '');
    expect(res.status).toBe(401);
    expect(res.body.issue[0].details.text).toContain('no API key is configured');
  });
});

describe('routes', () => {
  test('a known path asked with a method it does not take is 405 with Allow; an unknown path is 404', async () => {
    const wrongMethod = await request(app).delete('/api/runs').set('X-API-Key', KEY);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('GET, HEAD');
    expect(wrongMethod.body.issue[0].details.text).toBe('method not allowed here; this path takes GET, HEAD');
    const withId = await request(app).get('/api/dead-letters/12/retry').set('X-API-Key', KEY);
    expect(withId.status).toBe(405);
    expect(withId.headers.allow).toBe('POST');
    expect((await request(app).get('/api/nowhere').set('X-API-Key', KEY)).status).toBe(404);
  });

  test('sources never show secrets', async () => {
    const res = await request(app).get('/api/sources').set(auth);
    expect(res.body.sources[0]).toMatchObject({
      id: 'clinic',
      authType: 'none',
      lastRun: { status: 'partially-failed' },
    });
  });

  test('trigger a sync: 202 with a run id, 409 while it runs, then the run is readable', async () => {
    const first = await request(app).post('/api/sources/clinic/sync').set(auth);
    expect(first.status).toBe(202);
    expect(first.headers.location).toBe(`/api/runs/${first.body.runId}`);
    const second = await request(app).post('/api/sources/clinic/sync').set(auth);
    expect(second.status).toBe(409);
    expect(second.body.issue[0].code).toBe('conflict');
    expect((await request(app).post('/api/sources/nope/sync').set(auth)).status).toBe(404);
    await waitFor('the triggered run to end', () => !runner.isRunning('clinic'), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const run = await request(app).get(`/api/runs/${first.body.runId}`).set(auth);
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ id: first.body.runId, sourceId: 'clinic' });
    expect(['succeeded', 'partially-failed']).toContain(run.body.status);
    const runs = await request(app).get('/api/runs?source=clinic&limit=5').set(auth);
    expect(runs.body.runs.length).toBeGreaterThanOrEqual(2);
  });

  test('a patient’s engagement, history and the programme view', async () => {
    const e = await request(app).get('/api/patients/gen-pat-000001/engagement').set(auth);
    expect(e.status).toBe(200);
    expect(e.body.results[0]).toMatchObject({
      sourceId: 'clinic',
      patientId: 'gen-pat-000001',
      tier: expect.any(String),
      why: expect.any(String),
    });
    const h = await request(app).get('/api/patients/gen-pat-000001/indicators?name=engagement.tier').set(auth);
    expect(h.body.history.length).toBeGreaterThanOrEqual(1);
    expect(h.body.history.every((x: { indicator: string }) => x.indicator === 'engagement.tier')).toBe(true);
    expect((await request(app).get('/api/patients/gen-pat-000001/indicators?from=yesterday').set(auth)).status).toBe(
      400,
    );
    const p = await request(app).get('/api/programme').set(auth);
    expect(p.body.patients).toBe(8);
    // With a period: every programme figure (as the report command), with its definition and counts, and the history in it.
    const period = await request(app).get('/api/programme?from=2026-05-01&to=2026-06-02&source=clinic').set(auth);
    expect(period.status).toBe(200);
    expect(period.body.report.period).toEqual({ from: '2026-05-01T00:00:00.000Z', to: '2026-06-02T00:00:00.000Z' });
    expect(period.body.report.reminderEffect).toMatchObject({
      definition: expect.stringContaining('Attendance'),
      value: { withReminder: { denominator: expect.any(Number) } },
    });
    expect(period.body.history).toEqual([expect.objectContaining({ sourceId: 'clinic', asOf: '2026-06-01' })]);
    expect((await request(app).get('/api/programme?from=2026-06-02&to=2026-05-01').set(auth)).status).toBe(400);
    expect((await request(app).get('/api/patients/nobody/engagement').set(auth)).status).toBe(404);
  });

  test('dead letters: listed without payload unless asked; a still-invalid one cannot be retried', async () => {
    const list = await request(app).get('/api/dead-letters?source=clinic').set(auth);
    expect(list.body.deadLetters).toHaveLength(2);
    expect(list.body.deadLetters[0].payload).toBeUndefined();
    const withPayload = await request(app).get('/api/dead-letters?source=clinic&includePayload=true').set(auth);
    expect(withPayload.body.deadLetters[0].payload.resourceType).toBe('Appointment');
    const retry = await request(app).post(`/api/dead-letters/${list.body.deadLetters[0].id}/retry`).set(auth);
    expect(retry.status).toBe(422);
    expect(retry.body.issue[0].expression[0]).toMatch(/^Appointment\./);
    expect((await request(app).post('/api/dead-letters/999999/retry').set(auth)).status).toBe(404);
  });

  test('errors carry no patient data and no stack traces', async () => {
    // A name is not a FHIR id: refused as such (400), without repeating it.
    const res = await request(app).get('/api/patients/Zelophehad%20Quillfeather/engagement').set(auth);
    expect(res.status).toBe(400);
    expect((await request(app).get('/api/patients/Zelophehad-Quillfeather/engagement').set(auth)).status).toBe(404);
    expect(JSON.stringify(res.body)).not.toContain('Zelophehad');
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/);
    const bad = await request(app)
      .post('/api/sources/clinic/sync')
      .set(auth)
      .set('content-type', 'application/json')
      .send('{"broken');
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].details.text).toBe('request body is not valid JSON');
    expect((await request(app).get('/api/nowhere').set(auth)).status).toBe(404);
  });
});

test('the OpenAPI document lists exactly the routes the app serves', async () => {
  const doc = (await request(app).get('/api/openapi.json')).body as typeof OPENAPI;
  const documented = Object.entries(doc.paths)
    .flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`))
    .sort();
  // Routes as express registered them, /:id written as {id}.
  const router = (
    app as unknown as {
      router: {
        stack: { name: string; handle: { stack?: { route?: { path: string; methods: Record<string, boolean> } }[] } }[];
      };
    }
  ).router;
  const served = router.stack
    .filter((l) => l.name === 'router')
    .flatMap((l) => l.handle.stack ?? [])
    .filter((l) => l.route)
    // Providers' callbacks and patients' unsubscribe links are served outside /api (docs/messaging.md).
    .filter((l) => !/^\/(hooks|unsubscribe)\//.test(l.route!.path))
    .flatMap((l) =>
      Object.keys(l.route!.methods).map((m) => `${m.toUpperCase()} /api${l.route!.path.replace(/:(\w+)/g, '{$1}')}`),
    )
    .sort();
  expect(served).toEqual(documented);
});

describe('dead-letter retry, stage by stage', () => {
  const auth = { 'x-api-key': KEY };
  const appointment = {
    resourceType: 'Appointment',
    id: 'retry-appt-1',
    status: 'booked',
    start: '2026-06-10T09:00:00Z',
    end: '2026-06-10T09:30:00Z',
    participant: [{ actor: { reference: 'Patient/gen-pat-000001' }, status: 'accepted' }],
  };
  async function letter(
    stage: 'validate' | 'map' | 'write' | 'actions' | 'pull',
    payload: unknown,
    resourceId?: string,
  ): Promise<number> {
    await store.addDeadLetters([
      {
        sourceId: 'clinic',
        runId: 'r-retry',
        stage,
        resourceType: 'Appointment',
        resourceId: resourceId ?? `${stage}-${Math.random()}`,
        payload,
        outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing' }] },
      },
    ]);
    const [latest] = await store.listDeadLetters({ sourceId: 'clinic', runId: 'r-retry', limit: 1 });
    return latest!.id;
  }

  test('validate: a resource that is valid now is stored with the patient the source mappings give it', async () => {
    const id = await letter('validate', { ...appointment, id: 'retry-valid-1' }, 'retry-valid-1');
    const res = await request(app).post(`/api/dead-letters/${id}/retry`).set(auth);
    expect(res.status).toBe(200);
    expect(res.body.retried).toBe(true);
    expect(await store.getResource('clinic', 'Appointment', 'retry-valid-1')).toMatchObject({
      patientId: 'gen-pat-000001',
    });
    expect((await store.listDeadLetters({ sourceId: 'clinic', runId: 'r-retry' })).some((d) => d.id === id)).toBe(
      false,
    );
  });

  test('map: a resource that maps now marks its patient for recomputation; one whose patient is unknown is refused with the reason', async () => {
    const id = await letter('map', { ...appointment, id: 'retry-map-1' }, 'retry-map-1');
    const res = await request(app).post(`/api/dead-letters/${id}/retry`).set(auth);
    expect(res.status).toBe(200);
    expect(await store.patientsToRecompute('clinic', new Date(TEST_ANCHOR))).toContain('gen-pat-000001');
    const ghost = await letter(
      'map',
      { ...appointment, id: 'retry-ghost', participant: [{ actor: { reference: 'Patient/nobody-here' } }] },
      'retry-ghost',
    );
    const refused = await request(app).post(`/api/dead-letters/${ghost}/retry`).set(auth);
    expect(refused.status).toBe(422);
    expect(refused.body.issue[0].details.text).toContain('still unknown');
  });

  test('write: the planned write is queued again in the outbox; actions and pull stages are refused with a reason', async () => {
    const before = (await store.outboxCounts('clinic')).pending ?? 0;
    const id = await letter('write', {
      op: 'upsert',
      identifier: 'p/retry-write/1',
      resourceType: 'Observation',
      identifierSystem: 'urn:x',
      resource: { resourceType: 'Observation' },
    });
    const res = await request(app).post(`/api/dead-letters/${id}/retry`).set(auth);
    expect(res.status).toBe(200);
    expect((await store.outboxCounts('clinic')).pending).toBe(before + 1);
    for (const stage of ['actions', 'pull'] as const) {
      const other = await request(app)
        .post(`/api/dead-letters/${await letter(stage, { resourceType: 'Observation' })}/retry`)
        .set(auth);
      expect(other.status).toBe(422);
      expect(other.body.issue[0].details.text.length).toBeGreaterThan(20);
    }
  });
});

describe('dashboard routes', () => {
  test('a patient is found by identifier sent in the body; the overview carries bands, trends and what was written, and is not cached', async () => {
    const patient = emr.repo.all('Patient')[0] as { id: string; identifier?: { system?: string; value?: string }[] };
    const ident = patient.identifier?.[0];
    expect(ident?.value).toBeDefined();
    const found = await request(app)
      .post('/api/patients/search')
      .set(auth)
      .send({ identifier: `${ident?.system}|${ident?.value}` });
    expect(found.body).toEqual({ matches: [{ sourceId: 'clinic', patientId: patient.id }] });
    expect(
      (await request(app).post('/api/patients/search').set(auth).send({ identifier: ident?.value })).body.matches,
    ).toHaveLength(1);
    const bad = await request(app).post('/api/patients/search').set(auth).send({ identifier: 42 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).not.toContain('42');
    const overview = await request(app).get(`/api/patients/${patient.id}/overview`).set(auth);
    expect(overview.status).toBe(200);
    expect(overview.headers['cache-control']).toBe('no-store');
    expect(overview.body.charts.phq9.bands.map((b: { band: string }) => b.band)).toEqual([
      'none-minimal',
      'mild',
      'moderate',
      'moderately-severe',
      'severe',
    ]);
    expect(overview.body.charts.phq9.bands.at(-1)).toMatchObject({ from: 20, to: 27 });
    expect(Array.isArray(overview.body.written)).toBe(true);
    // Only what the view shows: no names, no identifier values.
    expect(JSON.stringify(overview.body)).not.toContain(String(ident?.value));
    expect((await request(app).get('/api/patients/nobody/overview').set(auth)).status).toBe(404);
  });

  test('dead letters filter by type and stage; one is dismissed with a reason kept for audit, and only once', async () => {
    const all = (await request(app).get('/api/dead-letters?stage=validate&type=Appointment').set(auth)).body
      .deadLetters as { id: number; stage: string; resourceType: string }[];
    expect(all.length).toBe(2);
    expect(all.every((d) => d.stage === 'validate' && d.resourceType === 'Appointment')).toBe(true);
    expect(
      ((await request(app).get('/api/dead-letters?stage=map').set(auth)).body.deadLetters as { stage: string }[]).every(
        (d) => d.stage === 'map',
      ),
    ).toBe(true);
    const id = all[0]!.id;
    expect((await request(app).post(`/api/dead-letters/${id}/dismiss`).set(auth).send({})).status).toBe(400);
    const ok = await request(app)
      .post(`/api/dead-letters/${id}/dismiss`)
      .set(auth)
      .send({ reason: 'known vendor test record' });
    expect(ok.body).toEqual({ id, dismissed: true });
    expect(
      (await request(app).post(`/api/dead-letters/${id}/dismiss`).set(auth).send({ reason: 'again' })).status,
    ).toBe(404);
    const row = (
      await store.driver.query({
        text: 'SELECT dismissed_reason, dismissed_by, resolved_at FROM dead_letters WHERE id = $1',
        values: [id],
      })
    )[0]!;
    expect(row.dismissed_reason).toBe('known vendor test record');
    expect(row.dismissed_by).toMatch(/^key-[0-9a-f]{8}$/);
    expect(String(row.dismissed_by)).not.toContain(KEY);
    expect(row.resolved_at).not.toBeNull();
    expect((await request(app).get('/api/dead-letters?stage=validate').set(auth)).body.deadLetters).toHaveLength(1);
  });

  test('the programme report downloads as Markdown, CSV or JSON; a bad format is 400', async () => {
    const md = await request(app).get('/api/programme/report?format=md&from=2026-05-01&to=2026-06-01').set(auth);
    expect(md.status).toBe(200);
    expect(md.headers['content-disposition']).toBe('attachment; filename="programme-report-2026-05-01-2026-06-01.md"');
    expect(md.text).toContain('# Programme report');
    const csv = await request(app).get('/api/programme/report?format=csv&from=2026-05-01&to=2026-06-01').set(auth);
    expect(csv.text.split('\n')[0]).toMatch(
      /^all sources,all,2026-05-01,2026-06-01,enrolment,enrolled at the end of the period,/,
    );
    expect(csv.text).toMatch(/\nall sources,all,2026-05-01,2026-06-01,reminder effect,/);
    expect((await request(app).get('/api/programme/report?format=pdf').set(auth)).status).toBe(400);
  });

  test('the run history pages newest first and filters by status; a bad status or offset is 400', async () => {
    const all = (await request(app).get('/api/runs?limit=500').set(auth)).body.runs as { id: string; status: string }[];
    expect(all.length).toBeGreaterThan(1);
    const second = await request(app).get('/api/runs?limit=1&offset=1').set(auth);
    expect(second.body.runs.map((r: { id: string }) => r.id)).toEqual([all[1]!.id]);
    const status = all[0]!.status;
    const filtered = (await request(app).get(`/api/runs?status=${status}&limit=500`).set(auth)).body.runs as {
      status: string;
    }[];
    expect(filtered.length).toBe(all.filter((r) => r.status === status).length);
    expect(filtered.every((r) => r.status === status)).toBe(true);
    expect((await request(app).get('/api/runs?status=great').set(auth)).status).toBe(400);
    expect((await request(app).get('/api/runs?offset=-1').set(auth)).status).toBe(400);
  });

  test('a run reports its view and, while it runs in this process, its live progress', async () => {
    const { runId, done } = await runner.trigger('clinic');
    const live = await request(app).get(`/api/runs/${runId}`).set(auth);
    expect(live.body.progress).toMatchObject({ runId, sourceId: 'clinic' });
    await done;
    const finished = await request(app).get(`/api/runs/${runId}`).set(auth);
    expect(finished.body.view).toMatchObject({
      id: runId,
      status: expect.stringMatching(/succeeded|partially-failed/),
    });
    expect(finished.body.view.pull.map((t: { resourceType: string }) => t.resourceType)).toEqual(
      expect.arrayContaining(['Patient', 'Appointment']),
    );
    expect(finished.body.progress.stage).toBe('finished');
  });
});

describe('hardening', () => {
  test('API answers are never cached, sniffed or framed', async () => {
    const res = await request(app).get('/api/sources').set(auth);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
  });

  test('the key is checked before the body is read: a malformed or huge body without a key is 401', async () => {
    const noKey = await request(app)
      .post('/api/dead-letters/1/dismiss')
      .set('content-type', 'application/json')
      .send('{"reason": ');
    expect(noKey.status).toBe(401);
    const big = await request(app)
      .post('/api/patients/search')
      .set('content-type', 'application/json')
      .send(`{"identifier":"${'x'.repeat(5_000_000)}"}`);
    expect(big.status).toBe(401);
  });

  test('a 5 MB body is 413, malformed JSON and a bad gzip body are 400, all as OperationOutcomes naming no input', async () => {
    const big = await request(app)
      .post('/api/patients/search')
      .set(auth)
      .set('content-type', 'application/json')
      .send(`{"identifier":"${'x'.repeat(5_000_000)}"}`);
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'too-costly' }] });
    const malformed = await request(app)
      .post('/api/patients/search')
      .set(auth)
      .set('content-type', 'application/json')
      .send('{"identifier": "MRN-SECRET-1"');
    expect(malformed.status).toBe(400);
    expect(JSON.stringify(malformed.body)).not.toContain('MRN-SECRET-1');
    const gzip = await request(app)
      .post('/api/patients/search')
      .set(auth)
      .set('content-type', 'application/json')
      .set('content-encoding', 'gzip')
      .send('not gzip at all');
    expect(gzip.status).toBe(400);
    expect(gzip.body.resourceType).toBe('OperationOutcome');
  });

  test.each([
    ['%ff', 'bad percent-encoding'],
    ['%00', 'NUL'],
    ['..%2F..%2Fetc', 'a path'],
    ['%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'markup'],
    ['9'.repeat(80), 'too long'],
  ])('a malformed id (%s: %s) is 400, never 500, and is not echoed', async (id) => {
    for (const path of [`/api/patients/${id}/overview`, `/api/runs/${id}`, `/api/dead-letters/${id}/retry`]) {
      const res = path.endsWith('retry')
        ? await request(app).post(path).set(auth).send({})
        : await request(app).get(path).set(auth);
      expect(res.status).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(res.body)).not.toMatch(/script|etc|%00|\\u0000|9{20}/);
    }
  });

  test('a request body over 64 KB is refused with 413 (README), one under it is read', async () => {
    const padding = (bytes: number): string => JSON.stringify({ identifier: 'x', pad: 'p'.repeat(bytes) });
    const over = await request(app)
      .post('/api/patients/search')
      .set(auth)
      .set('content-type', 'application/json')
      .send(padding(65 * 1024));
    expect(over.status).toBe(413);
    expect(over.body.resourceType).toBe('OperationOutcome');
    const under = await request(app)
      .post('/api/patients/search')
      .set(auth)
      .set('content-type', 'application/json')
      .send(padding(60 * 1024));
    expect(under.status).toBe(200);
  });

  test('wrong keys are slowed down: after 30 a minute from one address, wrong keys get 429 with Retry-After; a valid key still succeeds after 1,000 wrong ones', async () => {
    const guarded = createApiApp({ store, config, runner, metrics, apiKeys: [KEY] });
    for (let i = 0; i < 30; i++)
      expect((await request(guarded).get('/api/sources').set('X-API-Key', `guess-${i}`)).status).toBe(401);
    const blocked = await request(guarded).get('/api/sources').set('X-API-Key', 'guess-30');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    for (let i = 31; i < 1000; i++) await request(guarded).get('/api/sources').set('X-API-Key', `guess-${i}`);
    expect((await request(guarded).get('/api/sources').set(auth)).status).toBe(200);
    expect((await request(guarded).get('/api/health')).status).toBe(200);
  });

  test('requests without a key (an image tag on any web page, a CORS preflight) count for nothing: the dashboard cannot be locked for everyone behind one proxy', async () => {
    const guarded = createApiApp({ store, config, runner, metrics, apiKeys: [KEY] });
    for (let i = 0; i < 100; i++) {
      const res =
        i % 2
          ? await request(guarded).get('/api/sources')
          : await request(guarded)
              .options('/api/sources')
              .set('Origin', 'https://evil.example')
              .set('Access-Control-Request-Method', 'GET');
      expect(res.status).toBe(401);
    }
    // A wrong key from the same address is still only the first failure (401, not 429).
    expect((await request(guarded).get('/api/sources').set('X-API-Key', 'wrong')).status).toBe(401);
  });

  test('X-Forwarded-For names the client only behind a trusted proxy: spoofed, it cannot spread failures over fresh addresses', async () => {
    const direct = createApiApp({ store, config, runner, metrics, apiKeys: [KEY] });
    for (let i = 0; i < 30; i++)
      await request(direct).get('/api/sources').set('X-API-Key', 'wrong').set('X-Forwarded-For', `203.0.113.${i}`);
    expect(
      (await request(direct).get('/api/sources').set('X-API-Key', 'wrong').set('X-Forwarded-For', '203.0.113.99'))
        .status,
    ).toBe(429);

    const proxied = createApiApp({
      store,
      config: { ...config, service: { ...config.service, trustedProxies: ['loopback'] } },
      runner,
      metrics,
      apiKeys: [KEY],
    });
    for (let i = 0; i < 30; i++)
      await request(proxied).get('/api/sources').set('X-API-Key', 'wrong').set('X-Forwarded-For', '203.0.113.7');
    expect(
      (await request(proxied).get('/api/sources').set('X-API-Key', 'wrong').set('X-Forwarded-For', '203.0.113.7'))
        .status,
    ).toBe(429);
    // Another user behind the same proxy is not affected.
    expect(
      (await request(proxied).get('/api/sources').set('X-API-Key', 'wrong').set('X-Forwarded-For', '203.0.113.8'))
        .status,
    ).toBe(401);
  });
});

describe('access log and keys', () => {
  test('reading a patient leaves exactly one access-log row naming the key id and the patient id, never a name or an identifier', async () => {
    const patient = emr.repo.all('Patient')[1] as {
      id: string;
      name?: { family?: string; given?: string[] }[];
      identifier?: { value?: string }[];
    };
    const before = await store.listAccess({ patientId: patient.id });
    expect((await request(app).get(`/api/patients/${patient.id}/overview`).set(auth)).status).toBe(200);
    const after = await store.listAccess({ patientId: patient.id });
    expect(after).toHaveLength(before.length + 1);
    const row = after[0]!;
    expect(row).toMatchObject({
      keyId: keyId(KEY),
      method: 'GET',
      route: '/api/patients/:id/overview',
      status: 200,
      patientId: patient.id,
    });
    const rows = JSON.stringify(await store.driver.query({ text: 'SELECT * FROM access_log', values: [] }));
    for (const n of patient.name ?? []) if (n.family) expect(rows).not.toContain(n.family);
    for (const i of patient.identifier ?? []) if (i.value) expect(rows).not.toContain(i.value);
    expect(rows).not.toContain(KEY);
    // Queryable through the API.
    const listed = await request(app).get(`/api/access-log?patient=${patient.id}`).set(auth);
    expect(listed.body.entries[0]).toMatchObject({ keyId: keyId(KEY), patientId: patient.id });
  });

  test('the access log fails closed: when its row cannot be stored, every route serving patient data answers 503 with none of it', async () => {
    const patient = emr.repo.all('Patient')[2] as { id: string; name?: { family?: string }[] };
    const failing = Object.create(store, {
      recordAccesses: { value: async () => Promise.reject(new Error('access_log is not writable')) },
      recordAccess: { value: async () => Promise.reject(new Error('access_log is not writable')) },
    }) as Store;
    const closed = createApiApp({ store: failing, config, runner, metrics, apiKeys: [KEY] });
    const requests = [
      request(closed).get(`/api/patients/${patient.id}/overview`).set(auth),
      request(closed).get(`/api/patients/${patient.id}/engagement`).set(auth),
      request(closed).get(`/api/patients/${patient.id}/indicators`).set(auth),
      request(closed).post('/api/patients/search').set(auth).send({ identifier: patient.id }),
      request(closed).get('/api/dead-letters?includePayload=true').set(auth),
    ];
    for (const res of await Promise.all(requests)) {
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({
        resourceType: 'OperationOutcome',
        issue: [{ code: 'transient', details: { text: expect.stringContaining('no patient data is returned') } }],
      });
      expect(Object.keys(res.body).sort()).toEqual(['issue', 'resourceType']);
      expect(JSON.stringify(res.body)).not.toContain(patient.id);
    }
  });

  test("reading dead letters with their payloads logs each payload's patient under the dead letter's own source, not the query's", async () => {
    const letters = (await request(app).get('/api/dead-letters?includePayload=true').set(auth)).body.deadLetters as {
      sourceId: string;
      payload: { participant?: { actor?: { reference?: string } }[] };
    }[];
    const named = letters
      .flatMap((d) => (d.payload.participant ?? []).map((p) => /Patient\/(.+)$/.exec(p.actor?.reference ?? '')?.[1]))
      .filter(Boolean) as string[];
    expect(named.length).toBeGreaterThan(0);
    for (const patientId of named) {
      const rows = await store.listAccess({ patientId });
      expect(rows[0]).toMatchObject({ route: '/api/dead-letters', sourceId: 'clinic', patientId, status: 200 });
    }
  });

  test('with no key configured, one is made once, stored hashed, shown once, and accepted', async () => {
    const keys = await memoryStore();
    try {
      const said: string[] = [];
      const first = await storedKeys(keys, (l) => said.push(l));
      const shown = /keep it: (\S+)$/.exec(said[0] ?? '')?.[1];
      expect(shown).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(first).toEqual([keyDigest(shown!)]);
      const again: string[] = [];
      expect(await storedKeys(keys, (l) => again.push(l))).toEqual(first);
      expect(again.join(' ')).not.toContain(shown!);
      const keyed = createApiApp({ store: keys, config, runner, metrics, apiKeys: [] });
      expect((await request(keyed).get('/api/sources').set('X-API-Key', shown!)).status).toBe(200);
      expect((await request(keyed).get('/api/sources').set('X-API-Key', 'other')).status).toBe(401);
      // The first-start key has every role: the docs say to replace it with named, scoped keys.
      expect((await request(keyed).get('/api/access-log').set('X-API-Key', shown!)).status).toBe(200);
    } finally {
      await keys.close();
    }
  });
});

test('monitoring: per-source gauges read from the store at each scrape, and the standard process metrics under their standard names', async () => {
  const m = new Metrics();
  m.watch(store);
  const text = await m.registry.metrics();
  expect(text).toMatch(/^fhir_engage_store_up 1$/m);
  expect(text).toMatch(/^fhir_engage_open_dead_letters\{source="clinic"\} \d+$/m);
  expect(text).toMatch(/^fhir_engage_outbox_depth\{source="clinic"\} \d+$/m);
  expect(text).toMatch(/^fhir_engage_last_success_timestamp_seconds\{source="clinic"\} \d+(\.\d+)?$/m);
  expect(text).toMatch(/^process_cpu_seconds_total /m);
  expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
  m.recordRun({
    ...(await syncSource(store, config, config.sources[0]!, { asOf: new Date(TEST_ANCHOR) })),
    requests: { requests: 1, retries: 0, errors: 0, tokenExpiresAt: Date.parse('2026-06-01T00:05:00Z') },
  });
  expect(await m.registry.metrics()).toMatch(
    /^fhir_engage_token_expiry_timestamp_seconds\{source="clinic"\} 1780272300$/m,
  );
  const open = Number(/^fhir_engage_open_dead_letters\{source="clinic"\} (\d+)$/m.exec(text)?.[1]);
  expect(open).toBe(await store.countDeadLetters({ sourceId: 'clinic' }));
});

test('a triggered run that fails before the store can record it (the store away as it starts) is shown as failed with its reason, not "no such run"', async () => {
  const own = new SyncRunner(store, config);
  const ownApp = createApiApp({ store, config, runner: own, metrics, apiKeys: [KEY] });
  const real = store.createRun.bind(store);
  store.createRun = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
  try {
    const { runId, done } = await own.trigger('clinic', { asOf: new Date(TEST_ANCHOR) });
    await done;
    const res = await request(ownApp).get(`/api/runs/${runId}`).set(auth);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: runId,
      sourceId: 'clinic',
      status: 'failed',
      recorded: false,
      error: { message: expect.stringMatching(/ECONNREFUSED/) },
    });
  } finally {
    store.createRun = real;
    await own.stop();
  }
});
