/**
 * Programmes against the sandbox EMR: one enrols by a Group the sandbox serves (read each run) and runs
 * reminders and outreach; the other enrols patients who answered a PHQ-9 and runs every rule. Each
 * patient's Tasks and Observations are those of their programmes, owned as their programme says;
 * a patient in neither gets nothing; a second sync writes nothing.
 */
import os from 'node:os';
import type { EpisodeOfCare, Group, Observation, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import { REFERRAL_GROUP_ID } from '../../src/sandbox/seed';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { loadProgrammeReport } from '../../src/sync/programme';
import { formatReport } from '../../src/indicators/programme-report-format';
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
      { id: 'diabetes', name: 'Diabetes', patients: diabetes.size, started: diabetes.size, ended: 0, deferredTasks: 0 },
      { id: 'bh', name: 'Behavioural health', patients: phq9.size, started: phq9.size, ended: 0, deferredTasks: 0 },
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

  // The referral list drops a diabetes-only patient with open Tasks, and one in both programmes: at the
  // next run (the same day) both leave the diabetes programme. The first one's open Tasks are cancelled
  // naming it; the other keeps the reminders behavioural health also asks for.
  const openOf = (p: string): Task[] =>
    ours<Task>('Task').filter((t) => patientOf(t) === p && t.status === 'requested');
  const only = [...diabetes].find((p) => !phq9.has(p) && openOf(p as string).length > 0) as string;
  const both = [...diabetes].find(
    (p) => phq9.has(p) && openOf(p as string).some((t) => CARE_TEAM.has(t.code?.coding?.[0]?.code as string)),
  ) as string;
  expect(only).toBeDefined();
  expect(both).toBeDefined();
  const bothOpen = openOf(both).map((t) => t.identifier?.[0]?.value);
  await emr.repo.updateResource({
    ...group,
    member: (group.member ?? []).filter(
      (m) => m.entity.reference !== `Patient/${only}` && m.entity.reference !== `Patient/${both}`,
    ),
  });
  const third = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
  expect(third.enrolment?.programmes[0]).toMatchObject({ id: 'diabetes', ended: 2, started: 0 });
  expect(openOf(only)).toEqual([]);
  const cancelled = ours<Task>('Task').filter((t) => patientOf(t) === only && t.status === 'cancelled');
  expect(cancelled.length).toBeGreaterThan(0);
  for (const t of cancelled) expect(t.statusReason?.text).toContain("no longer enrolled in the programme 'Diabetes'");
  const stillOpen = openOf(both).map((t) => t.identifier?.[0]?.value);
  const reminders = bothOpen.filter((id) => id?.includes('/appointment-reminder/'));
  expect(reminders.length).toBeGreaterThan(0);
  for (const id of reminders) expect(stillOpen).toContain(id);
  const spells = await store.patientEnrolments('clinic', only);
  expect(spells).toEqual([
    expect.objectContaining({
      programmeId: 'diabetes',
      startedAt: ANCHOR,
      endedAt: ANCHOR,
      endReason: 'no longer meets the enrolment criteria',
    }),
  ]);

  // The report: enrolment over all programmes and every figure per programme.
  const report = await loadProgrammeReport(
    store,
    { ...config, sources: [source] },
    {
      from: new Date(ANCHOR.getTime() - 30 * 86_400_000),
      to: new Date(ANCHOR.getTime() + 86_400_000),
      sourceId: 'clinic',
    },
  );
  const inAny = new Set([...diabetes, ...phq9].filter((p) => p !== only && (p !== both || phq9.has(p))));
  expect(report.enrolment?.value).toEqual({ enrolled: inAny.size, started: diabetes.size + phq9.size, ended: 2 });
  expect(report.programmes?.map((p) => [p.id, p.name, p.report.patients, p.report.enrolment.value])).toEqual([
    ['diabetes', 'Diabetes', diabetes.size, { enrolled: diabetes.size - 2, started: diabetes.size, ended: 0 + 2 }],
    ['bh', 'Behavioural health', phq9.size, { enrolled: phq9.size, started: phq9.size, ended: 0 }],
  ]);
  // A programme's care-team figures count its patients' Tasks only: nobody outside it has a reminder counted.
  const diabetesOwners = Object.keys(report.programmes?.[0]?.report.careTeam.value.openByOwner ?? {});
  expect(diabetesOwners.length).toBeGreaterThan(0);
  const md = formatReport(report, 'md', 'source clinic');
  expect(md).toContain('## Programme: Diabetes (clinic/diabetes)');
  expect(md).toContain(`| enrolment | disenrolments | 2 |`);
  const csv = formatReport(report, 'csv', 'source clinic');
  expect(csv).toContain('source clinic,clinic/bh,');
  expect(csv.split('\n')[0]).toMatch(/^source clinic,all,/);
  await emr.repo.updateResource(group);
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

test('a per-run cap on new Tasks holds the rest for the next runs (reported, planned again, none lost); safety Tasks never wait', async () => {
  const capped = await seededSandbox({ patients: 30, seed: 40, fixtures: false });
  const capStore = await memoryStore();
  try {
    const source = testSource({
      id: 'capped',
      baseUrl: capped.baseUrl,
      programmes: [{ id: 'all', name: 'All', enrol: { all: [] }, maxNewTasksPerRun: 10, phasedStart: { days: 0 } }],
    });
    const created = (run: Awaited<ReturnType<typeof syncSource>>): number => run.writes.Task?.created ?? 0;
    const first = await syncSource(capStore, config, source, { asOf: ANCHOR, strict: true });
    const deferred = first.enrolment?.programmes[0]?.deferredTasks ?? 0;
    expect(deferred).toBeGreaterThan(10);
    const safety = (): number =>
      (capped.repo.all('Task') as Task[]).filter((t) => t.code?.coding?.[0]?.code === 'phq9-item9-safety').length;
    expect(safety()).toBeGreaterThan(0);
    expect(created(first)).toBe(10 + safety());
    // The same day again: the held Tasks are planned anew, ten at a time, until none waits.
    let total = created(first);
    let runs = 1;
    for (let waiting = deferred; waiting > 0; runs++) {
      const next = await syncSource(capStore, config, source, { asOf: ANCHOR, strict: true });
      waiting = next.enrolment?.programmes[0]?.deferredTasks ?? 0;
      expect(created(next)).toBe(Math.min(10, deferred - (total - 10 - safety())));
      total += created(next);
      expect(runs).toBeLessThan(20);
    }
    expect(total).toBe(10 + safety() + deferred);
    const after = await syncSource(capStore, config, source, { asOf: ANCHOR, strict: true });
    expect(Object.values(after.writes).reduce((n, w) => n + w.created + w.updated, 0)).toBe(0);
  } finally {
    await capped.close();
    await capStore.close();
  }
});

test('with episodesOfCare, each enrolment is an EpisodeOfCare in the EMR: active while enrolled, finished when the patient leaves, written once', async () => {
  const emr2 = await seededSandbox({ patients: 18, seed: 41, fixtures: false });
  const store2 = await memoryStore();
  try {
    const source = testSource({
      id: 'episodes',
      baseUrl: emr2.baseUrl,
      episodesOfCare: true,
      timeZone: 'America/Chicago',
      programmes: [
        {
          id: 'diabetes',
          name: 'Diabetes',
          enrol: { group: REFERRAL_GROUP_ID },
          rules: ['appointment-reminder'],
          actions: { taskOwner: 'Organization/diabetes-team' },
        },
      ],
    });
    await syncSource(store2, config, source, { asOf: ANCHOR, strict: true });
    const group = emr2.repo.peek('Group', REFERRAL_GROUP_ID) as Group;
    const members = (group.member ?? []).map((m) => m.entity.reference?.replace('Patient/', '') as string);
    const episodes = (): EpisodeOfCare[] => emr2.repo.all('EpisodeOfCare') as EpisodeOfCare[];
    expect(
      episodes()
        .map((e) => e.patient.reference?.replace('Patient/', ''))
        .sort(),
    ).toEqual([...members].sort());
    const one = episodes().find((e) => e.patient.reference === `Patient/${members[0]}`) as EpisodeOfCare;
    expect(one).toMatchObject({
      status: 'active',
      type: [{ text: 'Diabetes', coding: [{ code: 'programme-enrolment' }] }],
      managingOrganization: { reference: 'Organization/diabetes-team' },
      period: { start: ANCHOR.toISOString() },
    });
    // The clinic's day names the spell: 1 June 00:00Z is still 31 May in Chicago.
    expect(one.identifier?.[0]?.value).toBe(`${members[0]}/programme-enrolment/diabetes/2026-05-31`);
    const again = await syncSource(store2, config, source, { asOf: ANCHOR, strict: true });
    expect(again.writes.EpisodeOfCare).toBeUndefined();

    const later = new Date(ANCHOR.getTime() + 86_400_000);
    await emr2.repo.updateResource({ ...group, member: (group.member ?? []).slice(1) });
    const left = await syncSource(store2, config, source, { asOf: later, strict: true });
    expect(left.writes.EpisodeOfCare).toMatchObject({ created: 0, updated: 1 });
    expect(episodes().find((e) => e.id === one.id)).toMatchObject({
      status: 'finished',
      period: { start: ANCHOR.toISOString(), end: later.toISOString() },
    });
    expect(episodes().filter((e) => e.status === 'active')).toHaveLength(members.length - 1);
  } finally {
    await emr2.close();
    await store2.close();
  }
});
