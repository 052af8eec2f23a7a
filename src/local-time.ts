/**
 * The clinic's time (docs/programme.md, "The clinic's time"): days, months and times of day in the
 * source's IANA time zone, with Luxon doing the calendar and DST arithmetic (never by hand). Pure:
 * instants (ms since the epoch) and the zone name in, instants or strings out. A "day" in a zone is
 * 23, 24 or 25 hours long.
 */
import { DateTime, IANAZone } from 'luxon';

export const UTC = 'UTC';

/**
 * Whether `zone` is an IANA time zone this runtime knows, written as Region/City (America/Chicago) or
 * UTC. Abbreviations such as CST or EST are refused although the runtime accepts some: they are
 * ambiguous (CST is also China's) and some never change for DST.
 */
export const isTimeZone = (zone: string): boolean => (zone === UTC || zone.includes('/')) && IANAZone.isValidZone(zone);

const at = (t: number, zone: string): DateTime => DateTime.fromMillis(t, { zone });

/** The instant the local day of `t` starts. */
export const localDayStart = (t: number, zone: string): number => at(t, zone).startOf('day').toMillis();

/** `t` moved by whole local days (the same wall-clock time; a DST change makes such a day 23 or 25 hours). */
export const addLocalDays = (t: number, days: number, zone: string): number => at(t, zone).plus({ days }).toMillis();

/** The local date of `t` (YYYY-MM-DD). */
export const localDate = (t: number, zone: string): string => at(t, zone).toISODate() as string;

/** The local month of `t` (YYYY-MM). */
export const localMonth = (t: number, zone: string): string => at(t, zone).toFormat('yyyy-MM');

/** The instant a local date (YYYY-MM-DD) starts; NaN when it is not a date. */
export function localDateStart(day: string, zone: string): number {
  const d = DateTime.fromISO(day, { zone });
  return d.isValid ? d.startOf('day').toMillis() : Number.NaN;
}

/**
 * The instant of a local wall-clock time (HH:MM) on the local day of `t`. A time that does not exist
 * that day (skipped by a DST change) moves forward by the gap, as Luxon does.
 */
export function localTimeOn(t: number, hhmm: string, zone: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return at(t, zone)
    .set({ hour: h ?? 0, minute: m ?? 0, second: 0, millisecond: 0 })
    .toMillis();
}

/** An instant as ISO 8601 with the zone's offset (how a reminder's send window reads to a person). */
export const localIso = (t: number, zone: string): string =>
  at(t, zone).toISO({ suppressMilliseconds: true }) as string;

/** A day and a time as a patient reads them in their language (a reminder: "Tuesday, June 9, 2026", "2:30 PM"). */
export function localWords(t: number, zone: string, locale: string): { date: string; time: string } {
  const d = at(t, zone).setLocale(locale);
  return { date: d.toLocaleString(DateTime.DATE_HUGE), time: d.toLocaleString(DateTime.TIME_SIMPLE) };
}

/**
 * A report boundary as a person writes it: a date (YYYY-MM-DD) is the start of that day in the
 * clinic's zone; an instant (with a time) is that instant. NaN when it is neither.
 */
export function dayOrInstant(value: string, zone: string): number {
  return /^\d{4}-\d{2}-\d{2}$/.test(value) ? localDateStart(value, zone) : Date.parse(value);
}
