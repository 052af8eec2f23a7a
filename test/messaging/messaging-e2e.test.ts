/**
 * Messages to patients end to end (docs/messaging.md), against real parts: the sandbox EMR with its SMS
 * provider stand-in (Twilio's API, signed callbacks), a local SMTP server, fhir-engage's API listening
 * for the callbacks. A reminder goes at the right local time and not at night, by the patient's
 * preferred channel, with nothing about the visit's reason; the delivery callback completes the Task and
 * a Communication records the message in the EMR; a forged callback is refused and changes nothing; the
 * same sync again sends and writes nothing; STOP opts the number out and the next reminder goes by email
 * with a one-click unsubscribe header.
 */
import type { Server } from 'node:http';
import os from 'node:os';
import type { Express } from 'express';
import request from 'supertest';
import type { Appointment, Communication, Patient, Provenance, Task } from '@medplum/fhirtypes';
import { createApiApp } from '../../src/api/app';
import { Metrics } from '../../src/api/metrics';
import { loadConfig } from '../../src/config/load';
import type { AppConfig, SourceConfig } from '../../src/config/types';
import { listen } from '../../src/listen';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import type { SyncSummary } from '../../src/sync/events';
import { SyncRunner } from '../../src/sync/runner';
import { seededSandbox } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';
import { smtpCatcher, type SmtpCatcher } from '../helpers/smtp';
import { sandboxSmsMessaging } from '../helpers/messaging';

const ZONE = 'America/Chicago';
const MOBILE = '555-0190';
const E164 = '+15550190';
const EMAIL = 'pat.one@example.org';

let emr: SandboxServer;
let store: Store;
let smtp: SmtpCatcher;
let api: Server;
let runner: SyncRunner;
let app: Express;
const AUTH = { 'X-API-Key': 'k-0123456789abcdef' };
let publicUrl: string;
let config: AppConfig;
let source: SourceConfig;
let patientId: string;

const writes = (s: SyncSummary): number =>
  Object.values(s.writes).reduce((n, w) => n + w.created + w.updated + w.cancelled + w.completed, 0);
const sync = async (asOf: string): Promise<SyncSummary> => {
  const s = await syncSource(store, config, source, { asOf: new Date(asOf), strict: true });
  expect(s.error).toBeUndefined();
  return s;
};
const toPatient = () => emr.sms.messages.filter((m) => m.to === E164);
/** The planted visit's texts (the generated patient has visits of their own, reminded too). */
const aboutVisit1 = () => toPatient().filter((m) => m.body.includes('June 2, 2026 at 2:00'));

async function plantVisit(id: string, start: string): Promise<void> {
  await emr.repo.createResource<Appointment>({
    resourceType: 'Appointment',
    id,
    status: 'booked',
    start,
    end: new Date(Date.parse(start) + 30 * 60_000).toISOString(),
    // The reason for the visit names a diagnosis: none of it may reach a message.
    serviceType: [{ text: 'Opioid use disorder follow-up' }],
    participant: [{ actor: { reference: `Patient/${patientId}` }, status: 'accepted' }],
  } as Appointment);
}

beforeAll(async () => {
  emr = await seededSandbox({ patients: 12, seed: 40, fixtures: false }, { sms: { failureRate: 0, seed: 3 } });
  store = await memoryStore();
  smtp = await smtpCatcher();
  source = testSource({ id: 'clinic', baseUrl: emr.baseUrl, overlapSeconds: 0, timeZone: ZONE, delivery: 'direct' });
  config = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), sources: [source] };
  runner = new SyncRunner(store, config, new Metrics(false).observe);
  app = createApiApp({ store, config, runner, metrics: new Metrics(false), apiKeys: ['k-0123456789abcdef'] });
  const listening = await listen(app, 0, '127.0.0.1');
  api = listening.server;
  publicUrl = `http://127.0.0.1:${listening.port}`;
  // The config object is frozen by loadConfig: the test's own, with messaging, is a new one the app shares.
  Object.assign(config, {
    messaging: {
      ...sandboxSmsMessaging(emr, publicUrl),
      email: {
        from: 'reminders@riverside.example',
        smtp: { host: '127.0.0.1', port: smtp.port, tls: 'off' },
        messagesPerSecond: 100,
      },
    },
  });
  emr.sms.inboundUrl = `${publicUrl}/hooks/twilio/inbound`;
  const patient = emr.repo.all('Patient')[0] as Patient;
  patientId = patient.id as string;
  await emr.repo.updateResource<Patient>({
    ...patient,
    telecom: [
      { system: 'phone', use: 'mobile', value: MOBILE, rank: 1 },
      { system: 'email', value: EMAIL, rank: 2 },
    ],
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en' }] }, preferred: true }],
  });
  // Tomorrow 14:00 in Chicago: its 1-day reminder may go today between 09:00 and 19:00 Chicago time.
  await plantVisit('visit-1', '2026-06-02T19:00:00Z');
}, 120_000);

