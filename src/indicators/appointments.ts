/**
 * Appointment indicators.
 *
 * No-show rate: no-shows ÷ appointments that were due in the window (start in
 * the window and not after as-of; cancelled ones were not due), after the
 * Institute for Healthcare Improvement's no-show measure (IHI, "No-Show Rate",
 * Improvement Measures: number of patients who did not keep a scheduled
 * appointment ÷ number of scheduled appointments). Adherence: kept ÷ (kept +
 * no-show), the share of due visits attended with an outcome on record. See
 * docs/indicators.md.
 */
import type { AppointmentItem, EngagementModel } from '../mapping/model';
import type { IndicatorSettings } from '../config/indicator-settings';
import { DAY_MS, daysSince, ms, round } from './time';

export interface AppointmentIndicators {
  windowDays: number;
  kept: number;
  noShows: number;
  cancelled: number;
  /** Booked for a time already past, with no outcome recorded: counted as due, neither kept nor missed. */
  unrecorded: number;
  /** No-shows ÷ due (kept + no-show + unrecorded); null when nothing was due. */
  noShowRate: number | null;
  /** Kept ÷ (kept + no-show); null when neither. */
  adherence: number | null;
  noShowsRecent: number;
  recentDays: number;
  nextAppointment?: { id: string; start: string };
  daysSinceLastKept?: number;
}

function inWindow(a: AppointmentItem, from: number, to: number): boolean {
  const t = ms(a.start);
  return t !== undefined && t >= from && t <= to;
}

export function appointmentIndicators(
  model: EngagementModel,
  now: Date,
  settings: IndicatorSettings,
): AppointmentIndicators {
  const to = now.getTime();
  const from = to - settings.appointmentWindowDays * DAY_MS;
  const windowed = model.appointments.filter((a) => inWindow(a, from, to));
  const kept = windowed.filter((a) => a.status === 'kept').length;
  const noShows = windowed.filter((a) => a.status === 'no-show').length;
  const cancelled = windowed.filter((a) => a.status === 'cancelled').length;
  const unrecorded = windowed.filter((a) => a.status === 'upcoming').length;
  const due = kept + noShows + unrecorded;
  const recentFrom = to - settings.noShowLookbackDays * DAY_MS;
  const noShowsRecent = model.appointments.filter((a) => a.status === 'no-show' && inWindow(a, recentFrom, to)).length;
  const next = model.appointments
    .filter((a) => a.status === 'upcoming' && (ms(a.start) ?? 0) > to)
    .sort((a, b) => (ms(a.start) ?? 0) - (ms(b.start) ?? 0))[0];
  const lastKept = model.appointments
    .filter((a) => a.status === 'kept' && (ms(a.start) ?? Infinity) <= to)
    .map((a) => a.start as string)
    .sort((a, b) => (ms(b) ?? 0) - (ms(a) ?? 0))[0];
  const result: AppointmentIndicators = {
    windowDays: settings.appointmentWindowDays,
    kept,
    noShows,
    cancelled,
    unrecorded,
    noShowRate: due > 0 ? round(noShows / due) : null,
    adherence: kept + noShows > 0 ? round(kept / (kept + noShows)) : null,
    noShowsRecent,
    recentDays: settings.noShowLookbackDays,
  };
  if (next?.start) result.nextAppointment = { id: next.id, start: next.start };
  const since = daysSince(lastKept, now);
  if (since !== undefined) result.daysSinceLastKept = since;
  return result;
}
