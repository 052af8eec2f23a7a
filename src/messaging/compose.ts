/**
 * A reminder message from a reminder Task (docs/messaging.md): the channel and language the Task says
 * (as the reminder rule decided them), the patient's address for that channel, the template of that
 * kind, language and channel filled with the minimum necessary — the clinic's name and phone, the
 * visit's local date and time, the first name in an email, the unsubscribe link — and the Task's send
 * window. Or why none is sent. Pure: everything is given, `now` included.
 */
import { createHmac } from 'node:crypto';
import path from 'node:path';
import type { Appointment, Patient, Task } from '@medplum/fhirtypes';
import type { MessagingSettings } from '../config/messaging-settings';
import { localWords } from '../local-time';
import type { MessageIntent } from '../store/messages';
import { addressFor, addressHash, normalizeAddress, type Channel } from './address';
import { FALLBACK_LANGUAGE, render, templateFor, type TemplateSet } from './templates';

export interface ReminderInput {
  sourceId: string;
  programmeId: string | null;
  patientId: string;
  taskIdentifier: string;
  task: Task & { id: string };
  patient: Patient | undefined;
  appointment: Appointment | undefined;
}

export interface ComposeContext {
  settings: MessagingSettings;
  templates: TemplateSet;
  codeSystem: string;
  zone: string;
  /** The (channel|address hash) pairs whose owners opted out. */
  optedOut: ReadonlySet<string>;
  now: Date;
}

const inputCode = (task: Task, code: string, codeSystem: string): string | undefined =>
  task.input?.find((i) => i.type?.coding?.some((c) => c.system === codeSystem && c.code === code))?.valueCode;

/** The signed unsubscribe token of an address: `<channel>.<hash>.<hmac>` (docs/messaging.md, "Opt-out"). */
export function unsubscribeToken(channel: Channel, hash: string, secret: string): string {
  const mac = createHmac('sha256', secret).update(`${channel}.${hash}`).digest('base64url').slice(0, 32);
  return `${channel}.${hash}.${mac}`;
}

/** The token's channel and hash when its signature holds. */
export function readUnsubscribeToken(token: string, secret: string): { channel: Channel; hash: string } | undefined {
  const m = /^(sms|email)\.([0-9a-f]{64})\.([A-Za-z0-9_-]{32})$/.exec(token);
  if (!m) return undefined;
  const [, channel, hash] = m as unknown as [string, Channel, string];
  return unsubscribeToken(channel, hash, secret) === token ? { channel, hash } : undefined;
}

export function reminderMessage(input: ReminderInput, ctx: ComposeContext): MessageIntent | { skip: string } {
  const channel = inputCode(input.task, 'reminder-channel', ctx.codeSystem);
  if (channel !== 'sms' && channel !== 'email') return { skip: `the reminder's channel is ${channel ?? 'none'}` };
  if (!ctx.settings[channel]) return { skip: `no ${channel} provider is configured` };
  const raw = addressFor(input.patient?.telecom, channel, ctx.now);
  const recipient = raw ? normalizeAddress(channel, raw, ctx.settings.sms?.defaultCountryCode) : undefined;
  if (!recipient) return { skip: `no usable ${channel === 'sms' ? 'mobile number' : 'email address'} on file` };
  const hash = addressHash(channel, recipient);
  if (ctx.optedOut.has(`${channel}|${hash}`)) return { skip: `the patient opted out of ${channel}` };
  const start = input.task.executionPeriod?.end ?? input.appointment?.start;
  if (!start || Number.isNaN(Date.parse(start))) return { skip: 'the visit has no start that is a date' };
  const language = inputCode(input.task, 'reminder-language', ctx.codeSystem) ?? FALLBACK_LANGUAGE;
  const template = templateFor(ctx.templates, 'appointment-reminder', language, channel);
  if (!template) return { skip: `no template for appointment-reminder by ${channel}` };
  // The date and time read in the template's language (an English fallback says an English date).
  const written = path.basename(template.file).split('.')[1] ?? FALLBACK_LANGUAGE;
  const when = localWords(Date.parse(start), ctx.zone, written);
  const text = render(template, {
    clinicName: ctx.settings.clinic.name,
    clinicPhone: ctx.settings.clinic.phone,
    date: when.date,
    time: when.time,
    ...(channel === 'email'
      ? {
          firstName: input.patient?.name?.[0]?.given?.[0] ?? '',
          unsubscribeUrl: `${ctx.settings.publicUrl}/unsubscribe/${unsubscribeToken(channel, hash, ctx.settings.unsubscribeSecret)}`,
        }
      : {}),
  });
  const window = input.task.restriction?.period;
  return {
    sourceId: input.sourceId,
    patientId: input.patientId,
    programmeId: input.programmeId,
    direction: 'outbound',
    kind: 'appointment-reminder',
    dedupeKey: `reminder|${input.taskIdentifier}`,
    taskIdentifier: input.taskIdentifier,
    taskServerId: input.task.id,
    about: input.task.focus?.reference ?? null,
    channel,
    recipient,
    recipientHash: hash,
    language: written,
    subject: text.subject ?? null,
    body: text.body,
    notBefore: window?.start ? new Date(window.start) : null,
    notAfter: window?.end ? new Date(window.end) : null,
  };
}
