/**
 * A survey invitation (docs/surveys.md, docs/messaging.md): for an open survey Task of a programme with
 * `delivery: direct`, a message carrying the survey's link — by the first channel of the programme's
 * order the patient can be reached by and has not opted out of — in the patient's language, inside the
 * programme's send window (today's, or the next one), never after the Task's window closes. Minimum
 * necessary: the clinic's name, "a few questions", the link; never the instrument's name. Pure.
 */
import path from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import type { ReminderChannel } from '../config/action-settings';
import type { MessagingSettings } from '../config/messaging-settings';
import { addLocalDays, localDayStart, localTimeOn } from '../local-time';
import type { MessageIntent } from '../store/messages';
import { unsubscribeToken } from './compose';
import { addressFor, addressHash, normalizeAddress, type Channel } from './address';
import { FALLBACK_LANGUAGE, render, templateFor, type TemplateSet } from './templates';

export const SURVEY_PATH = '/s';

/**
 * A message's text as recorded in the EMR or shown to staff: survey links left out (whoever reads it
 * must not answer for the patient through it; docs/surveys.md).
 */
export const withoutSurveyLinks = (text: string): string =>
  text.replace(/\/s\/[A-Za-z0-9_-]{22}\.[a-z0-9]{1,8}\.[A-Za-z0-9_-]{22}/g, '/s/[link]');

export interface InvitationInput {
  sourceId: string;
  programmeId: string | null;
  patientId: string;
  taskIdentifier: string;
  taskServerId: string;
  patient: Patient | undefined;
  /** When the Task's window closes. */
  windowEnd: number;
}

/** The patient's preferred language (Patient.communication, preferred first), as a code. */
export function patientLanguage(patient: Patient | undefined): string | undefined {
  const list = patient?.communication ?? [];
  const chosen = list.find((c) => c.preferred) ?? list[0];
  return chosen?.language?.coding?.find((c) => c.code)?.code?.toLowerCase();
}

/** The channel and address to invite by: the first of `order` with a usable address not opted out. */
export function invitationAddress(
  patient: Patient | undefined,
  order: readonly ReminderChannel[],
  settings: MessagingSettings,
  optedOut: ReadonlySet<string>,
  now: Date,
): { channel: Channel; recipient: string; hash: string } | { skip: string } {
  const channels = order.filter((c): c is Channel => (c === 'sms' || c === 'email') && !!settings[c]);
  if (!channels.length) return { skip: 'no sms or email provider for the programme’s channels' };
  let why = 'no mobile number or email address on file';
  for (const channel of channels) {
    const raw = addressFor(patient?.telecom, channel, now);
    const recipient = raw ? normalizeAddress(channel, raw, settings.sms?.defaultCountryCode) : undefined;
    if (!recipient) continue;
    const hash = addressHash(channel, recipient);
    if (optedOut.has(`${channel}|${hash}`)) {
      why = `the patient opted out of ${channel}`;
      continue;
    }
    return { channel, recipient, hash };
  }
  return { skip: why };
}

/** The next send window from `now` (today's if still open), in the clinic's zone. */
export function nextSendWindow(
  now: number,
  window: { start: string; end: string },
  zone: string,
): { from: number; to: number } {
  const today = localDayStart(now, zone);
  const end = localTimeOn(today, window.end, zone);
  if (now < end) return { from: Math.max(now, localTimeOn(today, window.start, zone)), to: end };
  const tomorrow = addLocalDays(today, 1, zone);
  return { from: localTimeOn(tomorrow, window.start, zone), to: localTimeOn(tomorrow, window.end, zone) };
}

export interface InvitationContext {
  settings: MessagingSettings;
  templates: TemplateSet;
  zone: string;
  sendWindow: { start: string; end: string };
  now: Date;
}

/** The invitation message for a survey link (`token`), or why none goes out. */
export function invitationMessage(
  input: InvitationInput,
  to: { channel: Channel; recipient: string; hash: string },
  token: string,
  ctx: InvitationContext,
): MessageIntent | { skip: string } {
  const window = nextSendWindow(ctx.now.getTime(), ctx.sendWindow, ctx.zone);
  const notAfter = Math.min(window.to, input.windowEnd);
  if (notAfter <= window.from) return { skip: 'the survey closes before the next send window' };
  const template = templateFor(ctx.templates, 'survey-invitation', patientLanguage(input.patient), to.channel);
  if (!template) return { skip: `no template for survey-invitation by ${to.channel}` };
  const written = path.basename(template.file).split('.')[1] ?? FALLBACK_LANGUAGE;
  const text = render(template, {
    clinicName: ctx.settings.clinic.name,
    clinicPhone: ctx.settings.clinic.phone,
    surveyUrl: `${ctx.settings.publicUrl}${SURVEY_PATH}/${token}`,
    ...(to.channel === 'email'
      ? {
          firstName: input.patient?.name?.[0]?.given?.[0] ?? '',
          unsubscribeUrl: `${ctx.settings.publicUrl}/unsubscribe/${unsubscribeToken(to.channel, to.hash, ctx.settings.unsubscribeSecret)}`,
        }
      : {}),
  });
  return {
    sourceId: input.sourceId,
    patientId: input.patientId,
    programmeId: input.programmeId,
    direction: 'outbound',
    kind: 'survey-invitation',
    dedupeKey: `survey|${input.taskIdentifier}`,
    taskIdentifier: input.taskIdentifier,
    taskServerId: input.taskServerId,
    about: null,
    channel: to.channel,
    recipient: to.recipient,
    recipientHash: to.hash,
    language: written,
    subject: text.subject ?? null,
    body: text.body,
    notBefore: new Date(window.from),
    notAfter: new Date(notAfter),
  };
}
