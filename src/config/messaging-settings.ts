/**
 * Messages to patients (docs/messaging.md): reminders sent by fhir-engage itself, by SMS (Twilio's
 * Programmable Messaging API, or a stand-in with the same API) and email (SMTP), to programmes whose
 * `delivery` is `direct`. Every option is described once, in config.schema.json's `messaging`.
 */
import type { SmtpSettings } from './alert-settings';

export interface MessagingSettings {
  /** Where providers reach fhir-engage (status callbacks, inbound SMS) and patients the unsubscribe link. */
  publicUrl: string;
  clinic: { name: string; phone: string };
  /** Template overrides (FHIR_ENGAGE_TEMPLATES overrides it). */
  templatesDir?: string;
  /** Signs unsubscribe links (an ${ENV_VAR}). */
  unsubscribeSecret: string;
  sms?: {
    provider: 'twilio';
    apiBaseUrl: string;
    accountSid: string;
    authToken: string;
    messagingServiceSid?: string;
    from?: string;
    /** The country code (+1, +34, …) a national number on file takes; without it only E.164 numbers are texted. */
    defaultCountryCode?: string;
    messagesPerSecond: number;
  };
  email?: { from: string; smtp: SmtpSettings; messagesPerSecond: number };
}

export const TWILIO_API = 'https://api.twilio.com';
export const DEFAULT_MESSAGES_PER_SECOND = { sms: 1, email: 5 };

/** How a programme's reminders reach patients: Tasks only (an EMR or platform sends them), or fhir-engage sends them. */
export type Delivery = 'tasks-only' | 'direct';

/** The channels fhir-engage can send by with these settings. */
export const directChannels = (m: MessagingSettings | undefined): ('sms' | 'email')[] => [
  ...(m?.sms ? (['sms'] as const) : []),
  ...(m?.email ? (['email'] as const) : []),
];
