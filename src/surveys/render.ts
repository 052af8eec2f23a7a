/**
 * The survey page's HTML (docs/surveys.md, "The page"), rendered on the server from the FHIR
 * Questionnaire: item types choice, boolean, integer, decimal, string, text, date, display and group,
 * `enableWhen` (shown or hidden by a small script, evaluated again on the server), required, answer
 * options with ordinal values, minValue/maxValue, maxLength; the form's translations. Accessible by
 * construction (WCAG 2.1 AA): one label or legend per question, errors named beside each question and
 * listed at the top with links, native controls only (keyboard as the browser gives it), no fixed sizes
 * (200 % zoom reflows). Works without the script: every item is shown, the server decides. Pure.
 */
import type { Questionnaire, QuestionnaireItem, QuestionnaireItemEnableWhen } from '@medplum/fhirtypes';
import { boundsOf, fieldName, type PostedFields } from './answers';
import type { CrisisResource } from './crisis';
import { translated, words, type Language } from './words';

export const ASSETS = '/s/assets';

export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** A whole page: the language, the title, the body; styles and the script from the page's own assets. */
export function page(lang: Language, title: string, body: string, switchHref?: string): string {
  const other = switchHref
    ? `<p class="lang"><a href="${escapeHtml(switchHref)}" lang="${lang === 'es' ? 'en' : 'es'}">${words(lang).otherLanguage}</a></p>`
    : '';
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${ASSETS}/survey.css">
<script src="${ASSETS}/survey.js" defer></script>
</head>
<body>
<main id="main">
${other}${body}
</main>
</body>
</html>
`;
}

interface RenderState {
  lang: Language;
  form: Questionnaire;
  values: PostedFields;
  problems: ReadonlyMap<string, string>;
  ids: Map<string, string>;
}

const idOf = (s: RenderState, linkId: string): string => {
  let id = s.ids.get(linkId);
  if (!id) s.ids.set(linkId, (id = `i${s.ids.size + 1}`));
  return id;
};

function findItem(items: QuestionnaireItem[] | undefined, linkId: string): QuestionnaireItem | undefined {
  for (const i of items ?? []) {
    if (i.linkId === linkId) return i;
    const inner = findItem(i.item, linkId);
    if (inner) return inner;
  }
  return undefined;
}

/** enableWhen as the script reads it: the field, the operator, and the raw values that match (option indexes for codings). */
function enableWhenData(s: RenderState, item: QuestionnaireItem): string {
  if (!item.enableWhen?.length) return '';
  const conditions = item.enableWhen.map((w: QuestionnaireItemEnableWhen) => {
    const target = findItem(s.form.item, w.question);
    let v: (string | number | boolean)[];
    if (w.answerCoding)
      v = (target?.answerOption ?? []).flatMap((o, i) =>
        o.valueCoding?.code === w.answerCoding?.code && (o.valueCoding?.system ?? '') === (w.answerCoding?.system ?? '')
          ? [String(i)]
          : [],
      );
    else if (w.answerBoolean !== undefined) v = [w.operator === 'exists' ? w.answerBoolean : String(w.answerBoolean)];
    else {
      const n = w.answerInteger ?? w.answerDecimal;
      v = [n ?? w.answerString ?? w.answerDate ?? ''];
    }
    return { f: fieldName(w.question), op: w.operator, v };
  });
  return ` data-enable-when="${escapeHtml(JSON.stringify(conditions))}" data-enable-behavior="${item.enableBehavior ?? 'all'}"`;
}

function questionText(s: RenderState, item: QuestionnaireItem): string {
  const text = escapeHtml(translated(item.text, (item as { _text?: unknown })._text, s.lang));
  return item.required ? `${text} <span class="req">${words(s.lang).requiredMark}</span>` : text;
}

function problemOf(s: RenderState, item: QuestionnaireItem, id: string): { html: string; attrs: string } {
  const p = s.problems.get(item.linkId);
  if (!p) return { html: '', attrs: '' };
  return {
    html: `<p class="error" id="${id}-error"><span class="visually-hidden">Error: </span>${escapeHtml(p)}</p>`,
    attrs: ` aria-invalid="true" aria-describedby="${id}-error"`,
  };
}

function optionLabel(s: RenderState, o: NonNullable<QuestionnaireItem['answerOption']>[number]): string {
  if (o.valueCoding)
    return translated(
      o.valueCoding.display ?? o.valueCoding.code,
      (o.valueCoding as { _display?: unknown })._display,
      s.lang,
    );
  return String(o.valueInteger ?? o.valueString ?? o.valueDate ?? o.valueTime ?? o.valueReference?.display ?? '');
}

function choices(
  s: RenderState,
  item: QuestionnaireItem,
  id: string,
  options: { value: string; label: string }[],
): string {
  const given = s.values[fieldName(item.linkId)];
  const problem = problemOf(s, item, id);
  const radios = options
    .map(
      (o, i) =>
        `<div class="option"><input type="radio" id="${id}-${i}" name="${escapeHtml(fieldName(item.linkId))}" value="${escapeHtml(o.value)}"${given === o.value ? ' checked' : ''}${problem.attrs}><label for="${id}-${i}">${escapeHtml(o.label)}</label></div>`,
    )
    .join('\n');
  return `<fieldset class="question" id="${id}"><legend>${questionText(s, item)}</legend>${problem.html}\n${radios}\n</fieldset>`;
}

function inputControl(s: RenderState, item: QuestionnaireItem, id: string): string {
  const name = escapeHtml(fieldName(item.linkId));
  const value = escapeHtml(s.values[fieldName(item.linkId)] ?? '');
  const problem = problemOf(s, item, id);
  const { min, max } = boundsOf(item);
  let control: string;
  if (item.type === 'text')
    control = `<textarea id="${id}-input" name="${name}" rows="4" maxlength="${item.maxLength ?? 2000}"${problem.attrs}>${value}</textarea>`;
  else if (item.type === 'date')
    control = `<input type="date" id="${id}-input" name="${name}" value="${value}" autocomplete="off"${problem.attrs}>`;
  else if (item.type === 'integer' || item.type === 'decimal')
    control = `<input type="text" id="${id}-input" name="${name}" value="${value}" inputmode="${item.type === 'integer' ? 'numeric' : 'decimal'}" autocomplete="off"${min !== undefined ? ` data-min="${min}"` : ''}${max !== undefined ? ` data-max="${max}"` : ''}${problem.attrs}>`;
  else
    control = `<input type="text" id="${id}-input" name="${name}" value="${value}" maxlength="${item.maxLength ?? 250}" autocomplete="off"${problem.attrs}>`;
  return `<div class="question" id="${id}"><label for="${id}-input">${questionText(s, item)}</label>${problem.html}\n${control}</div>`;
}

function renderItem(s: RenderState, item: QuestionnaireItem): string {
  const id = idOf(s, item.linkId);
  let inner: string;
  switch (item.type) {
    case 'display':
      inner = `<p class="display">${escapeHtml(translated(item.text, (item as { _text?: unknown })._text, s.lang))}</p>`;
      break;
    case 'group':
      inner = `<fieldset class="group"><legend>${questionText(s, item)}</legend>\n${(item.item ?? []).map((i) => renderItem(s, i)).join('\n')}\n</fieldset>`;
      break;
    case 'choice':
      inner = choices(
        s,
        item,
        id,
        (item.answerOption ?? []).map((o, i) => ({ value: String(i), label: optionLabel(s, o) })),
      );
      break;
    case 'boolean':
      inner = choices(s, item, id, [
        { value: 'true', label: words(s.lang).yes },
        { value: 'false', label: words(s.lang).no },
      ]);
      break;
    case 'integer':
    case 'decimal':
    case 'string':
    case 'text':
    case 'date':
      inner = item.readOnly ? '' : inputControl(s, item, id);
      break;
    default:
      // Types the page does not ask (attachment, reference, quantity, …): not shown, never required of the patient.
      inner = '';
  }
  return inner ? `<div class="item"${enableWhenData(s, item)}>${inner}</div>` : '';
}

/** A problem as the summary lists it: the question's words first (shortened), then what is wrong. */
function summaryLine(s: RenderState, linkId: string, problem: string): string {
  const item = findItem(s.form.item, linkId);
  const text = translated(item?.text, (item as { _text?: unknown } | undefined)?._text, s.lang);
  const short = text.length > 60 ? `${text.slice(0, 57).replace(/\s+\S*$/, '')}…` : text;
  return short ? `${short}: ${problem.charAt(0).toLowerCase()}${problem.slice(1)}` : problem;
}

export interface FormPageInput {
  form: Questionnaire;
  lang: Language;
  firstName: string;
  clinicName: string;
  action: string;
  switchHref: string;
  values?: PostedFields;
  problems?: ReadonlyMap<string, string>;
  /** Hidden fields carried with the answers (the birth-date proof). */
  hidden?: Record<string, string>;
}

/** The form: greeting, the problems (when sent back), every item, the send button. */
export function formPage(input: FormPageInput): string {
  const w = words(input.lang);
  const s: RenderState = {
    lang: input.lang,
    form: input.form,
    values: input.values ?? {},
    problems: input.problems ?? new Map(),
    ids: new Map(),
  };
  const items = (input.form.item ?? []).map((i) => renderItem(s, i)).join('\n');
  const title = translated(input.form.title, (input.form as { _title?: unknown })._title, input.lang);
  const summary = s.problems.size
    ? `<div class="problems" role="alert" tabindex="-1" id="problems"><h2>${w.problemsTitle}</h2><ul>${[...s.problems]
        .map(([linkId, p]) => `<li><a href="#${idOf(s, linkId)}">${escapeHtml(summaryLine(s, linkId, p))}</a></li>`)
        .join('')}</ul></div>`
    : '';
  const hidden = Object.entries(input.hidden ?? {})
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  const body = `<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(w.hello(input.firstName))}</p>
<p>${escapeHtml(w.intro(input.clinicName))}</p>
${summary}
<form method="post" action="${escapeHtml(input.action)}" novalidate>
${hidden}<input type="hidden" name="lang" value="${input.lang}">
${items}
<button type="submit">${w.submit}</button>
</form>
<p class="small">${escapeHtml(w.privacy)}</p>`;
  return page(input.lang, s.problems.size ? `${w.problemsTitle} — ${title}` : title, body, input.switchHref);
}

/** A page with a heading and a message (received, already answered, not valid, too many tries). */
export const messagePage = (lang: Language, title: string, text: string, switchHref?: string): string =>
  page(lang, title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(text)}</p>`, switchHref);

