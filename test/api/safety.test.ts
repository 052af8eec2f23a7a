/**
 * Safety flags through the API (docs/indicators.md, "Safety"): the count for the navigation (no
 * patient data, no access-log row) and the list the care team works first — every patient with an
 * open safety Task or a flag in their indicators, and nobody else — with name, age and phone, each
 * read in the access log; the patient's page carries the flag.
 */
import os from 'node:os';
import type { Express } from 'express';
import request from 'supertest';
import type { Patient, Task } from '@medplum/fhirtypes';
import { createApiApp } from '../../src/api/app';
import { Metrics } from '../../src/api/metrics';
import { loadConfig } from '../../src/config/load';
import { DEFAULT_INDICATOR_SETTINGS } from '../../src/config/indicator-settings';
import { computeIndicators } from '../../src/indicators/compute';
import type { Store } from '../../src/store/store';
import { SyncRunner } from '../../src/sync/runner';
import { emptyModel, writtenTask } from '../helpers/model';
import { memoryStore } from '../helpers/store';

const KEY = 'test-key-safety-0123456789';
const auth = { 'X-API-Key': KEY };
const NOW = new Date('2026-06-01T12:00:00Z');
let store: Store;
let app: Express;
let runner: SyncRunner;

const patient = (id: string, given: string, family: string, birthDate: string, phone?: string): Patient => ({
  resourceType: 'Patient',
  id,
  name: [{ use: 'official', given: [given], family }],
  birthDate,
  ...(phone ? { telecom: [{ system: 'phone', use: 'mobile', value: phone }] } : {}),
});

beforeAll(async () => {
  store = await memoryStore();
  const config = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), sources: [] };
  await store.upsertResources(
    's',
    'r1',
    [
      patient('pa', 'Ana', 'Ruiz', '1980-06-15', '555-0100'),
      patient('pb', 'Ben', 'Okafor', '1961-01-02'),
      patient('pc', 'Cleo', 'Marsh', '1990-03-03'),
      patient('pd', 'Dev', 'Shah', '1975-09-09'),
    ].map((resource) => ({ resource, patientId: resource.id as string })),
  );
  const calm = computeIndicators(emptyModel(), NOW, DEFAULT_INDICATOR_SETTINGS);
  const flagged = {
    ...calm,
    patientId: 'pa',
    safety: { flagged: true, reasons: ['PHQ-9 item 9 (thoughts of self-harm) answered 2 on 2026-05-30'] },
  };
  await store.saveComputation('s', 'pa', emptyModel({ patientId: 'pa' }), flagged, NOW, 'r1');
  for (const id of ['pb', 'pc', 'pd'])
    await store.saveComputation('s', id, emptyModel({ patientId: id }), { ...calm, patientId: id }, NOW, 'r1');
  const safetyTask = (id: string, over: Parameters<typeof writtenTask>[2]) =>
    store.upsertWritten({ ...writtenTask(`${id}/phq9-item9-safety/r9`, 'phq9-item9-safety', over), patientId: id });
  await safetyTask('pb', {}); // open: Ben is flagged although his latest indicators are not
  await safetyTask('pc', { state: 'closed' });
  await safetyTask('pd', { status: 'completed' }); // a person completed it in the EMR
  runner = new SyncRunner(store, config, new Metrics(false).observe);
  app = createApiApp({ store, config, runner, metrics: new Metrics(false), apiKeys: [KEY] });
});
afterAll(async () => {
  await runner.stop();
  await store.close();
});

test('the count is the flagged patients only, with no patient data and no access-log row', async () => {
  const before = (await store.listAccess()).length;
  const res = await request(app).get('/api/safety/count').set(auth);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ count: 2 });
  expect((await store.listAccess()).length).toBe(before);
  expect((await request(app).get('/api/safety/count')).status).toBe(401);
});

test('the list: every flagged patient and nobody else, the open safety Task first, each read in the access log', async () => {
  const res = await request(app).get('/api/safety').set(auth);
  expect(res.status).toBe(200);
  expect(res.body.patients).toEqual([
    expect.objectContaining({
      patientId: 'pb',
      name: 'Ben Okafor',
      phone: null,
      openSafetyTasks: 1,
      reasons: ['1 open PHQ-9 item 9 safety Task(s) in the EMR'],
    }),
    expect.objectContaining({
      patientId: 'pa',
      name: 'Ana Ruiz',
      phone: '555-0100',
      openSafetyTasks: 0,
      since: null,
      reasons: ['PHQ-9 item 9 (thoughts of self-harm) answered 2 on 2026-05-30'],
    }),
  ]);
  const years = (birth: string): number => Math.floor((Date.now() - Date.parse(birth)) / (365.25 * 86_400_000));
  expect(res.body.patients[1].age).toBe(years('1980-06-15'));
  const logged = (await store.listAccess()).filter((a) => a.route === '/api/safety');
  expect(logged.map((a) => a.patientId).sort()).toEqual(['pa', 'pb']);
});

