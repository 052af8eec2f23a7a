/**
 * The dashboard in a real browser: Debian's Chromium driven by
 * playwright-core, against the API over a store filled by a real sync of the
 * sandbox EMR. Screenshots go to test-artifacts/dashboard/. Chromium missing
 * is a failure that says how to install it, never a silent skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { axeViolations, launchChromium } from '../helpers/browser';
import type { Appointment, Task } from '@medplum/fhirtypes';
import { createApiApp } from '../../src/api/app';
import { DASHBOARD_DIR } from '../../src/api/dashboard';
import { listen } from '../../src/listen';
import { Metrics } from '../../src/api/metrics';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { SyncRunner } from '../../src/sync/runner';
import { ROOT } from '../helpers/cli';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const KEY = 'dashboard-test-key-4242';
const SHOTS = path.join(ROOT, 'test-artifacts', 'dashboard');
const PATIENT = 'gen-pat-000003';

let emr: SandboxServer;
let store: Store;
let runner: SyncRunner;
let server: Server;
let base: string;
let browser: Browser;
let retryable: number;
let config: AppConfig;

beforeAll(async () => {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build-web.js'), '--if-stale'], { stdio: 'inherit' });
  mkdirSync(SHOTS, { recursive: true });
  emr = await seededSandbox({ patients: 30, seed: 12, fixtures: false, invalidResources: 2 });
  store = await memoryStore();
  config = {
    ...loadConfig({ env: {}, cwd: os.tmpdir() }),
    sources: [testSource({ id: 'sandbox', name: 'Sandbox EMR', baseUrl: emr.baseUrl })],
  };
  const metrics = new Metrics(false);
  await syncSource(store, config, config.sources[0]!, { asOf: new Date(TEST_ANCHOR) });
  // A dead letter whose cause has since been fixed (a rule relaxed, say): its retry succeeds.
  const fixed: Appointment = {
    resourceType: 'Appointment',
    id: 'fixed-appt-1',
    status: 'booked',
    start: '2026-06-10T09:00:00Z',
    end: '2026-06-10T09:30:00Z',
    participant: [{ actor: { reference: `Patient/${PATIENT}` }, status: 'accepted' }],
  };
  await store.addDeadLetters([
    {
      sourceId: 'sandbox',
      runId: null,
      stage: 'validate',
      resourceType: 'Appointment',
      resourceId: fixed.id,
      payload: fixed,
      outcome: {
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            code: 'value',
            expression: ['Appointment.serviceType'],
            details: { text: 'is required by a local rule since removed' },
          },
        ],
      },
    },
  ]);
  retryable = (
    await store.listDeadLetters({ sourceId: 'sandbox', resourceType: 'Appointment', stage: 'validate' })
  ).find((d) => d.resourceId === 'fixed-appt-1')!.id;
  runner = new SyncRunner(store, config, metrics.observe);
  const app = createApiApp({ store, config, runner, metrics, apiKeys: [KEY] });
  const listening = await listen(app, 0, '127.0.0.1');
  server = listening.server;
  base = `http://127.0.0.1:${listening.port}/`;
  browser = await launchChromium();
}, 700_000);

afterAll(async () => {
  await browser?.close();
  await runner?.stop();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await emr?.close();
  await store?.close();
});

/** Every cell of the locator names `text` (waits for the page to settle on it). */
async function expect_all(cells: ReturnType<Page['locator']>, text: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const all = await cells.allTextContents();
    if (all.length > 0 && all.every((c) => c.includes(text))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not every row names ${text}: ${(await cells.allTextContents()).join(', ')}`);
}

async function newPage(): Promise<{ page: Page; urls: string[]; apiBodies: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const urls: string[] = [];
  const apiBodies: string[] = [];
  page.on('framenavigated', (f) => urls.push(f.url()));
  page.on('request', (r) => urls.push(r.url()));
  page.on('response', async (r) => {
    if (r.url().includes('/api/')) apiBodies.push(await r.text().catch(() => ''));
  });
  return { page, urls, apiBodies };
}

async function login(page: Page, key: string, accepted = true): Promise<void> {
  await page.goto(base);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Log in' }).click();
  // Logged in once a page other than the login shows: a page opened before that would find the login page.
  if (accepted) await page.waitForFunction("!document.title.startsWith('Log in')");
}

test('the dashboard is built and served with a CSP, and only the dashboard: nothing loads from elsewhere', async () => {
  expect(existsSync(path.join(DASHBOARD_DIR, 'index.html'))).toBe(true);
  const res = await fetch(base);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  const { page, urls } = await newPage();
  await page.goto(base);
  await page.getByLabel('API key').waitFor();
  expect(urls.filter((u) => !u.startsWith(base) && !u.startsWith('data:'))).toEqual([]);
  await page.context().close();
});

test('a wrong key shows the login page again and no API data is ever rendered', async () => {
  const { page } = await newPage();
  await login(page, 'not-the-key', false);
  // The answer comes after the key is tried against the API: wait for it rather than read at once.
  await page.getByTestId('login-error').filter({ hasText: 'not accepted' }).waitFor();
  expect(await page.getByRole('heading', { name: 'Sources and runs' }).count()).toBe(0);
  expect(await page.locator('#nav').isHidden()).toBe(true);
  // A stale key in session storage: the first API call is refused and the login page comes back.
  await page.evaluate("sessionStorage.setItem('fhir-engage.apiKey', 'stale')");
  await page.goto(`${base}#/programme`);
  await page.getByText('Your key was refused').waitFor();
  expect(await page.getByTestId('nps').count()).toBe(0);
  await page.screenshot({ path: path.join(SHOTS, 'login-refused.png') });
  await page.context().close();
});

