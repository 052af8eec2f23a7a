/** Table-driven tests of each indicator, with the boundary cases the definitions turn on. */
import type { AppointmentItem, EngagementModel, ResponseItem } from '../../src/mapping/model';
import { appointmentIndicators } from '../../src/indicators/appointments';
import { carePlanIndicators } from '../../src/indicators/careplans';
import { questionnaireIndicators } from '../../src/indicators/questionnaires';
import { phq9Band, phq9Indicators, remissionAt12Months, responseCategory } from '../../src/indicators/phq9';
import { gad7Band, gad7Indicators } from '../../src/indicators/gad7';
import { computeIndicators } from '../../src/indicators/compute';
import { decay, engagementScore, tierOf } from '../../src/indicators/engagement';
import { median, programmeSummary } from '../../src/indicators/programme';
import { DEFAULT_INDICATOR_SETTINGS as S } from '../../src/config/indicator-settings';
import { addMonths } from '../../src/indicators/time';
import { emptyModel } from '../helpers/model';

const NOW = new Date('2026-06-01T00:00:00Z');
const day = (offset: number): string => new Date(NOW.getTime() + offset * 86_400_000).toISOString();

const model = (parts: Partial<EngagementModel> = {}): EngagementModel => emptyModel({ patientId: 'p', ...parts });
const appt = (id: string, status: AppointmentItem['status'], offset: number): AppointmentItem => ({
  id,
  status,
  start: day(offset),
});
function phq(id: string, offset: number, total: number | undefined, extra: Partial<ResponseItem> = {}): ResponseItem {
  return {
    id,
    instrument: 'phq9',
    status: 'completed',
    authored: day(offset),
    answers: [],
    score: {
      instrument: 'phq9',
      ...(total !== undefined ? { total } : {}),
      complete: total !== undefined,
      items: {},
      missing: [],
    },
    ...extra,
  };
}

describe('PHQ-9 severity bands (Kroenke 2001)', () => {
  test.each([
    [0, 'none-minimal'],
    [4, 'none-minimal'],
    [5, 'mild'],
    [9, 'mild'],
    [10, 'moderate'],
    [14, 'moderate'],
    [15, 'moderately-severe'],
    [19, 'moderately-severe'],
    [20, 'severe'],
    [27, 'severe'],
  ])('%i → %s', (total, band) => expect(phq9Band(total)).toBe(band));
});

describe('GAD-7 severity bands (Spitzer 2006)', () => {
  test.each([
    [0, 'minimal'],
    [4, 'minimal'],
    [5, 'mild'],
    [9, 'mild'],
    [10, 'moderate'],
    [14, 'moderate'],
    [15, 'severe'],
    [21, 'severe'],
  ])('%i → %s', (total, band) => expect(gad7Band(total)).toBe(band));
});

describe('PHQ-9 response', () => {
  test.each([
    [20, 10, 'response'], // exactly 50.0 % drop
    [20, 11, 'partial-response'], // 45 %
    [20, 15, 'partial-response'], // exactly 25 %
    [20, 16, 'no-response'], // 20 %
    [12, 14, 'no-response'], // worse
    [10, 0, 'response'],
  ])('baseline %i, latest %i → %s', (baseline, latest, expected) =>
    expect(responseCategory(baseline, latest)).toBe(expected),
  );

  test('baseline is the first score > 9 in the window; a 9 is not an index event', () => {
    const p = phq9Indicators(
      model({ responses: [phq('a', -300, 9), phq('b', -200, 18), phq('c', -100, 22), phq('d', -10, 8)] }),
      NOW,
      S,
    );
    expect(p.baseline).toMatchObject({ responseId: 'b', total: 18 });
    expect(p.latest).toMatchObject({ responseId: 'd', total: 8, band: 'mild' });
    expect(p.changeFromBaseline).toBe(0.556);
    expect(p.response).toBe('response');
    expect(p.remission).toBe(false);
  });

  test('remission is a latest score < 5: 4 is remission, 5 is not', () => {
    expect(phq9Indicators(model({ responses: [phq('a', -100, 15), phq('b', -5, 4)] }), NOW, S).remission).toBe(true);
    expect(phq9Indicators(model({ responses: [phq('a', -100, 15), phq('b', -5, 5)] }), NOW, S).remission).toBe(false);
  });

  test('incomplete responses (no total) are not scores; responses after as-of are not seen', () => {
    const p = phq9Indicators(
      model({ responses: [phq('a', -50, 16), phq('b', -5, undefined), phq('future', 5, 2)] }),
      NOW,
      S,
    );
    expect(p.latest?.responseId).toBe('a');
    expect(p.scores).toBe(1);
  });
});