afterAll(async () => {
  await runner.stop();
  await new Promise<void>((resolve) => api.close(() => resolve()));
  await smtp.close();
  await emr.close();
  await store.close();
});

test('a reminder goes by SMS at 10:30 local, not at 03:00; delivered, it completes the Task and is a Communication in the EMR; nothing twice', async () => {
  await sync('2026-06-01T08:00:00Z'); // 03:00 in Chicago
  expect(toPatient()).toEqual([]);
  const reminder = (emr.repo.all('Task') as Task[]).find(
    (t) => t.focus?.reference === 'Appointment/visit-1' && t.description?.includes('1 day'),
  );
  expect(reminder?.status).toBe('requested');

  await sync('2026-06-01T15:30:00Z'); // 10:30 in Chicago
  expect(aboutVisit1()).toHaveLength(1);
  const sms = aboutVisit1()[0]!;
  expect(sms.body).toMatch(/^Riverside Clinic: reminder of your appointment on Tuesday, June 2, 2026 at 2:00\sPM\./);
  expect(sms.body).toContain('Reply STOP');
  expect(sms.body).not.toMatch(/opioid|disorder|follow-up/i);
  await emr.sms.settled();

  const applied = await sync('2026-06-01T15:35:00Z');
  expect(applied.messages).toMatchObject({ statuses: 2 });
  const task = emr.repo.all('Task').find((t) => t.id === reminder?.id) as Task;
  expect(task).toMatchObject({ status: 'completed', statusReason: { text: 'the reminder was delivered by SMS' } });
  const communications = (emr.repo.all('Communication') as Communication[]).filter(
    (c) => c.about?.[0]?.reference === 'Appointment/visit-1',
  );
  expect(communications).toHaveLength(1);
  expect(communications[0]).toMatchObject({
    status: 'completed',
    basedOn: [{ reference: `Task/${reminder?.id}` }],
    about: [{ reference: 'Appointment/visit-1' }],
    recipient: [{ reference: `Patient/${patientId}` }],
    medium: [{ coding: [expect.objectContaining({ code: 'SMSWRIT' })] }],
    payload: [{ contentString: sms.body }],
  });
  const provenance = (emr.repo.all('Provenance') as Provenance[]).filter(
    (p) => p.target[0]?.reference === `Communication/${communications[0]?.id}`,
  );
  expect(provenance).toHaveLength(1);

  const sentSoFar = toPatient().length;
  const again = await sync('2026-06-01T15:40:00Z');
  expect(writes(again)).toBe(0);
  expect(toPatient()).toHaveLength(sentSoFar);
});

