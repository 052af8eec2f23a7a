/** Date arithmetic for indicators: explicit, UTC, no clock. */
export const DAY_MS = 86_400_000;

export function ms(iso: string | undefined): number | undefined {
  if (!iso) return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}

/** Whole days from `fromIso` to `now` (floor), or undefined. */
export function daysSince(fromIso: string | undefined, now: Date): number | undefined {
  const t = ms(fromIso);
  return t === undefined ? undefined : Math.floor((now.getTime() - t) / DAY_MS);
}

/** Same day-of-month `months` later (clamped to the month's last day), as FHIR/CMS "12 months" means. */
export function addMonths(date: Date, months: number): Date {
  const y = date.getUTCFullYear();
  const m = date.getUTCMonth() + months;
  const target = new Date(
    Date.UTC(y, m, 1, date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), date.getUTCMilliseconds()),
  );
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(date.getUTCDate(), lastDay));
  return target;
}

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS);
}

export function round(n: number, places = 3): number {
  const f = 10 ** places;
  return Math.round(n * f) / f;
}