describe('CMS159 remission at 12 months ± 60 days', () => {
  const index = { responseId: 'idx', date: '2025-01-15T00:00:00.000Z', total: 16 };
  const anniversary = addMonths(new Date(index.date), 12).getTime();
  const at = (daysFromAnniversary: number, total: number) => ({
    responseId: `s${daysFromAnniversary}`,
    date: new Date(anniversary + daysFromAnniversary * 86_400_000).toISOString(),
    total,
  });

  test.each([
    ['a score of 3 at 12 months − 59 days', -59, 'met'],
    ['a score of 3 at 12 months − 61 days (outside the window)', -61, 'not-met'],
    ['a score of 3 at 12 months + 60 days', 60, 'met'],
    ['a score of 3 at 12 months + 61 days (outside the window)', 61, 'not-met'],
  ])('%s → %s', (_label, offset, status) => {
    const now = new Date(anniversary + 200 * 86_400_000);
    expect(remissionAt12Months([index, at(offset, 3)], index, now).status).toBe(status);
  });

  test('the most recent score in the window decides', () => {
    const now = new Date(anniversary + 200 * 86_400_000);
    expect(remissionAt12Months([index, at(-30, 3), at(10, 7)], index, now)).toMatchObject({
      status: 'not-met',
      assessment: { total: 7 },
    });
  });

  test('before the window closes without remission the measure is pending; without an index event there is nothing to measure', () => {
    expect(remissionAt12Months([index], index, new Date(anniversary)).status).toBe('pending');
    expect(remissionAt12Months([], undefined, NOW).status).toBe('no-index-event');
  });

  test('12 months is calendar months (31 January → 31 January, 29 February → 28 February)', () => {
    expect(addMonths(new Date('2024-02-29T00:00:00Z'), 12).toISOString()).toBe('2025-02-28T00:00:00.000Z');
    expect(addMonths(new Date('2025-01-31T10:00:00Z'), 12).toISOString()).toBe('2026-01-31T10:00:00.000Z');
  });
});

describe('PHQ-9 follow-up and item 9', () => {
  test.each([
    ['elevated 31 days ago, nothing since', [phq('a', -31, 12)], true],
    ['elevated 29 days ago', [phq('a', -29, 12)], false],
    ['elevated 30 days ago: due on the day', [phq('a', -30, 12)], true],
    ['elevated, then a newer response', [phq('a', -60, 12), phq('b', -10, 11)], false],
    ['a score of 9 is not elevated', [phq('a', -90, 9)], false],
  ])('%s → follow-up due: %s', (_label, responses, due) => {
    expect(phq9Indicators(model({ responses }), NOW, S).followUp.due).toBe(due);
  });

  test('item 9 above 0 in the latest response flags, even in an incomplete response; an older one does not', () => {
    const flagged = phq('b', -2, undefined, {
      status: 'in-progress',
      score: { instrument: 'phq9', complete: false, items: { item9: 2 }, missing: ['item1'] },
    });
    expect(phq9Indicators(model({ responses: [phq('a', -40, 14), flagged] }), NOW, S).item9).toEqual({
      flagged: true,
      value: 2,
      responseId: 'b',
      date: day(-2),
    });
    const old = phq('a', -40, 14, {
      score: { instrument: 'phq9', total: 14, complete: true, items: { item9: 1 }, missing: [] },
    });
    const clear = phq('b', -2, 6, {
      score: { instrument: 'phq9', total: 6, complete: true, items: { item9: 0 }, missing: [] },
    });
    expect(phq9Indicators(model({ responses: [old, clear] }), NOW, S).item9.flagged).toBe(false);
  });
});

