/**
 * The care team's writes from the dashboard against the sandbox EMR over HTTP (docs/care-team.md):
 * a Task claimed, assigned and completed changes the EMR's Task (owner, status, outcome, note) once,
 * with a Provenance naming the key that acted; the next sync writes nothing; a Task that moved in the
 * EMR since it was seen is a conflict (nothing written, the current Task shown); a logged call is a
 * Communication; an EMR that does not answer leaves the write queued for the next run.
 */
import os from 'node:os';
import type { Express } from 'express';
import request from 'supertest';
import type { Communication, Provenance, Task } from '@medplum/fhirtypes';
import { createApiApp } from '../../src/api/app';
import { keyId } from '../../src/api/auth';
import { Metrics } from '../../src/api/metrics';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import { loadConfig } from '../../src/config/load';
import type { AppConfig, SourceConfig } from '../../src/config/types';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import type { SyncSummary } from '../../src/sync/events';
import { SyncRunner } from '../../src/sync/runner';
import { ACTOR_SYSTEM } from '../../src/writeback/provenance';
import { dispatchOutbox } from '../../src/writeback/dispatch';
import { createWriteClient, newTransportStats } from '../../src/fhir/source-client';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const KEY = 'test-key-care-team-0123456789';
const auth = { 'X-API-Key': KEY };
const SYSTEM = DEFAULT_ACTION_SETTINGS.identifierSystem;
const AS_OF = new Date(TEST_ANCHOR);

let emr: SandboxServer;
let store: Store;
let source: SourceConfig;
let config: AppConfig;
let app: Express;
let runner: SyncRunner;

const ourTasks = (): Task[] =>
  (emr.repo.all('Task') as Task[]).filter((t) => t.identifier?.some((i) => i.system === SYSTEM));
const emrTask = (id: string): Task => emr.repo.all('Task').find((t) => t.id === id) as Task;
const openTasks = (rule: string): Task[] =>
  ourTasks().filter((t) => t.code?.coding?.[0]?.code === rule && t.status === 'requested');
const writes = (s: SyncSummary): number =>
  Object.values(s.writes).reduce((n, w) => n + w.created + w.updated + w.cancelled + w.completed, 0);
const provenanceOf = (ref: string): Provenance[] =>
  (emr.repo.all('Provenance') as Provenance[]).filter((p) => p.target[0]?.reference === ref);
const act = (taskId: string, body: object) =>
  request(app).post(`/api/sources/ct/tasks/${taskId}/actions`).set(auth).send(body);

beforeAll(async () => {
  emr = await seededSandbox({ patients: 30, seed: 40, fixtures: false });
  store = await memoryStore();
  source = testSource({ id: 'ct', baseUrl: emr.baseUrl, overlapSeconds: 0 });
  config = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), sources: [source] };
  // The first run writes the Tasks, the second reads them back (as the care team's pages show them).
  expect((await syncSource(store, config, source, { asOf: AS_OF, strict: true })).status).toBe('succeeded');
  expect((await syncSource(store, config, source, { asOf: AS_OF, strict: true })).status).toBe('succeeded');
  runner = new SyncRunner(store, config, new Metrics(false).observe);
  app = createApiApp({ store, config, runner, metrics: new Metrics(false), apiKeys: [KEY] });
}, 120_000);
afterAll(async () => {
  await runner.stop();
  await emr.close();
  await store.close();
});

test('claim then complete: the EMR’s Task changes once per action, with a Provenance naming the key; the next sync writes nothing', async () => {
  const task = openTasks('outreach-no-shows')[0] ?? openTasks('phq9-follow-up')[0];
  expect(task?.id).toBeDefined();
  const id = task?.id as string;
  const who = `API key ${keyId(KEY)}`;

  const claimed = await act(id, { action: 'claim', requestId: 'claim-0000000001' });
  expect(claimed.status).toBe(200);
  expect(claimed.body).toMatchObject({ state: 'written', task: { status: 'accepted', owner: who } });
  expect(emrTask(id)).toMatchObject({ status: 'accepted', owner: { display: who } });

  // The same request again (a double click, a retried request) writes nothing more.
  const version = emrTask(id).meta?.versionId;
  const again = await act(id, { action: 'claim', requestId: 'claim-0000000001' });
  expect(again.body.writeId).toBe(claimed.body.writeId);
  expect(emrTask(id).meta?.versionId).toBe(version);

  const done = await act(id, {
    action: 'complete',
    outcome: 'reached by phone, visit rebooked',
    note: 'prefers mornings',
    requestId: 'complete-000000001',
  });
  expect(done.status).toBe(200);
  expect(emrTask(id)).toMatchObject({
    status: 'completed',
    owner: { display: who },
    businessStatus: { text: 'reached by phone, visit rebooked' },
    note: [expect.objectContaining({ text: 'prefers mornings', authorString: who })],
  });
  const provenance = provenanceOf(`Task/${id}`).filter((p) => p.agent.length === 2);
  expect(provenance).toHaveLength(2);
  expect(provenance[0]?.agent[0]?.who).toEqual({
    display: who,
    identifier: { system: ACTOR_SYSTEM.key, value: keyId(KEY) },
  });
  expect(provenance[0]?.agent[1]?.who?.display).toMatch(/^fhir-engage /);

  // The worklist no longer lists it; the patient's activity does.
  const list = await request(app).get('/api/worklist').set(auth).query({ pageSize: 500 });
  expect(list.body.rows.map((r: { taskId: string }) => r.taskId)).not.toContain(id);
  const patientId = (task?.for?.reference as string).replace('Patient/', '');
  const activity = await request(app).get(`/api/sources/ct/patients/${patientId}/care-team`).set(auth);
  expect(activity.body.activity.map((a: { kind: string }) => a.kind)).toEqual(['complete', 'claim']);

  const next = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
  expect(writes(next)).toBe(0);
  expect(emrTask(id).status).toBe('completed');
  expect(emrTask(id).owner?.display).toBe(who);
});

