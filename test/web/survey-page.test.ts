/**
 * The survey page in a real browser on a phone's screen (390×844): Debian's Chromium driven by
 * playwright-core against fhir-engage's API and the sandbox EMR. A PHQ-9 link from an invitation is
 * opened, a missing answer is pointed at, the difficulty question appears once a problem is reported
 * (enableWhen), one answer is given with the keyboard, item 9 = "several days" shows crisis resources
 * first and the response reaches the EMR with the Task completed; a second open says "already
 * answered"; a tampered link is a friendly page; the text reflows at 200 %. axe-core finds no WCAG 2.1
 * AA violation on any page. Screenshots go to test-artifacts/survey/.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Observation, Provenance, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { syncSource } from '../../src/sync/run';
import { axeViolations, launchChromium } from '../helpers/browser';
import { ROOT } from '../helpers/cli';
import { linkIn, plantSurveyPatient, surveyWorld, type SurveyWorld } from '../helpers/survey-world';

const SHOTS = path.join(ROOT, 'test-artifacts', 'survey');
const PATIENT = 'phone-pat';
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let world: SurveyWorld;
let browser: Browser;
const links = new Map<string, string>();

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  world = await surveyWorld(new Date('2026-06-01T15:30:00Z'));
  await plantSurveyPatient(world.emr, { id: PATIENT, mobile: '555-0193', given: 'Robin' });
  await plantSurveyPatient(world.emr, { id: 'es-pat', mobile: '555-0194', given: 'Lucía', language: 'es' });
  const summary = await syncSource(world.store, world.config, world.source, { asOf: world.clock.now });
  expect(summary.error).toBeUndefined();
  for (const m of world.emr.sms.messages) {
    const token = linkIn(m.body);
    const html = await (await fetch(`${world.publicUrl}/s/${token}`)).text();
    const title = /<title>([^<]+)<\/title>/.exec(html)?.[1] ?? '';
    links.set(`${m.to}|${title}`, `${world.publicUrl}/s/${token}`);
  }
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await world?.close();
});

/** A page on a phone, able to take axe-core (injected: the page's own CSP allows 'self' only). */
async function phone(): Promise<Page> {
  const context = await browser.newContext({ ...PHONE, bypassCSP: true });
  return context.newPage();
}

