/**
 * What the survey page says, in English and Spanish (docs/surveys.md), and a form's own text in the
 * patient's language (the FHIR translation extension on `_text`, `_title`, `_display`). A language
 * with no words here reads English.
 */
export type Language = 'en' | 'es';
export const LANGUAGES: readonly Language[] = ['en', 'es'];

/** The page's language: the one asked for, else the link's, else English. */
export const languageOf = (...asked: (string | undefined)[]): Language =>
  (asked.map((a) => a?.slice(0, 2).toLowerCase()).find((a) => a === 'en' || a === 'es') as Language | undefined) ??
  'en';

const EN = {
  hello: (name: string) => (name ? `Hello ${name},` : 'Hello,'),
  intro: (clinic: string) => `${clinic} asks you to answer these questions. It takes a few minutes.`,
  required: 'Please answer this question.',
  requiredMark: '(required)',
  chooseOne: 'Please choose one answer.',
  number: (whole: boolean, min?: number, max?: number) =>
    `Please enter a ${whole ? 'whole ' : ''}number${min !== undefined && max !== undefined ? ` from ${min} to ${max}` : ''}.`,
  date: 'Please enter a date (year-month-day).',
  tooLong: (n: number) => `Please keep this to ${n} characters or fewer.`,
  problemsTitle: 'Please check your answers',
  yes: 'Yes',
  no: 'No',
  submit: 'Send my answers',
  privacy: 'Your answers go to your care team. If you need help now, call your clinic or, in an emergency, 911.',
  receivedTitle: 'Thank you',
  received: (clinic: string) => `We have received your answers. ${clinic} will see them.`,
  answeredTitle: 'Already answered',
  answered: 'These questions have already been answered. Thank you.',
  goneTitle: 'This link does not work',
  gone: (clinic: string, phone: string) =>
    `This link has expired or is not valid. If you were asked to answer questions, please call ${clinic} at ${phone}.`,
  goneNoClinic: 'This link has expired or is not valid. Please call your clinic.',
  slowTitle: 'Please wait a moment',
  slow: 'Too many tries from this connection. Please wait a minute and try again.',
  crisisTitle: 'Help is available now',
  crisisIntro:
    'You told us you have had thoughts of being better off dead or of hurting yourself. You are not alone, and help is available right now.',
  crisisCareTeam: (clinic: string) => `Your answers have been sent, and ${clinic}'s care team has been told.`,
  clinicLine: (clinic: string, phone: string) => `${clinic}: ${phone}`,
  call: 'Call',
  text: 'Text',
  birthTitle: 'Please confirm who you are',
  birthIntro: 'Enter your date of birth to open your questions.',
  birthLabel: 'Date of birth',
  birthHint: 'For example 1980-03-27 (year-month-day)',
  birthWrong: 'That date of birth does not match. Please try again.',
  birthLocked: (clinic: string, phone: string) =>
    `Too many tries. Please call ${clinic} at ${phone} to answer these questions.`,
  continue: 'Continue',
  otherLanguage: 'Español',
};

const ES: typeof EN = {
  hello: (name) => (name ? `Hola ${name}:` : 'Hola:'),
  intro: (clinic) => `${clinic} le pide que responda estas preguntas. Le tomará unos minutos.`,
  required: 'Por favor, responda esta pregunta.',
  requiredMark: '(obligatoria)',
  chooseOne: 'Por favor, elija una respuesta.',
  number: (whole, min, max) =>
    `Por favor, escriba un número${whole ? ' entero' : ''}${min !== undefined && max !== undefined ? ` del ${min} al ${max}` : ''}.`,
  date: 'Por favor, escriba una fecha (año-mes-día).',
  tooLong: (n) => `Por favor, use ${n} caracteres o menos.`,
  problemsTitle: 'Por favor, revise sus respuestas',
  yes: 'Sí',
  no: 'No',
  submit: 'Enviar mis respuestas',
  privacy:
    'Sus respuestas van a su equipo de atención. Si necesita ayuda ahora, llame a su clínica o, en una emergencia, al 911.',
  receivedTitle: 'Gracias',
  received: (clinic) => `Hemos recibido sus respuestas. ${clinic} las verá.`,
  answeredTitle: 'Ya respondidas',
  answered: 'Estas preguntas ya fueron respondidas. Gracias.',
  goneTitle: 'Este enlace no funciona',
  gone: (clinic, phone) =>
    `Este enlace ha vencido o no es válido. Si le pidieron responder preguntas, llame a ${clinic} al ${phone}.`,
  goneNoClinic: 'Este enlace ha vencido o no es válido. Por favor, llame a su clínica.',
  slowTitle: 'Por favor, espere un momento',
  slow: 'Demasiados intentos desde esta conexión. Espere un minuto e inténtelo de nuevo.',
  crisisTitle: 'Hay ayuda disponible ahora',
  crisisIntro:
    'Nos dijo que ha tenido pensamientos de que estaría mejor muerto(a) o de lastimarse. No está solo(a) y hay ayuda disponible ahora mismo.',
  crisisCareTeam: (clinic) => `Sus respuestas fueron enviadas y el equipo de atención de ${clinic} ya fue avisado.`,
  clinicLine: (clinic, phone) => `${clinic}: ${phone}`,
  call: 'Llamar',
  text: 'Enviar texto',
  birthTitle: 'Por favor, confirme quién es',
  birthIntro: 'Escriba su fecha de nacimiento para abrir sus preguntas.',
  birthLabel: 'Fecha de nacimiento',
  birthHint: 'Por ejemplo 1980-03-27 (año-mes-día)',
  birthWrong: 'Esa fecha de nacimiento no coincide. Inténtelo de nuevo.',
  birthLocked: (clinic, phone) => `Demasiados intentos. Llame a ${clinic} al ${phone} para responder estas preguntas.`,
  continue: 'Continuar',
  otherLanguage: 'English',
};

export type Words = typeof EN;
export const words = (lang: Language): Words => (lang === 'es' ? ES : EN);

const TRANSLATION = 'http://hl7.org/fhir/StructureDefinition/translation';

interface Translated {
  extension?: { url: string; extension?: { url: string; valueCode?: string; valueString?: string }[] }[];
}

/** A form's text in the language, from its translation extension; the text itself otherwise. */
export function translated(text: string | undefined, element: unknown, lang: Language): string {
  const t = (element as Translated | undefined)?.extension?.find(
    (e) => e.url === TRANSLATION && e.extension?.some((x) => x.url === 'lang' && x.valueCode?.slice(0, 2) === lang),
  );
  return t?.extension?.find((x) => x.url === 'content')?.valueString ?? text ?? '';
}
