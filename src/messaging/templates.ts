/**
 * Message templates (templates/README.md, docs/messaging.md): one file per kind, language and channel,
 * `<kind>.<language>.<channel>.txt`, from the shipped `templates/` folder with a folder of overrides
 * over it. Only the placeholders of ALLOWED_FIELDS may appear (minimum necessary: nothing about the
 * visit's reason, service or clinician); a template naming another is refused at load, with its file
 * and line. Rendering is pure.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { configError } from '../errors';
import { readTextFile } from '../text-file';

/** What a template may say: the only fields a message is ever given. */
export const ALLOWED_FIELDS = [
  'clinicName',
  'clinicPhone',
  'date',
  'time',
  'firstName',
  'unsubscribeUrl',
  'surveyUrl',
] as const;
export type MessageField = (typeof ALLOWED_FIELDS)[number];
export type MessageFields = Partial<Record<MessageField, string>>;

export const MESSAGE_KINDS = ['appointment-reminder', 'survey-invitation', 'help-reply'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];
export type MessageChannel = 'sms' | 'email';

/** The language of a message when the patient's is not shipped or overridden. */
export const FALLBACK_LANGUAGE = 'en';

export const SHIPPED_TEMPLATES = path.resolve(__dirname, '..', '..', 'templates');

export interface Template {
  file: string;
  subject?: string;
  body: string;
}

export type TemplateSet = Map<string, Template>;

const NAME = /^([a-z-]+)\.([a-z]{2,3}(?:-[A-Za-z]{2})?)\.(sms|email)\.txt$/;
const PLACEHOLDER = /\{\{\s*([A-Za-z]+)\s*\}\}/g;

const key = (kind: string, language: string, channel: string): string => `${kind}.${language}.${channel}`;

/** Reads one template file: its subject line (email), its body, every placeholder checked. */
function readTemplate(file: string, channel: MessageChannel): Template {
  const text = readTextFile(file, 'message template').replace(/\r\n/g, '\n').trimEnd();
  const lines = text.split('\n');
  let subject: string | undefined;
  if (channel === 'email') {
    const first = /^Subject:\s*(.+)$/.exec(lines[0] ?? '');
    if (!first) throw configError(`${file}:1: an email template starts with "Subject: …"`);
    subject = first[1]?.trim();
    lines.shift();
  }
  lines.forEach((line, i) => {
    for (const m of line.matchAll(PLACEHOLDER))
      if (!(ALLOWED_FIELDS as readonly string[]).includes(m[1] as string))
        throw configError(
          `${file}:${i + 1}: {{${m[1]}}} is not a field a message may carry; allowed: ${ALLOWED_FIELDS.join(', ')} (docs/messaging.md, "Minimum necessary")`,
        );
  });
  const body = lines.join('\n').trim();
  if (channel === 'sms' && !/\bSTOP\b/.test(body))
    throw configError(`${file}: an SMS template must say how to opt out ("Reply STOP …")`);
  if (channel === 'email' && !body.includes('{{unsubscribeUrl}}') && !file.includes('help-reply'))
    throw configError(`${file}: an email template must carry {{unsubscribeUrl}}`);
  return { file, ...(subject ? { subject } : {}), body };
}

function readFolder(dir: string, into: TemplateSet): void {
  for (const name of readdirSync(dir).sort()) {
    const m = NAME.exec(name);
    if (!m) continue;
    const [, kind, language, channel] = m as unknown as [string, string, string, MessageChannel];
    if (!(MESSAGE_KINDS as readonly string[]).includes(kind))
      throw configError(`${path.join(dir, name)}: no message kind "${kind}"; kinds: ${MESSAGE_KINDS.join(', ')}`);
    into.set(key(kind, language, channel), readTemplate(path.join(dir, name), channel));
  }
}

/** The shipped templates with the overrides of `overridesDir` (when given) over them. */
export function loadTemplates(overridesDir?: string): TemplateSet {
  const set: TemplateSet = new Map();
  readFolder(SHIPPED_TEMPLATES, set);
  if (overridesDir) {
    if (!existsSync(overridesDir)) throw configError(`the templates folder ${overridesDir} does not exist`);
    readFolder(overridesDir, set);
  }
  return set;
}

/** The template for a message: the patient's language (or its base language), else English. */
export function templateFor(
  set: TemplateSet,
  kind: MessageKind,
  language: string | undefined,
  channel: MessageChannel,
): Template | undefined {
  const wanted = (language ?? FALLBACK_LANGUAGE).toLowerCase();
  return (
    set.get(key(kind, wanted, channel)) ??
    set.get(key(kind, wanted.split('-')[0] as string, channel)) ??
    set.get(key(kind, FALLBACK_LANGUAGE, channel))
  );
}

/** The template with its fields filled in; a field not given is left out (its placeholder removed, spaces tidied). */
export function render(template: Template, fields: MessageFields): { subject?: string; body: string } {
  const fill = (s: string): string =>
    s
      .replace(PLACEHOLDER, (_, name: string) => fields[name as MessageField] ?? '')
      .replace(/[ \t]+([,.:;!?])/g, '$1')
      .replace(/[ \t]{2,}/g, ' ')
      .trim();
  return { ...(template.subject ? { subject: fill(template.subject) } : {}), body: fill(template.body) };
}
