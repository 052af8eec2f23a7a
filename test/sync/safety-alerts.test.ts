/**
 * Safety alerts against real parts (docs/operations.md, "Safety alerts"): a local SMTP server
 * (smtp-server) and a webhook receiver started here. A sync that opens PHQ-9 item 9 safety Tasks in
 * the sandbox EMR posts exactly one webhook and sends exactly one email per Task, signed, with no
 * patient data beyond the EMR ids; nothing more at the next run; once more each when nobody
 * acknowledged them past resendAfterMinutes; never again once acknowledged. An SMTP server that
 * does not offer STARTTLS gets nothing (STARTTLS is required by default) and the failure is recorded.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Patient, Task } from '@medplum/fhirtypes';
import type { SafetyAlertSettings } from '../../src/config/alert-settings';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';
import { smtpCatcher, type SmtpCatcher } from '../helpers/smtp';

const ANCHOR = new Date(TEST_ANCHOR);
const MINUTE = 60_000;
const SECRET = 'webhook-secret-for-tests';

interface Hook {
  body: string;
  signature: string | undefined;
}

let emr: SandboxServer;
let smtp: SmtpCatcher;
let smtpPort: number;
let receiver: http.Server;
let hookUrl: string;
const hooks: Hook[] = [];
let mails: string[] = [];

beforeAll(async () => {
  emr = await seededSandbox({ patients: 30, seed: 40, fixtures: false });
  smtp = await smtpCatcher();
  smtpPort = smtp.port;
  mails = smtp.mails;
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      hooks.push({ body, signature: req.headers['x-fhir-engage-signature'] as string | undefined });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/safety`;
});
afterAll(async () => {
  await emr.close();
  await smtp.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

const settings = (over: Partial<SafetyAlertSettings> = {}): SafetyAlertSettings => ({
  dashboardUrl: 'https://engage.example.org/',
  resendAfterMinutes: 60,
  webhook: { url: hookUrl, secret: SECRET },
  email: {
    to: ['oncall@clinic.example'],
    from: 'fhir-engage@clinic.example',
    smtp: { host: '127.0.0.1', port: smtpPort, tls: 'off' },
  },
  ...over,
});

const safetyTasks = (): Task[] =>
  (emr.repo.all('Task') as Task[]).filter((t) => t.code?.coding?.[0]?.code === 'phq9-item9-safety');

test('one webhook and one email per safety Task at once, none at the next run, again once when unacknowledged, never after acknowledgement', async () => {
  const store: Store = await memoryStore();
  try {
    const config: AppConfig = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), safetyAlerts: settings() };
    const source = testSource({ id: 'clinic', baseUrl: emr.baseUrl });
    const first = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
    const tasks = safetyTasks();
    // The data must carry positive item 9 answers, or this test would check nothing.
    expect(tasks.length).toBeGreaterThan(0);
    expect(first.alerts).toEqual({ created: 2 * tasks.length, sent: 2 * tasks.length, failed: 0, resolved: 0 });
    expect(hooks).toHaveLength(tasks.length);
    expect(mails).toHaveLength(tasks.length);

    const bodies = hooks.map((h) => JSON.parse(h.body) as Record<string, unknown>);
    expect(new Set(bodies.map((b) => b.task))).toEqual(new Set(tasks.map((t) => `Task/${t.id}`)));
    for (const [i, h] of hooks.entries()) {
      expect(h.signature).toBe(`sha256=${createHmac('sha256', SECRET).update(h.body).digest('hex')}`);
      expect(Object.keys(bodies[i]!).sort()).toEqual(
        ['alertId', 'event', 'link', 'patient', 'send', 'sentAt', 'sourceId', 'task'].sort(),
      );
      expect(bodies[i]).toMatchObject({ event: 'safety-flag', link: 'https://engage.example.org/#/safety', send: 1 });
    }
    // No patient data beyond the EMR ids: no name, phone, MRN or birth date in any webhook or email.
    const patients = emr.repo.all('Patient') as Patient[];
    const phi = patients.flatMap((p) => [
      ...(p.name ?? []).flatMap((n) => [n.family, ...(n.given ?? [])]),
      ...(p.telecom ?? []).map((t) => t.value),
      ...(p.identifier ?? []).map((x) => x.value),
      p.birthDate,
    ]);
    const sent = [...hooks.map((h) => h.body), ...mails].join('\n');
    for (const word of phi.filter((w): w is string => typeof w === 'string' && w.length > 3))
      expect(sent).not.toContain(word);
    expect(mails[0]).toContain('Subject: fhir-engage safety flag: clinic');

    // The next run, half an hour later: nothing new to say.
    const again = await syncSource(store, config, source, { asOf: new Date(ANCHOR.getTime() + 30 * MINUTE) });
    expect(again.alerts).toMatchObject({ created: 0, sent: 0 });
    expect(hooks).toHaveLength(tasks.length);

    // One alert is acknowledged (both of its channels); past an hour, the others are sent once more.
    const [firstAlert] = await store.listAlerts({ sourceId: 'clinic', openOnly: true });
    expect(await store.acknowledgeAlert(firstAlert!.id, 'key 1', new Date())).toBe(2);
    const later = await syncSource(store, config, source, { asOf: new Date(ANCHOR.getTime() + 61 * MINUTE) });
    expect(later.alerts).toMatchObject({ created: 0, sent: 2 * (tasks.length - 1), failed: 0 });
    expect(hooks).toHaveLength(2 * tasks.length - 1);
    expect(JSON.parse(hooks[hooks.length - 1]!.body)).toMatchObject({ send: 2 });
    expect(mails.some((m) => m.includes('reminder 1: not acknowledged yet'))).toBe(true);
    expect(hooks.slice(tasks.length).map((h) => JSON.parse(h.body).task)).not.toContain(
      `Task/${firstAlert!.taskServerId}`,
    );
  } finally {
    await store.close();
  }
}, 60_000);

test('STARTTLS is required by default: a server without it gets nothing, the failure is recorded and retried later; the webhook still goes', async () => {
  const store: Store = await memoryStore();
  hooks.length = 0;
  mails.length = 0;
  try {
    const plain = settings();
    const strict: SafetyAlertSettings = {
      ...plain,
      email: { ...plain.email!, smtp: { host: '127.0.0.1', port: smtpPort } },
    };
    const config: AppConfig = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), safetyAlerts: strict };
    const source = testSource({ id: 'clinic-tls', baseUrl: emr.baseUrl });
    const run = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
    const n = safetyTasks().length;
    expect(run.alerts).toMatchObject({ sent: n, failed: n });
    expect(mails).toHaveLength(0);
    const failed = (await store.listAlerts({ sourceId: 'clinic-tls' })).filter((a) => a.channel === 'email');
    expect(failed.every((a) => a.state === 'pending' && /STARTTLS/i.test(a.lastError ?? ''))).toBe(true);
    expect(failed[0]!.nextAttemptAt.getTime()).toBe(ANCHOR.getTime() + MINUTE);
  } finally {
    await store.close();
  }
}, 60_000);
