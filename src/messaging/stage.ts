/**
 * The messaging stage of a run (docs/messaging.md), after write-back: providers' events applied,
 * reminder messages composed for the open reminder Tasks of programmes with `delivery: direct` whose
 * send window is open (stored once per Task), survey invitations with their links for open survey
 * Tasks (`invitations.ts`), every message due sent, and final outcomes enqueued for
 * the EMR (the run's dispatch sends them).
 */
import type { Appointment, Patient, Task } from '@medplum/fhirtypes';
import { programmesOf } from '../config/programme-settings';
import type { MessagingSettings } from '../config/messaging-settings';
import type { AppConfig, SourceConfig } from '../config/types';
import type { MessageIntent } from '../store/messages';
import type { Store } from '../store/store';
import { reminderMessage } from './compose';
import { planInvitations } from './invitations';
import { applyEvents, type EventCounts } from './events';
import { recordOutcomes } from './record';
import { sendDue, type SendContext, type SendCounts, type Senders } from './send';
import type { TemplateSet } from './templates';

export interface MessagingStageContext {
  store: Store;
  /** The file's action settings (each programme's reminders' channels and send window lay over them). */
  actions: AppConfig['actions'];
  source: SourceConfig;
  settings: MessagingSettings;
  templates: TemplateSet;
  senders: Senders;
  identifierSystem: string;
  codeSystem: string;
  zone: string;
  now: () => Date;
  atStep?: SendContext['atStep'];
  aborted?: () => boolean;
}

export interface MessagingSummary extends SendCounts, EventCounts {
  planned: number;
  recorded: number;
  /** Reminder Tasks of direct programmes no message went out for, by why (no number on file, opted out, …). */
  skipped: Record<string, number>;
}

/** Composes and stores the messages of reminder Tasks whose window is open; returns how many are new. */
async function planReminders(ctx: MessagingStageContext, skipped: Record<string, number>): Promise<number> {
  const direct = new Set(
    programmesOf(ctx.source)
      .filter((p) => p.delivery === 'direct')
      .map((p) => p.id),
  );
  if (direct.size === 0) return 0;
  const now = ctx.now();
  const due = (await ctx.store.reminderTasksDue(ctx.source.id, now)).filter((t) =>
    t.programmes.some((p) => direct.has(p)),
  );
  const intents: MessageIntent[] = [];
  for (const t of due) {
    const task = t.task as Task & { id: string };
    const patient = (await ctx.store.getResource(ctx.source.id, 'Patient', t.patientId))?.resource as
      Patient | undefined;
    const apptId = task.focus?.reference?.replace(/^Appointment\//, '');
    const appointment = apptId
      ? ((await ctx.store.getResource(ctx.source.id, 'Appointment', apptId))?.resource as Appointment | undefined)
      : undefined;
    const m = reminderMessage(
      {
        sourceId: ctx.source.id,
        programmeId: t.programmes.find((p) => direct.has(p)) ?? null,
        patientId: t.patientId,
        taskIdentifier: t.identifierValue,
        task: { ...task, id: t.serverId },
        patient,
        appointment,
      },
      {
        settings: ctx.settings,
        templates: ctx.templates,
        codeSystem: ctx.codeSystem,
        zone: ctx.zone,
        // Consent is checked below, by the address the message goes to.
        optedOut: new Set(),
        now,
      },
    );
    const why =
      'skip' in m
        ? m.skip
        : (await ctx.store.optedOut([m.recipientHash])).has(`${m.channel}|${m.recipientHash}`)
          ? `the patient opted out of ${m.channel}`
          : undefined;
    if (why) skipped[why] = (skipped[why] ?? 0) + 1;
    else if (!('skip' in m)) intents.push(m);
  }
  return ctx.store.addMessages(intents);
}

export async function runMessagingStage(ctx: MessagingStageContext): Promise<MessagingSummary> {
  const events = await applyEvents({
    store: ctx.store,
    settings: ctx.settings,
    templates: ctx.templates,
    now: ctx.now,
  });
  const skipped: Record<string, number> = {};
  const planned = (await planReminders(ctx, skipped)) + (await planInvitations(ctx, ctx.actions, skipped));
  const sent = await sendDue(
    {
      store: ctx.store,
      sourceId: ctx.source.id,
      senders: ctx.senders,
      statusCallback: `${ctx.settings.publicUrl}/hooks/twilio/status`,
      now: ctx.now,
      ...(ctx.atStep ? { atStep: ctx.atStep } : {}),
    },
    ctx.aborted,
  );
  const target = ctx.source.writeTarget?.baseUrl ?? ctx.source.baseUrl;
  const recorded = await recordOutcomes(
    ctx.store,
    ctx.source.id,
    target,
    { identifierSystem: ctx.identifierSystem, codeSystem: ctx.codeSystem },
    ctx.now(),
  );
  return { ...events, ...sent, planned, recorded, skipped };
}
