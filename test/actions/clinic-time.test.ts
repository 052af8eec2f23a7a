/**
 * The clinic's time (docs/programme.md): survey windows open at the start of the clinic's local day
 * and last whole local days; reminders carry a send window (09:00-19:00 local by default) on the day
 * their lead time names; both at the right instants across a DST change, in two zones (Chicago moves
 * its clocks on 2026-03-08 and 2026-11-01, Madrid on 2026-03-29 and 2026-10-25). And phased start:
 * a programme's first patients get their first survey spread over the cadence, each on a stable day.
 */
import type { Task } from '@medplum/fhirtypes';
import { planProgrammes } from '../../src/actions/plan';
import { sendWindow } from '../../src/actions/reminders';
import { periodicWindow, phaseOffset, type SurveyClock } from '../../src/actions/surveys';
import { DEFAULT_ACTION_SETTINGS, type PeriodicSurvey } from '../../src/config/action-settings';
import type { ProgrammeDefinition } from '../../src/config/programme-settings';
import { computeIndicators } from '../../src/indicators/compute';
import { DEFAULT_INDICATOR_SETTINGS } from '../../src/config/indicator-settings';
import type { EngagementModel } from '../../src/mapping/model';
import { emptyModel, writtenTask } from '../helpers/model';

const PHQ9: PeriodicSurvey = {
  instrument: 'phq9',
  questionnaire: 'http://loinc.org/q/44249-1',
  everyDays: 28,
};
const PREFIX = 'p1/survey/phq9/';
const WINDOW = DEFAULT_ACTION_SETTINGS.reminders.sendWindow;

const answered = (authored: string): EngagementModel =>
  emptyModel({
    responses: [
      {
        id: 'r1',
        instrument: 'phq9',
        authored,
        status: 'completed',
        answers: [],
        score: { instrument: 'phq9', total: 4, complete: true, items: {}, missing: [] },
      },
    ],
  });

describe('survey windows in the clinic’s day', () => {
  test('Chicago, spring forward: due on 10 March, the window opens at local midnight (CDT) and lasts 14 local days', () => {
    // Answered 10 February 15:00 CST (21:00Z): due 28 local days later, 10 March 15:00 CDT.
    const w = periodicWindow(answered('2026-02-10T21:00:00Z'), PHQ9, [], 14, new Date('2026-03-10T21:30:00Z'), PREFIX, {
      zone: 'America/Chicago',
    });
    expect(w).toMatchObject({ key: '2026-03-10', start: '2026-03-10T05:00:00.000Z', end: '2026-03-24T05:00:00.000Z' });
    // Without a zone, the same window is UTC's day.
    expect(
      periodicWindow(answered('2026-02-10T21:00:00Z'), PHQ9, [], 14, new Date('2026-03-10T21:30:00Z'), PREFIX),
    ).toMatchObject({ key: '2026-03-10', start: '2026-03-10T00:00:00.000Z' });
  });

  test('Chicago: a window that spans the change ends at local midnight (13 days and 23 hours later)', () => {
    const opened = [writtenTask(`${PREFIX}2026-03-01`, 'survey-assignment')];
    const w = periodicWindow(emptyModel(), PHQ9, opened, 14, new Date('2026-03-14T12:00:00Z'), PREFIX, {
      zone: 'America/Chicago',
    });
    expect(w).toMatchObject({ key: '2026-03-01', start: '2026-03-01T06:00:00.000Z', end: '2026-03-15T05:00:00.000Z' });
    // At 23:30 local on 14 March it is still open; at 00:30 local on 15 March (05:30Z) it has closed.
    expect(
      periodicWindow(emptyModel(), PHQ9, opened, 14, new Date('2026-03-15T04:30:00Z'), PREFIX, {
        zone: 'America/Chicago',
      })?.key,
    ).toBe('2026-03-01');
    expect(
      periodicWindow(emptyModel(), PHQ9, opened, 14, new Date('2026-03-15T05:30:00Z'), PREFIX, {
        zone: 'America/Chicago',
      })?.key,
    ).not.toBe('2026-03-01');
  });

  test('Madrid, fall back: a window opened 20 October (CEST) ends 3 November at local midnight (CET)', () => {
    const opened = [writtenTask(`${PREFIX}2026-10-20`, 'survey-assignment')];
    const w = periodicWindow(emptyModel(), PHQ9, opened, 14, new Date('2026-10-26T10:00:00Z'), PREFIX, {
      zone: 'Europe/Madrid',
    });
    expect(w).toMatchObject({ start: '2026-10-19T22:00:00.000Z', end: '2026-11-02T23:00:00.000Z' });
  });
});

