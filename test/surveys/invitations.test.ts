/**
 * Survey invitations (docs/surveys.md): every shipped invitation template in both languages and both
 * channels carries the link and says nothing about the instrument or the patient beyond the first name
 * in an email; the channel follows the programme's order, skipping opted-out addresses; the send window
 * is today's or the next; a survey closing before the window sends nothing; the Communication that
 * records an invitation leaves the link out.
 */
import type { Patient } from '@medplum/fhirtypes';
import type { MessagingSettings } from '../../src/config/messaging-settings';
import { addressHash } from '../../src/messaging/address';
import { invitationAddress, invitationMessage, nextSendWindow } from '../../src/messaging/invite';
import { messageCommunication } from '../../src/messaging/record';
import { loadTemplates } from '../../src/messaging/templates';
import type { Message } from '../../src/store/messages';
import { PAPER_MESSAGING } from '../helpers/messaging';

const ZONE = 'America/Chicago';
const TOKEN = 'AAAAAAAAAAAAAAAAAAAAAA.k1.BBBBBBBBBBBBBBBBBBBBBB';
const settings: MessagingSettings = PAPER_MESSAGING;
const patient = (language: string): Patient => ({
  resourceType: 'Patient',
  id: 'p1',
  name: [{ given: ['Ana'], family: 'Ruiz' }],
  birthDate: '1970-01-02',
  telecom: [
    { system: 'phone', use: 'mobile', value: '(555) 010-0199' },
    { system: 'email', value: 'ana@example.org' },
  ],
  communication: [{ language: { coding: [{ code: language }] }, preferred: true }],
});
const input = (language: string) => ({
  sourceId: 'clinic',
  programmeId: 'default',
  patientId: 'p1',
  taskIdentifier: 'p1/survey/phq9/2026-06-01',
  taskServerId: 't1',
  patient: patient(language),
  windowEnd: Date.parse('2026-06-08T05:00:00Z'),
});
const ctx = (now: string) => ({
  settings,
  templates: loadTemplates(),
  zone: ZONE,
  sendWindow: { start: '09:00', end: '19:00' },
  now: new Date(now),
});

test('every invitation template, both languages and channels: the link, the clinic, nothing about the survey or the patient', () => {
  for (const language of ['en', 'es'])
    for (const channel of ['sms', 'email'] as const) {
      const to = { channel, recipient: channel === 'sms' ? '+15550100199' : 'ana@example.org', hash: 'h' };
      const m = invitationMessage(input(language), to, TOKEN, ctx('2026-06-01T15:00:00Z'));
      if ('skip' in m) throw new Error(m.skip);
      const text = `${m.subject ?? ''}\n${m.body}`;
      expect(text).toContain(`https://engage.example.org/s/${TOKEN}`);
      expect(text).toContain('Riverside Clinic');
      expect(text).not.toMatch(/PHQ|GAD|depres|ansi|anxi|Ruiz|1970|p1\b/i);
      expect(m.language).toBe(language);
      if (channel === 'sms') expect(text).toContain('STOP');
      else expect(text).toContain('/unsubscribe/');
      expect(m).toMatchObject({
        kind: 'survey-invitation',
        dedupeKey: 'survey|p1/survey/phq9/2026-06-01',
        taskServerId: 't1',
      });
    }
});

test('the send window: today’s when still open, else the next day’s; a survey closing first sends nothing', () => {
  const day = (h: string) => Date.parse(h);
  expect(nextSendWindow(day('2026-06-01T08:00:00Z'), { start: '09:00', end: '19:00' }, ZONE)).toEqual({
    from: day('2026-06-01T14:00:00Z'),
    to: day('2026-06-02T00:00:00Z'),
  });
  expect(nextSendWindow(day('2026-06-01T15:00:00Z'), { start: '09:00', end: '19:00' }, ZONE).from).toBe(
    day('2026-06-01T15:00:00Z'),
  );
  expect(nextSendWindow(day('2026-06-02T01:00:00Z'), { start: '09:00', end: '19:00' }, ZONE)).toEqual({
    from: day('2026-06-02T14:00:00Z'),
    to: day('2026-06-03T00:00:00Z'),
  });
  const closing = { ...input('en'), windowEnd: day('2026-06-02T03:00:00Z') };
  const late = invitationMessage(
    closing,
    { channel: 'sms', recipient: '+15550100199', hash: 'h' },
    TOKEN,
    ctx('2026-06-02T01:00:00Z'),
  );
  expect(late).toEqual({ skip: 'the survey closes before the next send window' });
});

test('the channel follows the programme’s order, past an opted-out address, else why none', () => {
  const now = new Date('2026-06-01T15:00:00Z');
  expect(invitationAddress(patient('en'), ['sms', 'email'], settings, new Set(), now)).toMatchObject({
    channel: 'sms',
    recipient: '+15550100199',
  });
  const out = new Set([`sms|${addressHash('sms', '+15550100199')}`]);
  expect(invitationAddress(patient('en'), ['sms', 'email'], settings, out, now)).toMatchObject({ channel: 'email' });
  expect(invitationAddress(patient('en'), ['sms'], settings, out, now)).toEqual({
    skip: 'the patient opted out of sms',
  });
  expect(invitationAddress(patient('en'), ['phone'], settings, new Set(), now)).toEqual({
    skip: 'no sms or email provider for the programme’s channels',
  });
  expect(invitationAddress({ resourceType: 'Patient' }, ['sms', 'email'], settings, new Set(), now)).toEqual({
    skip: 'no mobile number or email address on file',
  });
});

test('the Communication recording an invitation leaves the link out, and the survey Task is not moved by its delivery', () => {
  const m = {
    id: 7,
    patientId: 'p1',
    kind: 'survey-invitation',
    direction: 'outbound',
    channel: 'sms',
    state: 'delivered',
    taskIdentifier: 'p1/survey/phq9/2026-06-01',
    taskServerId: 't1',
    about: null,
    subject: null,
    body: `Riverside Clinic: your care team asks you to answer a few questions: https://engage.example.org/s/${TOKEN} Reply STOP to opt out.`,
    sentAt: new Date(),
    endedAt: new Date(),
    createdAt: new Date(),
    reason: null,
  } as unknown as Message;
  const c = messageCommunication(m, 'https://fhir-engage.dev/fhir/identifier');
  expect(c.payload?.[0]?.contentString).toContain('https://engage.example.org/s/[link]');
  expect(c.payload?.[0]?.contentString).not.toContain(TOKEN);
});