test('log in, see the last run, trigger a sync and watch it finish; open the run', async () => {
  const { page } = await newPage();
  await login(page, KEY);
  await page.getByRole('heading', { name: 'Sources and runs' }).waitFor();
  expect(await page.getByTestId('last-status-sandbox').textContent()).toBe('partially-failed');
  await page.screenshot({ path: path.join(SHOTS, 'sources.png'), fullPage: true });
  page.once('dialog', (d) => void d.accept());
  await page.getByTestId('sync-sandbox').click();
  await page
    .getByTestId('progress-sandbox')
    .filter({ hasText: /finished: (succeeded|partially-failed)/ })
    .waitFor({ timeout: 60_000 });
  await page.getByRole('heading', { name: 'Sources and runs' }).waitFor();
  const runs = await store.listRuns({ sourceId: 'sandbox', limit: 5 });
  expect(runs).toHaveLength(2);
  await page.getByRole('link', { name: 'details' }).click();
  await page.getByRole('heading', { name: 'Run' }).waitFor();
  await page.getByText('Errors of this run').waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'run.png'), fullPage: true });
  await page.context().close();
}, 90_000);

test('safety first: the badge counts the flagged patients, the Safety page lists them, and opening one shows the red banner above everything', async () => {
  const flagged = await store.safetyPatients('sandbox');
  // The sandbox data must carry safety flags, or this test would check nothing.
  expect(flagged.length).toBeGreaterThan(0);
  const { page, urls } = await newPage();
  await login(page, KEY);
  const badge = page.locator('#safety-count');
  await badge.waitFor();
  expect(await badge.textContent()).toBe(String(flagged.length));
  await page.getByRole('link', { name: /^Safety/ }).click();
  await page.getByTestId('safety-list').waitFor();
  const rows = page.getByTestId('safety-list').locator('tbody tr');
  expect(await rows.count()).toBe(flagged.length);
  await page.screenshot({ path: path.join(SHOTS, 'safety.png'), fullPage: true });
  const named = (await rows.first().locator('td').first().textContent()) ?? '';
  await rows
    .first()
    .getByRole('button', { name: /^Open / })
    .click();
  const banner = page.getByTestId('safety-banner');
  await banner.waitFor();
  expect(await banner.textContent()).toMatch(/^Safety flag: .*(item 9|severe)/);
  // Who to call: the header names the patient (not only the EMR id) with age, phone, language and programmes.
  expect(await page.getByTestId('patient-name').textContent()).toContain(named);
  expect(await page.getByTestId('patient-header').textContent()).toMatch(
    /^\d+ years · (female|male) · (phone \S+|no phone on file) · /,
  );
  // The banner comes before the patient's heading and tier.
  const top = async (testId: string): Promise<number> => (await page.getByTestId(testId).boundingBox())?.y ?? -1;
  expect(await top('safety-banner')).toBeGreaterThanOrEqual(0);
  expect(await top('safety-banner')).toBeLessThan(await top('tier'));
  expect(urls.some((u) => u.includes(flagged[0]!.patientId) && !u.includes('/api/'))).toBe(false);
  await page.screenshot({ path: path.join(SHOTS, 'safety-patient.png'), fullPage: true });
  await page.context().close();
});

