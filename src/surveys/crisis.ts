/**
 * The crisis path (docs/surveys.md, "The crisis path"): a PHQ-9 whose item 9 — "thoughts that you would
 * be better off dead, or of hurting yourself in some way" — is answered above 0 ("several days" or more)
 * shows crisis resources before anything else, and the care team is told at once. Any positive answer
 * to item 9 warrants a same-day safety assessment (Kroenke K, Spitzer RL, Williams JB. J Gen Intern Med
 * 2001;16:606-613; the PHQ-9 instructions: "any positive response to question 9 … should be followed by
 * a suicide risk assessment"), the same threshold as the stat safety Task (indicators/phq9.ts, docs/indicators.md).
 * Resources default to the United States' (988 Suicide & Crisis Lifeline, call or text; 911) and are
 * configured per language. Pure.
 */
import type { QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { answerPoints, collectAnswers, recogniseInstrument, type InstrumentDefinition } from '../mapping/scoring';
import type { CrisisResource, CrisisResources } from '../config/messaging-settings';
import type { Language } from './words';

export type { CrisisResource, CrisisResources };

/** The United States' resources (988lifeline.org; 911). */
export const DEFAULT_CRISIS_RESOURCES: Record<Language, CrisisResource[]> = {
  en: [
    { text: 'Call or text 988, the Suicide & Crisis Lifeline: free, any time, day or night.', call: '988', sms: '988' },
    { text: 'If you are in immediate danger, call 911 now.', call: '911' },
  ],
  es: [
    {
      text: 'Llame o envíe un mensaje de texto al 988, la Línea de Prevención del Suicidio y Crisis: gratis, a cualquier hora.',
      call: '988',
      sms: '988',
    },
    { text: 'Si está en peligro inmediato, llame al 911 ahora.', call: '911' },
  ],
};

/** Whether the answers are a PHQ-9 whose item 9 scores above 0. */
export function item9Positive(items: QuestionnaireResponseItem[], phq9: InstrumentDefinition | undefined): boolean {
  const item = phq9?.items.find((i) => i.key === 'item9');
  if (!phq9 || !item) return false;
  return collectAnswers(items).some((a) => item.linkIds.includes(a.linkId) && (answerPoints(a.value, phq9) ?? 0) > 0);
}

/** The resources to show, in the language (configured over the defaults). */
export const crisisResourcesFor = (configured: CrisisResources | undefined, lang: Language): CrisisResource[] =>
  configured?.[lang] ?? configured?.en ?? DEFAULT_CRISIS_RESOURCES[lang];

/** Whether answers to `questionnaire` call for the crisis path: a PHQ-9 (recognised as a run would) with item 9 above 0. */
export function crisisIn(
  questionnaire: string,
  items: QuestionnaireResponseItem[],
  instruments: InstrumentDefinition[],
): boolean {
  const def = recogniseInstrument({ questionnaire }, collectAnswers(items), instruments);
  return def?.instrument === 'phq9' && item9Positive(items, def);
}
