/**
 * Sending (docs/messaging.md, "Exactly once"): each message due is checked again just before it goes
 * (its Task still open, its visit still booked at the same time, its window open, its address not opted
 * out), marked `sending` with the time (stored before the provider is called), sent, and its provider id
 * stored. A message found `sending` was interrupted: for SMS the provider is asked for messages to that
 * number since the attempt before anything is sent again; an email cannot be asked about, so it is not
 * sent again (never twice) and fails with the reason. A 4xx is final; a 5xx or a timeout is tried again
 * with back-off, up to MAX_ATTEMPTS.
 */
import type { Appointment, Task } from '@medplum/fhirtypes';
import type { Message } from '../store/messages';
import type { Store } from '../store/store';
import { TERMINAL_TASK_STATUSES } from '../indicators/task-status';
import { ProviderRefused } from './twilio';
import { smtpRefusedForGood } from './smtp';

export const MAX_ATTEMPTS = 5;
/** Back-off between attempts: 1, 2, 4, 8 minutes. */
const backoffMs = (attempts: number): number => 60_000 * 2 ** Math.max(0, attempts - 1);

/** What sends: an SMS provider and an email server, as the stage sees them. */
export interface Senders {
  sms?: {
    send(to: string, body: string, statusCallback: string): Promise<{ sid: string; status: string }>;
    sentTo(to: string, since: Date): Promise<{ sid: string; body: string }[]>;
  };
  email?: {
    send(m: { to: string; subject: string; text: string; messageId: string; unsubscribeUrl?: string }): Promise<string>;
  };
}

/** Where a step of sending can be interrupted (the reliability suite kills the process there). */
export type SendStep = 'before-call' | 'after-call' | 'after-store';

export interface SendContext {
  store: Store;
  sourceId: string;
  senders: Senders;
  statusCallback: string;
  now: () => Date;
  /** Test hook at each step of a send. */
  atStep?: (step: SendStep, m: Message) => void | Promise<void>;
}

export interface SendCounts {
  sent: number;
  delivered: number;
  failed: number;
  cancelled: number;
  retried: number;
  reconciled: number;
}

const unsubscribeOf = (body: string): string | undefined => /(https?:\/\/\S+\/unsubscribe\/\S+)/.exec(body)?.[1];

/** Why the message must not go now (cancelled), or that it must wait (its window has not opened). */
async function recheck(store: Store, m: Message, now: Date): Promise<{ cancel: string } | 'wait' | 'go'> {
  if (m.notAfter && now.getTime() > m.notAfter.getTime())
    return { cancel: 'its send window closed before it could be sent' };
  if (m.notBefore && now.getTime() < m.notBefore.getTime()) return 'wait';
  if ((await store.optedOut([m.recipientHash])).has(`${m.channel}|${m.recipientHash}`))
    return { cancel: `the patient opted out of ${m.channel}` };
  if (!m.taskIdentifier) return 'go';
  const written = await store.getWritten(m.sourceId, m.taskIdentifier);
  const task = m.taskServerId
    ? ((await store.getResource(m.sourceId, 'Task', m.taskServerId))?.resource as Task | undefined)
    : undefined;
  const status = task?.status ?? written?.status ?? null;
  if (!written || written.state !== 'open' || (status && TERMINAL_TASK_STATUSES.has(status)))
    return { cancel: 'its Task is no longer open' };
  if (m.about?.startsWith('Appointment/')) {
    const appt = (await store.getResource(m.sourceId, 'Appointment', m.about.slice('Appointment/'.length)))
      ?.resource as Appointment | undefined;
    const planned = task?.executionPeriod?.end;
    if (!appt || appt.status !== 'booked') return { cancel: 'the visit was cancelled since the reminder was planned' };
    if (planned && appt.start && Date.parse(appt.start) !== Date.parse(planned))
      return { cancel: 'the visit was moved since the reminder was planned' };
  }
  return 'go';
}