test('the worklist: its first section lists every patient with an open safety Task and nothing else; a search by name stays out of the address bar', async () => {
  const open = await store.worklistTasks('sandbox');
  const safetyPatients = new Set(open.filter((t) => t.rule === 'phq9-item9-safety').map((t) => t.patientId));
  expect(safetyPatients.size).toBeGreaterThan(0);
  const { page, urls } = await newPage();
  await login(page, KEY);
  await page.getByRole('link', { name: 'Worklist', exact: true }).click();
  const first = page.locator('table').first();
  await first.waitFor();
  expect(await first.getAttribute('data-testid')).toBe('worklist-safety');
  expect(await first.locator('caption').textContent()).toBe('Safety flags');
  expect(await first.locator('tbody tr').count()).toBe(open.filter((t) => t.rule === 'phq9-item9-safety').length);
  await page.screenshot({ path: path.join(SHOTS, 'worklist.png'), fullPage: true });
  // Search by a name on the list: the rows narrow to that patient; the name is never in a URL.
  const name = (await first.locator('tbody tr td').first().textContent()) ?? '';
  const family = name.split(' ').pop() as string;
  await page.getByLabel('Name, MRN or birth date').fill(family);
  await page.getByRole('button', { name: 'Search' }).click();
  const cells = page.locator('tbody tr td:first-child');
  await page
    .getByTestId('worklist-counts')
    .getByText(/^Safety flags \(\d+\)$/)
    .waitFor();
  await expect_all(cells, family);
  expect(urls.some((u) => u.toLowerCase().includes(family.toLowerCase()))).toBe(false);
  await page.context().close();
});

