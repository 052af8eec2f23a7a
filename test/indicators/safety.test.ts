/**
 * Safety flags (docs/indicators.md, "Safety"): a positive PHQ-9 item 9 or a severe total on the latest
 * PHQ-9 flags the patient, and the engagement "why" says so first, whatever the tier.
 */
import { DEFAULT_INDICATOR_SETTINGS } from '../../src/config/indicator-settings';
import { computeIndicators } from '../../src/indicators/compute';
import type { ResponseItem } from '../../src/mapping/model';
import { emptyModel } from '../helpers/model';

const NOW = new Date('2026-06-01T12:00:00Z');
const phq9 = (id: string, authored: string, total: number, item9: number): ResponseItem => ({
  id,
  instrument: 'phq9',
  authored,
  status: 'completed',
  answers: [],
  score: { instrument: 'phq9', total, complete: true, items: { item9 }, missing: [] },
});
const indicators = (responses: ResponseItem[]) =>
  computeIndicators(emptyModel({ responses }), NOW, DEFAULT_INDICATOR_SETTINGS);

test('a positive item 9 on the latest PHQ-9 flags the patient, and the why says so first', () => {
  const ind = indicators([phq9('r1', '2026-05-30T10:00:00Z', 8, 1)]);
  expect(ind.safety).toEqual({
    flagged: true,
    reasons: ['PHQ-9 item 9 (thoughts of self-harm) answered 1 on 2026-05-30'],
  });
  expect(ind.engagement.why).toMatch(
    /^SAFETY FLAG: PHQ-9 item 9 \(thoughts of self-harm\) answered 1 on 2026-05-30\. /,
  );
});

test('a severe total (20 or more, Kroenke 2001) flags the patient; 19 does not', () => {
  expect(indicators([phq9('r1', '2026-05-30T10:00:00Z', 22, 0)]).safety).toEqual({
    flagged: true,
    reasons: ['PHQ-9 22 (severe) on 2026-05-30'],
  });
  const calm = indicators([phq9('r1', '2026-05-30T10:00:00Z', 19, 0)]);
  expect(calm.safety).toEqual({ flagged: false, reasons: [] });
  expect(calm.engagement.why).not.toContain('SAFETY');
});

test('only the latest PHQ-9 counts: an earlier positive item 9 followed by a calm answer is not a flag', () => {
  const ind = indicators([phq9('r1', '2026-04-01T10:00:00Z', 22, 2), phq9('r2', '2026-05-20T10:00:00Z', 6, 0)]);
  expect(ind.safety?.flagged).toBe(false);
});
