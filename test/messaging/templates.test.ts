/**
 * Message content (docs/messaging.md, "Minimum necessary"): every shipped template, in every language
 * and channel, rendered for a visit whose service type, reason, specialty, clinician and location all
 * name a diagnosis — none of it reaches a message; a template that asks for another field, or that does
 * not say how to opt out, is refused at load with its file and line; addresses, keywords and signed
 * unsubscribe links.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Appointment, Patient, Task } from '@medplum/fhirtypes';
import type { MessagingSettings } from '../../src/config/messaging-settings';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import { addressFor, normalizeAddress } from '../../src/messaging/address';
import { readUnsubscribeToken, reminderMessage, unsubscribeToken } from '../../src/messaging/compose';
import { inboundIntent } from '../../src/messaging/events';
import { loadTemplates, SHIPPED_TEMPLATES } from '../../src/messaging/templates';
import { PAPER_MESSAGING } from '../helpers/messaging';

const CODES = DEFAULT_ACTION_SETTINGS.codeSystem;
const DIAGNOSIS_WORDS = /opioid|disorder|psychiatr|behavio|hiv|oncolog|methadone|depress|jane|psych/i;

const settings: MessagingSettings = PAPER_MESSAGING;

const appointment: Appointment = {
  resourceType: 'Appointment',
  id: 'a1',
  status: 'booked',
  start: '2026-06-02T19:00:00Z',
  serviceType: [{ text: 'Opioid use disorder follow-up' }],
  specialty: [{ text: 'Psychiatry' }],
  reasonCode: [{ text: 'Major depressive disorder' }],
  participant: [
    { actor: { reference: 'Patient/p1' }, status: 'accepted' },
    { actor: { reference: 'Practitioner/x', display: 'Dr. Jane Psych' }, status: 'accepted' },
    { actor: { reference: 'Location/y', display: 'Behavioral Health Unit' }, status: 'accepted' },
  ],
};

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  name: [{ given: ['Ana'], family: 'Ruiz' }],
  telecom: [
    { system: 'phone', use: 'mobile', value: '(555) 010-0199' },
    { system: 'email', value: 'Ana.Ruiz@Example.org' },
  ],
};

const task = (channel: string, language: string): Task & { id: string } => ({
  resourceType: 'Task',
  id: 't1',
  status: 'requested',
  intent: 'order',
  focus: { reference: 'Appointment/a1' },
  executionPeriod: { end: appointment.start },
  restriction: { period: { start: '2026-06-01T14:00:00Z', end: '2026-06-02T00:00:00Z' } },
  input: [
    { type: { coding: [{ system: CODES, code: 'reminder-channel' }] }, valueCode: channel },
    { type: { coding: [{ system: CODES, code: 'reminder-language' }] }, valueCode: language },
  ],
});

/** The reminder of a Task at 15:00 UTC on 1 June in `zone`, with the shipped templates. */
const compose = (t: Task & { id: string }, visit: Appointment = appointment, zone = 'UTC') =>
  reminderMessage(
    { sourceId: 's', programmeId: null, patientId: 'p1', taskIdentifier: 'r/1', task: t, patient, appointment: visit },
    {
      settings,
      templates: loadTemplates(),
      codeSystem: CODES,
      zone,
      optedOut: new Set(),
      now: new Date('2026-06-01T15:00:00Z'),
    },
  );

