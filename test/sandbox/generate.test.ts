import { createHash } from 'node:crypto';
import type { Appointment, QuestionnaireResponse } from '@medplum/fhirtypes';
import { generate, toNdjson } from '../../src/sandbox/generate';
import { FREQUENCY_ANSWERS, GAD7, PHQ9 } from '../../src/sandbox/instruments';

const ANCHOR = '2026-06-01T00:00:00.000Z';
const hash = (s: string): string => createHash('sha256').update(s).digest('hex');
const points = (code: string | undefined): number => FREQUENCY_ANSWERS.findIndex((a) => a.code === code);

describe('generator', () => {
  const data = generate({ patients: 200, seed: 42, anchor: ANCHOR });

  test('the same seed and anchor give byte-identical output; another seed does not', () => {
    const again = generate({ patients: 200, seed: 42, anchor: ANCHOR });
    expect(hash(toNdjson(again.resources))).toBe(hash(toNdjson(data.resources)));
    expect(hash(toNdjson(generate({ patients: 200, seed: 43, anchor: ANCHOR }).resources))).not.toBe(
      hash(toNdjson(data.resources)),
    );
  });

  test('every stated PHQ-9 and GAD-7 total equals the sum of its item scores', () => {
    const responses = data.resources.filter(
      (r): r is QuestionnaireResponse => r.resourceType === 'QuestionnaireResponse',
    );
    let checked = 0;
    for (const qr of responses) {
      const def = qr.questionnaire === PHQ9.url ? PHQ9 : GAD7;
      const totalItem = qr.item?.find((i) => i.linkId === def.total.code);
      const itemPoints = (qr.item ?? [])
        .filter((i) => i.linkId !== def.total.code)
        .map((i) => points(i.answer?.[0]?.valueCoding?.code));
      expect(itemPoints.every((p) => p >= 0 && p <= 3)).toBe(true);
      if (totalItem) {
        checked++;
        expect(totalItem.answer?.[0]?.valueInteger).toBe(itemPoints.reduce((s, p) => s + p, 0));
        expect(itemPoints).toHaveLength(def.items.length);
      }
    }
    expect(checked).toBeGreaterThan(500);
  });

  test('incomplete responses are in-progress and miss items, never carry a total', () => {
    const incomplete = data.resources.filter(
      (r): r is QuestionnaireResponse => r.resourceType === 'QuestionnaireResponse' && r.status === 'in-progress',
    );
    expect(incomplete.length).toBeGreaterThan(0);
    for (const qr of incomplete) {
      const def = qr.questionnaire === PHQ9.url ? PHQ9 : GAD7;
      expect((qr.item ?? []).length).toBeLessThan(def.items.length);
      expect(qr.item?.some((i) => i.linkId === def.total.code)).toBe(false);
    }
  });

  test('appointments have realistic statuses, and disengaged patients miss more', () => {
    const appts = data.resources.filter((r): r is Appointment => r.resourceType === 'Appointment');
    const statuses = new Set(appts.map((a) => a.status));
    expect([...statuses].sort()).toEqual(['booked', 'cancelled', 'fulfilled', 'noshow']);
    const rate = (profile: string): number => {
      const ids = new Set(data.truth.filter((t) => t.profile === profile).map((t) => `Patient/${t.id}`));
      const mine = appts.filter((a) => ids.has(a.participant[0]?.actor?.reference ?? '') && a.status !== 'booked');
      return mine.filter((a) => a.status === 'noshow').length / mine.length;
    };
    expect(rate('disengaged')).toBeGreaterThan(rate('at-risk'));
    expect(rate('at-risk')).toBeGreaterThan(rate('engaged'));
    // Only future appointments are still booked.
    expect(
      appts
        .filter((a) => a.status === 'booked')
        .every((a) => Date.parse(a.start as string) > Date.parse(ANCHOR) - 3_600_000),
    ).toBe(true);
  });

  test('meta.lastUpdated is spread over the year and never after the anchor', () => {
    const times = data.resources.map((r) => Date.parse(r.meta?.lastUpdated as string));
    expect(Math.max(...times)).toBeLessThanOrEqual(Date.parse(ANCHOR));
    expect(Math.min(...times)).toBeLessThan(Date.parse(ANCHOR) - 300 * 86_400_000);
  });

  test('trajectories show in the totals: improving patients end lower than they start', () => {
    const improving = data.truth.filter((t) => t.trajectory === 'improving');
    let lower = 0;
    for (const t of improving) {
      const totals = data.resources
        .filter(
          (r): r is QuestionnaireResponse =>
            r.resourceType === 'QuestionnaireResponse' &&
            r.subject?.reference === `Patient/${t.id}` &&
            r.questionnaire === PHQ9.url &&
            r.status === 'completed',
        )
        .map((qr) =>
          (qr.item ?? [])
            .filter((i) => i.linkId !== PHQ9.total.code)
            .reduce((s, i) => s + points(i.answer?.[0]?.valueCoding?.code), 0),
        );
      if (totals.length >= 3 && (totals[totals.length - 1] as number) < (totals[0] as number)) lower++;
    }
    expect(lower / improving.length).toBeGreaterThan(0.6);
  });
});