test("the patient's page carries the flag: an open safety Task flags a patient whose latest PHQ-9 no longer does", async () => {
  const ben = await request(app).get('/api/patients/pb/overview?source=s').set(auth);
  expect(ben.status).toBe(200);
  expect(ben.body.safety).toEqual({
    flagged: true,
    reasons: ['1 open PHQ-9 item 9 safety Task(s) in the EMR'],
    openSafetyTasks: 1,
  });
  expect(ben.body.patient).toEqual({
    name: 'Ben Okafor',
    age: Math.floor((Date.now() - Date.parse('1961-01-02')) / (365.25 * 86_400_000)),
    sex: null,
    phone: null,
    language: null,
    programmes: [],
  });
  const nobody = await request(app).get('/api/patients/no-such-id/overview').set(auth);
  expect(nobody.status).toBe(404);
  expect(JSON.stringify(nobody.body)).toContain('no such patient in any source');
  const cleo = await request(app).get('/api/patients/pc/overview?source=s').set(auth);
  expect(cleo.body.safety).toEqual({ flagged: false, reasons: [], openSafetyTasks: 0 });
});

test('alerts are listed (each read in the access log) and acknowledged once for every channel of the Task; a second acknowledgement is a 404', async () => {
  expect(await store.createAlertIntents('s', ['webhook', 'email'], NOW)).toBe(2);
  const listed = await request(app).get('/api/safety/alerts?open=true').set(auth);
  expect(listed.status).toBe(200);
  expect(
    listed.body.alerts.map((a: { patientId: string; channel: string }) => `${a.patientId}:${a.channel}`).sort(),
  ).toEqual(['pb:email', 'pb:webhook']);
  expect((await store.listAccess()).some((a) => a.route === '/api/safety/alerts' && a.patientId === 'pb')).toBe(true);
  const id = listed.body.alerts[0].id as number;
  const ack = await request(app).post(`/api/safety/alerts/${id}/acknowledge`).set(auth);
  expect(ack.status).toBe(200);
  expect(ack.body).toEqual({ acknowledged: 2 });
  expect((await request(app).get('/api/safety/alerts?open=true').set(auth)).body.alerts).toEqual([]);
  expect((await request(app).post(`/api/safety/alerts/${id}/acknowledge`).set(auth)).status).toBe(404);
  expect((await request(app).post('/api/safety/alerts/abc/acknowledge').set(auth)).status).toBe(400);
});

describe('worklist', () => {
  beforeAll(async () => {
    const open = (id: string, patientId: string, rule: string) =>
      store.upsertWritten({ ...writtenTask(id, rule), patientId, serverId: `t-${id.replace(/\//g, '-')}` });
    await open('pa/outreach-no-shows/2026-05-20', 'pa', 'outreach-no-shows');
    await open('pa/survey/phq9/2026-05-28', 'pa', 'survey-assignment');
    await open('pc/appointment-reminder/a1/1d', 'pc', 'appointment-reminder'); // for a messaging platform, not people
    await store.upsertWritten({
      ...writtenTask('pc/outreach-no-shows/2026-05-01', 'outreach-no-shows', { state: 'closed' }),
      patientId: 'pc',
    });
  });

  test('open Tasks a person acts on, safety first, with who to call and why; reminders and closed Tasks are not work', async () => {
    const res = await request(app).get('/api/worklist').set(auth);
    expect(res.status).toBe(200);
    expect(res.body.rows.map((r: { kind: string; patientId: string }) => `${r.kind}:${r.patientId}`)).toEqual([
      'safety:pb',
      'outreach:pa',
      'survey:pa',
    ]);
    expect(res.body.counts).toEqual({
      safety: 1,
      reply: 0,
      outreach: 1,
      'follow-up': 0,
      'overdue-activity': 0,
      survey: 1,
      'no-channel': 0,
    });
    expect(res.body.rows[2]).toMatchObject({
      name: 'Ana Ruiz',
      phone: '555-0100',
      why: 'PHQ9 survey open, not answered yet',
      due: '2026-06-04T00:00:00.000Z',
      owner: null,
    });
    const logged = (await store.listAccess()).filter((a) => a.route === '/api/worklist');
    expect(new Set(logged.map((a) => a.patientId))).toEqual(new Set(['pa', 'pb']));
  });

  test('filters, paging, and search by name, MRN or birth date in the body only; CSV of the page', async () => {
    const only = await request(app).get('/api/worklist?kind=outreach').set(auth);
    expect(only.body.rows.map((r: { kind: string }) => r.kind)).toEqual(['outreach']);
    expect(only.body.counts.safety).toBe(1);
    const paged = await request(app).get('/api/worklist?pageSize=2&page=2').set(auth);
    expect(paged.body).toMatchObject({ total: 3, page: 2, pageSize: 2 });
    expect(paged.body.rows).toHaveLength(1);
    const byName = await request(app).post('/api/worklist/search').set(auth).send({ search: 'okafor' });
    expect(byName.body.rows.map((r: { patientId: string }) => r.patientId)).toEqual(['pb']);
    const byBirth = await request(app).post('/api/worklist/search').set(auth).send({ search: '1980-06-15' });
    expect(byBirth.body.rows.map((r: { patientId: string }) => r.patientId)).toEqual(['pa', 'pa']);
    const inUrl = await request(app).get('/api/worklist?search=okafor').set(auth);
    expect(inUrl.status).toBe(400);
    expect(JSON.stringify(inUrl.body)).toContain('in the body');
    expect((await request(app).get('/api/worklist?kind=everything').set(auth)).status).toBe(400);
    const csv = await request(app).get('/api/worklist?format=csv').set(auth);
    expect(csv.type).toBe('text/csv');
    expect(csv.text.split('\n')[0]).toBe(
      'section,source,patient id,name,age,phone,why,since,due,owner,status,tier,programmes',
    );
    expect(csv.text.split('\n')[1]).toMatch(/^Safety flags,s,pb,Ben Okafor,/);
  });
});

