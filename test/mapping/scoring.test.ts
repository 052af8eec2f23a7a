import type { QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { collectAnswers, loadInstruments, recogniseInstrument, scoreResponse } from '../../src/mapping/scoring';
import { questionnaireLookup } from '../../src/mapping/build-model';

const instruments = loadInstruments();
const phq9 = instruments.find((i) => i.instrument === 'phq9')!;
const ITEMS = ['44250-9', '44255-8', '44259-0', '44254-1', '44251-7', '44258-2', '44252-5', '44253-3', '44260-8'];

test('answers are collected from nested items and answers, codings without a code by their display', () => {
  const items: QuestionnaireResponseItem[] = [
    { linkId: 'g', item: [{ linkId: 'a', answer: [{ valueCoding: { display: 'Several days' } }] }] },
    { linkId: 'b', answer: [{ valueInteger: 2, item: [{ linkId: 'b.1', answer: [{ valueBoolean: true }] }] }] },
  ];
  expect(collectAnswers(items)).toEqual([
    { linkId: 'a', value: 'Several days' },
    { linkId: 'b', value: 2 },
    { linkId: 'b.1', value: true },
  ]);
});

test('scoring: display texts and integers score; an out-of-range number is unscorable, so the response is incomplete', () => {
  const answers = ITEMS.map((linkId, i) => ({ linkId, value: i === 0 ? 'NEARLY EVERY DAY ' : 1 }));
  expect(scoreResponse(answers, phq9)).toMatchObject({ complete: true, total: 11, computedTotal: 11 });
  const bad = ITEMS.map((linkId, i) => ({ linkId, value: i === 0 ? 4 : 1 }));
  expect(scoreResponse(bad, phq9)).toMatchObject({ complete: false, missing: ['item1'] });
  expect(scoreResponse(bad, phq9).total).toBeUndefined();
});

test('a stated total out of range is ignored', () => {
  const answers = [...ITEMS.map((linkId) => ({ linkId, value: 1 })), { linkId: '44261-6', value: 99 }];
  expect(scoreResponse(answers, phq9)).toMatchObject({ total: 9, computedTotal: 9 });
  expect(scoreResponse(answers, phq9).statedTotal).toBeUndefined();
});

test('an instrument is recognised by URL, by the LOINC code of a stored Questionnaire, or by its linkIds', () => {
  expect(recogniseInstrument({ questionnaire: 'http://loinc.org/q/44249-1|2.68' }, [], instruments)?.instrument).toBe(
    'phq9',
  );
  const lookup = questionnaireLookup([
    {
      resourceType: 'Questionnaire',
      id: 'local-dep',
      status: 'active',
      url: 'https://emr.example/Questionnaire/local-dep',
      code: [{ system: 'http://loinc.org', code: '44249-1' }],
    },
  ]);
  expect(
    recogniseInstrument({ questionnaire: 'https://emr.example/Questionnaire/local-dep' }, [], instruments, lookup)
      ?.instrument,
  ).toBe('phq9');
  expect(recogniseInstrument({ questionnaire: 'Questionnaire/local-dep' }, [], instruments, lookup)?.instrument).toBe(
    'phq9',
  );
  expect(
    recogniseInstrument(
      { questionnaire: 'https://x/unknown' },
      ITEMS.slice(0, 7).map((linkId) => ({ linkId, value: 0 })),
      instruments,
    )?.instrument,
  ).toBe('phq9');
  expect(
    recogniseInstrument(
      { questionnaire: 'https://x/unknown' },
      ITEMS.slice(0, 6).map((linkId) => ({ linkId, value: 0 })),
      instruments,
    ),
  ).toBeUndefined();
});
