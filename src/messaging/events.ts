/**
 * What providers told fhir-engage since the last run, applied (docs/messaging.md): a status callback
 * moves its message forward (sent → delivered, undelivered or failed); an inbound SMS is the patient's
 * say — STOP and its synonyms opt the number out, START opts it back in, HELP is answered with the
 * clinic's contact, anything else is a reply recorded for the care team; an unsubscribe link opts the
 * email address out. A patient whose consent changed is computed again, so that the reminder rule
 * chooses another channel or a staff Task.
 */
import type { Message } from '../store/messages';
import type { MessageEvent } from '../store/message-events';
import type { Store } from '../store/store';
import type { MessagingSettings } from '../config/messaging-settings';
import { render, templateFor, type TemplateSet } from './templates';

/** Twilio's standard opt-out and opt-in keywords (the whole message, any case). */
export const OPT_OUT_WORDS = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE'];
export const OPT_IN_WORDS = ['START', 'YES', 'UNSTOP'];
export const HELP_WORDS = ['HELP', 'INFO'];

/** What an inbound text asks, by its one keyword (pure). */
export function inboundIntent(body: string): 'opt-out' | 'opt-in' | 'help' | 'reply' {
  const word = body
    .trim()
    .toUpperCase()
    .replace(/[.!]+$/, '');
  if (OPT_OUT_WORDS.includes(word)) return 'opt-out';
  if (OPT_IN_WORDS.includes(word)) return 'opt-in';
  if (HELP_WORDS.includes(word)) return 'help';
  return 'reply';
}

/** A provider's error code in words (Twilio's common ones), for the Task's status reason. */
export function deliveryFailure(code: string | null): string {
  const known: Record<string, string> = {
    '30003': 'the phone is unreachable or off',
    '30004': 'the message was blocked',
    '30005': 'the number is unknown or no longer in service',
    '30006': 'the number is a landline or its carrier cannot take SMS',
    '30007': 'the carrier filtered the message',
    '30008': 'the carrier gave no reason',
    '21610': 'the patient had replied STOP to this number',
  };
  return code ? (known[code] ?? `provider error ${code}`) : 'the provider gave no reason';
}

const STATUS: Record<string, 'sent' | 'delivered' | 'undelivered' | 'failed'> = {
  sent: 'sent',
  delivered: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
};

/** How long a status for an unknown message waits for it. */
const KEEP_UNKNOWN_MS = 2 * 86_400_000;

export interface EventCounts {
  statuses: number;
  optOuts: number;
  optIns: number;
  help: number;
  replies: number;
}

export interface EventContext {
  store: Store;
  settings: MessagingSettings;
  templates: TemplateSet;
  now: () => Date;
}

/** Patients who had messages at this address: their consent changed, compute them again. */
async function recompute(store: Store, latest: Message[]): Promise<void> {
  const bySource = new Map<string, Set<string>>();
  for (const m of latest)
    (bySource.get(m.sourceId) ?? bySource.set(m.sourceId, new Set()).get(m.sourceId))?.add(m.patientId);
  for (const [sourceId, ids] of bySource) await store.markPatientsToCompute(sourceId, [...ids]);
}

async function inbound(ctx: EventContext, e: MessageEvent, counts: EventCounts): Promise<void> {
  const { store } = ctx;
  const hash = e.addressHash as string;
  const latest = await store.messagesTo(hash);
  const intent = inboundIntent(e.body ?? '');
  if (intent === 'opt-out' || intent === 'opt-in') {
    await store.setOptOut('sms', hash, intent === 'opt-out', `SMS ${(e.body ?? '').trim().toUpperCase()}`);
    await recompute(store, latest);
    counts[intent === 'opt-out' ? 'optOuts' : 'optIns']++;
    return;
  }
  // Whose number it is: the patient fhir-engage last wrote to there. A number never written to is left alone.
  const last = latest[0];
  if (!last || !e.address) return;
  const common = {
    sourceId: last.sourceId,
    patientId: last.patientId,
    programmeId: last.programmeId,
    taskIdentifier: null,
    taskServerId: null,
    about: null,
    channel: 'sms' as const,
    recipient: e.address,
    recipientHash: hash,
    language: last.language,
    subject: null,
    notBefore: null,
    notAfter: null,
  };
  if (intent === 'help') {
    const template = templateFor(ctx.templates, 'help-reply', last.language, 'sms');
    if (!template) return;
    const text = render(template, { clinicName: ctx.settings.clinic.name, clinicPhone: ctx.settings.clinic.phone });
    await store.addMessages([
      { ...common, direction: 'outbound', kind: 'help-reply', dedupeKey: `help|${e.providerId}`, body: text.body },
    ]);
    counts.help++;
    return;
  }
  await store.addMessages([
    {
      ...common,
      direction: 'inbound',
      kind: 'reply',
      dedupeKey: `inbound|${e.providerId}`,
      body: e.body ?? '',
      state: 'received',
      providerId: e.providerId,
    },
  ]);
  counts.replies++;
}

/** Applies every event stored since the last run; each is marked processed (its text and address dropped). */
export async function applyEvents(ctx: EventContext): Promise<EventCounts> {
  const counts: EventCounts = { statuses: 0, optOuts: 0, optIns: 0, help: 0, replies: 0 };
  for (const e of await ctx.store.pendingMessageEvents()) {
    if (e.kind === 'status' && e.providerId && e.status && STATUS[e.status]) {
      // A status for a message whose provider id is not stored yet (a crash between the call and storing
      // its answer: the reconciliation adopts it) waits, for a while.
      if (
        !(await ctx.store.knowsProviderId(e.providerId)) &&
        ctx.now().getTime() - e.receivedAt.getTime() < KEEP_UNKNOWN_MS
      )
        continue;
      const state = STATUS[e.status] as 'sent' | 'delivered' | 'undelivered' | 'failed';
      const reason = state === 'undelivered' || state === 'failed' ? deliveryFailure(e.errorCode) : null;
      if (await ctx.store.applyProviderStatus(e.providerId, state, reason, e.receivedAt)) counts.statuses++;
    } else if (e.kind === 'inbound' && e.addressHash) {
      await inbound(ctx, e, counts);
    } else if (e.kind === 'unsubscribe' && e.addressHash && (e.channel === 'email' || e.channel === 'sms')) {
      await ctx.store.setOptOut(e.channel, e.addressHash, true, 'unsubscribe link');
      await recompute(ctx.store, await ctx.store.messagesTo(e.addressHash));
      counts.optOuts++;
    }
    await ctx.store.markEventProcessed(e.id);
  }
  return counts;
}
