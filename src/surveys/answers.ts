/**
 * A patient's answers to a Questionnaire form (docs/surveys.md, "The page"): the fields the page
 * posted read item by item into QuestionnaireResponse items, each checked against its item — its type,
 * required, min/max, max length, the answer options — with `enableWhen` evaluated on the answers
 * themselves, so an item that is not enabled is neither required nor kept. The problems come back by
 * linkId, in the patient's language, for the page to show beside each question. Pure.
 */
import type {
  Coding,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireItemEnableWhen,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
} from '@medplum/fhirtypes';
import { words, type Language } from './words';

/** The posted form: field name → value (`q.<linkId>`). */
export type PostedFields = Readonly<Record<string, string | undefined>>;

export const fieldName = (linkId: string): string => `q.${linkId}`;

const ANSWERED_TYPES = new Set(['choice', 'boolean', 'integer', 'decimal', 'string', 'text', 'date']);

const extValue = (item: QuestionnaireItem, name: string): number | undefined => {
  const e = item.extension?.find((x) => x.url === `http://hl7.org/fhir/StructureDefinition/${name}`);
  return e?.valueInteger ?? e?.valueDecimal;
};

/** Item bounds (SDC minValue / maxValue extensions). */
export const boundsOf = (item: QuestionnaireItem): { min?: number; max?: number } => ({
  ...(extValue(item, 'minValue') !== undefined ? { min: extValue(item, 'minValue') } : {}),
  ...(extValue(item, 'maxValue') !== undefined ? { max: extValue(item, 'maxValue') } : {}),
});

type Answers = Map<string, QuestionnaireResponseItemAnswer[]>;

function sameCoding(a: Coding | undefined, b: Coding | undefined): boolean {
  return !!a && !!b && a.code === b.code && (a.system ?? '') === (b.system ?? '');
}

function compare(answer: QuestionnaireResponseItemAnswer, w: QuestionnaireItemEnableWhen): boolean {
  if (w.answerCoding) {
    const same = sameCoding(answer.valueCoding, w.answerCoding);
    return w.operator === '=' ? same : w.operator === '!=' ? !same : false;
  }
  const pairs: [unknown, unknown][] = [
    [answer.valueBoolean, w.answerBoolean],
    [answer.valueInteger ?? answer.valueDecimal, w.answerInteger ?? w.answerDecimal],
    [answer.valueString, w.answerString],
    [answer.valueDate, w.answerDate],
  ];
  const pair = pairs.find(([, want]) => want !== undefined);
  if (!pair || pair[0] === undefined) return w.operator === '!=';
  const [got, want] = pair as [number | string | boolean, number | string | boolean];
  switch (w.operator) {
    case '=':
      return got === want;
    case '!=':
      return got !== want;
    case '>':
      return got > want;
    case '<':
      return got < want;
    case '>=':
      return got >= want;
    case '<=':
      return got <= want;
    default:
      return false;
  }
}

/** Whether an item is enabled by the answers so far (FHIR R4 enableWhen, enableBehavior all / any). */
export function isEnabled(item: QuestionnaireItem, answers: Answers): boolean {
  if (!item.enableWhen?.length) return true;
  const results = item.enableWhen.map((w) => {
    const given = answers.get(w.question) ?? [];
    if (w.operator === 'exists') return given.length > 0 === (w.answerBoolean ?? true);
    return given.length > 0 ? given.some((a) => compare(a, w)) : w.operator === '!=';
  });
  return item.enableBehavior === 'any' ? results.some(Boolean) : results.every(Boolean);
}

/** One answer from its field's text, or the problem with it. */
function readOne(
  item: QuestionnaireItem,
  raw: string,
  lang: Language,
): { answer: QuestionnaireResponseItemAnswer } | { problem: string } {
  const w = words(lang);
  const { min, max } = boundsOf(item);
  switch (item.type) {
    case 'choice': {
      const option = /^\d+$/.test(raw) ? item.answerOption?.[Number(raw)] : undefined;
      if (!option) return { problem: w.chooseOne };
      const { extension: _ext, initialSelected: _init, ...value } = option;
      return { answer: value as QuestionnaireResponseItemAnswer };
    }
    case 'boolean':
      return raw === 'true' || raw === 'false'
        ? { answer: { valueBoolean: raw === 'true' } }
        : { problem: w.chooseOne };
    case 'integer':
    case 'decimal': {
      const n = Number(raw.replace(',', '.'));
      const whole = item.type === 'integer';
      if (!/^-?\d+([.,]\d+)?$/.test(raw) || (whole && !Number.isInteger(n)))
        return { problem: w.number(whole, min, max) };
      if ((min !== undefined && n < min) || (max !== undefined && n > max))
        return { problem: w.number(whole, min, max) };
      return { answer: whole ? { valueInteger: n } : { valueDecimal: n } };
    }
    case 'date':
      return /^\d{4}-\d{2}-\d{2}$/.test(raw) && !Number.isNaN(Date.parse(raw))
        ? { answer: { valueDate: raw } }
        : { problem: w.date };
    default: {
      const limit = item.maxLength ?? (item.type === 'string' ? 250 : 2000);
      if (raw.length > limit) return { problem: w.tooLong(limit) };
      return { answer: { valueString: raw } };
    }
  }
}

export interface ReadAnswers {
  items: QuestionnaireResponseItem[];
  /** linkId → the problem, in the patient's language. */
  problems: Map<string, string>;
}

/** The response's items from the posted fields, or the problems to show. */
export function readAnswers(form: Questionnaire, fields: PostedFields, lang: Language): ReadAnswers {
  const answers: Answers = new Map();
  const problems = new Map<string, string>();
  // First pass: every field read as given (enableWhen looks at answers anywhere in the form).
  const visit = (items: QuestionnaireItem[] | undefined): void => {
    for (const item of items ?? []) {
      if (item.type === 'group') visit(item.item);
      if (!ANSWERED_TYPES.has(item.type) || item.readOnly) continue;
      const raw = fields[fieldName(item.linkId)]?.trim();
      if (!raw) continue;
      const one = readOne(item, raw, lang);
      if ('answer' in one) answers.set(item.linkId, [one.answer]);
      else problems.set(item.linkId, one.problem);
    }
  };
  visit(form.item);
  // Second pass: only enabled items are kept and required; nesting as in the form.
  const build = (items: QuestionnaireItem[] | undefined, enabled: boolean): QuestionnaireResponseItem[] => {
    const out: QuestionnaireResponseItem[] = [];
    for (const item of items ?? []) {
      const on = enabled && isEnabled(item, answers);
      if (!on) problems.delete(item.linkId);
      if (item.type === 'group') {
        const inner = build(item.item, on);
        if (on && inner.length)
          out.push({ linkId: item.linkId, ...(item.text ? { text: item.text } : {}), item: inner });
        continue;
      }
      if (!on || !ANSWERED_TYPES.has(item.type) || item.readOnly) continue;
      const given = answers.get(item.linkId);
      if (given) out.push({ linkId: item.linkId, ...(item.text ? { text: item.text } : {}), answer: given });
      else if (item.required && !problems.has(item.linkId)) problems.set(item.linkId, words(lang).required);
    }
    return out;
  };
  const items = build(form.item, true);
  return { items, problems };
}