test('assign to a Practitioner found by name: the owner by reference and name, still requested; a run does not undo it', async () => {
  const task = openTasks('phq9-follow-up')[0] ?? openTasks('overdue-activity')[0];
  const id = task?.id as string;
  const found = await request(app).get('/api/sources/ct/practitioners').set(auth).query({ name: 'a' });
  expect(found.status).toBe(400);
  const practitioner = emr.repo.all('Practitioner')[0] as { id: string; name?: { family?: string }[] };
  const byName = await request(app)
    .get('/api/sources/ct/practitioners')
    .set(auth)
    .query({ name: practitioner.name?.[0]?.family });
  expect(byName.status).toBe(200);
  const pick = byName.body.practitioners.find(
    (p: { reference: string }) => p.reference === `Practitioner/${practitioner.id}`,
  );
  expect(pick?.display).toBeTruthy();
  const res = await act(id, { action: 'assign', assignee: pick });
  expect(res.status).toBe(200);
  expect(emrTask(id)).toMatchObject({ status: 'requested', owner: pick });
  expect(writes(await syncSource(store, config, source, { asOf: AS_OF, strict: true }))).toBe(0);
  expect(emrTask(id).owner).toEqual(pick);
  const list = await request(app).get('/api/worklist').set(auth).query({ pageSize: 500 });
  expect(list.body.rows.find((r: { taskId: string }) => r.taskId === id)?.owner).toBe(pick.display);
});

test('a Task that moved in the EMR since it was seen is a conflict: nothing written, the current Task shown', async () => {
  const task = openTasks('overdue-activity')[0] ?? openTasks('survey-assignment')[0];
  const id = task?.id as string;
  await emr.repo.updateResource({ ...emrTask(id), status: 'in-progress', owner: { display: 'Dr Someone Else' } });
  const version = emrTask(id).meta?.versionId;
  const res = await act(id, { action: 'claim', seen: { status: 'requested', owner: null } });
  expect(res.status).toBe(409);
  expect(res.body).toMatchObject({ state: 'conflict', task: { status: 'in-progress', owner: 'Dr Someone Else' } });
  expect(res.body.message).toMatch(/changed in the EMR since you saw it/);
  expect(emrTask(id).meta?.versionId).toBe(version);
  // Seen as it is now, the action goes through.
  const retry = await act(id, { action: 'note', note: 'left a voicemail', seen: res.body.task });
  expect(retry.status).toBe(200);
  expect(emrTask(id).note?.at(-1)?.text).toBe('left a voicemail');
});

test('what cannot be done is refused in words: no outcome, an ended Task, an unknown Task or source', async () => {
  const id = (openTasks('survey-assignment')[0] ?? openTasks('phq9-follow-up')[0])?.id as string;
  const noOutcome = await act(id, { action: 'complete' });
  expect(noOutcome.status).toBe(400);
  expect(JSON.stringify(noOutcome.body)).toContain('the outcome is required');
  expect((await act(id, { action: 'archive' })).status).toBe(400);
  expect((await act('no-such-task', { action: 'claim' })).status).toBe(404);
  expect(
    (await request(app).post(`/api/sources/nope/tasks/${id}/actions`).set(auth).send({ action: 'claim' })).status,
  ).toBe(404);
  expect((await request(app).post(`/api/sources/ct/tasks/${id}/actions`).send({ action: 'claim' })).status).toBe(401);
  const ended = (ourTasks().find((t) => t.status === 'completed') as Task).id as string;
  const late = await act(ended, { action: 'cancel', reason: 'duplicate' });
  expect(late.status).toBe(409);
  expect(JSON.stringify(late.body)).toContain('already ended');
});

