/**
 * The Questionnaires fhir-engage assigns (docs/surveys.md): FHIR Questionnaire resources, one JSON file
 * each in mappings/questionnaires/forms/, with a folder of overrides over them (a file of the same
 * name, or a new one). Each is checked against the FHIR schema at load; a Task only ever names a
 * canonical found here (`missingForms`), so every survey a patient is asked to answer can be
 * resolved (served at /fhir/Questionnaire, written to the EMR where the source allows) and rendered.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Questionnaire } from '@medplum/fhirtypes';
import { configErrors } from '../errors';
import { readTextFile } from '../text-file';
import { parseJsonText } from '../validation/json-text';
import { sharedValidator } from '../validation/validator';
import { MAPPINGS_DIR } from './load';

/** Forms by canonical URL (without `|version`). */
export type FormSet = ReadonlyMap<string, Questionnaire & { url: string }>;

const FORMS = path.join('questionnaires', 'forms');

/** The canonical without its `|version`. */
export const bareCanonical = (canonical: string): string => canonical.split('|')[0] as string;

function readForm(file: string, problems: string[]): (Questionnaire & { url: string }) | undefined {
  const parsed = parseJsonText(readTextFile(file, 'Questionnaire form'));
  if (!parsed.ok) {
    problems.push(`${file}: not JSON (${parsed.error})`);
    return undefined;
  }
  const q = parsed.value as Questionnaire;
  if (q?.resourceType !== 'Questionnaire') {
    problems.push(`${file}: a form is a FHIR Questionnaire (resourceType "Questionnaire")`);
    return undefined;
  }
  if (typeof q.url !== 'string' || !q.url) {
    problems.push(`${file}: a form needs its canonical url (Questionnaire.url), which survey Tasks name`);
    return undefined;
  }
  const checked = sharedValidator().validate(q, 'outgoing');
  if (!checked.valid) {
    const why = (checked.outcome?.issue ?? [])
      .filter((i) => i.severity === 'error')
      .map((i) => `${i.expression?.[0] ?? ''} ${i.details?.text ?? i.diagnostics ?? ''}`.trim())
      .slice(0, 3);
    problems.push(`${file}: not a valid Questionnaire: ${why.join('; ')}`);
    return undefined;
  }
  return q as Questionnaire & { url: string };
}

function readFolder(dir: string, into: Map<string, string>): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.json')) into.set(f, path.join(dir, f));
}

/** The shipped forms with the overrides (`<overridesDir>/questionnaires/forms/`) laid over them by file name. */
export function loadForms(options: { dir?: string; overridesDir?: string } = {}): FormSet {
  const files = new Map<string, string>();
  readFolder(path.join(options.dir ?? MAPPINGS_DIR, FORMS), files);
  if (options.overridesDir) readFolder(path.join(options.overridesDir, FORMS), files);
  const problems: string[] = [];
  const out = new Map<string, Questionnaire & { url: string }>();
  for (const file of files.values()) {
    const q = readForm(file, problems);
    if (!q) continue;
    const url = bareCanonical(q.url);
    if (out.has(url)) problems.push(`${file}: a second form with the canonical ${url}`);
    out.set(url, q);
  }
  if (problems.length) throw configErrors(problems.map((text) => ({ text })));
  return out;
}

/** The canonicals the survey settings assign that no form answers: each would name a Questionnaire nobody can resolve. */
export function missingForms(forms: FormSet, canonicals: readonly string[]): string[] {
  return [...new Set(canonicals.map(bareCanonical))].filter((c) => !forms.has(c));
}

/** The form of a Task's canonical, if there is one. */
export const formFor = (
  forms: FormSet,
  canonical: string | undefined,
): (Questionnaire & { url: string }) | undefined => (canonical ? forms.get(bareCanonical(canonical)) : undefined);

/**
 * Fails (in words, every canonical at once) when survey Tasks could name a Questionnaire no form answers:
 * nobody could resolve it and the survey page could not show it.
 */
export function checkAssignedForms(forms: FormSet, canonicals: readonly string[], where: string): void {
  const missing = missingForms(forms, canonicals);
  if (missing.length)
    throw configErrors(
      missing.map((c) => ({
        text: `${where}: the surveys assign ${c}, but no Questionnaire form has that url; add one to mappings/questionnaires/forms/ (docs/surveys.md, "Questionnaires") or assign another`,
      })),
    );
}

const cached = new Map<string, FormSet>();
/** The forms of an overrides folder, loaded once per process (runs, the page and the served Questionnaires share them). */
export function formsOf(overridesDir: string | undefined): FormSet {
  const key = overridesDir ?? '';
  let set = cached.get(key);
  if (!set) cached.set(key, (set = loadForms({ overridesDir })));
  return set;
}
