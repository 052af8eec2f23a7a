/**
 * One positive PHQ-9 item 9, followed from the EMR to the people who must act (docs/indicators.md,
 * "Safety"): a patient without a flag answers item 9 "nearly every day" in a PHQ-9 stored in the
 * sandbox EMR; the next sync opens a stat safety Task in the EMR that cites that response, the
 * worklist's first section is that Task, the patient's page is flagged (the red banner's reasons),
 * the navigation's count grows by one, and the on-call webhook receives one alert naming the Task
 * and the patient's EMR id and nothing else about them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Express } from 'express';
import request from 'supertest';
import type { QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { createApiApp } from '../../src/api/app';
import { Metrics } from '../../src/api/metrics';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import { FREQUENCY_ANSWERS } from '../../src/sandbox/instruments';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { SyncRunner } from '../../src/sync/runner';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const KEY = 'safety-path-key-0123456789';
const ITEM_9 = '44260-8';
const AS_OF = new Date(TEST_ANCHOR);

let emr: SandboxServer;
let store: Store;
let receiver: http.Server;
const hooks: Record<string, unknown>[] = [];

beforeAll(async () => {
  emr = await seededSandbox({ patients: 30, seed: 40, fixtures: false });
  store = await memoryStore();
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      hooks.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
});
afterAll(async () => {
  await emr.close();
  await store.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

const safetyTasksOf = (patientId: string): Task[] =>
  (emr.repo.all('Task') as Task[]).filter(
    (t) => t.code?.coding?.[0]?.code === 'phq9-item9-safety' && t.for?.reference === `Patient/${patientId}`,
  );

test('a positive item 9 in the EMR reaches the stat Task, the worklist’s first section, the flagged page, the count and the on-call alert', async () => {
  const config: AppConfig = {
    ...loadConfig({ env: {}, cwd: os.tmpdir() }),
    safetyAlerts: {
      dashboardUrl: 'https://engage.example.org/',
      resendAfterMinutes: 60,
      webhook: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, secret: 's3cret' },
    },
  };
  const source = testSource({ id: 'clinic', baseUrl: emr.baseUrl, overlapSeconds: 0 });
  config.sources = [source];
  expect((await syncSource(store, config, source, { asOf: AS_OF, strict: true })).status).toBe('succeeded');
  const app: Express = createApiApp({
    store,
    config,
    runner: new SyncRunner(store, config, new Metrics(false).observe),
    metrics: new Metrics(false),
    apiKeys: [KEY],
  });
  const auth = { 'X-API-Key': KEY };
  const before = (await request(app).get('/api/safety/count').set(auth)).body.count as number;
  hooks.length = 0;

  // A patient with a PHQ-9 and no flag answers item 9 "nearly every day" today, in the EMR.
  const flagged = new Set((await store.safetyPatients('clinic')).map((p) => p.patientId));
  const responses = emr.repo.all('QuestionnaireResponse') as QuestionnaireResponse[];
  const phq9 = responses.find(
    (r) =>
      r.item?.some((i) => i.linkId === ITEM_9) &&
      !flagged.has((r.subject?.reference as string).replace('Patient/', '')),
  ) as QuestionnaireResponse;
  const patientId = (phq9.subject?.reference as string).replace('Patient/', '');
  expect(safetyTasksOf(patientId)).toEqual([]);
  const answered = await emr.repo.createResource<QuestionnaireResponse>({
    ...phq9,
    id: undefined,
    meta: undefined,
    identifier: undefined,
    authored: new Date(AS_OF.getTime() - 3_600_000).toISOString(),
    item: phq9.item?.map((i) => (i.linkId === ITEM_9 ? { ...i, answer: [{ valueCoding: FREQUENCY_ANSWERS[3] }] } : i)),
  });

  expect((await syncSource(store, config, source, { asOf: AS_OF, strict: true })).status).toBe('succeeded');

  // The EMR: one stat safety Task for the patient, citing the response.
  const [task] = safetyTasksOf(patientId);
  expect(safetyTasksOf(patientId)).toHaveLength(1);
  expect(task).toMatchObject({
    status: 'requested',
    priority: 'stat',
    reasonReference: { reference: `QuestionnaireResponse/${answered.id}` },
  });

  // The worklist: its first section is the safety flags, and this Task is in it.
  const list = await request(app).get('/api/worklist').set(auth).query({ pageSize: 500 });
  const first = list.body.rows[0];
  expect(first.kind).toBe('safety');
  const safetyRows = list.body.rows.filter((r: { kind: string }) => r.kind === 'safety');
  expect(list.body.rows.slice(0, safetyRows.length)).toEqual(safetyRows);
  expect(safetyRows.map((r: { taskId: string }) => r.taskId)).toContain(task?.id);

  // The patient's page is flagged with the reason (the dashboard draws the banner from it), the count grew by one.
  const page = await request(app).get(`/api/patients/${patientId}/overview`).set(auth).query({ source: 'clinic' });
  expect(page.body.safety.flagged).toBe(true);
  expect(page.body.safety.reasons.join(' ')).toMatch(/item 9/);
  expect((await request(app).get('/api/safety/count').set(auth)).body.count).toBe(before + 1);

  // The on-call alert: one, for this Task, with the patient's EMR id and nothing else about them.
  const alerts = hooks.filter((h) => h.task === `Task/${task?.id}`);
  expect(alerts).toHaveLength(1);
  expect(alerts[0]).toMatchObject({ event: 'safety-flag', patient: `Patient/${patientId}`, sourceId: 'clinic' });
  const text = JSON.stringify(hooks);
  const person = emr.repo.all('Patient').find((p) => p.id === patientId) as { name?: { family?: string }[] };
  expect(text).not.toContain(person.name?.[0]?.family as string);
}, 120_000);
