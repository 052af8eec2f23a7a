/**
 * Appointment reminders (docs/programme.md): one Task per upcoming booked
 * appointment and lead time, for the EMR's (or a messaging platform's)
 * reminder engine. The Task says when (restriction.period: the send window,
 * 09:00–19:00 local by default, on the day `lead` days before the visit in the
 * clinic's time zone; executionPeriod.end: the appointment) and how
 * (Task.input: the channel kind and the language, never a number or address).
 * A patient with no reachable channel gets one Task for staff instead.
 * Pure: model, what was written, settings and `now` in; desired Tasks out.
 *
 * Reminders reduce missed appointments: Guy R et al., "How effective are
 * short message service reminders at increasing clinic attendance? A
 * meta-analysis and systematic review", Health Serv Res 2012;47(2):614-632.
 */
import type { Task, TaskInput } from '@medplum/fhirtypes';
import type { AppointmentItem, ContactKind, EngagementModel } from '../mapping/model';
import type { WrittenResource } from '../store/types';
import type { ActionSettings, ReminderChannel } from '../config/action-settings';
import { addLocalDays, localDayStart, localIso, localTimeOn, UTC } from '../local-time';

export interface ReminderPlan {
  appointmentId: string;
  leadDays: number;
  /** The send window: on the local day `leadDays` before the visit, between the window's times (never after the visit starts). */
  notBefore: string;
  notAfter: string;
  start: string;
}

/**
 * The send window of a reminder `leadDays` local days before a visit at `start`, in the clinic's zone;
 * undefined when no part of it is before the visit (a same-day reminder for an early visit).
 */
export function sendWindow(
  start: number,
  leadDays: number,
  window: ActionSettings['reminders']['sendWindow'],
  zone: string,
): { from: number; to: number } | undefined {
  const day = addLocalDays(localDayStart(start, zone), -leadDays, zone);
  const from = localTimeOn(day, window.start, zone);
  const to = Math.min(localTimeOn(day, window.end, zone), start);
  return to > from ? { from, to } : undefined;
}

/** Appointments a reminder is for: booked, with a start still ahead. */
export function remindable(model: EngagementModel, now: Date): (AppointmentItem & { start: string })[] {
  return model.appointments.filter(
    (a): a is AppointmentItem & { start: string } =>
      a.status === 'upcoming' &&
      a.sourceStatus === 'booked' &&
      a.start !== undefined &&
      Date.parse(a.start) > now.getTime(),
  );
}

/**
 * The reminders wanted now. A lead time already past is not created late
 * (a 7-day reminder for tomorrow's visit helps no one), but one written
 * before stays wanted until the appointment: cancelling it would lose the
 * reminder already queued.
 */
export function plannedReminders(
  model: EngagementModel,
  written: ReadonlySet<string>,
  settings: ActionSettings['reminders'],
  now: Date,
  identifierOf: (r: Pick<ReminderPlan, 'appointmentId' | 'leadDays'>) => string,
  zone = UTC,
): ReminderPlan[] {
  const out: ReminderPlan[] = [];
  for (const a of remindable(model, now)) {
    const start = Date.parse(a.start);
    for (const leadDays of [...settings.leadTimesDays].sort((x, y) => y - x)) {
      const w = sendWindow(start, leadDays, settings.sendWindow, zone);
      const kept = written.has(identifierOf({ appointmentId: a.id, leadDays }));
      // A send window already closed (or none before the visit) is not created late.
      if (!kept && (!w || w.to <= now.getTime())) continue;
      const at = w ?? { from: start, to: start };
      out.push({
        appointmentId: a.id,
        leadDays,
        notBefore: localIso(at.from, zone),
        notAfter: localIso(at.to, zone),
        start: a.start,
      });
    }
  }
  return out;
}

/** Channels a contact point offers: a mobile phone takes SMS as well as calls. */
function channelsOf(c: ContactKind): ReminderChannel[] {
  if (c.system === 'sms') return ['sms'];
  if (c.system === 'email') return ['email'];
  if (c.system === 'phone') return c.use === 'mobile' ? ['sms', 'phone'] : ['phone'];
  return [];
}

/**
 * The channel to remind by: among contact points still in use, the one the
 * patient ranked first (ContactPoint.rank, 1 = preferred); with no ranks,
 * the first channel in the programme's preference order.
 */
export function reminderChannel(
  contacts: ContactKind[] | undefined,
  preference: ReminderChannel[],
  now: Date,
): ReminderChannel | undefined {
  const live = (contacts ?? []).filter((c) => !c.until || Date.parse(c.until) > now.getTime());
  const allowed = (c: ContactKind): ReminderChannel[] =>
    channelsOf(c)
      .filter((ch) => preference.includes(ch))
      .sort((a, b) => preference.indexOf(a) - preference.indexOf(b));
  const ranked = live
    .filter((c) => c.rank !== undefined && allowed(c).length > 0)
    .sort((a, b) => (a.rank as number) - (b.rank as number));
  if (ranked[0]) return allowed(ranked[0])[0];
  const offered = new Set(live.flatMap(allowed));
  return preference.find((p) => offered.has(p));
}

/** Task.input entries that tell a reminder engine how to reach the patient. */
export function reminderInputs(
  codeSystem: string,
  channel: ReminderChannel,
  language: string | undefined,
): TaskInput[] {
  const type = (code: string): TaskInput['type'] => ({ coding: [{ system: codeSystem, code }] });
  return [
    { type: type('reminder-channel'), valueCode: channel },
    ...(language ? [{ type: type('reminder-language'), valueCode: language }] : []),
  ];
}

/** Whether a written reminder is still about this appointment (used to keep it until the visit). */
export function reminderIdentifiers(written: WrittenResource[]): Set<string> {
  return new Set(
    written.filter((w) => w.rule === 'appointment-reminder' && w.state !== 'closed').map((w) => w.identifierValue),
  );
}

/** The fields of a reminder Task beyond the common ones (focus, timing, how to reach the patient). */
export function reminderTaskFields(plan: ReminderPlan, inputs: TaskInput[]): Partial<Task> {
  return {
    description: `Appointment reminder, ${plan.leadDays} day(s) before the visit.`,
    focus: { reference: `Appointment/${plan.appointmentId}` },
    executionPeriod: { end: plan.start },
    restriction: { period: { start: plan.notBefore, end: plan.notAfter } },
    input: inputs,
  };
}