/** Crisis resources first, then that the answers were received and the care team told. */
export function crisisPage(
  lang: Language,
  resources: CrisisResource[],
  clinic: { name: string; phone: string },
): string {
  const w = words(lang);
  const tel = (n: string): string => n.replace(/[^+\d]/g, '');
  const lines = resources
    .map(
      (r) =>
        `<li><p>${escapeHtml(r.text)}</p>${r.call ? `<a class="action" href="tel:${tel(r.call)}">${w.call} ${escapeHtml(r.call)}</a>` : ''}${r.sms ? ` <a class="action secondary" href="sms:${tel(r.sms)}">${w.text} ${escapeHtml(r.sms)}</a>` : ''}</li>`,
    )
    .join('\n');
  const body = `<section class="crisis" aria-labelledby="crisis-title">
<h1 id="crisis-title">${w.crisisTitle}</h1>
<p>${escapeHtml(w.crisisIntro)}</p>
<ul class="resources">
${lines}
<li><p>${escapeHtml(w.clinicLine(clinic.name, clinic.phone))}</p><a class="action secondary" href="tel:${tel(clinic.phone)}">${w.call} ${escapeHtml(clinic.phone)}</a></li>
</ul>
</section>
<p>${escapeHtml(w.crisisCareTeam(clinic.name))}</p>`;
  return page(lang, w.crisisTitle, body);
}

/** The birth-date question asked before the form (the `confirmBirthDate` setting). */
export function birthDatePage(lang: Language, action: string, problem?: string, switchHref?: string): string {
  const w = words(lang);
  const err = problem
    ? `<p class="error" id="birth-error"><span class="visually-hidden">Error: </span>${escapeHtml(problem)}</p>`
    : '';
  const body = `<h1>${w.birthTitle}</h1>
<p>${w.birthIntro}</p>
<form method="post" action="${escapeHtml(action)}" novalidate>
<input type="hidden" name="lang" value="${lang}">
<div class="question"><label for="birth-date">${w.birthLabel}</label>
<p class="hint" id="birth-hint">${w.birthHint}</p>${err}
<input type="date" id="birth-date" name="birthDate" autocomplete="bday" aria-describedby="birth-hint${problem ? ' birth-error' : ''}"${problem ? ' aria-invalid="true"' : ''}></div>
<button type="submit">${w.continue}</button>
</form>`;
  return page(lang, w.birthTitle, body, switchHref);
}
