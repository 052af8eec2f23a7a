/**
 * The run's messaging stage (docs/messaging.md), when `messaging:` is configured: the providers of the
 * settings (Twilio's API or its stand-in, an SMTP server), the templates (loaded once per folder), the
 * clinic's zone; decisions at the run's as-of instant.
 */
import type { MessagingSettings } from '../config/messaging-settings';
import { clinicZone } from '../config/programme-settings';
import type { AppConfig, SourceConfig } from '../config/types';
import { emailSender } from '../messaging/email';
import type { SendStep } from '../messaging/send';
import { runMessagingStage, type MessagingSummary } from '../messaging/stage';
import { loadTemplates, type TemplateSet } from '../messaging/templates';
import { TwilioClient } from '../messaging/twilio';
import type { Message } from '../store/messages';

export type { Message, SendStep };
import type { Store } from '../store/store';

const templateSets = new Map<string, TemplateSet>();

function templatesOf(settings: MessagingSettings): TemplateSet {
  const key = settings.templatesDir ?? '';
  let set = templateSets.get(key);
  if (!set) templateSets.set(key, (set = loadTemplates(settings.templatesDir)));
  return set;
}

export async function messagingStep(input: {
  store: Store;
  config: AppConfig;
  source: SourceConfig;
  asOf: Date;
  stop: AbortSignal;
  atStep?: (step: SendStep, m: Message) => void | Promise<void>;
}): Promise<MessagingSummary | undefined> {
  const settings = input.config.messaging;
  if (!settings) return undefined;
  const email = settings.email ? emailSender(settings.email) : undefined;
  try {
    return await runMessagingStage({
      store: input.store,
      actions: input.config.actions,
      source: input.source,
      settings,
      templates: templatesOf(settings),
      senders: { ...(settings.sms ? { sms: new TwilioClient(settings.sms) } : {}), ...(email ? { email } : {}) },
      identifierSystem: input.config.actions.identifierSystem,
      codeSystem: input.config.actions.codeSystem,
      zone: clinicZone(input.source),
      now: () => input.asOf,
      ...(input.atStep ? { atStep: input.atStep } : {}),
      aborted: () => input.stop.aborted,
    });
  } finally {
    email?.close();
  }
}
