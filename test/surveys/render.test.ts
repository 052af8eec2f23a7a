/**
 * The page's HTML (docs/surveys.md, "The page"): text from a form is escaped, every question has a
 * label or legend, problems point at their question, enableWhen reaches the script, translations and
 * the crisis page's links.
 */
import type { Questionnaire } from '@medplum/fhirtypes';
import { crisisIn, DEFAULT_CRISIS_RESOURCES } from '../../src/surveys/crisis';
import { crisisPage, formPage } from '../../src/surveys/render';
import { loadForms } from '../../src/mapping/forms';
import { loadInstruments } from '../../src/mapping/scoring';

const hostile: Questionnaire = {
  resourceType: 'Questionnaire',
  status: 'active',
  title: '<script>alert(1)</script>',
  item: [
    { linkId: 'a"><img src=x>', type: 'string', text: 'Name <b>now</b>', required: true },
    {
      linkId: 'b',
      type: 'boolean',
      text: 'Yes?',
      enableWhen: [{ question: 'a"><img src=x>', operator: 'exists', answerBoolean: true }],
    },
    { linkId: 'c', type: 'attachment', text: 'Upload' },
  ],
};

test('everything from the form is escaped; each question is labelled; problems link to their question', () => {
  const html = formPage({
    form: hostile,
    lang: 'en',
    firstName: '<Ana>',
    clinicName: 'R & D Clinic',
    action: '/s/x',
    switchHref: '/s/x?lang=es',
    values: { 'q.a"><img src=x>': '"><script>' },
    problems: new Map([['a"><img src=x>', 'Please answer this question.']]),
  });
  expect(html).not.toMatch(/<script>alert|<img src=x>|<b>now|<Ana>|"><script>/);
  expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  expect(html).toContain('R &amp; D Clinic');
  expect(html).toMatch(
    /<label for="i1-input">Name &lt;b&gt;now&lt;\/b&gt; <span class="req">\(required\)<\/span><\/label>/,
  );
  expect(html).toContain('aria-invalid="true" aria-describedby="i1-error"');
  expect(html).toContain('<a href="#i1">Name &lt;b&gt;now&lt;/b&gt;: please answer this question.</a>');
  expect(html).toMatch(/<fieldset class="question" id="i2"><legend>Yes\?<\/legend>/);
  expect(html).toContain('data-enable-when=');
  expect(html).not.toContain('Upload'); // a type the page does not ask is not shown
});

test('the shipped forms render in Spanish from their translations', () => {
  const forms = loadForms();
  const gad7 = forms.get('http://loinc.org/q/69737-5') as Questionnaire;
  const html = formPage({
    form: gad7,
    lang: 'es',
    firstName: 'Ana',
    clinicName: 'Clínica',
    action: '/s/x',
    switchHref: '/s/x?lang=en',
  });
  expect(html).toContain('Se ha sentido nervioso(a), ansioso(a) o con los nervios de punta');
  expect(html).toContain('Más de la mitad de los días');
  expect(html).toContain('Enviar mis respuestas');
  expect(html).toContain('lang="en">English</a>');
});

test('the crisis page: the lifeline to call and text, 911, the clinic', () => {
  const html = crisisPage('es', DEFAULT_CRISIS_RESOURCES.es, { name: 'Clínica Río', phone: '(555) 010-0100' });
  expect(html).toContain('href="tel:988"');
  expect(html).toContain('href="sms:988"');
  expect(html).toContain('href="tel:911"');
  expect(html).toContain('href="tel:5550100100"');
  expect(html).toContain('Hay ayuda disponible ahora');
});

test('the crisis path: a PHQ-9 with item 9 above 0, by its canonical or its items; never another instrument', () => {
  const instruments = loadInstruments();
  const item9 = (code: string) => [
    { linkId: '44260-8', answer: [{ valueCoding: { system: 'http://loinc.org', code } }] },
  ];
  expect(crisisIn('http://loinc.org/q/44249-1', item9('LA6569-3'), instruments)).toBe(true);
  expect(crisisIn('http://loinc.org/q/44249-1|2.73', item9('LA6571-9'), instruments)).toBe(true);
  expect(crisisIn('http://loinc.org/q/44249-1', item9('LA6568-5'), instruments)).toBe(false);
  expect(crisisIn('http://loinc.org/q/69737-5', item9('LA6571-9'), instruments)).toBe(false);
});