test('a Task worked from the dashboard: claimed, then completed, changes the EMR’s Task once; the next sync writes nothing; a logged call is a Communication', async () => {
  // Earlier tests ran syncs "now": this test's runs are all as of one instant, so that a run after the
  // actions has nothing of its own to change.
  const asOf = new Date();
  await syncSource(store, config, config.sources[0]!, { asOf });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true });
  const page = await context.newPage();
  await login(page, KEY);
  await page.getByRole('link', { name: 'Worklist', exact: true }).click();
  const section = page.locator('table[data-testid^="worklist-"]:not([data-testid="worklist-safety"])').first();
  await section.waitFor();
  const work = section
    .locator('tbody tr')
    .first()
    .getByRole('button', { name: /^Work on it: / });
  const taskId = ((await work.getAttribute('data-testid')) as string).replace(/^work-/, '');
  const emrTask = (): Task => emr.repo.all('Task').find((t) => t.id === taskId) as Task;
  expect(emrTask().status).toBe('requested');

  await work.click();
  const dialog = page.getByTestId('task-action-dialog');
  await dialog.waitFor();
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, 'task-dialog.png') });
  await dialog.getByLabel('What to do').selectOption('claim');
  await dialog.getByRole('button', { name: 'Save to the EMR' }).click();
  await page.locator('#flash').filter({ hasText: 'The claim: written to the EMR' }).waitFor();
  expect(emrTask()).toMatchObject({ status: 'accepted', owner: { display: expect.stringMatching(/^API key key-/) } });

  // The row now shows its owner; completing needs an outcome.
  const again = page.getByTestId(`work-${taskId}`);
  await again.click();
  await dialog.getByLabel('What to do').selectOption('complete');
  await dialog.getByLabel('Outcome (required)').fill('Reached by phone; next visit booked');
  await dialog.getByRole('button', { name: 'Save to the EMR' }).click();
  await page.locator('#flash').filter({ hasText: 'The complete: written to the EMR' }).waitFor();
  expect(emrTask()).toMatchObject({
    status: 'completed',
    businessStatus: { text: 'Reached by phone; next visit booked' },
  });
  expect(await page.getByTestId(`work-${taskId}`).count()).toBe(0);

  const version = emrTask().meta?.versionId;
  const next = await syncSource(store, config, config.sources[0]!, { asOf });
  const written = Object.values(next.writes).reduce((n, w) => n + w.created + w.updated + w.cancelled + w.completed, 0);
  expect(written).toBe(0);
  expect(emrTask().meta?.versionId).toBe(version);

  // The patient's page: the completed Task, a call logged as a Communication, the care team's activity.
  const patientId = (emrTask().for?.reference as string).replace('Patient/', '');
  await page.goto(`${base}#/patient`);
  await page.getByLabel('Patient id').fill(patientId);
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  const form = page.getByTestId('contact-form');
  await form.waitFor();
  await form.getByLabel('Log').selectOption('call');
  await form.getByLabel('What was said or done').fill('Confirmed the new appointment time');
  await form.getByRole('button', { name: 'Save to the EMR' }).click();
  await page.locator('#flash').filter({ hasText: 'The call: written to the EMR' }).waitFor();
  const calls = emr.repo
    .all('Communication')
    .filter((c) => (c as { subject?: { reference?: string } }).subject?.reference === `Patient/${patientId}`);
  expect(calls).toHaveLength(1);
  expect(calls[0]).toMatchObject({ payload: [{ contentString: 'Confirmed the new appointment time' }] });
  const activity = page.getByTestId('care-team-activity').locator('tbody tr td:nth-child(3)');
  expect(await activity.allTextContents()).toEqual(['call', 'complete', 'claim']);
  expect(await page.getByTestId('patient-tasks').textContent()).toContain('Reached by phone; next visit booked');
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, 'patient-care.png'), fullPage: true });
  await context.close();
}, 90_000);

test('the run history lists every run newest first, filters by status and opens a run', async () => {
  const runs = await store.listRuns({ limit: 500 });
  const { page } = await newPage();
  await login(page, KEY);
  await page.getByRole('link', { name: 'Runs', exact: true }).click();
  await page.getByTestId('runs').waitFor();
  expect(await page.getByTestId('runs').locator('tbody tr').count()).toBe(Math.min(25, runs.length));
  const status = runs[0]!.status;
  await page.locator('#runs-status').selectOption(status);
  await page.waitForTimeout(300);
  const shown = await page.getByTestId('runs').locator('tbody tr td:nth-child(3)').allTextContents();
  expect(shown.length).toBe(Math.min(25, runs.filter((r) => r.status === status).length));
  expect(shown.every((s) => s === status)).toBe(true);
  await page.screenshot({ path: path.join(SHOTS, 'runs.png'), fullPage: true });
  await page
    .getByRole('link', { name: /^Details of the run/ })
    .first()
    .click();
  await page.getByRole('heading', { name: 'Run' }).waitFor();
  await page.context().close();
});

