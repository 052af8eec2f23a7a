/**
 * What synthetic patients are made of: names, services and care-plan activities, and questionnaire
 * answers whose item points add up to a chosen total. Seeded (Random), never Math.random.
 */
import type { QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { FREQUENCY_ANSWERS, type InstrumentDefinition } from './instruments';
import type { Random } from './random';

export const GIVEN_F = [
  'Ada',
  'Beatriz',
  'Chiara',
  'Delphine',
  'Esme',
  'Farah',
  'Greta',
  'Hana',
  'Ines',
  'Joanna',
  'Kalani',
  'Lucia',
  'Maren',
  'Noor',
  'Oriana',
  'Priya',
  'Rosalind',
  'Saoirse',
  'Tamsin',
  'Uma',
  'Vera',
  'Wren',
  'Ximena',
  'Yara',
  'Zofia',
];
export const GIVEN_M = [
  'Abel',
  'Bastian',
  'Cosmo',
  'Dario',
  'Emeric',
  'Fintan',
  'Gideon',
  'Hugo',
  'Idris',
  'Joaquin',
  'Kofi',
  'Leopold',
  'Matthias',
  'Nikolai',
  'Oisin',
  'Pavel',
  'Quentin',
  'Rafferty',
  'Silas',
  'Tobias',
  'Ulrich',
  'Viggo',
  'Wendell',
  'Yusuf',
  'Zeno',
];
export const FAMILY = [
  'Abernathy',
  'Bellweather',
  'Castellano',
  'Drummond',
  'Eriksen',
  'Fairbanks',
  'Galloway',
  'Halvorsen',
  'Ingram',
  'Jablonski',
  'Kowalczyk',
  'Lindqvist',
  'Marchetti',
  'Nakamura',
  'Okonkwo',
  'Pemberton',
  'Quintero',
  'Rasmussen',
  'Szabo',
  'Thackeray',
  'Underhill',
  'Vasquez',
  'Whitcombe',
  'Yamada',
  'Zielinski',
];
export const SERVICES = [
  { system: 'http://snomed.info/sct', code: '722162001', display: 'Psychology service' },
  { system: 'http://snomed.info/sct', code: '394913002', display: 'Psychotherapy service' },
  { system: 'http://snomed.info/sct', code: '408443003', display: 'General medical practice' },
];
export const ACTIVITIES = [
  'Attend weekly behavioural activation session',
  'Complete sleep diary for two weeks',
  'Medication review with prescriber',
  'Practise relaxation exercise daily',
  'Join peer support group',
  'Schedule follow-up with primary care',
  'Complete relapse-prevention plan',
  'Walk 30 minutes three times a week',
];

/** Spreads `total` points over items scoring 0–3, deterministically. */
function spreadPoints(rng: Random, total: number, itemCount: number): number[] {
  const points = new Array<number>(itemCount).fill(0);
  let left = Math.min(total, itemCount * 3);
  while (left > 0) {
    const i = rng.int(0, itemCount - 1);
    if ((points[i] as number) < 3) {
      points[i] = (points[i] as number) + 1;
      left--;
    }
  }
  return points;
}

export function clamp(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, n));
}

/** The items of a PHQ-9 or GAD-7 response whose item points add up to `total` (also used by the clinic simulator). */
export function responseItems(
  rng: Random,
  def: InstrumentDefinition,
  total: number,
  options: { selfHarm: number; includeTotal: boolean; missing: number },
): QuestionnaireResponseItem[] {
  const isPhq9 = def.key === 'phq9';
  // PHQ-9 item 9 is set apart: most people with high totals do not report thoughts of self-harm.
  const coreCount = isPhq9 ? def.items.length - 1 : def.items.length;
  const points = spreadPoints(rng, clamp(total - (isPhq9 ? options.selfHarm : 0), 0, coreCount * 3), coreCount);
  if (isPhq9) points.push(options.selfHarm);
  const skip = new Set<number>();
  while (skip.size < options.missing) skip.add(rng.int(0, def.items.length - 1));
  const items: QuestionnaireResponseItem[] = def.items
    .map((code, i) => ({ code, i }))
    .filter(({ i }) => !skip.has(i))
    .map(({ code, i }) => ({
      linkId: code.code as string,
      text: code.display,
      answer: [{ valueCoding: FREQUENCY_ANSWERS[points[i] as number] }],
    }));
  if (options.includeTotal && options.missing === 0) {
    items.push({
      linkId: def.total.code as string,
      text: def.total.display,
      answer: [{ valueInteger: points.reduce((s, p) => s + p, 0) }],
    });
  }
  return items;
}
