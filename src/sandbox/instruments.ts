/**
 * PHQ-9 and GAD-7 as the sandbox's Questionnaires: LOINC panel and item codes,
 * answer codes LA6568-5…LA6571-9 scored 0–3 (Kroenke 2001; Spitzer 2006).
 */
import type { Coding, Questionnaire } from '@medplum/fhirtypes';

export const LOINC = 'http://loinc.org';

export const FREQUENCY_ANSWERS: readonly Coding[] = [
  { system: LOINC, code: 'LA6568-5', display: 'Not at all' },
  { system: LOINC, code: 'LA6569-3', display: 'Several days' },
  { system: LOINC, code: 'LA6570-1', display: 'More than half the days' },
  { system: LOINC, code: 'LA6571-9', display: 'Nearly every day' },
];

export interface InstrumentDefinition {
  key: 'phq9' | 'gad7';
  title: string;
  panel: Coding;
  url: string;
  items: Coding[];
  total: Coding;
  maxTotal: number;
}

export const PHQ9: InstrumentDefinition = {
  key: 'phq9',
  title: 'Patient Health Questionnaire (PHQ-9)',
  panel: { system: LOINC, code: '44249-1', display: 'PHQ-9 quick depression assessment panel [Reported.PHQ]' },
  url: 'http://loinc.org/q/44249-1',
  items: [
    { system: LOINC, code: '44250-9', display: 'Little interest or pleasure in doing things' },
    { system: LOINC, code: '44255-8', display: 'Feeling down, depressed, or hopeless' },
    { system: LOINC, code: '44259-0', display: 'Trouble falling or staying asleep, or sleeping too much' },
    { system: LOINC, code: '44254-1', display: 'Feeling tired or having little energy' },
    { system: LOINC, code: '44251-7', display: 'Poor appetite or overeating' },
    { system: LOINC, code: '44258-2', display: 'Feeling bad about yourself' },
    { system: LOINC, code: '44252-5', display: 'Trouble concentrating on things' },
    { system: LOINC, code: '44253-3', display: 'Moving or speaking so slowly, or being fidgety or restless' },
    { system: LOINC, code: '44260-8', display: 'Thoughts that you would be better off dead, or of hurting yourself' },
  ],
  total: {
    system: LOINC,
    code: '44261-6',
    display: 'Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]',
  },
  maxTotal: 27,
};

export const GAD7: InstrumentDefinition = {
  key: 'gad7',
  title: 'Generalized Anxiety Disorder 7 item (GAD-7)',
  panel: { system: LOINC, code: '69737-5', display: 'Generalized anxiety disorder 7 item (GAD-7)' },
  url: 'http://loinc.org/q/69737-5',
  items: [
    { system: LOINC, code: '69725-0', display: 'Feeling nervous, anxious or on edge' },
    { system: LOINC, code: '68509-9', display: 'Not being able to stop or control worrying' },
    { system: LOINC, code: '69733-4', display: 'Worrying too much about different things' },
    { system: LOINC, code: '69734-2', display: 'Trouble relaxing' },
    { system: LOINC, code: '69735-9', display: "Being so restless that it's hard to sit still" },
    { system: LOINC, code: '69689-8', display: 'Becoming easily annoyed or irritable' },
    { system: LOINC, code: '69736-7', display: 'Feeling afraid as if something awful might happen' },
  ],
  total: {
    system: LOINC,
    code: '70274-6',
    display: 'Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]',
  },
  maxTotal: 21,
};

const ORDINAL_VALUE = 'http://hl7.org/fhir/StructureDefinition/ordinalValue';

export function questionnaireFor(def: InstrumentDefinition, lastUpdated: string): Questionnaire {
  return {
    resourceType: 'Questionnaire',
    id: def.key === 'phq9' ? 'phq-9' : 'gad-7',
    meta: { versionId: '1', lastUpdated },
    url: def.url,
    name: def.key.toUpperCase(),
    title: def.title,
    status: 'active',
    subjectType: ['Patient'],
    code: [def.panel],
    item: [
      ...def.items.map((code) => ({
        linkId: code.code as string,
        code: [code],
        text: code.display,
        type: 'choice' as const,
        required: true,
        answerOption: FREQUENCY_ANSWERS.map((valueCoding, points) => ({
          valueCoding,
          extension: [{ url: ORDINAL_VALUE, valueDecimal: points }],
        })),
      })),
      {
        linkId: def.total.code as string,
        code: [def.total],
        text: def.total.display,
        type: 'integer' as const,
        readOnly: true,
      },
    ],
  };
}

/** Canonical URL of the example post-visit satisfaction survey (mappings/questionnaires/satisfaction.yaml). */
export const SATISFACTION_URL = 'https://fhir-engage.dev/fhir/Questionnaire/post-visit-satisfaction';

/** The example post-visit survey as a Questionnaire (an example, not a licensed instrument). */
export function satisfactionQuestionnaire(lastUpdated: string): Questionnaire {
  const scale = (linkId: string, text: string, max: number, min = 1) => ({
    linkId,
    text,
    type: 'integer' as const,
    required: true,
    extension: [
      { url: 'http://hl7.org/fhir/StructureDefinition/minValue', valueInteger: min },
      { url: 'http://hl7.org/fhir/StructureDefinition/maxValue', valueInteger: max },
    ],
  });
  return {
    resourceType: 'Questionnaire',
    id: 'post-visit-satisfaction',
    meta: { versionId: '1', lastUpdated },
    url: SATISFACTION_URL,
    name: 'PostVisitSatisfaction',
    title: 'Post-visit satisfaction (example survey, not a licensed instrument)',
    status: 'active',
    subjectType: ['Patient'],
    item: [
      scale('recommend', 'How likely are you to recommend this service to a friend or family member? (0-10)', 10, 0),
      scale('explained', 'Things were explained clearly (1-5)', 5),
      scale('listened', 'I was listened to (1-5)', 5),
      scale('time', 'I was seen on time (1-5)', 5),
    ],
  };
}
