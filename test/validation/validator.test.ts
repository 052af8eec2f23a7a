import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toFhirPath } from '../../src/validation/issues';
import { sharedValidator } from '../../src/validation/validator';
import { runCliProcess } from '../helpers/cli';

const v = sharedValidator();
const appt = {
  resourceType: 'Appointment',
  id: 'a1',
  status: 'booked',
  start: '2026-05-01T09:00:00Z',
  end: '2026-05-01T09:30:00Z',
  participant: [{ actor: { reference: 'Patient/p1', display: 'Zelophehad Quillfeather' }, status: 'accepted' }],
};

function expressions(resource: unknown): string[] {
  return (v.validate(resource).outcome?.issue ?? [])
    .filter((i) => i.severity === 'error')
    .flatMap((i) => i.expression ?? []);
}

describe('resource validation', () => {
  test('a valid resource passes both layers', () => {
    expect(v.validate(appt)).toEqual({ valid: true });
  });

  test.each([
    [
      'enum',
      { ...appt, status: 'maybe-later' },
      'Appointment.status',
      'value',
      'must be one of: proposed, pending, booked',
    ],
    [
      'datatype pattern',
      { ...appt, start: 'next tuesday' },
      'Appointment.start',
      'value',
      'is not a valid FHIR instant',
    ],
    ['JSON type', { ...appt, minutesDuration: 'thirty' }, 'Appointment.minutesDuration', 'value', 'must be a number'],
    [
      'FHIR required element',
      { ...appt, participant: undefined },
      'Appointment.participant',
      'required',
      'is required',
    ],
    [
      'nested path',
      { ...appt, participant: [{ actor: { reference: 'Patient/p1' }, status: 'sometimes' }] },
      'Appointment.participant[0].status',
      'value',
      'must be one of',
    ],
  ])('FHIR schema: %s → OperationOutcome with the element path', (_name, resource, expression, code, text) => {
    const result = v.validate(resource, 'outgoing');
    expect(result.valid).toBe(false);
    const issue = result.outcome?.issue.find((i) => i.expression?.[0] === expression);
    expect(issue).toMatchObject({ severity: 'error', code });
    expect(issue?.details?.text).toContain(text);
  });

  test.each([
    ['an Appointment without start', { ...appt, start: undefined }, 'Appointment.start'],
    ['an Appointment without participants (1..* in FHIR)', { ...appt, participant: [] }, 'Appointment.participant'],
    [
      'a QuestionnaireResponse without status (the FHIR schema lets it pass)',
      { resourceType: 'QuestionnaireResponse', id: 'q', subject: { reference: 'Patient/p' }, authored: '2026-01-01' },
      'QuestionnaireResponse.status',
    ],
    [
      'a CarePlan without subject',
      { resourceType: 'CarePlan', id: 'c', status: 'active', intent: 'plan' },
      'CarePlan.subject',
    ],
  ])('profiles/: %s is refused', (_name, resource, expression) => {
    expect(expressions(resource)).toContain(expression);
  });

  test('valid FHIR is not refused for the shape of its patient reference: that is found (or not, with the reason) when the resource is attached', () => {
    for (const actor of [
      { reference: 'Location/l1' },
      { identifier: { system: 'urn:mrn', value: '1' } },
      { reference: '#p1' },
      { reference: 'urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0' },
      { reference: 'Patient/p1/_history/2' },
    ]) {
      expect(v.validate({ ...appt, participant: [{ actor, status: 'accepted' }] }).valid).toBe(true);
    }
  });

  test('a required primitive may be present as extensions only (data-absent-reason), as FHIR allows for every primitive', () => {
    const absent = {
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }],
    };
    const { status: _s, ...noStatus } = appt;
    expect(v.validate({ ...noStatus, _status: absent }).valid).toBe(true);
    expect(v.validate({ resourceType: 'Patient', id: 'p', _gender: absent, _birthDate: absent }).valid).toBe(true);
    expect(expressions(noStatus)).toEqual(['Appointment.status']);
  });

  test('outgoing: what fhir-engage writes must name its patient (x-outgoing); a pulled Task need not', () => {
    const task = { resourceType: 'Task', status: 'requested', intent: 'order' };
    expect(v.validate(task).valid).toBe(true);
    expect(v.validate(task, 'outgoing').outcome?.issue.map((i) => i.expression?.[0])).toEqual(['Task.for']);
  });

  test('incoming: a vendor deviation in an element fhir-engage does not use is a warning; the resource is kept', () => {
    // As real Cerner answers show: an empty extension string, a rank sent as a string, a duration as text.
    const deviant = {
      ...appt,
      minutesDuration: 'thirty',
      extension: [{ url: 'https://fhir-ehr.example/action-comment', valueString: '' }],
    };
    const incoming = v.validate(deviant);
    expect(incoming.valid).toBe(true);
    expect(incoming.outcome?.issue.map((i) => [i.severity, i.expression?.[0]])).toEqual([
      ['warning', 'Appointment.extension[0].valueString'],
      ['warning', 'Appointment.minutesDuration'],
    ]);
    expect(incoming.outcome?.issue[0]?.details?.text).toContain('kept: fhir-engage does not use this element');
    const patient = v.validate({
      resourceType: 'Patient',
      id: 'p',
      telecom: [{ system: 'phone', value: '555', rank: '1' }],
    });
    expect(patient.valid).toBe(true);
    // The same deviations are errors in what fhir-engage writes.
    expect(v.validate(deviant, 'outgoing').valid).toBe(false);
    // And a broken element that is used stays an error.
    expect(v.validate({ ...appt, start: 'tomorrow' }).valid).toBe(false);
  });

  test('unknown vendor elements are a warning, not a failure; _primitive extensions are fine', () => {
    const result = v.validate({
      ...appt,
      isCancelable: false,
      _status: { extension: [{ url: 'http://x', valueString: 'y' }] },
    });
    expect(result.valid).toBe(true);
    expect(result.outcome?.issue).toEqual([
      expect.objectContaining({ severity: 'warning', code: 'structure', expression: ['Appointment.isCancelable'] }),
    ]);
  });

  test('non-resources and unknown types are refused clearly', () => {
    expect(v.validate('text').outcome?.issue[0]?.details?.text).toBe('Resource is not a JSON object');
    expect(v.validate({ id: 'x' }).outcome?.issue[0]?.expression).toEqual(['Resource.resourceType']);
    expect(v.validate({ resourceType: 'Appointmnet' }).outcome?.issue[0]?.code).toBe('not-supported');
  });

  test('a contained resource is checked against its own type, with its own paths (not as failing every other type)', () => {
    const contained = { resourceType: 'Patient', id: 'p1', gender: 'dragon', birthDate: '1970-13-45' };
    const issues =
      v.validate({ ...appt, contained: [contained, { resourceType: 'Nonsense' }, { id: 'x' }, 5] }, 'outgoing').outcome
        ?.issue ?? [];
    const byPath = Object.fromEntries(issues.map((i) => [i.expression?.[0], i.details?.text]));
    expect(byPath).toEqual({
      'Appointment.contained[0].gender': expect.stringContaining('must be one of: male, female, other, unknown'),
      'Appointment.contained[0].birthDate': 'Appointment.contained[0].birthDate is not a valid FHIR date',
      'Appointment.contained[1].resourceType': 'Appointment.contained[1].resourceType is not a FHIR R4 resource type',
      'Appointment.contained[2].resourceType': 'Appointment.contained[2].resourceType is required',
      'Appointment.contained[3]': 'Appointment.contained[3] must be an object',
    });
    expect(v.validate({ ...appt, contained: [{ ...contained, gender: 'female', birthDate: '1970-12-31' }] })).toEqual({
      valid: true,
    });
    // A Bundle's entries are resources too.
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: appt }, { resource: { ...appt, status: 'maybe' } }],
    };
    expect(expressions(bundle)).toEqual(['Bundle.entry[1].resource.status']);
  });

  test('messages never quote the offending value', () => {
    const text = JSON.stringify(v.validate({ ...appt, status: 'Zelophehad', start: 'Quillfeather' }).outcome);
    expect(text).not.toContain('Zelophehad');
    expect(text).not.toContain('Quillfeather');
  });

  test('toFhirPath turns JSON pointers into FHIRPath', () => {
    expect(toFhirPath('Appointment', '/participant/0/actor', 'reference')).toBe(
      'Appointment.participant[0].actor.reference',
    );
    expect(toFhirPath('Patient', '')).toBe('Patient');
  });
});

