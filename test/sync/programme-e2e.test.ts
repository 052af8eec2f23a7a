/**
 * The programme layer end to end: the sandbox clinic lives day by day, each
 * day synced; reminders and survey Tasks appear in the EMR, what people did
 * is read back, a second sync the same day writes nothing, and every
 * programme figure has data behind it.
 */
import os from 'node:os';
import type { Task } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import type { Store } from '../../src/store/store';
import { endOfDay, runClinicDays } from '../../src/sandbox/clinic';
import { loadProgrammeReport } from '../../src/sync/programme';
import { syncSource } from '../../src/sync/run';
import type { SandboxServer } from '../../src/sandbox/server';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const DAY_MS = 86_400_000;
const config: AppConfig = loadConfig({ env: {}, cwd: os.tmpdir() });
const ANCHOR = new Date(TEST_ANCHOR);
const DAYS = 16;
const own = (emr: SandboxServer, code: string): Task[] =>
  (emr.repo.all('Task') as Task[]).filter(
    (t) =>
      t.identifier?.some((i) => i.system === DEFAULT_ACTION_SETTINGS.identifierSystem) &&
      t.code?.coding?.[0]?.code === code,
  );

let store: Store;
let emr: SandboxServer;
beforeAll(async () => {
  store = await memoryStore();
  emr = await seededSandbox({ patients: 60, seed: 51 });
});
afterAll(async () => {
  await emr.close();
  await store.close();
});

test(`${DAYS} simulated clinic days: reminders, surveys and people's work flow through the EMR, and every programme figure has a denominator`, async () => {
  const source = testSource({ id: 'clinic', baseUrl: emr.baseUrl });
  const first = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
  expect(first.status).toBe('succeeded');
  expect(own(emr, 'appointment-reminder').length).toBeGreaterThan(0);
  expect(own(emr, 'survey-assignment').length).toBeGreaterThan(0);

  const lived = await runClinicDays({
    store,
    config,
    source,
    repo: emr.repo,
    after: new Date(ANCHOR.getTime() - DAY_MS),
    days: DAYS,
    seed: 7,
  });
  expect(lived.summaries.every((s) => s.status === 'succeeded')).toBe(true);
  expect(lived.days.reduce((n, d) => n + d.remindersSent, 0)).toBeGreaterThan(0);
  expect(lived.days.reduce((n, d) => n + d.surveysAnswered, 0)).toBeGreaterThan(0);

  // Answered surveys are completed by fhir-engage with the response linked; unanswered windows are cancelled.
  const surveys = [...own(emr, 'survey-assignment'), ...own(emr, 'post-visit-survey')];
  expect(
    surveys.some(
      (t) => t.status === 'completed' && t.output?.[0]?.valueReference?.reference?.startsWith('QuestionnaireResponse/'),
    ),
  ).toBe(true);
  expect(
    surveys.some(
      (t) => t.status === 'cancelled' && t.statusReason?.text === 'the window to answer closed without a response',
    ),
  ).toBe(true);
  expect(own(emr, 'post-visit-survey').length).toBeGreaterThan(0);

  // People's completions were read back.
  const events = await store.listTaskEvents('clinic');
  expect(
    events.some((e) => e.rule === 'outreach-no-shows' && e.status === 'completed') ||
      events.some((e) => e.status === 'in-progress'),
  ).toBe(true);

  // A second sync the same day writes nothing.
  const lastDay = new Date(ANCHOR.getTime() + (DAYS - 1) * DAY_MS);
  const again = await syncSource(store, config, source, { asOf: endOfDay(lastDay), strict: true });
  expect(again.planned).toBe(0);
  expect(Object.values(again.writes).every((w) => w.created + w.updated + w.cancelled + w.completed === 0)).toBe(true);

  const report = await loadProgrammeReport(store, config, {
    from: ANCHOR,
    to: new Date(ANCHOR.getTime() + DAYS * DAY_MS),
    sourceId: 'clinic',
  });
  const v = { ...report };
  expect(v.reminderEffect.value.withReminder.denominator).toBeGreaterThan(0);
  expect(v.reminderEffect.value.withoutReminder.denominator).toBeGreaterThan(0);
  expect(v.outreachOutcome.value.denominator).toBeGreaterThan(0);
  expect(Object.keys(v.careTeam.value.turnaroundDays).length).toBeGreaterThan(0);
  expect(v.careTeam.value.closedByPerson.denominator).toBeGreaterThan(0);
  expect(
    (v.tierMovement.value.improved ?? 0) + (v.tierMovement.value.worsened ?? 0) + (v.tierMovement.value.unchanged ?? 0),
  ).toBeGreaterThan(0);
  expect(v.clinicalOutcome.value.response.denominator).toBeGreaterThan(0);
  expect(v.surveyResponse.value.phq9?.denominator).toBeGreaterThan(0);
  expect(v.surveyResponse.value.satisfaction?.denominator).toBeGreaterThan(0);
  expect(v.satisfaction.value.responseRate.denominator).toBeGreaterThan(0);
  expect(v.satisfaction.value.nps).not.toBeNull();
  // The programme lives: patients arrived with a first visit booked and were enrolled as they came.
  const arrived = lived.days.reduce((n, d) => n + d.newPatients, 0);
  expect(arrived).toBeGreaterThan(0);
  const initial = first.enrolment?.programmes[0]?.patients ?? 0;
  expect(v.enrolment?.value.started).toBeGreaterThanOrEqual(initial + arrived);
  expect(v.programmes?.map((p) => p.id)).toEqual(['default']);
  const newcomer = emr.repo.all('Patient').find((p) => p.id?.startsWith('gen-pat-new-'));
  expect(await store.patientEnrolments('clinic', newcomer?.id as string)).toEqual([
    expect.objectContaining({ programmeId: 'default', endedAt: null }),
  ]);
  // History: one entry per synced day.
  expect((await store.listProgrammeHistory(ANCHOR, new Date(ANCHOR.getTime() + DAYS * DAY_MS), 'clinic')).length).toBe(
    DAYS,
  ); // one per day: the first sync and the first simulated day share a day
}, 180_000);
