/**
 * The survey page (docs/surveys.md, "The page"): a public app under /s, apart from the staff API and
 * dashboard — no API key, none of their routes (anything else under /s is a 404 page), its own CSP
 * ('self' only), no-store, no referrer. A link opens the form of its survey (or "already answered", or
 * a friendly page for a link that is expired, tampered with or unknown); the answers are checked,
 * stored, and the patient told "received" — or, PHQ-9 item 9 above 0, shown crisis resources first.
 * Rate limited per address; no answer content is ever logged.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Patient } from '@medplum/fhirtypes';
import type { AppConfig } from '../config/types';
import { DEFAULT_SURVEY_REQUESTS_PER_MINUTE, type SurveyPageSettings } from '../config/messaging-settings';
import { formFor, formsOf, type FormSet } from '../mapping/forms';
import { loadInstruments, type InstrumentDefinition } from '../mapping/scoring';
import type { Store } from '../store/store';
import type { SurveyLink } from '../store/survey-links';
import { readAnswers, type PostedFields } from '../surveys/answers';
import { crisisIn, crisisResourcesFor } from '../surveys/crisis';
import { bindingOf, birthDateProof, birthDateProven, linkIdOf, verifyLink } from '../surveys/links';
import { birthDatePage, crisisPage, formPage, messagePage } from '../surveys/render';
import { languageOf, words, type Language } from '../surveys/words';
import { submitSurvey, type SurveySubmission } from '../sync/survey-submission';
import { SURVEY_CSS, SURVEY_JS } from './survey-assets';
import { rateLimiter } from './rate-limit';
import { logger } from '../log/logger';

export const SURVEY_CSP =
  "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/** Wrong birth dates before a link is locked. */
export const MAX_BIRTH_DATE_TRIES = 5;

export interface SurveyPageOptions {
  store: Store;
  config: AppConfig;
  /** The page's clock (the sandbox's simulated days set it); default the real one. */
  now?: () => Date;
  /** Told of each submission (tests and the sandbox wait for its follow-up). */
  onSubmission?: (s: SurveySubmission) => void;
}

function headers(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    'Content-Security-Policy': SURVEY_CSP,
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'X-Robots-Tag': 'noindex, nofollow',
  });
  next();
}

const send = (res: Response, status: number, html: string): void => void res.status(status).type('html').send(html);

interface Opened {
  link: SurveyLink;
  settings: SurveyPageSettings;
  lang: Language;
  action: string;
  switchHref: string;
}

/** The page's handlers over one store and configuration (read at each request: `npm start` adopts its sandbox's). */
class SurveyPage {
  private readonly now: () => Date;
  private loaded: { forms: FormSet; instruments: InstrumentDefinition[] } | undefined;

  constructor(private readonly options: SurveyPageOptions) {
    this.now = options.now ?? (() => new Date());
  }

  private get config(): AppConfig {
    return this.options.config;
  }

  private clinic(): { name: string; phone: string } {
    return this.config.messaging?.clinic ?? { name: '', phone: '' };
  }

  /** Forms and instruments, loaded at the first link opened (a broken file also fails `config check`). */
  private definitions(): { forms: FormSet; instruments: InstrumentDefinition[] } {
    return (this.loaded ??= {
      forms: formsOf(this.config.mappingsDir),
      instruments: loadInstruments({ overridesDir: this.config.mappingsDir }),
    });
  }

  gone(res: Response, lang: Language, status = 404): void {
    const { name, phone } = this.clinic();
    const w = words(lang);
    send(res, status, messagePage(lang, w.goneTitle, name ? w.gone(name, phone) : w.goneNoClinic));
  }

  private locked(res: Response, lang: Language): void {
    const w = words(lang);
    send(res, 429, messagePage(lang, w.birthTitle, w.birthLocked(this.clinic().name, this.clinic().phone)));
  }

  /** The link of the token, checked (signature, binding, expiry), or a page already sent. */
  private async open(req: Request, res: Response): Promise<Opened | undefined> {
    const explicit = (req.body as PostedFields | undefined)?.lang ?? (req.query.lang as string | undefined);
    const token = String(req.params.token ?? '');
    const linkId = linkIdOf(token);
    const settings = this.config.messaging?.surveys;
    const link = settings && linkId ? await this.options.store.surveyLink(linkId) : undefined;
    if (!settings || !link || !verifyLink(token, bindingOf(link), settings.linkKeys))
      return void this.gone(res, languageOf(explicit));
    const lang = languageOf(explicit, link.language);
    const w = words(lang);
    if (link.submittedAt) return void send(res, 200, messagePage(lang, w.answeredTitle, w.answered));
    if (this.now().getTime() >= link.expiresAt.getTime()) return void this.gone(res, lang, 410);
    if (link.birthDateFailures >= MAX_BIRTH_DATE_TRIES) return void this.locked(res, lang);
    const action = `/s/${token}`;
    return { link, settings, lang, action, switchHref: `${action}?lang=${lang === 'es' ? 'en' : 'es'}` };
  }

  private async patient(o: Opened): Promise<Patient | undefined> {
    return (await this.options.store.getResource(o.link.sourceId, 'Patient', o.link.patientId))?.resource as
      Patient | undefined;
  }