test('the programme view shows the tier chart and the NPS, with definitions on hover', async () => {
  const { page } = await newPage();
  await login(page, KEY);
  await page.getByRole('link', { name: 'Programme' }).click();
  await page.getByTestId('tier-chart').waitFor();
  // The period opens on the 30 days up to the latest run's as-of day (the end exclusive), not on today.
  const [latest] = await store.listRuns({ limit: 1 });
  const day = (d: Date): string => d.toISOString().slice(0, 10);
  const end = new Date(
    Date.UTC(latest!.asOf.getUTCFullYear(), latest!.asOf.getUTCMonth(), latest!.asOf.getUTCDate() + 1),
  );
  expect(await page.locator('#p-to').inputValue()).toBe(day(end));
  expect(await page.locator('#p-from').inputValue()).toBe(day(new Date(end.getTime() - 30 * 86_400_000)));
  expect(await page.getByTestId('tier-chart').boundingBox()).toMatchObject({ width: expect.any(Number) });
  expect(await page.getByTestId('nps').textContent()).toMatch(/^NPS (-?\d+|n\/a)$/);
  expect(await page.getByText('Reminder effect', { exact: true }).getAttribute('title')).toMatch(/\S{10,}/);
  // From the tier chart to the list of that tier's patients.
  const atRisk = page.getByTestId('tier-lists').getByRole('button', { name: /^at-risk \(\d+\)$/ });
  const count = Number(/\((\d+)\)/.exec((await atRisk.textContent()) ?? '')?.[1]);
  // Each programme with its enrolment: the sandbox's default programme, its patients enrolled.
  const programmes = page.getByTestId('programmes');
  expect(await programmes.locator('tbody tr').count()).toBe(1);
  const cells = await programmes.locator('tbody tr td').allTextContents();
  expect(cells[0]).toBe('Engaged patients (default) (sandbox)');
  expect(Number(cells[2])).toBeGreaterThan(0);
  await page.screenshot({ path: path.join(SHOTS, 'programme.png'), fullPage: true });
  await atRisk.click();
  await page.getByTestId('patient-list').waitFor();
  const tiers = await page.getByTestId('patient-list').locator('tbody tr td:nth-child(3)').allTextContents();
  expect(tiers.length).toBe(Math.min(50, count));
  expect(tiers.every((t) => t === 'at-risk')).toBe(true);
  await page.context().close();
});

test('a patient opened by id shows the PHQ-9 chart; the id never reaches the address bar or history', async () => {
  const { page, urls } = await newPage();
  await login(page, KEY);
  await page.getByRole('link', { name: 'Patient', exact: true }).click();
  await page.getByLabel('Patient id').fill(PATIENT);
  await page.getByRole('button', { name: 'Open' }).click();
  await page.getByTestId('phq9-chart').waitFor();
  expect(await page.getByTestId('tier').textContent()).toMatch(/^(engaged|at-risk|disengaged|unknown)$/);
  await page.screenshot({ path: path.join(SHOTS, 'patient.png'), fullPage: true });
  expect(page.url()).toBe(`${base}#/patient`);
  // Page navigations never carry it (API calls do, in the path of a fetch, which is not browser history).
  expect(urls.filter((u) => !u.includes('/api/')).some((u) => u.includes(PATIENT))).toBe(false);
  await page.context().close();
});

test('dead letters: filter by stage, retry one after the fix', async () => {
  const { page } = await newPage();
  await login(page, KEY);
  await page.getByRole('link', { name: 'Dead letters' }).click();
  await page.getByTestId('dead-letters').waitFor();
  await page.getByLabel('Stage').selectOption('validate');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByTestId(`retry-${retryable}`).click();
  await page
    .getByTestId(`result-${retryable}`)
    .filter({ hasText: 'retried: the resource is valid now and stored' })
    .waitFor();
  expect(await store.getResource('sandbox', 'Appointment', 'fixed-appt-1')).toBeDefined();
  await page.screenshot({ path: path.join(SHOTS, 'dead-letters.png'), fullPage: true });
  // After a retry the list is shown again: the resolved letter leaves it, and the count with it.
  await page.getByTestId(`retry-${retryable}`).waitFor({ state: 'detached' });
  // Dismissing asks why in a dialog (a reason is required), then the list and its count are shown again.
  const caption = page.getByTestId('dead-letters').locator('caption');
  await caption.filter({ hasText: /^Open dead letters \(\d+\)$/ }).waitFor();
  const before = Number(/\((\d+)\)/.exec((await caption.textContent()) ?? '')?.[1]);
  const other = (await store.listDeadLetters({ sourceId: 'sandbox', stage: 'validate' })).find(
    (d) => d.id !== retryable,
  );
  expect(other).toBeDefined();
  await page.getByRole('button', { name: `Dismiss dead letter ${other!.id}`, exact: true }).click();
  const dialog = page.getByTestId('dismiss-dialog');
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Dismiss it' }).click();
  expect(await dialog.isVisible()).toBe(true);
  await dialog.getByLabel('Why? (required, kept for audit)').fill('a test record, not a real resource');
  await dialog.getByRole('button', { name: 'Dismiss it' }).click();
  await caption.filter({ hasText: `Open dead letters (${before - 1})` }).waitFor();
  expect(await page.getByTestId(`dismiss-${other!.id}`).count()).toBe(0);
  await page.context().close();
});

