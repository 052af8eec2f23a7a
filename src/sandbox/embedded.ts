/**
 * The sandbox EMR as `npm start` runs it when no EMR is configured: served
 * in-process on an ephemeral port, seeded with the fixtures and generated
 * patients whose year ends today, behind OAuth2 client_credentials.
 */
import path from 'node:path';
import { DEFAULT_PULL, type SourceConfig } from '../config/types';
import type { SandboxServer } from './server';
import type { SandboxRepository } from './repository';
import { startSeededSandbox, todayAnchor } from './start';
import type { MessagingSettings } from '../config/messaging-settings';
import { startMailCatcher, type MailCatcher } from './mail-catcher';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from './sms-provider';

export const SANDBOX_SOURCE_ID = 'sandbox';

export interface EmbeddedSandbox {
  server: SandboxServer;
  repo: SandboxRepository;
  source: SourceConfig;
  seededMs: number;
  /** Messages to patients on the sandbox, when fhir-engage's API takes callbacks: its SMS stand-in and mail catcher. */
  messaging?: MessagingSettings;
  mail?: MailCatcher;
  close(): Promise<void>;
}

/**
 * The sandbox's messaging: SMS through its Twilio stand-in, email to its mail catcher, callbacks to
 * fhir-engage's API at `publicUrl`. The unsubscribe secret only signs links of this sandbox.
 */
export function sandboxMessaging(server: SandboxServer, mailPort: number, publicUrl: string): MessagingSettings {
  return {
    publicUrl,
    clinic: { name: 'Sandbox Clinic', phone: '555-0100' },
    unsubscribeSecret: 'sandbox-unsubscribe-links-are-not-secret',
    // Survey links of the sandbox only (a real deployment's keys come from its environment, docs/surveys.md).
    surveys: {
      linkKeys: [{ id: 'sandbox', secret: 'sandbox-survey-links-are-signed-but-not-secret' }],
      confirmBirthDate: false,
      // The simulated patients all answer from this machine.
      requestsPerMinute: 600,
    },
    sms: {
      provider: 'twilio',
      apiBaseUrl: server.sms.apiBaseUrl,
      accountSid: SANDBOX_ACCOUNT_SID,
      authToken: SANDBOX_AUTH_TOKEN,
      from: '+15550000000',
      // The generated numbers are national (555-01xx).
      defaultCountryCode: '+1',
      messagesPerSecond: 50,
    },
    email: {
      from: 'reminders@sandbox.example',
      smtp: { host: '127.0.0.1', port: mailPort, tls: 'off' },
      messagesPerSecond: 50,
    },
  };
}

export async function startEmbeddedSandbox(options: {
  patients: number;
  seed: number;
  dataDir: string;
  now?: Date;
  /**
   * fhir-engage's API as the SMS stand-in calls it back: given, fhir-engage sends the reminders itself
   * (delivery direct); absent (`sandbox simulate`), the simulated messaging platform does.
   */
  publicUrl?: string;
}): Promise<EmbeddedSandbox> {
  const { server, credentials, seeded } = await startSeededSandbox({
    patients: options.patients,
    seed: options.seed,
    anchor: todayAnchor(options.now),
    auth: 'client_credentials',
    credentialsDir: path.join(options.dataDir, 'sandbox'),
    sms: { failureRate: 0.03, seed: options.seed },
  });
  const mail = options.publicUrl ? await startMailCatcher() : undefined;
  if (options.publicUrl) server.sms.inboundUrl = `${options.publicUrl}/hooks/twilio/inbound`;
  const source: SourceConfig = {
    id: SANDBOX_SOURCE_ID,
    name: 'Built-in sandbox EMR',
    baseUrl: server.baseUrl,
    auth: credentials.client(server.tokenUrl),
    resourceTypes: ['Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse'],
    pageSize: 200,
    mode: 'system',
    schedule: '*/15 * * * *',
    rateLimit: { requestsPerSecond: 200, concurrency: 4 },
    timeoutMs: 30_000,
    maxRetries: 5,
    overlapSeconds: 300,
    writeBatchSize: 50,
    writeBack: true,
    // The built-in sandbox is there to be written to: no first-run hold (docs/programme.md).
    approval: { firstRun: 'write' },
    // The first load goes through $export (as a large clinic's would), later runs search.
    pull: { ...DEFAULT_PULL, method: 'auto' },
    // fhir-engage sends the reminders itself, to the sandbox's SMS stand-in and mail catcher.
    ...(mail ? { delivery: 'direct' as const } : {}),
  };
  return {
    server,
    repo: server.repo,
    source,
    seededMs: seeded.durationMs,
    ...(mail && options.publicUrl ? { messaging: sandboxMessaging(server, mail.port, options.publicUrl), mail } : {}),
    close: async () => {
      await mail?.close();
      await server.close();
    },
  };
}