  private async showForm(
    res: Response,
    o: Opened,
    status: number,
    fields?: PostedFields,
    problems?: Map<string, string>,
  ): Promise<void> {
    const form = formFor(this.definitions().forms, o.link.questionnaire);
    if (!form) return this.gone(res, o.lang);
    send(
      res,
      status,
      formPage({
        form,
        lang: o.lang,
        firstName: (await this.patient(o))?.name?.[0]?.given?.[0] ?? '',
        clinicName: this.clinic().name,
        action: o.action,
        switchHref: o.switchHref,
        ...(fields ? { values: fields } : {}),
        ...(problems ? { problems } : {}),
        ...(o.settings.confirmBirthDate ? { hidden: { proof: birthDateProof(o.link.id, o.settings.linkKeys) } } : {}),
      }),
    );
  }

  async get(req: Request, res: Response): Promise<void> {
    const o = await this.open(req, res);
    if (!o) return;
    await this.options.store.markSurveyLinkOpened(o.link.id, this.now());
    if (o.settings.confirmBirthDate) return send(res, 200, birthDatePage(o.lang, o.action, undefined, o.switchHref));
    await this.showForm(res, o, 200);
  }

  /** The birth-date step: right → the form; wrong → asked again, counted, and locked after MAX_BIRTH_DATE_TRIES. */
  private async confirmBirthDate(res: Response, o: Opened, given: string): Promise<void> {
    const patient = await this.patient(o);
    if (patient?.birthDate && given.trim() === patient.birthDate) return this.showForm(res, o, 200);
    const tries = await this.options.store.addBirthDateFailure(o.link.id);
    if (tries >= MAX_BIRTH_DATE_TRIES) return this.locked(res, o.lang);
    send(res, 422, birthDatePage(o.lang, o.action, words(o.lang).birthWrong, o.switchHref));
  }

  async post(req: Request, res: Response): Promise<void> {
    const o = await this.open(req, res);
    if (!o) return;
    const fields = (req.body ?? {}) as PostedFields;
    if (o.settings.confirmBirthDate) {
      if (typeof fields.birthDate === 'string') return this.confirmBirthDate(res, o, fields.birthDate);
      if (!birthDateProven(fields.proof, o.link.id, o.settings.linkKeys))
        return send(res, 200, birthDatePage(o.lang, o.action, undefined, o.switchHref));
    }
    const form = formFor(this.definitions().forms, o.link.questionnaire);
    if (!form) return this.gone(res, o.lang);
    const read = readAnswers(form, fields, o.lang);
    if (read.problems.size) return this.showForm(res, o, 422, fields, read.problems);
    const crisis = crisisIn(o.link.questionnaire, read.items, this.definitions().instruments);
    const { store, config } = this.options;
    const submitted = await submitSurvey({ store, config, link: o.link, items: read.items, crisis, now: this.now });
    this.options.onSubmission?.(submitted);
    const w = words(o.lang);
    if (submitted.state === 'already') return send(res, 200, messagePage(o.lang, w.answeredTitle, w.answered));
    if (crisis) return send(res, 200, crisisPage(o.lang, crisisResourcesFor(o.settings.crisis, o.lang), this.clinic()));
    send(res, 200, messagePage(o.lang, w.receivedTitle, w.received(this.clinic().name)));
  }
}

const handle =
  (fn: (req: Request, res: Response) => Promise<void>) =>
  (req: Request, res: Response, next: NextFunction): void =>
    void fn(req, res).catch(next);

export function surveyPage(options: SurveyPageOptions): express.Router {
  const page = new SurveyPage(options);
  const router = express.Router();
  router.use(headers);
  router.get('/assets/survey.css', (_req, res) => void res.type('text/css').send(SURVEY_CSS));
  router.get('/assets/survey.js', (_req, res) => void res.type('text/javascript').send(SURVEY_JS));
  router.use(
    rateLimiter(
      () => options.config.messaging?.surveys?.requestsPerMinute ?? DEFAULT_SURVEY_REQUESTS_PER_MINUTE,
      (req, res) => {
        const lang = languageOf(String(req.query.lang ?? ''));
        res.set('Retry-After', '60');
        send(res, 429, messagePage(lang, words(lang).slowTitle, words(lang).slow));
      },
    ),
  );
  router.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 300 }));
  router.get(
    '/:token',
    handle((req, res) => page.get(req, res)),
  );
  router.post(
    '/:token',
    handle((req, res) => page.post(req, res)),
  );
  // Anything else under the page's path: a page, never the staff API or the dashboard.
  router.use((req, res) => page.gone(res, languageOf(String(req.query.lang ?? ''))));
  // A failure shows a page without detail; the log names the event, never an answer.
  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // A request the body parser refused (too large, too many fields) is the sender's: 4xx, not logged as ours.
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500)
      return send(res, status, messagePage('en', 'This could not be sent', 'Please go back and try again.'));
    logger().error({ err, event: 'survey-page-failed' }, 'the survey page failed');
    send(
      res,
      500,
      messagePage('en', 'Something went wrong', 'Please try again in a few minutes, or call your clinic.'),
    );
  });
  return router;
}