test('a logged call is a Communication in the EMR (phone, about the Task, by the key), written once', async () => {
  const task = ourTasks().find((t) => t.status === 'requested') as Task;
  const patientId = (task.for?.reference as string).replace('Patient/', '');
  const body = { kind: 'call', text: 'Discussed the next visit', taskId: task.id, requestId: 'call-00000000001' };
  const res = await request(app).post(`/api/sources/ct/patients/${patientId}/contacts`).set(auth).send(body);
  expect(res.status).toBe(200);
  await request(app).post(`/api/sources/ct/patients/${patientId}/contacts`).set(auth).send(body);
  const calls = (emr.repo.all('Communication') as Communication[]).filter((c) =>
    c.identifier?.some((i) => i.system === SYSTEM),
  );
  expect(calls).toHaveLength(1);
  expect(calls[0]).toMatchObject({
    status: 'completed',
    subject: { reference: `Patient/${patientId}` },
    about: [{ reference: `Task/${task.id}` }],
    medium: [{ coding: [expect.objectContaining({ code: 'PHONE' })] }],
    payload: [{ contentString: 'Discussed the next visit' }],
    sender: { display: `API key ${keyId(KEY)}` },
  });
  expect(provenanceOf(`Communication/${calls[0]?.id}`)[0]?.agent[0]?.who?.identifier?.value).toBe(keyId(KEY));
  const empty = await request(app)
    .post(`/api/sources/ct/patients/${patientId}/contacts`)
    .set(auth)
    .send({ kind: 'note', text: ' ' });
  expect(empty.status).toBe(400);
});

test('an EMR that does not answer: the action is queued (202), and the next run writes it', async () => {
  const task = ourTasks().find((t) => t.status === 'requested') as Task;
  const id = task.id as string;
  emr.setQuirks({ errorRate: 1, errorStatuses: [503] });
  const res = await act(id, { action: 'start' });
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ state: 'queued' });
  expect(res.body.message).toMatch(/sent again at the next run/);
  expect(emrTask(id).status).toBe('requested');
  emr.setQuirks({});
  const next = await syncSource(store, config, source, { asOf: AS_OF, strict: true });
  expect(next.status).toBe('succeeded');
  expect(emrTask(id).status).toBe('in-progress');
  const later = await request(app).get(`/api/sources/ct/care-team/writes/${res.body.writeId}`).set(auth);
  expect(later.body).toMatchObject({ state: 'written', task: { status: 'in-progress' } });
});

test('a crash between the EMR’s answer and fhir-engage’s record: the retry finds its own change and writes nothing again', async () => {
  const task = ourTasks().find((t) => t.status === 'requested') as Task;
  const id = task.id as string;
  const payload = {
    op: 'task-action',
    identifierSystem: SYSTEM,
    identifier: task.identifier?.find((i) => i.system === SYSTEM)?.value as string,
    rule: 'test',
    patientId: (task.for?.reference as string).replace('Patient/', ''),
    resourceType: 'Task',
    serverId: id,
    action: 'claim',
    seen: { status: 'requested', owner: task.owner?.display ?? task.owner?.reference ?? null },
    change: { status: 'accepted', owner: { display: 'Nurse Crash' } },
    actor: { kind: 'key', id: 'key-crash', display: 'Nurse Crash' },
    at: AS_OF.toISOString(),
    entities: [`Task/${id}`],
  };
  const row = await store.enqueuePersonWrite('ct', {
    target: emr.baseUrl,
    dedupeKey: `${emr.baseUrl}|person|crash-test-01`,
    resourceType: 'Task',
    payload,
  });
  const client = createWriteClient(source, newTransportStats());
  const ctx = {
    store,
    client,
    sourceId: 'ct',
    runId: 'crash',
    workerId: 'w1',
    transactions: true,
    now: () => new Date(),
    onlyIds: [row.id],
  };
  await expect(
    dispatchOutbox({
      ...ctx,
      afterSend: () => {
        throw new Error('killed');
      },
    }),
  ).rejects.toThrow('killed');
  expect(emrTask(id)).toMatchObject({ status: 'accepted', owner: { display: 'Nurse Crash' } });
  const version = emrTask(id).meta?.versionId;
  const provenance = provenanceOf(`Task/${id}`).length;
  expect(await store.releaseOutboxClaims('ct')).toBe(1);
  const counts = await dispatchOutbox({ ...ctx, workerId: 'w2' });
  expect(counts.byType.Task).toEqual({ unchanged: 1 });
  expect(emrTask(id).meta?.versionId).toBe(version);
  expect(provenanceOf(`Task/${id}`)).toHaveLength(provenance);
});
