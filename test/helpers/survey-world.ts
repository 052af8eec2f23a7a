/**
 * The survey page's world for tests (docs/surveys.md): the sandbox EMR with its SMS stand-in, a store,
 * fhir-engage's API listening (the page under /s) with a clock the test sets, a webhook receiver for
 * safety alerts, and planted patients with a mobile number, a visit ahead and no survey answered yet.
 */
import http from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Appointment, Patient } from '@medplum/fhirtypes';
import { createApiApp } from '../../src/api/app';
import { Metrics } from '../../src/api/metrics';
import { loadConfig } from '../../src/config/load';
import type { AppConfig, SourceConfig } from '../../src/config/types';
import { listen } from '../../src/listen';
import type { SandboxServer } from '../../src/sandbox/server';
import { sandboxSmsMessaging } from './messaging';
import type { Store } from '../../src/store/store';
import type { SurveySubmission } from '../../src/sync/survey-submission';
import { SyncRunner } from '../../src/sync/runner';
import { seededSandbox } from './sandbox';
import { testSource } from './source';
import { memoryStore } from './store';

export const SURVEY_KEY = { id: 'k1', secret: 'a-survey-link-secret-of-32-characters-or-more' };
export const SURVEY_API_KEY = 'k-0123456789abcdef';

export interface SurveyWorld {
  emr: SandboxServer;
  store: Store;
  config: AppConfig;
  source: SourceConfig;
  publicUrl: string;
  alerts: { at: number; body: string }[];
  submissions: SurveySubmission[];
  clock: { now: Date };
  close(): Promise<void>;
}

/** A patient with a mobile number (and a language), a visit ahead (so enrolled), and no answer yet. */
export async function plantSurveyPatient(
  emr: SandboxServer,
  p: { id: string; mobile: string; given: string; language?: string },
): Promise<void> {
  await emr.repo.createResource<Patient>({
    resourceType: 'Patient',
    id: p.id,
    name: [{ given: [p.given], family: 'Survey-Family-Name' }],
    birthDate: '1980-03-27',
    telecom: [{ system: 'phone', use: 'mobile', value: p.mobile, rank: 1 }],
    communication: [
      { language: { coding: [{ system: 'urn:ietf:bcp:47', code: p.language ?? 'en' }] }, preferred: true },
    ],
  });
  await emr.repo.createResource<Appointment>({
    resourceType: 'Appointment',
    id: `${p.id}-visit`,
    status: 'booked',
    start: '2026-06-20T15:00:00Z',
    end: '2026-06-20T15:30:00Z',
    participant: [{ actor: { reference: `Patient/${p.id}` }, status: 'accepted' }],
  } as Appointment);
}

export async function surveyWorld(start: Date, surveys: { confirmBirthDate?: boolean } = {}): Promise<SurveyWorld> {
  const emr = await seededSandbox({ patients: 6, seed: 41, fixtures: false }, { sms: { failureRate: 0, seed: 3 } });
  const store = await memoryStore();
  const alerts: SurveyWorld['alerts'] = [];
  const submissions: SurveySubmission[] = [];
  const clock = { now: start };
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      alerts.push({ at: Date.now(), body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  const source = testSource({
    id: 'clinic',
    baseUrl: emr.baseUrl,
    overlapSeconds: 0,
    timeZone: 'America/Chicago',
    delivery: 'direct',
    phasedStart: { days: 0 },
  });
  const config: AppConfig = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), sources: [source] };
  const runner = new SyncRunner(store, config, new Metrics(false).observe);
  const app = createApiApp({
    store,
    config,
    runner,
    metrics: new Metrics(false),
    apiKeys: [SURVEY_API_KEY],
    survey: { now: () => clock.now, onSubmission: (s) => submissions.push(s) },
  });
  const listening = await listen(app, 0, '127.0.0.1');
  const api: Server = listening.server;
  const publicUrl = `http://127.0.0.1:${listening.port}`;
  // loadConfig freezes its object: the test's own, with messaging, is a new one the app shares.
  Object.assign(config, {
    safetyAlerts: {
      resendAfterMinutes: 0,
      webhook: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/safety` },
    },
    messaging: {
      ...sandboxSmsMessaging(emr, publicUrl),
      surveys: { linkKeys: [SURVEY_KEY], confirmBirthDate: !!surveys.confirmBirthDate, requestsPerMinute: 1000 },
    },
  });
  return {
    emr,
    store,
    config,
    source,
    publicUrl,
    alerts,
    submissions,
    clock,
    close: async () => {
      await Promise.all(submissions.map((s) => s.followUp));
      await runner.stop();
      await new Promise<void>((resolve) => api.close(() => resolve()));
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      await emr.close();
      await store.close();
    },
  };
}

/** The survey link in a message's text. */
export const linkIn = (body: string): string => (/\/s\/([A-Za-z0-9_.-]+)/.exec(body) as RegExpExecArray)[1] as string;
