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
  /** Survey links and the survey page (docs/surveys.md); absent: survey Tasks only, no invitations. */
  surveys?: SurveyPageSettings;
}

/** A key that signs survey links. */
export interface LinkKey {
  id: string;
  secret: string;
}

/** One line of help on the crisis page: what it is, and the number to call or text. */
export interface CrisisResource {
  text: string;
  call?: string;
  sms?: string;
}

/** Crisis resources by language (en, es). */
export type CrisisResources = Partial<Record<'en' | 'es', CrisisResource[]>>;

export interface SurveyPageSettings {
  /** The live keys: the first signs new links, each verifies (rotation with two). */
  linkKeys: LinkKey[];
  /** Ask the patient's birth date before the form. */
  confirmBirthDate: boolean;
  /** Crisis resources by language over the defaults (the US' 988 and 911). */
  crisis?: CrisisResources;
  /** Requests per minute from one address to the survey page. */
  requestsPerMinute: number;
}

export const DEFAULT_SURVEY_REQUESTS_PER_MINUTE = 30;

const KEY_ID = /^[a-z0-9]{1,8}$/;
/** At least 256 bits of secret, written as text. */
export const MIN_LINK_SECRET_LENGTH = 32;

/**
 * Keys from configuration text: `id:secret[,id:secret]`, the first signing. Throws in words (the
 * caller names the setting); never echoes a secret.
 */
export function parseLinkKeys(text: string): LinkKey[] {
  const keys = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part, i) => {
      const at = part.indexOf(':');
      const id = at > 0 ? part.slice(0, at) : '';
      const secret = at > 0 ? part.slice(at + 1) : '';
      if (!KEY_ID.test(id))
        throw new Error(`key ${i + 1} needs an id of 1 to 8 lower-case letters or digits before a colon (id:secret)`);
      if (secret.length < MIN_LINK_SECRET_LENGTH)
        throw new Error(`key "${id}" needs a secret of ${MIN_LINK_SECRET_LENGTH} characters or more`);
      return { id, secret };
    });
  if (keys.length === 0) throw new Error('no key is given (id:secret[,id:secret])');
  if (keys.length > 2) throw new Error('at most two keys are live at once: the new one first, the old one second');
  if (keys.length === 2 && keys[0]?.id === keys[1]?.id) throw new Error('the two keys need different ids');
  return keys;
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
