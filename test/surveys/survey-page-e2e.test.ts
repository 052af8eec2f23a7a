/**
 * The survey page end to end (docs/surveys.md), against real parts: the sandbox EMR and its SMS
 * stand-in, fhir-engage's API listening (the page under /s), a webhook receiver for safety alerts. A
 * survey Task gets an invitation by SMS carrying a signed link; the page renders the PHQ-9; answered
 * with item 9 = 1 it shows crisis resources, the response is in the EMR with a Provenance naming the
 * patient, the survey Task is completed with it as output, the total Observation is written, and the
 * stat safety Task and its webhook alert come within 5 s. A second open shows "already answered";
 * tampered, other patients' and expired links are friendly 4xx pages and write nothing; the page answers
 * nothing of the staff API; its headers; a second sync sends and writes nothing.
 */
import http from 'node:http';
import type { Observation, Provenance, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { OPENAPI } from '../../src/api/openapi';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { bindingOf, signLink } from '../../src/surveys/links';
import { syncSource } from '../../src/sync/run';
import type { SyncSummary } from '../../src/sync/events';
import { linkIn, plantSurveyPatient, SURVEY_KEY as KEY, surveyWorld, type SurveyWorld } from '../helpers/survey-world';
import { waitFor } from '../helpers/wait';

const PATIENT = 'survey-pat';
const OTHER = 'survey-other';

let world: SurveyWorld;
let emr: SandboxServer;
let store: Store;
let publicUrl: string;
const clock = () => world.clock.now;

const writes = (s: SyncSummary): number =>
  Object.values(s.writes).reduce((n, w) => n + w.created + w.updated + w.cancelled + w.completed, 0);
const sync = async (asOf: Date): Promise<SyncSummary> => {
  const s = await syncSource(store, world.config, world.source, { asOf, strict: true });
  expect(s.error).toBeUndefined();
  return s;
};
const textsTo = (n: string) => emr.sms.messages.filter((m) => m.to === n);
const page = (path: string, init?: RequestInit) => fetch(`${publicUrl}${path}`, { redirect: 'manual', ...init });
const post = (token: string, fields: Record<string, string>) =>
  page(`/s/${token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
/** A request sent as written (fetch would resolve dot segments before sending). */
const raw = (path: string): Promise<{ status: number; type: string }> =>
  new Promise((resolve, reject) => {
    const u = new URL(publicUrl);
    http
      .get({ host: u.hostname, port: u.port, path, headers: { 'X-API-Key': 'k-0123456789abcdef' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']) }));
      })
      .on('error', reject);
  });
const responses = () => emr.repo.all('QuestionnaireResponse') as QuestionnaireResponse[];
const ownResponses = () => responses().filter((r) => r.subject?.reference === `Patient/${PATIENT}`);

/** PHQ-9 answers by option index (0 = not at all … 3 = nearly every day); item 9 is 44260-8. */
function phq9(item9: number): Record<string, string> {
  const links = ['44250-9', '44255-8', '44259-0', '44254-1', '44251-7', '44258-2', '44252-5', '44253-3'];
  return { ...Object.fromEntries(links.map((l, i) => [`q.${l}`, String(i % 3)])), 'q.44260-8': String(item9) };
}

beforeAll(async () => {
  world = await surveyWorld(new Date('2026-06-01T15:30:00Z'));
  ({ emr, store, publicUrl } = world);
  await plantSurveyPatient(emr, { id: PATIENT, mobile: '555-0191', given: 'Robin' });
  await plantSurveyPatient(emr, { id: OTHER, mobile: '555-0192', given: 'Sam' });
}, 120_000);

afterAll(() => world.close());

let phqToken: string;

test('an open survey Task gets one SMS invitation with a signed link and nothing about the instrument', async () => {
  await sync(clock());
  const texts = textsTo('+15550191');
  expect(texts.length).toBeGreaterThanOrEqual(2); // PHQ-9 and GAD-7
  for (const t of texts) {
    expect(t.body).toMatch(
      /^Riverside Clinic: your care team asks you to answer a few questions: http:\/\/127\.0\.0\.1:\d+\/s\/\S+ /,
    );
    expect(t.body).not.toMatch(/PHQ|GAD|depress|anxi/i);
    expect(t.body).not.toContain(PATIENT);
  }
  const tasks = (emr.repo.all('Task') as Task[]).filter((t) => t.for?.reference === `Patient/${PATIENT}`);
  const phqTask = tasks.find((t) => t.input?.some((i) => i.valueCanonical === 'http://loinc.org/q/44249-1'));
  expect(phqTask?.status).toBe('requested');
  // Which text is the PHQ-9's: the page says its title.
  for (const t of texts) {
    const html = await (await page(`/s/${linkIn(t.body)}`)).text();
    if (html.includes('<title>PHQ-9</title>')) phqToken = linkIn(t.body);
  }
  expect(phqToken).toBeDefined();
  // The Communication that records the invitation in the EMR leaves the link out.
  await sync(new Date(clock().getTime() + 60_000));
  const recorded = (emr.repo.all('Communication') as { payload?: { contentString?: string }[] }[]).map(
    (c) => c.payload?.[0]?.contentString ?? '',
  );
  expect(recorded.some((c) => c.includes('/s/[link]'))).toBe(true);
  expect(recorded.some((c) => c.includes(phqToken))).toBe(false);
});

test('the form: the first name only, every PHQ-9 item with its options, its headers', async () => {
  const res = await page(`/s/${phqToken}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
  expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  const html = await res.text();
  expect(html).toContain('Hello Robin,');
  expect(html).toContain('Riverside Clinic');
  expect(html).not.toContain('Survey-Family-Name');
  expect(html).not.toContain('1980-03-27');
  expect(html.match(/type="radio"/g)?.length).toBe(9 * 4 + 4);
  expect(html).toContain('Thoughts that you would be better off dead');
  const es = await (await page(`/s/${phqToken}?lang=es`)).text();
  expect(es).toContain('<html lang="es">');
  expect(es).toContain('Poco interés o placer en hacer cosas');
});