describe('GAD-7 change from baseline', () => {
  test('points and fraction', () => {
    const responses = [phq('g1', -200, 16, { instrument: 'gad7' }), phq('g2', -5, 6, { instrument: 'gad7' })];
    expect(gad7Indicators(model({ responses }), NOW, S)).toMatchObject({
      latest: { total: 6, band: 'mild' },
      baseline: { total: 16 },
      changePoints: -10,
      changeFraction: 0.625,
    });
  });
});

describe('appointments', () => {
  test.each([
    ['no appointments at all', [], { noShowRate: null, adherence: null, kept: 0, noShows: 0 }],
    [
      'all cancelled',
      [appt('a', 'cancelled', -10), appt('b', 'cancelled', -20)],
      { noShowRate: null, adherence: null, cancelled: 2 },
    ],
    [
      '3 kept, 1 no-show',
      [appt('a', 'kept', -10), appt('b', 'kept', -20), appt('c', 'kept', -30), appt('d', 'no-show', -40)],
      { adherence: 0.75, noShowRate: 0.25 },
    ],
    [
      'a past appointment with no outcome counts as due, not missed',
      [appt('a', 'kept', -10), appt('b', 'upcoming', -5)],
      { adherence: 1, noShowRate: 0, unrecorded: 1 },
    ],
    [
      'outside the 365-day window is ignored',
      [appt('a', 'no-show', -366), appt('b', 'kept', -365)],
      { adherence: 1, noShows: 0 },
    ],
  ])('%s', (_label, appointments, expected) => {
    expect(appointmentIndicators(model({ appointments }), NOW, S)).toMatchObject(expected);
  });

  test('no-shows in the last 90 days, next appointment, days since last kept', () => {
    const a = appointmentIndicators(
      model({
        appointments: [
          appt('a', 'no-show', -91),
          appt('b', 'no-show', -89),
          appt('c', 'no-show', -1),
          appt('d', 'kept', -12),
          appt('e', 'upcoming', 9),
          appt('f', 'upcoming', 3),
        ],
      }),
      NOW,
      S,
    );
    expect(a.noShowsRecent).toBe(2);
    expect(a.nextAppointment).toEqual({ id: 'f', start: day(3) });
    expect(a.daysSinceLastKept).toBe(12);
  });
});

describe('care plans', () => {
  test('completion = completed ÷ due; overdue = past due and not done; cancelled left out; per plan', () => {
    const c = carePlanIndicators(
      model({
        activities: [
          { id: 'p1#0', planId: 'p1', status: 'completed', due: day(-30) },
          { id: 'p1#1', planId: 'p1', status: 'in-progress', due: day(-1) },
          { id: 'p1#2', planId: 'p1', status: 'scheduled', due: day(10) },
          { id: 'p1#3', planId: 'p1', status: 'cancelled', due: day(-5) },
          { id: 'p2#0', planId: 'p2', status: 'completed', due: day(20) },
          { id: 'p2#1', planId: 'p2', status: 'scheduled' },
        ],
      }),
      NOW,
    );
    expect(c).toMatchObject({ due: 3, completed: 2, completionRate: 0.667, overdue: ['p1#1'] });
    expect(c.perPlan).toEqual({
      p1: { due: 2, completed: 1, completionRate: 0.5, overdue: ['p1#1'] },
      p2: { due: 1, completed: 1, completionRate: 1, overdue: [] },
    });
  });

  test('no activities: no rate', () => {
    expect(carePlanIndicators(model(), NOW)).toMatchObject({ completionRate: null, overdue: [] });
  });
});

describe('questionnaires', () => {
  test('completion is unknown when nothing shows what was requested', () => {
    const q = questionnaireIndicators(model({ responses: [phq('a', -3, 5)] }), NOW);
    expect(q.completion.status).toBe('unknown');
    expect(q.daysSinceLastResponse).toEqual({ phq9: 3 });
  });

  test('responses received ÷ requests shown by Tasks', () => {
    const q = questionnaireIndicators(
      model({
        requests: [
          { id: 't1', instrument: 'phq9', authoredOn: day(-60), status: 'requested' },
          { id: 't2', instrument: 'phq9', authoredOn: day(-30), status: 'requested' },
          { id: 't3', instrument: 'gad7', authoredOn: day(-30), status: 'requested' },
          { id: 't4', instrument: 'gad7', authoredOn: day(-20), status: 'cancelled' },
        ],
        responses: [phq('a', -55, 12), phq('b', -70, 12)],
      }),
      NOW,
    );
    expect(q.completion).toEqual({ status: 'known', requested: 3, received: 1, rate: 0.333 });
  });
});