test('every shipped reminder, in English and Spanish, by SMS and email: the clinic and the time, nothing about the visit’s reason', () => {
  const templates = loadTemplates();
  const rendered: string[] = [];
  for (const language of ['en', 'es'])
    for (const channel of ['sms', 'email']) {
      const m = reminderMessage(
        {
          sourceId: 's',
          programmeId: null,
          patientId: 'p1',
          taskIdentifier: 'r/1',
          task: task(channel, language),
          patient,
          appointment,
        },
        {
          settings,
          templates,
          codeSystem: CODES,
          zone: 'America/Chicago',
          optedOut: new Set(),
          now: new Date('2026-06-01T15:00:00Z'),
        },
      );
      if ('skip' in m) throw new Error(m.skip);
      const text = `${m.subject ?? ''}\n${m.body}`;
      rendered.push(text);
      expect(text).toContain('Riverside Clinic');
      expect(text).not.toMatch(DIAGNOSIS_WORDS);
      expect(text).not.toMatch(/\{\{/);
      expect(text).toContain(language === 'en' ? 'June 2, 2026' : '2 de junio de 2026');
      if (channel === 'sms') expect(m.body).toContain('STOP');
      else expect(m.body).toMatch(/https:\/\/engage\.example\.org\/unsubscribe\/email\.[0-9a-f]{64}\./);
      expect(m.recipient).toBe(channel === 'sms' ? '+15550100199' : 'ana.ruiz@example.org');
    }
  expect(rendered).toHaveLength(4);
  // The help reply too.
  expect([...templates.keys()].sort()).toEqual(
    expect.arrayContaining(['appointment-reminder.en.sms', 'appointment-reminder.es.email', 'help-reply.es.sms']),
  );
  expect(SHIPPED_TEMPLATES).toMatch(/templates$/);
});

test('a template asking for a field outside the allowed list, or not saying how to opt out, is refused with its file and line', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'templates-'));
  writeFileSync(
    path.join(dir, 'appointment-reminder.en.sms.txt'),
    'Hi\nYour {{serviceType}} visit. Reply STOP to opt out.\n',
  );
  expect(() => loadTemplates(dir)).toThrow(
    /appointment-reminder\.en\.sms\.txt:2: \{\{serviceType\}\} is not a field a message may carry/,
  );
  writeFileSync(path.join(dir, 'appointment-reminder.en.sms.txt'), '{{clinicName}}: see you on {{date}}.\n');
  expect(() => loadTemplates(dir)).toThrow(/must say how to opt out/);
  writeFileSync(
    path.join(dir, 'appointment-reminder.en.sms.txt'),
    '{{clinicName}}: see you {{date}}. Text STOP to end.\n',
  );
  expect(loadTemplates(dir).get('appointment-reminder.en.sms')?.file).toBe(
    path.join(dir, 'appointment-reminder.en.sms.txt'),
  );
  expect(() => loadTemplates(path.join(dir, 'missing'))).toThrow(/does not exist/);
});

test('addresses: E.164 numbers (a national one with the country code), lower-case email, the ranked-first live one', () => {
  expect(normalizeAddress('sms', '+44 20 7946 0958')).toBe('+442079460958');
  expect(normalizeAddress('sms', '555-0101')).toBeUndefined();
  expect(normalizeAddress('sms', '555-0101', '+1')).toBe('+15550101');
  expect(normalizeAddress('email', ' A@B.org ')).toBe('a@b.org');
  expect(normalizeAddress('email', 'not-an-address')).toBeUndefined();
  const now = new Date('2026-06-01T00:00:00Z');
  expect(
    addressFor(
      [
        { system: 'phone', use: 'home', value: '1' },
        { system: 'phone', use: 'mobile', value: '2', rank: 2 },
        { system: 'sms', value: '3', rank: 1, period: { end: '2026-01-01' } },
        { system: 'sms', value: '4', rank: 3 },
      ],
      'sms',
      now,
    ),
  ).toBe('2');
});

test('keywords: STOP and its synonyms, START, HELP, anything else a reply', () => {
  for (const w of ['STOP', 'stop', ' Unsubscribe ', 'cancel', 'END', 'quit', 'STOPALL'])
    expect(inboundIntent(w)).toBe('opt-out');
  for (const w of ['START', 'yes', 'Unstop']) expect(inboundIntent(w)).toBe('opt-in');
  for (const w of ['HELP', 'info']) expect(inboundIntent(w)).toBe('help');
  for (const w of ['Stop sending at night please', 'ok', '']) expect(inboundIntent(w)).toBe('reply');
});

test('unsubscribe links are signed: a changed hash, channel or signature is not accepted', () => {
  const hash = 'a'.repeat(64);
  const token = unsubscribeToken('email', hash, settings.unsubscribeSecret);
  expect(readUnsubscribeToken(token, settings.unsubscribeSecret)).toEqual({ channel: 'email', hash });
  expect(readUnsubscribeToken(token.replace('email.', 'sms.'), settings.unsubscribeSecret)).toBeUndefined();
  expect(readUnsubscribeToken(token.replace(hash, 'b'.repeat(64)), settings.unsubscribeSecret)).toBeUndefined();
  expect(readUnsubscribeToken(token, 'another-secret-'.repeat(3))).toBeUndefined();
  expect(readUnsubscribeToken('../../etc', settings.unsubscribeSecret)).toBeUndefined();
});

test('a language with no template gets the English one with an English date, never a sentence in two languages', () => {
  const m = compose(task('sms', 'vi'));
  if ('skip' in m) throw new Error(m.skip);
  expect(m.language).toBe('en');
  expect(m.body).toMatch(/on Tuesday, June 2, 2026 at 7:00\sPM\./);
});

test('a visit whose start is not a date is not reminded (never "Invalid DateTime" in a message)', () => {
  const m = compose({ ...task('sms', 'en'), executionPeriod: { end: 'next week' } }, { ...appointment, start: 'soon' });
  expect(m).toEqual({ skip: 'the visit has no start that is a date' });
});