describe('fhir-engage validate', () => {
  test('reports each resource of JSON, NDJSON and Bundle files, exits 1 when any is invalid', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-val-'));
    writeFileSync(path.join(dir, 'good.json'), JSON.stringify(appt));
    writeFileSync(
      path.join(dir, 'many.ndjson'),
      `${JSON.stringify(appt)}\n${JSON.stringify({ ...appt, id: 'bad', status: 'maybe' })}\n{broken\n`,
    );
    writeFileSync(
      path.join(dir, 'bundle.json'),
      JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { ...appt, id: 'b1' } }] }),
    );
    const res = runCliProcess(['validate', dir]);
    expect(res.status).toBe(1);
    expect(res.stdout).toContain(`${path.join(dir, 'many.ndjson')}:2 Appointment/bad: INVALID`);
    expect(res.stdout).toContain('  error value: Appointment.status must be one of');
    expect(res.stdout).toContain(`${path.join(dir, 'many.ndjson')}:3 ?: INVALID`);
    expect(res.stdout).toContain(`${path.join(dir, 'bundle.json')}#entry[0] Appointment/b1: valid`);
    expect(res.stdout).toContain('5 resource(s): 3 valid (0 with warnings), 2 invalid');

    const ok = runCliProcess(['validate', path.join(dir, 'good.json'), '--json']);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout.trim())).toEqual({
      where: path.join(dir, 'good.json'),
      resourceType: 'Appointment',
      id: 'a1',
      valid: true,
    });
  });

  test('a file nesting extensions 500 deep, or holding a NUL, is reported as invalid with its path, not as an unexpected error', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-validate-hostile-'));
    let ext: Record<string, unknown> = { url: 'https://ehr.test/leaf', valueString: 'x' };
    for (let i = 0; i < 500; i++) ext = { url: 'https://ehr.test/nest', extension: [ext] };
    writeFileSync(
      path.join(dir, 'deep.json'),
      JSON.stringify({ resourceType: 'Patient', id: 'deep', extension: [ext] }),
    );
    writeFileSync(
      path.join(dir, 'nul.json'),
      JSON.stringify({ resourceType: 'Patient', id: 'nul', name: [{ family: 'a\u0000b' }] }),
    );
    const res = runCliProcess(['validate', dir]);
    expect(res.status).toBe(1);
    expect(res.stdout + res.stderr).not.toMatch(/unexpected error/i);
    expect(res.stdout).toMatch(
      /Patient\/deep: INVALID\n {2}error structure: Patient\.extension\[0\]\.extension\[0\].* nests deeper than 100 levels/,
    );
    expect(res.stdout).toContain(
      'Patient/nul: INVALID\n  error value: Patient.name[0].family contains a character FHIR forbids',
    );
  });

  test('a missing path is a usage error', () => {
    const res = runCliProcess(['validate', '/nonexistent/file.json']);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('no such file or directory: /nonexistent/file.json');
  });
});