test('a missing answer is named beside its question and at the top, and nothing is stored', async () => {
  const fields = phq9(0);
  delete fields['q.44252-5'];
  const res = await post(phqToken, fields);
  expect(res.status).toBe(422);
  const html = await res.text();
  expect(html).toContain('Please check your answers');
  expect(html).toContain('Please answer this question.');
  expect(html).toMatch(/checked/); // what was answered stays answered
  expect(ownResponses()).toHaveLength(0);
});

test('item 9 = 1: crisis resources first; the response, its Provenance, the Task completed, the total, the safety Task and the alert within 5 s', async () => {
  const before = world.alerts.length;
  const started = Date.now();
  const res = await post(phqToken, phq9(1));
  expect(res.status).toBe(200);
  const html = await res.text();
  expect(html.indexOf('Help is available now')).toBeLessThan(html.indexOf('sent'));
  expect(html).toContain('href="tel:988"');
  expect(html).toContain('href="sms:988"');
  expect(html).toContain('href="tel:911"');
  const safety = async () =>
    (emr.repo.all('Task') as Task[]).find(
      (t) => t.for?.reference === `Patient/${PATIENT}` && t.code?.coding?.[0]?.code === 'phq9-item9-safety',
    );
  await waitFor(
    'the safety Task in the EMR and its webhook alert',
    async () => (await safety()) !== undefined && world.alerts.length > before,
    {
      timeoutMs: 5_000,
      intervalMs: 20,
    },
  );
  const elapsed = Date.now() - started;
  expect(elapsed).toBeLessThan(5_000);
  expect((await safety())?.priority).toBe('stat');
  await Promise.all(world.submissions.map((s) => s.followUp));

  const [qr] = ownResponses();
  expect(qr).toMatchObject({
    status: 'completed',
    questionnaire: 'http://loinc.org/q/44249-1',
    subject: { reference: `Patient/${PATIENT}` },
    source: { reference: `Patient/${PATIENT}` },
  });
  const task = (emr.repo.all('Task') as Task[]).find(
    (t) =>
      t.for?.reference === `Patient/${PATIENT}` &&
      t.input?.some((i) => i.valueCanonical === 'http://loinc.org/q/44249-1'),
  );
  expect(qr?.basedOn?.[0]?.reference).toBe(`Task/${task?.id}`);
  expect(task?.status).toBe('completed');
  expect(task?.output?.[0]?.valueReference?.reference).toBe(`QuestionnaireResponse/${qr?.id}`);
  const prov = (emr.repo.all('Provenance') as Provenance[]).find((p) =>
    p.target.some((t) => t.reference === `QuestionnaireResponse/${qr?.id}`),
  );
  expect(prov?.agent[0]?.who?.reference).toBe(`Patient/${PATIENT}`);
  expect(prov?.agent[1]?.who?.display).toMatch(/^fhir-engage/);
  const total = (emr.repo.all('Observation') as Observation[]).find(
    (o) => o.subject?.reference === `Patient/${PATIENT}` && o.code.coding?.some((c) => c.code === '44261-6'),
  );
  // 0+1+2+0+1+2+0+1 + 1 (item 9)
  expect(total?.valueQuantity?.value ?? total?.valueInteger).toBe(8);
  expect(world.alerts[world.alerts.length - 1]?.body).not.toContain('Robin');
});

test('a second open or submission says "already answered" and writes nothing', async () => {
  const html = await (await page(`/s/${phqToken}`)).text();
  expect(html).toContain('Already answered');
  const again = await post(phqToken, phq9(0));
  expect(again.status).toBe(200);
  expect(await again.text()).toContain('already been answered');
  expect(ownResponses()).toHaveLength(1);
});

