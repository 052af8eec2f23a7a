/**
 * The survey page's guards (docs/surveys.md): with `confirmBirthDate` the form opens only after the
 * patient's birth date, five wrong tries lock the link, and the answers need the proof; an address past
 * its requests per minute gets 429; an EMR that is away when the answer comes keeps nothing from the
 * patient ("received", the response in the outbox) and the next run sends it; no answer content and no
 * link ever reaches the log.
 */
import { Writable } from 'node:stream';
import type { QuestionnaireResponse } from '@medplum/fhirtypes';
import { createLogger, logger, setLogger } from '../../src/log/logger';
import { syncSource } from '../../src/sync/run';
import { linkIn, plantSurveyPatient, surveyWorld, type SurveyWorld } from '../helpers/survey-world';

let world: SurveyWorld;
const lines: string[] = [];
const original = logger();
const tokens = new Map<string, string>();

const post = (token: string, fields: Record<string, string>) =>
  fetch(`${world.publicUrl}/s/${token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
const gad7 = (answer: string): Record<string, string> =>
  Object.fromEntries(
    ['69725-0', '68509-9', '69733-4', '69734-2', '69735-9', '69689-8', '69736-7'].map((l) => [`q.${l}`, answer]),
  );

beforeAll(async () => {
  setLogger(
    createLogger({
      level: 'debug',
      destination: new Writable({
        write(chunk: Buffer, _e, done) {
          lines.push(chunk.toString('utf8'));
          done();
        },
      }),
    }),
  );
  world = await surveyWorld(new Date('2026-06-01T15:30:00Z'), { confirmBirthDate: true });
  for (const [id, mobile] of [
    ['guard-a', '555-0181'],
    ['guard-b', '555-0182'],
    ['guard-c', '555-0183'],
  ] as const)
    await plantSurveyPatient(world.emr, { id, mobile, given: 'Kim' });
  const s = await syncSource(world.store, world.config, world.source, { asOf: world.clock.now });
  expect(s.error).toBeUndefined();
  for (const m of world.emr.sms.messages) {
    const token = linkIn(m.body);
    const link = await world.store.surveyLink(token.split('.')[0] as string);
    if (link?.questionnaire === 'http://loinc.org/q/69737-5') tokens.set(link.patientId, token);
  }
}, 120_000);

afterAll(async () => {
  await world.close();
  setLogger(original);
});

test('the birth date first: wrong is asked again, right opens the form; answers without the proof are not taken', async () => {
  const token = tokens.get('guard-a') as string;
  const first = await (await fetch(`${world.publicUrl}/s/${token}`)).text();
  expect(first).toContain('Please confirm who you are');
  expect(first).not.toContain('Hello Kim');
  const wrong = await post(token, { birthDate: '1980-03-28' });
  expect(wrong.status).toBe(422);
  expect(await wrong.text()).toContain('That date of birth does not match');
  // Answers posted straight away, without the proof, bring back the birth-date question.
  const skipped = await post(token, gad7('0'));
  expect(await skipped.text()).toContain('Please confirm who you are');
  const right = await post(token, { birthDate: '1980-03-27' });
  const form = await right.text();
  expect(form).toContain('Hello Kim,');
  const proof = /name="proof" value="([^"]+)"/.exec(form)?.[1] as string;
  const done = await post(token, { ...gad7('0'), proof });
  expect(await done.text()).toContain('We have received your answers');
});

test('five wrong birth dates lock the link: the patient is told to call the clinic', async () => {
  const token = tokens.get('guard-b') as string;
  for (let i = 0; i < 4; i++) expect((await post(token, { birthDate: '2000-01-01' })).status).toBe(422);
  const fifth = await post(token, { birthDate: '2000-01-01' });
  expect(fifth.status).toBe(429);
  expect(await fifth.text()).toContain('Please call Riverside Clinic at 555-0100');
  // Even the right date no longer opens it.
  expect((await post(token, { birthDate: '1980-03-27' })).status).toBe(429);
});

test('the EMR away when the answer comes: "received", kept in the outbox, sent by the next run', async () => {
  const token = tokens.get('guard-c') as string;
  const form = await (await post(token, { birthDate: '1980-03-27' })).text();
  const proof = /name="proof" value="([^"]+)"/.exec(form)?.[1] as string;
  world.emr.setQuirks({ errorRate: 1, errorStatuses: [503] });
  const res = await post(token, { ...gad7('1'), proof });
  expect(await res.text()).toContain('We have received your answers');
  await Promise.all(world.submissions.map((s) => s.followUp));
  const mine = () =>
    (world.emr.repo.all('QuestionnaireResponse') as QuestionnaireResponse[]).filter(
      (r) => r.subject?.reference === 'Patient/guard-c',
    );
  expect(mine()).toHaveLength(0);
  // Kept: claimed by the send that failed (released by the next run under the source's lock) or pending.
  const kept = await world.store.outboxCounts('clinic');
  expect((kept.pending ?? 0) + (kept.sending ?? 0)).toBe(1);
  world.emr.setQuirks({});
  const next = await syncSource(world.store, world.config, world.source, {
    asOf: new Date(world.clock.now.getTime() + 3_600_000),
  });
  expect(next.error).toBeUndefined();
  expect(mine()).toHaveLength(1);
  expect(mine()[0]?.item?.[0]?.answer?.[0]?.valueCoding?.code).toBe('LA6569-3');
});

test('past its requests per minute an address gets 429 with Retry-After', async () => {
  const surveys = world.config.messaging?.surveys as { requestsPerMinute: number };
  const saved = surveys.requestsPerMinute;
  surveys.requestsPerMinute = 3;
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${world.publicUrl}/s/not-a-link`)).status);
    expect(statuses.slice(-2)).toEqual([429, 429]);
    const res = await fetch(`${world.publicUrl}/s/not-a-link`);
    expect(res.headers.get('retry-after')).toBe('60');
  } finally {
    surveys.requestsPerMinute = saved;
  }
});

test('a body past 64 KB is refused as the sender’s (413 page), not as a failure of the page', async () => {
  const res = await post(tokens.get('guard-a') as string, { 'q.69725-0': 'x'.repeat(70_000) });
  expect(res.status).toBe(413);
  expect(await res.text()).toContain('This could not be sent');
});

test('no answer, birth date, name or link reaches the log', () => {
  const log = lines.join('');
  expect(log).toContain('survey-answer-run');
  for (const secret of [...tokens.values(), 'LA6569-3', '1980-03-27', '1980-03-28', 'Kim', 'Survey-Family-Name'])
    expect(log).not.toContain(secret);
});