describe('profile details', () => {
  test('a proposed or cancelled appointment may have no start (FHIR app-3); a booked one may not', () => {
    expect(v.validate({ ...appt, status: 'cancelled', start: undefined, end: undefined }).valid).toBe(true);
    expect(v.validate({ ...appt, status: 'proposed', start: undefined, end: undefined }).valid).toBe(true);
    expect(
      v
        .validate({ ...appt, status: 'booked', start: undefined, end: undefined })
        .outcome?.issue.map((i) => i.expression?.[0]),
    ).toContain('Appointment.start');
  });

  test('a response without authored is kept (the mapping falls back to meta.lastUpdated)', () => {
    expect(
      v.validate({
        resourceType: 'QuestionnaireResponse',
        id: 'q',
        status: 'completed',
        subject: { reference: 'Patient/p' },
      }).valid,
    ).toBe(true);
  });
});

test('validate reports values withheld by a data-absent-reason as information, not errors', () => {
  const absent = (code: string) => ({
    extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: code }],
  });
  const result = sharedValidator().validate(
    {
      resourceType: 'Patient',
      id: 'm',
      _gender: absent('unknown'),
      identifier: [{ _system: absent('masked'), value: 'X' }],
    },
    'incoming',
    { information: true },
  );
  expect(result.valid).toBe(true);
  expect(result.outcome?.issue.map((i) => [i.severity, i.expression?.[0], i.details?.text])).toEqual([
    ['information', 'Patient.gender', 'Patient.gender is absent (data-absent-reason: unknown); read as unknown'],
    [
      'information',
      'Patient.identifier[0].system',
      'Patient.identifier[0].system is absent (data-absent-reason: masked); read as unknown',
    ],
  ]);
});