test('a source whose first writes are held shows the plan; approving sends it, and the hold is gone', async () => {
  const heldStore = await memoryStore();
  const config: AppConfig = {
    ...loadConfig({ env: {}, cwd: os.tmpdir() }),
    sources: [
      testSource({ id: 'new-clinic', name: 'New clinic', baseUrl: emr.baseUrl, approval: { firstRun: 'hold' } }),
    ],
  };
  const first = await syncSource(heldStore, config, config.sources[0]!, { asOf: new Date(TEST_ANCHOR) });
  expect(first.approval?.reason).toBe('first-run');
  const heldRunner = new SyncRunner(heldStore, config);
  const app = createApiApp({
    store: heldStore,
    config,
    runner: heldRunner,
    metrics: new Metrics(false),
    apiKeys: [KEY],
  });
  const listening = await listen(app, 0, '127.0.0.1');
  const { page } = await newPage();
  try {
    await page.goto(`http://127.0.0.1:${listening.port}/`);
    await page.getByLabel('API key').fill(KEY);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('region', { name: 'Writes held for approval: new-clinic' }).waitFor();
    await page.getByText(/Held for approval \(first-run\): the first writes to new-clinic: \d+ planned/).waitFor();
    const plan = page.getByTestId('plan-new-clinic');
    await plan.getByRole('cell', { name: 'appointment-reminder' }).waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'held-for-approval.png'), fullPage: true });
    page.once('dialog', (d) => void d.accept());
    await page.getByTestId('approve-new-clinic').click();
    await page
      .getByTestId('progress-new-clinic')
      .filter({ hasText: /approved and sent: Task: / })
      .waitFor();
    expect(await page.getByRole('region', { name: 'Writes held for approval: new-clinic' }).count()).toBe(0);
    expect(await heldStore.openApproval('new-clinic')).toBeUndefined();
  } finally {
    await page.context().close();
    await heldRunner.stop();
    await new Promise<void>((resolve) => listening.server.close(() => resolve()));
    await heldStore.close();
  }
}, 120_000);

test('API keys: an admin makes a scoped key (shown once), it works for its role only, and revoking it refuses it at once', async () => {
  const { page } = await newPage();
  await login(page, KEY);
  await page.getByRole('link', { name: 'Keys', exact: true }).click();
  await page.getByTestId('keys').waitFor();
  await page.getByLabel('What it is for').fill('worklist kiosk');
  await page.getByLabel('care-manager').check();
  await page.getByLabel('sandbox').check();
  await page.getByRole('button', { name: 'Make the key' }).click();
  const shown = page.getByTestId('new-key').locator('code');
  await shown.waitFor();
  const made = (await shown.textContent()) as string;
  expect((await fetch(`${base}api/worklist`, { headers: { 'X-API-Key': made } })).status).toBe(200);
  expect((await fetch(`${base}api/runs`, { headers: { 'X-API-Key': made } })).status).toBe(403);
  await page.screenshot({ path: path.join(SHOTS, 'keys.png'), fullPage: true });
  await page.getByRole('button', { name: 'Revoke worklist kiosk' }).click();
  await page
    .getByText(/^revoked /)
    .first()
    .waitFor();
  expect((await fetch(`${base}api/worklist`, { headers: { 'X-API-Key': made } })).status).toBe(401);
  await page.context().close();
});