describe('reminder send windows', () => {
  test('Chicago: the 1-day reminder of a 9 March visit is sent on 8 March (the change day) between 09:00 and 19:00 CDT', () => {
    const visit = Date.parse('2026-03-09T15:00:00Z'); // 10:00 CDT
    expect(sendWindow(visit, 1, WINDOW, 'America/Chicago')).toEqual({
      from: Date.parse('2026-03-08T14:00:00Z'),
      to: Date.parse('2026-03-09T00:00:00Z'),
    });
    // The 7-day one falls before the change: 09:00 CST is 15:00Z.
    expect(sendWindow(visit, 7, WINDOW, 'America/Chicago')?.from).toBe(Date.parse('2026-03-02T15:00:00Z'));
  });

  test('Madrid: 29 March (the change day) 09:00-19:00 CEST; a same-day reminder for an 08:30 visit has no window', () => {
    const visit = Date.parse('2026-03-30T06:30:00Z'); // 08:30 CEST
    expect(sendWindow(visit, 1, WINDOW, 'Europe/Madrid')).toEqual({
      from: Date.parse('2026-03-29T07:00:00Z'),
      to: Date.parse('2026-03-29T17:00:00Z'),
    });
    expect(sendWindow(visit, 0, WINDOW, 'Europe/Madrid')).toBeUndefined();
    // A same-day reminder for a 15:00 visit closes when the visit starts.
    expect(sendWindow(Date.parse('2026-03-30T13:00:00Z'), 0, WINDOW, 'Europe/Madrid')).toEqual({
      from: Date.parse('2026-03-30T07:00:00Z'),
      to: Date.parse('2026-03-30T13:00:00Z'),
    });
  });

  test('a reminder Task of a programme in Chicago carries its send window with the local offset', () => {
    const programme: ProgrammeDefinition = {
      id: 'reminders',
      name: 'Reminders',
      enrol: { any: [] },
      rules: ['appointment-reminder'],
      timeZone: 'America/Chicago',
    };
    const model = emptyModel({
      patient: { contacts: [{ system: 'sms', use: 'mobile' }] },
      appointments: [{ id: 'a1', start: '2026-03-09T15:00:00Z', status: 'upcoming', sourceStatus: 'booked' }],
    });
    const now = new Date('2026-03-01T12:00:00Z');
    const ind = computeIndicators(model, now, DEFAULT_INDICATOR_SETTINGS);
    const plan = planProgrammes(ind, model, [], DEFAULT_ACTION_SETTINGS, [programme], now);
    const periods = plan.writes.map((w) => (w.op === 'upsert' ? (w.resource as Task).restriction?.period : undefined));
    expect(periods).toEqual([
      { start: '2026-03-02T09:00:00-06:00', end: '2026-03-02T19:00:00-06:00' },
      { start: '2026-03-08T09:00:00-05:00', end: '2026-03-08T19:00:00-05:00' },
    ]);
    // A send window that closed before the run is not created late.
    const late = new Date('2026-03-08T23:30:00Z'); // 18:30 CDT: still open
    const later = new Date('2026-03-09T00:30:00Z'); // 19:30 CDT: closed
    const ids = (at: Date): string[] =>
      planProgrammes(
        computeIndicators(model, at, DEFAULT_INDICATOR_SETTINGS),
        model,
        [],
        DEFAULT_ACTION_SETTINGS,
        [programme],
        at,
      ).writes.map((w) => w.identifier);
    expect(ids(late)).toEqual(['p1/appointment-reminder/a1/1d']);
    expect(ids(later)).toEqual([]);
  });
});

describe('phased start', () => {
  const START = Date.parse('2026-06-01T15:00:00Z');
  const day = (d: number): Date => new Date(START + d * 86_400_000);
  const patients = Array.from({ length: 280 }, (_, i) => `patient-${i}`);
  const clock = (patientId: string, enrolledAt = START, days?: number): SurveyClock => ({
    zone: 'America/Chicago',
    phase: { programmeStart: START, enrolledAt, patientId, ...(days !== undefined ? { days } : {}) },
  });
  const firstDay = (patientId: string, enrolledAt = START, days?: number): number | undefined => {
    for (let d = 0; d < 40; d++) {
      const w = periodicWindow(
        emptyModel({ patientId }),
        PHQ9,
        [],
        14,
        day(d),
        `${patientId}/survey/phq9/`,
        clock(patientId, enrolledAt, days),
      );
      if (w) return d;
    }
    return undefined;
  };

  test('the first patients’ first windows are spread over the cadence (28 days) by a stable hash, none on one day in bulk', () => {
    const days = patients.map((p) => firstDay(p) as number);
    expect(days.every((d) => d >= 0 && d < 28)).toBe(true);
    expect(days).toEqual(patients.map((p) => phaseOffset(p, 28)));
    const perDay = new Map<number, number>();
    for (const d of days) perDay.set(d, (perDay.get(d) ?? 0) + 1);
    expect(perDay.size).toBe(28);
    // 280 patients over 28 days: about 10 a day, never a bulk of them on the first day.
    expect(Math.max(...perDay.values())).toBeLessThanOrEqual(20);
    expect(perDay.get(0) ?? 0).toBeLessThanOrEqual(20);
    // The same patient lands on the same day at every run.
    expect(patients.map((p) => firstDay(p))).toEqual(days);
  });

  test('a patient enrolled after the start gets their first window at once; days 0 turns phasing off', () => {
    expect(firstDay('late', day(5).getTime())).toBe(5);
    expect(patients.slice(0, 20).map((p) => firstDay(p, START, 0))).toEqual(Array(20).fill(0));
    expect(
      patients
        .slice(0, 50)
        .map((p) => firstDay(p, START, 7))
        .every((d) => d !== undefined && d < 7),
    ).toBe(true);
  });

  test('a patient who answered before the programme keeps their own cadence (not phased)', () => {
    const model = { ...answered('2026-05-20T15:00:00Z'), patientId: 'patient-7' };
    const first = [...Array(40).keys()].find(
      (d) => periodicWindow(model, PHQ9, [], 14, day(d), 'patient-7/survey/phq9/', clock('patient-7')) !== undefined,
    );
    expect(first).toBe(16); // 20 May + 28 days = 17 June, the 16th day after 1 June
  });

  test('a patient whose last answer was long before the programme began is due at its start: phased like the rest', () => {
    const model = { ...answered('2026-03-01T15:00:00Z'), patientId: 'patient-9' };
    const first = [...Array(40).keys()].find(
      (d) => periodicWindow(model, PHQ9, [], 14, day(d), 'patient-9/survey/phq9/', clock('patient-9')) !== undefined,
    );
    expect(first).toBe(phaseOffset('patient-9', 28));
    expect(phaseOffset('patient-9', 28)).toBeGreaterThan(0);
  });
});
