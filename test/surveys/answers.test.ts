import type { Questionnaire } from '@medplum/fhirtypes';
import { loadForms } from '../../src/mapping/forms';
import { isEnabled, readAnswers } from '../../src/surveys/answers';

/** A designed form with every item type the page asks, a group, enableWhen and bounds. */
const FORM: Questionnaire = {
  resourceType: 'Questionnaire',
  status: 'active',
  url: 'https://example.org/Questionnaire/all-types',
  item: [
    { linkId: 'intro', type: 'display', text: 'About you' },
    {
      linkId: 'smoker',
      type: 'boolean',
      text: 'Do you smoke?',
      required: true,
    },
    {
      linkId: 'per-day',
      type: 'integer',
      text: 'Cigarettes per day',
      required: true,
      enableWhen: [{ question: 'smoker', operator: '=', answerBoolean: true }],
      extension: [
        { url: 'http://hl7.org/fhir/StructureDefinition/minValue', valueInteger: 1 },
        { url: 'http://hl7.org/fhir/StructureDefinition/maxValue', valueInteger: 100 },
      ],
    },
    { linkId: 'weight', type: 'decimal', text: 'Weight (kg)' },
    { linkId: 'since', type: 'date', text: 'Since when?' },
    {
      linkId: 'mood',
      type: 'group',
      text: 'Mood',
      item: [
        {
          linkId: 'feel',
          type: 'choice',
          required: true,
          text: 'How do you feel?',
          answerOption: [
            { valueCoding: { system: 'urn:x', code: 'good', display: 'Good' } },
            { valueCoding: { system: 'urn:x', code: 'bad', display: 'Bad' } },
          ],
        },
        {
          linkId: 'why',
          type: 'text',
          text: 'Why?',
          maxLength: 20,
          enableWhen: [{ question: 'feel', operator: '=', answerCoding: { system: 'urn:x', code: 'bad' } }],
        },
      ],
    },
    { linkId: 'name', type: 'string', text: 'Preferred name' },
  ],
};

test('answers become nested response items with their types; disabled items are neither required nor kept', () => {
  const read = readAnswers(
    FORM,
    {
      'q.smoker': 'false',
      'q.per-day': '12',
      'q.weight': '71,5',
      'q.since': '2020-01-31',
      'q.feel': '0',
      'q.why': 'x',
    },
    'en',
  );
  expect(read.problems.size).toBe(0);
  expect(read.items).toEqual([
    { linkId: 'smoker', text: 'Do you smoke?', answer: [{ valueBoolean: false }] },
    { linkId: 'weight', text: 'Weight (kg)', answer: [{ valueDecimal: 71.5 }] },
    { linkId: 'since', text: 'Since when?', answer: [{ valueDate: '2020-01-31' }] },
    {
      linkId: 'mood',
      text: 'Mood',
      item: [
        {
          linkId: 'feel',
          text: 'How do you feel?',
          answer: [{ valueCoding: { system: 'urn:x', code: 'good', display: 'Good' } }],
        },
      ],
    },
  ]);
});

test('each problem is named by its item, in the patient’s language', () => {
  const read = readAnswers(
    FORM,
    { 'q.smoker': 'true', 'q.per-day': '500', 'q.feel': '1', 'q.why': 'x'.repeat(21), 'q.since': '31/01/2020' },
    'es',
  );
  expect(Object.fromEntries(read.problems)).toEqual({
    'per-day': 'Por favor, escriba un número entero del 1 al 100.',
    why: 'Por favor, use 20 caracteres o menos.',
    since: 'Por favor, escriba una fecha (año-mes-día).',
  });
  const missing = readAnswers(FORM, { 'q.smoker': 'true', 'q.feel': '7' }, 'en');
  expect(Object.fromEntries(missing.problems)).toEqual({
    'per-day': 'Please answer this question.',
    feel: 'Please choose one answer.',
  });
});

test('enableWhen: operators on codings, booleans and numbers; any and all', () => {
  const answers = new Map([
    ['a', [{ valueInteger: 5 }]],
    ['b', [{ valueCoding: { system: 'urn:x', code: 'y' } }]],
  ]);
  const item = (enableWhen: Questionnaire['item'] extends (infer I)[] | undefined ? I : never) => enableWhen;
  expect(
    isEnabled(
      item({ linkId: 'x', type: 'string', enableWhen: [{ question: 'a', operator: '>=', answerInteger: 5 }] }),
      answers,
    ),
  ).toBe(true);
  expect(
    isEnabled(
      item({ linkId: 'x', type: 'string', enableWhen: [{ question: 'a', operator: '<', answerInteger: 5 }] }),
      answers,
    ),
  ).toBe(false);
  expect(
    isEnabled(
      item({ linkId: 'x', type: 'string', enableWhen: [{ question: 'c', operator: 'exists', answerBoolean: false }] }),
      answers,
    ),
  ).toBe(true);
  expect(
    isEnabled(
      item({
        linkId: 'x',
        type: 'string',
        enableBehavior: 'any',
        enableWhen: [
          { question: 'a', operator: '=', answerInteger: 4 },
          { question: 'b', operator: '!=', answerCoding: { system: 'urn:x', code: 'z' } },
        ],
      }),
      answers,
    ),
  ).toBe(true);
  expect(
    isEnabled(
      item({
        linkId: 'x',
        type: 'string',
        enableWhen: [
          { question: 'a', operator: '=', answerInteger: 4 },
          { question: 'b', operator: '!=', answerCoding: { system: 'urn:x', code: 'z' } },
        ],
      }),
      answers,
    ),
  ).toBe(false);
});

test('the shipped PHQ-9: the difficulty question is asked only when some problem was reported', () => {
  const phq9 = loadForms().get('http://loinc.org/q/44249-1') as Questionnaire;
  const none = Object.fromEntries(
    ['44250-9', '44255-8', '44259-0', '44254-1', '44251-7', '44258-2', '44252-5', '44253-3', '44260-8'].map((l) => [
      `q.${l}`,
      '0',
    ]),
  );
  const calm = readAnswers(phq9, { ...none, 'q.69722-7': '2' }, 'en');
  expect(calm.problems.size).toBe(0);
  expect(calm.items.map((i) => i.linkId)).not.toContain('69722-7');
  const some = readAnswers(phq9, { ...none, 'q.44250-9': '2', 'q.69722-7': '2' }, 'en');
  expect(some.items.find((i) => i.linkId === '69722-7')?.answer?.[0]?.valueCoding?.code).toBe('LA6575-0');
  expect(some.items.find((i) => i.linkId === '44250-9')?.answer?.[0]?.valueCoding?.code).toBe('LA6570-1');
});