test('tampered, another patient’s and expired links: friendly 4xx pages, nothing written', async () => {
  const count = responses().length;
  const [id, kid, mac] = phqToken.split('.') as [string, string, string];
  const flipped = `${id}.${kid}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;
  for (const bad of [flipped, `${id}.k9.${mac}`, 'not-a-token', `${id}`]) {
    const res = await post(bad, phq9(0));
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('This link does not work');
  }
  // The other patient's survey Task, its link as stored, signed with the real key over this patient's binding.
  const otherText = textsTo('+15550192')[0] as { body: string };
  const otherToken = linkIn(otherText.body);
  const otherLink = await store.surveyLink(otherToken.split('.')[0] as string);
  const forged = signLink({ ...bindingOf(otherLink!), patientId: PATIENT }, [KEY]);
  expect((await post(forged, phq9(0))).status).toBe(404);
  // Expired: the Task's window has closed.
  const saved = world.clock.now;
  world.clock.now = new Date(otherLink!.expiresAt.getTime() + 1000);
  const expired = await post(otherToken, phq9(0));
  world.clock.now = saved;
  expect(expired.status).toBe(410);
  expect(responses().length).toBe(count);
});

test('the page answers nothing of the staff API or the dashboard', async () => {
  const paths = Object.keys(OPENAPI.paths).map((p) => p.replace(/\{[^}]+\}/g, 'clinic'));
  expect(paths.length).toBeGreaterThan(20);
  for (const p of [...paths, '/', '/index.html', '/assets/index.js']) {
    for (const prefix of ['/s', '/s/api', '/s/%2e%2e', '/s/%2E%2E/%2e%2e']) {
      const res = await raw(`${prefix}${p}`);
      expect({ path: `${prefix}${p}`, status: res.status }).toEqual({ path: `${prefix}${p}`, status: 404 });
      expect(res.type).toMatch(/^text\/html/);
    }
  }
});

test('every Questionnaire a Task names is served at /fhir/Questionnaire', async () => {
  const canonicals = new Set(
    (emr.repo.all('Task') as Task[]).flatMap((t) => t.input?.map((i) => i.valueCanonical).filter(Boolean) ?? []),
  );
  expect(canonicals.size).toBeGreaterThan(0);
  for (const url of canonicals) {
    const bundle = (await (await page(`/fhir/Questionnaire?url=${encodeURIComponent(url as string)}`)).json()) as {
      total: number;
    };
    expect(bundle.total).toBe(1);
  }
});

test('a second sync sends and writes nothing', async () => {
  const texts = emr.sms.messages.length;
  await sync(new Date(clock().getTime() + 120_000));
  const again = await sync(new Date(clock().getTime() + 180_000));
  expect(writes(again)).toBe(0);
  expect(emr.sms.messages.length).toBe(texts);
});

test('the patient page lists the surveys sent by link and which were answered, and shows no link', async () => {
  const res = await fetch(`${publicUrl}/api/sources/clinic/patients/${PATIENT}/messages`, {
    headers: { 'X-API-Key': 'k-0123456789abcdef' },
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as {
    messages: { kind: string; text: string }[];
    surveys: { survey: string; answeredAt: string | null; crisis: boolean; openedAt: string | null }[];
  };
  const phq = body.surveys.find((v) => v.survey === 'PHQ-9');
  expect(phq).toMatchObject({ crisis: true });
  expect(phq?.answeredAt).not.toBeNull();
  expect(phq?.openedAt).not.toBeNull();
  expect(body.surveys.find((v) => v.survey === 'GAD-7')?.answeredAt).toBeNull();
  const invitations = body.messages.filter((m) => m.kind === 'survey-invitation');
  expect(invitations.length).toBeGreaterThanOrEqual(2);
  for (const m of invitations) {
    expect(m.text).toContain('/s/[link]');
    expect(m.text).not.toContain(phqToken);
  }
});

test('writeQuestionnaires: the assigned forms are written to the EMR once, by url and version', async () => {
  const urls = () =>
    (emr.repo.all('Questionnaire') as { url?: string }[]).map((q) => q.url).filter((u) => u?.startsWith('http'));
  const before = urls().length;
  world.source.writeQuestionnaires = true;
  try {
    await sync(new Date(clock().getTime() + 240_000));
    const written = urls().slice(before).sort();
    expect(written).toEqual([
      'http://loinc.org/q/44249-1',
      'http://loinc.org/q/69737-5',
      'https://fhir-engage.dev/fhir/Questionnaire/post-visit-satisfaction',
    ]);
    const again = await sync(new Date(clock().getTime() + 300_000));
    expect(writes(again)).toBe(0);
    expect(urls().length).toBe(before + 3);
  } finally {
    world.source.writeQuestionnaires = false;
  }
});
