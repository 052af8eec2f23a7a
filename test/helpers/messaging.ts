/** Messaging settings the tests share (docs/messaging.md): a clinic, and SMS through Twilio or the sandbox's stand-in. */
import type { MessagingSettings } from '../../src/config/messaging-settings';
import type { SandboxServer } from '../../src/sandbox/server';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../../src/sandbox/sms-provider';

/** For pure tests: nothing is sent. */
export const PAPER_MESSAGING: MessagingSettings = {
  publicUrl: 'https://engage.example.org',
  clinic: { name: 'Riverside Clinic', phone: '555-0100' },
  unsubscribeSecret: 'x'.repeat(40),
  sms: {
    provider: 'twilio',
    apiBaseUrl: 'https://api.twilio.com',
    accountSid: 'AC1',
    authToken: 't',
    from: '+15550000000',
    defaultCountryCode: '+1',
    messagesPerSecond: 1,
  },
  email: { from: 'r@example.org', smtp: { host: 'localhost' }, messagesPerSecond: 1 },
};

/** Riverside Clinic texting through the sandbox's Twilio stand-in, its callbacks to `publicUrl`. */
export function sandboxSmsMessaging(emr: SandboxServer, publicUrl: string): MessagingSettings {
  return {
    publicUrl,
    clinic: { name: 'Riverside Clinic', phone: '555-0100' },
    unsubscribeSecret: 'an-unsubscribe-secret-of-32-characters!',
    sms: {
      provider: 'twilio',
      apiBaseUrl: emr.sms.apiBaseUrl,
      accountSid: SANDBOX_ACCOUNT_SID,
      authToken: SANDBOX_AUTH_TOKEN,
      from: '+15550000000',
      defaultCountryCode: '+1',
      messagesPerSecond: 100,
    },
  };
}