test('a forged or unsigned callback is refused (403) and changes nothing', async () => {
  const sid = aboutVisit1()[0]!.sid;
  const form = new URLSearchParams({ MessageSid: sid, MessageStatus: 'undelivered', ErrorCode: '30003' }).toString();
  const post = (headers: Record<string, string>) =>
    fetch(`${publicUrl}/hooks/twilio/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: form,
    });
  expect((await post({})).status).toBe(403);
  expect((await post({ 'x-twilio-signature': 'bm90LWEtc2lnbmF0dXJl' })).status).toBe(403);
  await sync('2026-06-01T15:45:00Z');
  const message = (await store.messagesOfPatient('clinic', patientId)).find((m) => m.providerId === sid);
  expect(message?.state).toBe('delivered');
});

test('STOP opts the number out: the next reminder goes by email, with a one-click unsubscribe header', async () => {
  expect(await emr.sms.reply(E164, 'STOP')).toBe(200);
  const texted = toPatient().length;
  await sync('2026-06-01T16:00:00Z');
  await plantVisit('visit-2', '2026-06-03T19:00:00Z');
  await sync('2026-06-02T08:00:00Z');
  await sync('2026-06-02T15:30:00Z');
  expect(toPatient()).toHaveLength(texted);
  // Headers unfolded (a long header continues on the next line, RFC 5322).
  const mail = smtp.mails.map((m) => m.replace(/\r?\n[ \t]+/g, ' ')).find((m) => m.includes(`To: ${EMAIL}`));
  expect(mail).toBeDefined();
  expect(mail).toMatch(
    /List-Unsubscribe:\s+<http:\/\/127\.0\.0\.1:\d+\/unsubscribe\/email\.[0-9a-f]{64}\.[A-Za-z0-9_-]{32}>/,
  );
  expect(mail).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
  expect(mail).not.toMatch(/opioid|disorder/i);
  // The programme report: the delivery of the reminders fhir-engage sent, per channel.
  const report = await request(app)
    .get('/api/programme')
    .set(AUTH)
    .query({ source: 'clinic', from: '2026-05-25', to: '2026-06-03' });
  expect(report.status).toBe(200);
  expect(report.body.report.delivery.value.email).toMatchObject({ numerator: 1, denominator: 1 });
  expect(report.body.report.delivery.value.sms.numerator).toBeGreaterThanOrEqual(2);
  const page = await request(app).get(`/api/sources/clinic/patients/${patientId}/messages`).set(AUTH);
  expect(page.status).toBe(200);
  expect(page.body.optedOut).toEqual([{ channel: 'sms', since: expect.any(String) }]);
  const messages = await store.messagesOfPatient('clinic', patientId);
  expect(messages.map((m) => [m.channel, m.state])).toEqual(
    expect.arrayContaining([
      ['email', 'delivered'],
      ['sms', 'delivered'],
    ]),
  );
});

test('START opts back in, HELP is answered with the clinic’s phone, and a reply in words opens a Task for the care team with the reply as a Communication', async () => {
  expect(await emr.sms.reply(E164, 'start')).toBe(200);
  expect(await emr.sms.reply(E164, 'HELP')).toBe(200);
  expect(await emr.sms.reply(E164, 'Can I come at 3 instead?')).toBe(200);
  const before = toPatient().length;
  const s = await sync('2026-06-02T16:00:00Z');
  expect(s.messages).toMatchObject({ optIns: 1, help: 1, replies: 1 });
  const help = toPatient().slice(before);
  expect(help.map((m) => m.body)).toEqual([
    'Riverside Clinic: for help call 555-0100. Reply STOP to stop these messages.',
  ]);
  const reply = (emr.repo.all('Communication') as Communication[]).find(
    (c) => c.payload?.[0]?.contentString === 'Can I come at 3 instead?',
  );
  expect(reply).toMatchObject({ status: 'completed', sender: { reference: `Patient/${patientId}` } });
  const task = (emr.repo.all('Task') as Task[]).find(
    (t) => t.code?.coding?.[0]?.code === 'patient-reply' && t.for?.reference === `Patient/${patientId}`,
  );
  expect(task?.status).toBe('requested');
  const rows = await store.worklistTasks('clinic');
  expect(rows.some((r) => r.rule === 'patient-reply' && r.patientId === patientId)).toBe(true);
  // Applied once: the same events are not applied again, and the next run writes nothing more for them.
  await emr.sms.settled();
  const next = await sync('2026-06-02T16:05:00Z');
  expect(next.messages).toMatchObject({ optIns: 0, help: 0, replies: 0 });
  // The patient's page: every message with its state, the reply among them; no channel opted out any more.
  const page = await request(app).get(`/api/sources/clinic/patients/${patientId}/messages`).set(AUTH);
  expect(page.body.optedOut).toEqual([]);
  expect(
    page.body.messages.map((m: { direction: string; state: string; text: string }) => [m.direction, m.state]),
  ).toEqual(
    expect.arrayContaining([
      ['inbound', 'received'],
      ['outbound', 'delivered'],
    ]),
  );
  expect(page.body.messages.some((m: { text: string }) => m.text === 'Can I come at 3 instead?')).toBe(true);
  expect((await request(app).get(`/api/sources/clinic/patients/${patientId}/messages`)).status).toBe(401);
});

test('a text that cannot be delivered fails its Task with the reason in words, is recorded as not done, and the run succeeds', async () => {
  await plantVisit('visit-3', '2026-06-05T19:00:00Z');
  await sync('2026-06-04T08:00:00Z');
  emr.sms.failNext(1);
  await sync('2026-06-04T15:30:00Z');
  await emr.sms.settled();
  const applied = await sync('2026-06-04T15:35:00Z');
  expect(applied.status).toBe('succeeded');
  const task = (emr.repo.all('Task') as Task[]).find(
    (t) => t.focus?.reference === 'Appointment/visit-3' && t.description?.includes('1 day'),
  );
  expect(task).toMatchObject({
    status: 'failed',
    statusReason: { text: 'the reminder could not be delivered by SMS: the phone is unreachable or off' },
  });
  const record = (emr.repo.all('Communication') as Communication[]).find(
    (c) => c.about?.[0]?.reference === 'Appointment/visit-3',
  );
  expect(record).toMatchObject({ status: 'not-done', statusReason: { text: 'the phone is unreachable or off' } });
  expect(writes(await sync('2026-06-04T15:40:00Z'))).toBe(0);
});

test('a reminder the provider could not take is tried again, and never sent once its visit was cancelled meanwhile; a refused number fails for good', async () => {
  await plantVisit('visit-4', '2026-06-06T19:00:00Z');
  await sync('2026-06-05T08:00:00Z');
  const before = toPatient().length;
  // The provider is down for this run (every create answered 503).
  emr.sms.refuseNext(100, 503);
  await sync('2026-06-05T15:30:00Z');
  emr.sms.refuseNext(0, 503);
  const waiting = (await store.messagesOfPatient('clinic', patientId)).find((m) => m.about === 'Appointment/visit-4');
  expect(waiting).toMatchObject({
    state: 'intent',
    attempts: 1,
    reason: 'the SMS provider answered 503',
  });
  // The clinic cancels the visit before the next attempt.
  const visit = emr.repo.all('Appointment').find((a) => a.id === 'visit-4') as Appointment;
  await emr.repo.updateResource<Appointment>({ ...visit, status: 'cancelled' });
  const later = await sync('2026-06-05T15:45:00Z');
  expect(toPatient()).toHaveLength(before);
  const cancelled = (await store.messagesOfPatient('clinic', patientId)).find((m) => m.about === 'Appointment/visit-4');
  expect(cancelled).toMatchObject({ state: 'cancelled' });
  expect(cancelled?.reason).toMatch(/visit was cancelled|Task is no longer open/);
  expect(later.status).toBe('succeeded');

  await plantVisit('visit-5', '2026-06-07T19:00:00Z');
  await sync('2026-06-06T08:00:00Z');
  // The provider refuses the numbers of this run (Twilio's 21211).
  emr.sms.refuseNext(100, 400);
  const refused = await sync('2026-06-06T15:30:00Z');
  emr.sms.refuseNext(0, 400);
  expect(refused.messages?.failed).toBeGreaterThanOrEqual(1);
  const failed = (await store.messagesOfPatient('clinic', patientId)).find((m) => m.about === 'Appointment/visit-5');
  expect(failed).toMatchObject({ state: 'failed', reason: 'the SMS provider answered 400 (error 21211)' });
  await sync('2026-06-06T15:35:00Z');
  const task = (emr.repo.all('Task') as Task[]).find(
    (t) => t.focus?.reference === 'Appointment/visit-5' && t.description?.includes('1 day'),
  );
  expect(task).toMatchObject({ status: 'failed' });
  expect(task?.statusReason?.text).toContain('error 21211');
  expect(toPatient()).toHaveLength(before);
});

test('a reminder Task the EMR returns with a window that is not a date-time is no window: the run goes on', async () => {
  await plantVisit('visit-6', '2026-06-08T19:00:00Z');
  await sync('2026-06-07T08:00:00Z');
  const task = (emr.repo.all('Task') as Task[]).find(
    (t) => t.focus?.reference === 'Appointment/visit-6' && t.description?.includes('1 day'),
  ) as Task;
  await emr.repo.updateResource<Task>({ ...task, restriction: { period: { start: 'soon', end: 'later' } } } as Task);
  const s = await sync('2026-06-07T15:30:00Z');
  expect(s.status).toBe('succeeded');
  expect((await store.messagesOfPatient('clinic', patientId)).some((m) => m.about === 'Appointment/visit-6')).toBe(
    false,
  );
});