describe('engagement score', () => {
  test('recency decays linearly from 30 to 180 days', () => {
    expect([decay(0, 30, 180), decay(30, 30, 180), decay(105, 30, 180), decay(180, 30, 180)]).toEqual([1, 1, 0.5, 0]);
  });

  test('tiers at their cut-offs', () => {
    expect([
      tierOf(70, S.tiers),
      tierOf(69, S.tiers),
      tierOf(40, S.tiers),
      tierOf(39, S.tiers),
      tierOf(null, S.tiers),
    ]).toEqual(['engaged', 'at-risk', 'at-risk', 'disengaged', 'unknown']);
  });

  test('missing data lowers confidence, not the score, and is named', () => {
    const full = engagementScore(
      {
        adherence: 1,
        daysSinceLastContact: 5,
        carePlanCompletion: 1,
        questionnaireCompletion: null,
        daysSinceLastResponse: 10,
      },
      S,
    );
    const partial = engagementScore(
      {
        adherence: 1,
        daysSinceLastContact: 5,
        carePlanCompletion: null,
        questionnaireCompletion: null,
        daysSinceLastResponse: null,
      },
      S,
    );
    expect(full).toMatchObject({ score: 100, tier: 'engaged', confidence: 1, missing: [] });
    expect(partial).toMatchObject({
      score: 100,
      tier: 'engaged',
      confidence: 0.6,
      missing: ['carePlan', 'questionnaires'],
    });
    expect(partial.why).toContain('no data on carePlan, questionnaires');
  });

  test('no data at all: no score, tier unknown', () => {
    expect(
      engagementScore(
        {
          adherence: null,
          daysSinceLastContact: null,
          carePlanCompletion: null,
          questionnaireCompletion: null,
          daysSinceLastResponse: null,
        },
        S,
      ),
    ).toMatchObject({ score: null, tier: 'unknown', confidence: 0 });
  });

  test('the why names the weakest contributors first', () => {
    const e = engagementScore(
      {
        adherence: 0.4,
        daysSinceLastContact: 120,
        carePlanCompletion: 0.9,
        questionnaireCompletion: null,
        daysSinceLastResponse: 200,
      },
      S,
    );
    expect(e.why).toBe(
      'at-risk (42): attends 40.0 % of due appointments; last questionnaire 200 days ago; last contact 120 days ago',
    );
  });
});

describe('whole patient and programme', () => {
  test('computeIndicators ties it together at as-of, ignoring what happened later', () => {
    const m = model({ appointments: [appt('a', 'kept', -10), appt('b', 'kept', 10)], responses: [phq('r', -3, 12)] });
    const ind = computeIndicators(m, NOW, S);
    expect(ind.daysSinceLastContact).toBe(3);
    expect(ind.engagement.tier).toBe('engaged');
    expect(computeIndicators(m, new Date(NOW.getTime() - 20 * 86_400_000), S).daysSinceLastContact).toBeUndefined();
  });

  test('median and programme summary', () => {
    expect(median([])).toBeNull();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const a = computeIndicators(
      model({
        patientId: 'a',
        appointments: [appt('x', 'kept', -1)],
        responses: [phq('1', -200, 20), phq('2', -5, 4)],
      }),
      NOW,
      S,
    );
    const b = computeIndicators(
      model({ patientId: 'b', appointments: [appt('x', 'no-show', -1), appt('y', 'no-show', -2)] }),
      NOW,
      S,
    );
    const c = computeIndicators(model({ patientId: 'c' }), NOW, S);
    const sum = programmeSummary([a, b, c]);
    expect(sum).toMatchObject({
      patients: 3,
      tiers: { engaged: 1, 'at-risk': 0, disengaged: 1, unknown: 1 },
      medianAdherence: 0.5,
      phq9WithBaseline: 1,
      phq9ResponseShare: 1,
      phq9RemissionShare: 1,
    });
  });
});