test('the patient list: the least engaged first, by tier, paged, each row in the access log; a bad tier is 400', async () => {
  // Ana's two open Tasks (as the worklist's, written again: the same identifiers, nothing added).
  for (const [id, rule] of [
    ['pa/outreach-no-shows/2026-05-20', 'outreach-no-shows'],
    ['pa/survey/phq9/2026-05-28', 'survey-assignment'],
  ] as const)
    await store.upsertWritten({ ...writtenTask(id, rule), patientId: 'pa', serverId: `t-${id.replace(/\//g, '-')}` });
  const res = await request(app).get('/api/patients').set(auth);
  expect(res.status).toBe(200);
  expect(res.body.total).toBe(4);
  const ana = res.body.patients.find((p: { patientId: string }) => p.patientId === 'pa');
  expect(ana).toMatchObject({ name: 'Ana Ruiz', safety: true, openTasks: 2 });
  const ben = res.body.patients.find((p: { patientId: string }) => p.patientId === 'pb');
  expect(ben).toMatchObject({ openTasks: 1, safety: false });
  const tier = res.body.patients[0].tier as string;
  const byTier = await request(app).get(`/api/patients?tier=${tier}&limit=1&page=1`).set(auth);
  expect(byTier.body.patients).toHaveLength(1);
  expect(byTier.body.patients[0].tier).toBe(tier);
  expect((await request(app).get('/api/patients?tier=happy').set(auth)).status).toBe(400);
  const logged = (await store.listAccess()).filter((a) => a.route === '/api/patients');
  // Each listed patient (the refused request is logged too, with no patient).
  expect(new Set(logged.map((a) => a.patientId).filter(Boolean))).toEqual(new Set(['pa', 'pb', 'pc', 'pd']));
});

test('a safety Task a person took on stays on the Safety list until they end it in the EMR; waiting since it first reached the EMR', async () => {
  await store.upsertResources('s', 'r2', [{ resource: patient('pe', 'Eve', 'Lind', '1970-01-01'), patientId: 'pe' }]);
  const calm = computeIndicators(emptyModel(), NOW, DEFAULT_INDICATOR_SETTINGS);
  await store.saveComputation('s', 'pe', emptyModel({ patientId: 'pe' }), { ...calm, patientId: 'pe' }, NOW, 'r2');
  const identifierValue = 'pe/phq9-item9-safety/r9';
  await store.upsertWritten({
    ...writtenTask(identifierValue, 'phq9-item9-safety', { state: 'handled-by-person', status: 'in-progress' }),
    patientId: 'pe',
    serverId: 'T-pe',
  });
  const first = new Date('2026-05-20T08:00:00Z');
  await store.recordTaskEvents('s', [
    {
      identifierValue,
      taskId: 'T-pe',
      patientId: 'pe',
      status: 'requested',
      owner: null,
      focus: null,
      authoredOn: null,
      changedAt: first,
    },
  ]);
  const listed = async () =>
    (
      (await request(app).get('/api/safety').set(auth)).body.patients as { patientId: string; since: string | null }[]
    ).find((p) => p.patientId === 'pe');
  expect(await listed()).toMatchObject({ openSafetyTasks: 1, since: first.toISOString() });
  expect((await request(app).get('/api/patients/pe/overview?source=s').set(auth)).body.safety.flagged).toBe(true);
  // Read back from the EMR: the person completed it there.
  const task: Task = {
    resourceType: 'Task',
    id: 'T-pe',
    status: 'completed',
    intent: 'order',
    for: { reference: 'Patient/pe' },
    identifier: [{ system: 'x', value: identifierValue }],
  };
  await store.upsertResources('s', 'r3', [{ resource: task, patientId: 'pe' }]);
  expect(await listed()).toBeUndefined();
});
