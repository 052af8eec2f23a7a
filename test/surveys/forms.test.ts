/**
 * Questionnaire forms (docs/surveys.md, "Questionnaires"): the shipped ones are valid FHIR and answer
 * every canonical the default surveys assign; an override that is not a Questionnaire, has no url or
 * repeats one is named; `config check` lists each canonical a programme assigns that no form answers,
 * and survey-link keys that cannot be used, in words; a sync refuses to start rather than write a Task
 * naming a Questionnaire nobody can resolve.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import { assignedQuestionnaires } from '../../src/config/programme-settings';
import { loadForms, missingForms } from '../../src/mapping/forms';
import { runCliProcess } from '../helpers/cli';

const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'fe-forms-'));

test('the shipped forms answer every canonical the default surveys assign', () => {
  const forms = loadForms();
  expect([...forms.keys()].sort()).toEqual([
    'http://loinc.org/q/44249-1',
    'http://loinc.org/q/69737-5',
    'https://fhir-engage.dev/fhir/Questionnaire/post-visit-satisfaction',
  ]);
  expect(missingForms(forms, assignedQuestionnaires(DEFAULT_ACTION_SETTINGS.surveys, {}))).toEqual([]);
});

test('broken overrides are named by file', () => {
  const dir = tmp();
  const forms = path.join(dir, 'questionnaires', 'forms');
  mkdirSync(forms, { recursive: true });
  writeFileSync(path.join(forms, 'a.json'), '{"resourceType":"Patient"}');
  writeFileSync(path.join(forms, 'b.json'), '{"resourceType":"Questionnaire","status":"active"}');
  writeFileSync(path.join(forms, 'c.json'), '{ not json');
  writeFileSync(
    path.join(forms, 'phq9-copy.json'),
    '{"resourceType":"Questionnaire","status":"active","url":"http://loinc.org/q/44249-1"}',
  );
  writeFileSync(path.join(forms, 'd.json'), '{"resourceType":"Questionnaire","status":"sometimes","url":"urn:d"}');
  let message = '';
  try {
    loadForms({ overridesDir: dir });
  } catch (err) {
    message = JSON.stringify((err as { outcome: unknown }).outcome);
  }
  expect(message).toContain('a.json: a form is a FHIR Questionnaire');
  expect(message).toContain('b.json: a form needs its canonical url');
  expect(message).toContain('c.json: not JSON');
  expect(message).toContain('phq9-copy.json: a second form with the canonical http://loinc.org/q/44249-1');
  expect(message).toMatch(/d\.json: not a valid Questionnaire: .*status/);
});

test('config check names a canonical no form answers, and unusable link keys in words without the secret', () => {
  const dir = tmp();
  writeFileSync(
    path.join(dir, 'cfg.yaml'),
    [
      'sources:',
      '  - id: a',
      '    baseUrl: https://x',
      '    programmes:',
      '      - id: heart',
      '        name: Heart',
      '        enrol: { carePlan: {} }',
      '        actions:',
      '          surveys:',
      '            periodic:',
      '              - { instrument: phq9, questionnaire: "https://forms.example.org/Questionnaire/kccq", everyDays: 30 }',
      '',
    ].join('\n'),
  );
  const res = runCliProcess(['config', 'check', '--config', 'cfg.yaml'], { cwd: dir });
  expect(res.status).toBe(2);
  expect(res.stderr).toContain(
    'source a: the surveys assign https://forms.example.org/Questionnaire/kccq, but no Questionnaire form has that url',
  );

  writeFileSync(
    path.join(dir, 'keys.yaml'),
    [
      'sources: []',
      'messaging:',
      '  publicUrl: https://engage.example.org',
      '  clinic: { name: Riverside, phone: 555-0100 }',
      '  unsubscribeSecret: ${UNSUB}',
      '  surveys:',
      '    linkKeys: ${KEYS}',
      '',
    ].join('\n'),
  );
  const keys = runCliProcess(['config', 'check', '--config', 'keys.yaml'], {
    cwd: dir,
    env: { UNSUB: 'u'.repeat(40), KEYS: 'k1:too-short-a-secret' },
  });
  expect(keys.status).toBe(2);
  expect(keys.stderr).toContain('messaging.surveys.linkKeys: key "k1" needs a secret of 32 characters or more');
  expect(keys.stderr).not.toContain('too-short-a-secret');
});