/**
 * An interrupted attempt: the provider's message when it made one — the same text to the same number,
 * created from a minute before the attempt (wall-clock time, as the provider dates it), and not a
 * message fhir-engage already knows as another's (two reminders of one visit may read alike).
 */
async function reconcile(ctx: SendContext, m: Message): Promise<string | undefined | 'unknown'> {
  if (m.channel === 'email') return 'unknown';
  const since = new Date((m.attemptStartedAt ?? m.createdAt).getTime() - 60_000);
  for (const x of (await ctx.senders.sms?.sentTo(m.recipient, since)) ?? [])
    if (x.body === m.body && !(await ctx.store.knowsProviderId(x.sid))) return x.sid;
  return undefined;
}

async function call(ctx: SendContext, m: Message): Promise<string> {
  if (m.channel === 'sms') {
    if (!ctx.senders.sms) throw new ProviderRefused(0, undefined, 'no SMS provider is configured');
    return (await ctx.senders.sms.send(m.recipient, m.body, ctx.statusCallback)).sid;
  }
  if (!ctx.senders.email) throw new ProviderRefused(0, undefined, 'no email server is configured');
  const unsubscribeUrl = unsubscribeOf(m.body);
  return ctx.senders.email.send({
    to: m.recipient,
    subject: m.subject ?? '',
    text: m.body,
    messageId: `<message-${m.id}.${encodeURIComponent(m.sourceId)}@fhir-engage>`,
    ...(unsubscribeUrl ? { unsubscribeUrl } : {}),
  });
}

async function sendOne(ctx: SendContext, m: Message, counts: SendCounts): Promise<void> {
  const { store } = ctx;
  const now = ctx.now();
  if (m.state === 'sending') {
    const found = await reconcile(ctx, m);
    if (found === 'unknown') {
      await store.markNotSent(
        m.id,
        {
          state: 'failed',
          reason:
            'interrupted while the email server was answering: it may have gone, so it is not sent again (never twice)',
        },
        now,
      );
      counts.failed++;
      return;
    }
    if (found) {
      await store.markSent(m.id, found, 'sent', now);
      counts.reconciled++;
      return;
    }
  }
  const check = await recheck(store, m, now);
  if (check === 'wait') return;
  if (check !== 'go') {
    await store.markNotSent(m.id, { state: 'cancelled', reason: check.cancel }, now);
    counts.cancelled++;
    return;
  }
  // The attempt's time is the wall clock's (the provider's clock), not the run's as-of instant.
  if (!(await store.markSending(m.id, new Date()))) return;
  await ctx.atStep?.('before-call', m);
  let providerId: string;
  try {
    providerId = await call(ctx, m);
  } catch (err) {
    const final = err instanceof ProviderRefused || smtpRefusedForGood(err) || m.attempts + 1 >= MAX_ATTEMPTS;
    const reason = err instanceof Error ? err.message : String(err);
    await store.markNotSent(
      m.id,
      final ? { state: 'failed', reason } : { retryAt: new Date(now.getTime() + backoffMs(m.attempts + 1)), reason },
      now,
    );
    if (final) counts.failed++;
    else counts.retried++;
    return;
  }
  await ctx.atStep?.('after-call', m);
  // An email the server accepted is as delivered as fhir-engage can know (docs/messaging.md).
  const state = m.channel === 'email' ? 'delivered' : 'sent';
  await store.markSent(m.id, providerId, state, ctx.now());
  await ctx.atStep?.('after-store', m);
  counts.sent++;
  if (state === 'delivered') counts.delivered++;
}

/** Sends every message of the source that is due. */
export async function sendDue(ctx: SendContext, aborted?: () => boolean): Promise<SendCounts> {
  const counts: SendCounts = { sent: 0, delivered: 0, failed: 0, cancelled: 0, retried: 0, reconciled: 0 };
  for (const m of await ctx.store.messagesToSend(ctx.sourceId, ctx.now())) {
    if (aborted?.()) break;
    await sendOne(ctx, m, counts);
  }
  return counts;
}