async function shot(page: Page, name: string): Promise<void> {
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

test('a PHQ-9 answered on a phone: problems pointed at, enableWhen, keyboard, crisis resources first, the answer in the EMR; then "already answered"', async () => {
  const url = links.get('+15550193|PHQ-9') as string;
  expect(url).toBeDefined();
  const page = await phone();
  await page.goto(url);
  expect(await page.locator('h1').textContent()).toBe('PHQ-9');
  expect(await page.getByText('Hello Robin,').count()).toBe(1);
  // The difficulty question waits for a problem to be reported.
  const difficulty = page.getByText('how difficult have these problems made it', { exact: false });
  expect(await difficulty.isVisible()).toBe(false);
  await shot(page, 'form');

  await page.getByRole('button', { name: 'Send my answers' }).click();
  await page.waitForSelector('#problems');
  expect(await page.locator('#problems li').count()).toBe(9);
  expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('problems');
  await shot(page, 'problems');
  await page.screenshot({ path: path.join(SHOTS, 'problems-top.png') });

  const items = page.locator('fieldset.question');
  // Item 1 by keyboard: focus its first option, arrow to "Several days".
  await items.nth(0).locator('input[type=radio]').first().focus();
  await page.keyboard.press('ArrowDown');
  expect(await items.nth(0).locator('input[type=radio]').nth(1).isChecked()).toBe(true);
  for (let i = 1; i < 8; i++) await items.nth(i).getByText('Not at all', { exact: true }).click();
  await items.nth(8).getByText('Several days', { exact: true }).click();
  expect(await difficulty.isVisible()).toBe(true);
  await page.getByText('Somewhat difficult', { exact: true }).click();
  await page.getByRole('button', { name: 'Send my answers' }).click();
  await page.waitForSelector('.crisis');
  expect(await page.locator('h1').first().textContent()).toBe('Help is available now');
  expect(await page.locator('a[href="tel:988"]').count()).toBe(1);
  expect(await page.locator('a[href="sms:988"]').count()).toBe(1);
  await shot(page, 'crisis');

  await Promise.all(world.submissions.map((s) => s.followUp));
  const qr = (world.emr.repo.all('QuestionnaireResponse') as QuestionnaireResponse[]).find(
    (r) => r.subject?.reference === `Patient/${PATIENT}`,
  );
  expect(qr?.item?.find((i) => i.linkId === '69722-7')?.answer?.[0]?.valueCoding?.code).toBe('LA6573-5');
  const task = (world.emr.repo.all('Task') as Task[]).find(
    (t) =>
      t.for?.reference === `Patient/${PATIENT}` &&
      t.output?.[0]?.valueReference?.reference === `QuestionnaireResponse/${qr?.id}`,
  );
  expect(task?.status).toBe('completed');
  const provenance = (world.emr.repo.all('Provenance') as Provenance[]).find((p) =>
    p.target.some((t) => t.reference === `QuestionnaireResponse/${qr?.id}`),
  );
  expect(provenance?.agent[0]?.who?.reference).toBe(`Patient/${PATIENT}`);
  const total = (world.emr.repo.all('Observation') as Observation[]).find(
    (o) => o.subject?.reference === `Patient/${PATIENT}` && o.code.coding?.some((c) => c.code === '44261-6'),
  );
  // Item 1 "several days" (1) + item 9 "several days" (1).
  expect(total?.valueQuantity?.value ?? total?.valueInteger).toBe(2);

  await page.goto(url);
  expect(await page.locator('h1').textContent()).toBe('Already answered');
  await shot(page, 'already-answered');
  await page.context().close();
});

test('a GAD-7 in Spanish: "received"; tampered, another patient’s and expired links: friendly pages, nothing written; 200 % text reflows', async () => {
  const url = links.get('+15550194|GAD-7') as string;
  const page = await phone();
  await page.goto(url);
  expect(await page.locator('html').getAttribute('lang')).toBe('es');
  await page.evaluate("document.documentElement.style.fontSize = '200%'");
  expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
  await page.screenshot({ path: path.join(SHOTS, 'zoom-200.png') });
  await page.evaluate("document.documentElement.style.fontSize = ''");
  for (const q of await page.locator('fieldset.question:visible').all()) await q.locator('label').first().click();
  await shot(page, 'form-es');
  await page.getByRole('button', { name: 'Enviar mis respuestas' }).click();
  await page.waitForSelector('h1:text("Gracias")');
  await shot(page, 'received-es');

  const tampered = url.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
  const res = await page.goto(tampered);
  expect(res?.status()).toBe(404);
  expect(await page.locator('h1').textContent()).toBe('This link does not work');
  await shot(page, 'link-not-valid');

  // Another patient's link id under this patient's signature, and an expired link: the same friendly pages.
  const other = new URL(links.get('+15550193|GAD-7') as string).pathname.split('.')[0] as string;
  const mixed = `${world.publicUrl}${other}.${url.split('.').slice(-2).join('.')}`;
  expect((await page.goto(mixed))?.status()).toBe(404);
  const saved = world.clock.now;
  world.clock.now = new Date(saved.getTime() + 8 * 86_400_000);
  try {
    expect((await page.goto(links.get('+15550193|GAD-7') as string))?.status()).toBe(410);
    await shot(page, 'link-expired');
  } finally {
    world.clock.now = saved;
  }
  const answers = (world.emr.repo.all('QuestionnaireResponse') as QuestionnaireResponse[]).filter(
    (r) => r.subject?.reference === 'Patient/phone-pat',
  );
  expect(answers).toHaveLength(1);
  await page.context().close();
});