test('accessibility: axe-core finds no WCAG 2.1 AA violation on any page, at 1280 px and on a 390 px phone, and no page scrolls sideways on the phone', async () => {
  const axe = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const pages = [
    '#/safety',
    '#/worklist',
    '#/sources',
    '#/runs',
    '#/dead-letters',
    '#/programme',
    '#/patient',
    '#/keys',
  ];
  const found: string[] = [];
  for (const viewport of [
    { width: 1280, height: 800 },
    { width: 390, height: 844 },
  ]) {
    // The test's context injects axe-core past the CSP; the service keeps its strict policy.
    const context = await browser.newContext({ viewport, bypassCSP: true });
    const page = await context.newPage();
    await login(page, KEY);
    for (const hash of pages) {
      await page.goto(`${base}${hash}`);
      await page.locator('main h1').first().waitFor();
      await page.waitForTimeout(300);
      await page.addScriptTag({ content: axe });
      const violations = (await page.evaluate(
        "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((r) => r.violations.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(' | ')))",
      )) as string[];
      for (const v of violations) found.push(`${viewport.width}px ${hash} ${v}`);
      const wide = (await page.evaluate('document.documentElement.scrollWidth')) as number;
      if (wide > viewport.width + 1) found.push(`${viewport.width}px ${hash} scrolls sideways (${wide} px wide)`);
      if (viewport.width < 500 && (hash === '#/worklist' || hash === '#/dead-letters'))
        await page.screenshot({ path: path.join(SHOTS, `${hash.slice(2)}-phone.png`), fullPage: false });
      const title = await page.title();
      if (!/ · fhir-engage$/.test(title) || title.startsWith('Log in'))
        found.push(`${viewport.width}px ${hash} title "${title}"`);
    }
    await context.close();
  }
  expect(found).toEqual([]);
  // On a phone the menu folds behind a button (the bar takes little of the screen) and opens on a tap;
  // every button and link of it is at least 44 px high.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const small = await phone.newPage();
  await login(small, KEY);
  const toggle = small.getByRole('button', { name: 'Menu' });
  await toggle.waitFor();
  expect(await small.getByRole('link', { name: 'Worklist', exact: true }).isVisible()).toBe(false);
  expect((await small.locator('header.bar').boundingBox())?.height ?? 999).toBeLessThan(0.1 * 844);
  await toggle.click();
  expect(await toggle.getAttribute('aria-expanded')).toBe('true');
  const link = small.getByRole('link', { name: 'Worklist', exact: true });
  expect(await link.isVisible()).toBe(true);
  for (const box of await small
    .locator('nav a, nav button, #menu-toggle')
    .evaluateAll((els) =>
      els.map((e) => (e as unknown as { getBoundingClientRect(): { height: number } }).getBoundingClientRect().height),
    ))
    expect(box).toBeGreaterThanOrEqual(44);
  await link.click();
  await small.getByRole('heading', { name: 'Worklist' }).waitFor();
  expect(await toggle.getAttribute('aria-expanded')).toBe('false');
  await small.screenshot({ path: path.join(SHOTS, 'menu-phone.png') });
  // A flagged patient's page on the phone: the banner first, nothing wider than the screen.
  await small.goto(`${base}#/safety`);
  await small.getByTestId('safety-list').locator('tbody tr').first().getByRole('button').click();
  await small.getByTestId('safety-banner').waitFor();
  expect((await small.evaluate('document.documentElement.scrollWidth')) as number).toBeLessThanOrEqual(391);
  await small.screenshot({ path: path.join(SHOTS, 'patient-phone.png'), fullPage: true });
  await phone.close();
  // The skip link moves focus to the content without leaving the page; a definition shows on focus.
  const { page } = await newPage();
  await login(page, KEY);
  await page.getByRole('link', { name: 'Programme', exact: true }).click();
  await page.getByTestId('tier-chart').waitFor();
  await page.locator('a.skip').focus();
  await page.keyboard.press('Enter');
  expect(page.url()).toMatch(/#\/programme$/);
  expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('main');
  const defined = page.getByText('Reminder effect', { exact: true });
  await defined.focus();
  const after = (await page.evaluate("getComputedStyle(document.activeElement, '::after').content")) as string;
  expect(after.length).toBeGreaterThan(20);
  await page.context().close();
}, 120_000);
