/**
 * Programmes against the sandbox EMR: one enrols by a Group the sandbox serves (read each run) and runs
 * reminders and outreach; the other enrols patients who answered a PHQ-9 and runs every rule. Each
 * patient's Tasks and Observations are those of their programmes, owned as their programme says;
 * a patient in neither gets nothing; a second sync writes nothing.
 */
import os from 'node:os';
import type { Group, Observation, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import { REFERRAL_GROUP_ID } from '../../src/sandbox/seed';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const ANCHOR = new Date(TEST_ANCHOR);
const config: AppConfig = loadConfig({ env: {}, cwd: os.tmpdir() });
const CARE_TEAM = new Set(['appointment-reminder', 'outreach-no-shows', 'reminder-no-channel']);

let store: Store;
let emr: SandboxServer;
beforeAll(async () => {
  store = await memoryStore();
  emr = await seededSandbox({ patients: 36, seed: 26, fixtures: false });
});
afterAll(async () => {
  await emr.close();
  await store.close();
});

const ours = <T extends Task | Observation>(type: 'Task' | 'Observation'): T[] =>
  (emr.repo.all(type) as T[]).filter((r) =>
    r.identifier?.some((i) => i.system === DEFAULT_ACTION_SETTINGS.identifierSystem),
  );
const patientOf = (r: Task | Observation): string =>
  ((r as Task).for ?? (r as Observation).subject)?.reference?.replace('Patient/', '') ?? '';

test('each patient gets the writes of their programmes, and only those; a second sync writes nothing', async () => {
  const source = testSource({
    id: 'clinic',
    baseUrl: emr.baseUrl,
    programmes: [
      {
        id: 'diabetes',
        name: 'Diabetes',
        enrol: { group: REFERRAL_GROUP_ID },
        rules: ['appointment-reminder', 'reminder-no-channel', 'outreach-no-shows'],
        actions: { taskOwner: 'Organization/diabetes-team' },
      },
      {
        id: 'bh',
        name: 'Behavioural health',
        enrol: { questionnaire: { instruments: ['phq9'], withinDays: 365 } },
        actions: { taskOwner: 'Organization/bh-team' },
      },
    ],
  });
  const first = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
  expect(first.status).toBe('succeeded');
  expect(first.pull.find((t) => t.resourceType === 'Group')).toMatchObject({ status: 'ok', new: 1 });

  const group = emr.repo.peek('Group', REFERRAL_GROUP_ID) as Group;
  const diabetes = new Set((group.member ?? []).map((m) => m.entity.reference?.replace('Patient/', '')));
  const phq9 = new Set(
    (emr.repo.all('QuestionnaireResponse') as QuestionnaireResponse[])
      .filter(
        (r) =>
          r.status === 'completed' &&
          r.questionnaire?.startsWith('http://loinc.org/q/44249-1') &&
          Date.parse(r.authored ?? '') >= ANCHOR.getTime() - 365 * 86_400_000 &&
          Date.parse(r.authored ?? '') <= ANCHOR.getTime(),
      )
      .map((r) => r.subject?.reference?.replace('Patient/', '')),
  );
  const neither = emr.repo
    .all('Patient')
    .map((p) => p.id as string)
    .filter((id) => !diabetes.has(id) && !phq9.has(id));
  expect(diabetes.size).toBeGreaterThan(0);
  expect(phq9.size).toBeGreaterThan(0);
  expect(neither.length).toBeGreaterThan(0);
  expect(first.enrolment).toEqual({
    programmes: [
      { id: 'diabetes', name: 'Diabetes', patients: diabetes.size },
      { id: 'bh', name: 'Behavioural health', patients: phq9.size },
    ],
    inNone: neither.length,
  });

  const tasks = ours<Task>('Task');
  const observations = ours<Observation>('Observation');
  expect(tasks.length).toBeGreaterThan(0);
  for (const t of tasks) {
    const p = patientOf(t);
    const rule = t.code?.coding?.[0]?.code as string;
    if (!phq9.has(p)) {
      // Only the diabetes programme enrols them: its rules, its owner.
      expect(diabetes.has(p)).toBe(true);
      expect(CARE_TEAM.has(rule)).toBe(true);
      expect(t.owner?.reference).toBe('Organization/diabetes-team');
    } else if (!diabetes.has(p)) {
      expect(t.owner?.reference).toBe('Organization/bh-team');
    }
  }
  for (const o of observations) expect(phq9.has(patientOf(o))).toBe(true);
  for (const p of neither) expect([...tasks, ...observations].filter((r) => patientOf(r) === p)).toEqual([]);
  // Reminders are asked by both programmes for patients in both: each once.
  const reminderIds = tasks
    .filter((t) => t.code?.coding?.[0]?.code === 'appointment-reminder')
    .map((t) => t.identifier?.[0]?.value);
  expect(new Set(reminderIds).size).toBe(reminderIds.length);

  const second = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
  const wrote = Object.values(second.writes).reduce((n, w) => n + w.created + w.updated + w.cancelled + w.completed, 0);
  expect(wrote).toBe(0);
});

test('a Group named by a programme that cannot be read holds every patient back (nothing is closed for want of it)', async () => {
  const source = testSource({
    id: 'clinic-missing-group',
    baseUrl: emr.baseUrl,
    programmes: [{ id: 'ghost', name: 'Ghost', enrol: { group: 'no-such-group' } }],
  });
  const run = await syncSource(store, config, source, { asOf: ANCHOR });
  expect(run.pull.find((t) => t.resourceType === 'Group')).toMatchObject({ status: 'failed' });
  expect(run.pull.find((t) => t.resourceType === 'Group')?.notes.join(' ')).toContain(
    'could not read Group/no-such-group',
  );
  expect(run.heldBack.reasons.join(' ')).toContain(
    'a Group named by a programme could not be read, so enrolment is unknown',
  );
  expect(run.patients.recomputed).toBe(0);
  expect(run.status).toBe('partially-failed');
});
