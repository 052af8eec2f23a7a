/** Properties of the engagement score, over generated inputs (fast-check). */
import fc from 'fast-check';
import { engagementScore, type EngagementInputs } from '../../src/indicators/engagement';
import { DEFAULT_INDICATOR_SETTINGS, type IndicatorSettings } from '../../src/config/indicator-settings';

const rate = fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null });
const days = fc.option(fc.integer({ min: 0, max: 2000 }), { nil: null });
const inputs: fc.Arbitrary<EngagementInputs> = fc.record({
  adherence: rate,
  daysSinceLastContact: days,
  carePlanCompletion: rate,
  questionnaireCompletion: rate,
  daysSinceLastResponse: days,
});
const settings: fc.Arbitrary<IndicatorSettings> = fc
  .record({
    adherence: fc.double({ min: 0.01, max: 5, noNaN: true }),
    recency: fc.double({ min: 0, max: 5, noNaN: true }),
    carePlan: fc.double({ min: 0, max: 5, noNaN: true }),
    questionnaires: fc.double({ min: 0, max: 5, noNaN: true }),
  })
  .map((weights) => ({ ...DEFAULT_INDICATOR_SETTINGS, weights }));

test('the score is always within 0–100 (or null with no data)', () => {
  fc.assert(
    fc.property(inputs, settings, (i, s) => {
      const { score } = engagementScore(i, s);
      return score === null || (score >= 0 && score <= 100 && Number.isInteger(score));
    }),
    { numRuns: 2000 },
  );
});

test('the score never falls when adherence rises, other inputs fixed', () => {
  fc.assert(
    fc.property(
      inputs,
      settings,
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (i, s, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const low = engagementScore({ ...i, adherence: lo }, s).score as number;
        const high = engagementScore({ ...i, adherence: hi }, s).score as number;
        return high >= low;
      },
    ),
    { numRuns: 2000 },
  );
});
