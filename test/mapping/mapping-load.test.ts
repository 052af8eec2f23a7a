import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Appointment, Resource } from '@medplum/fhirtypes';
import { loadMappings, MAPPINGS_DIR } from '../../src/mapping/load';
import { mapResource, mappingOutcome } from '../../src/mapping/evaluate';
import { loadInstruments } from '../../src/mapping/scoring';
import { buildModel } from '../../src/mapping/build-model';
import { describeError } from '../../src/errors';

/** A copy of the shipped mappings with one file replaced or added. */
function mappingsWith(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-map-'));
  cpSync(MAPPINGS_DIR, dir, { recursive: true });
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

function loadError(files: Record<string, string>, sourceId?: string): string {
  const dir = mappingsWith(files);
  try {
    loadMappings({ dir, sourceId });
    loadInstruments({ dir, sourceId });
  } catch (err) {
    return describeError(err).replaceAll(dir, '<dir>');
  }
  throw new Error('expected the mappings to be rejected');
}

const appt: Appointment = {
  resourceType: 'Appointment',
  id: 'a1',
  status: 'noshow',
  start: '2026-01-05T10:00:00Z',
  participant: [{ actor: { reference: 'Patient/p1' }, status: 'accepted' }],
};

describe('mapping files: errors at load time name file, line and field', () => {
  test('not valid YAML', () => {
    expect(loadError({ 'Appointment.yaml': 'resourceType: Appointment\nfields:\n  id: [path: id\n' })).toMatch(
      /<dir>\/Appointment\.yaml:\d+: not valid YAML/,
    );
  });

  test('an unknown field', () => {
    expect(
      loadError({
        'Appointment.yaml':
          'resourceType: Appointment\nfields:\n  id: { path: id }\n  patient: { path: participant.actor.reference }\n  status: { path: status }\n  colour:\n    path: status\n',
      }),
    ).toBe(
      'error: <dir>/Appointment.yaml:6: fields.colour is not a field of the Appointment model (known: id, patient, start, end, status, sourceStatus, serviceType)',
    );
  });

  test('a FHIRPath that does not parse', () => {
    expect(
      loadError({
        'Appointment.yaml':
          'resourceType: Appointment\nfields:\n  id: { path: id }\n  patient: { path: participant.actor.reference }\n  status:\n    path: status.where((\n',
      }),
    ).toContain('<dir>/Appointment.yaml:6: fields.status.path is not a valid FHIRPath expression ("status.where((")');
  });

  test('a FHIRPath with an unknown function (parses, fails only when run)', () => {
    expect(
      loadError({
        'Appointment.yaml':
          'resourceType: Appointment\nfields:\n  id: { path: id }\n  patient: { path: participant.actor.reference }\n  status:\n    path: status.lowercase()\n',
      }),
    ).toContain(
      'fields.status.path is not a valid FHIRPath expression ("status.lowercase()"): Error: Unrecognized function: lowercase',
    );
  });

  test('a misspelt key, a wrong resourceType and a missing required field are all reported together', () => {
    const msg = loadError({
      'Appointment.yaml': 'resourceType: Apointment\nfields:\n  id: { path: id }\n  status: { pth: status }\n',
    });
    expect(msg).toContain('<dir>/Appointment.yaml:1: resourceType must be Appointment (the file name says so)');
    expect(msg).toContain(
      '<dir>/Appointment.yaml:4: fields.status.pth is not a known key (expected: path, map, default, description)',
    );
    expect(msg).toContain('fields.patient is required for Appointment and no file maps it');
  });

  test('an override with a bad field names the override file', () => {
    expect(
      loadError(
        {
          'sources/clinic-x/Appointment.yaml': 'resourceType: Appointment\nfields:\n  patient:\n    path: extension(\n',
        },
        'clinic-x',
      ),
    ).toContain('<dir>/sources/clinic-x/Appointment.yaml:4: fields.patient.path is not a valid FHIRPath expression');
  });

  test('a broken questionnaire scoring file', () => {
    expect(
      loadError({
        'questionnaires/phq9.yaml':
          'instrument: phq9\nrecognise: {}\nitems: [{ key: item1 }]\nanswers:\n  codes: { LA6568-5: zero }\ntotal: { linkIds: [x], max: 27 }\n',
      }),
    ).toContain('<dir>/questionnaires/phq9.yaml:3: items must be a list of { key, linkIds: [...] }');
  });
});

describe('overrides replace only the fields they name', () => {
  test('a source override changes status mapping, the rest stays default', () => {
    const dir = mappingsWith({
      'sources/clinic-x/Appointment.yaml':
        'resourceType: Appointment\nfields:\n  status:\n    path: status\n    map: { noshow: cancelled }\n    default: other\n',
    });
    const base = loadMappings({ dir });
    const clinic = loadMappings({ dir, sourceId: 'clinic-x' });
    const a = mapResource(base.Appointment!, appt);
    const b = mapResource(clinic.Appointment!, appt);
    expect(a.ok && a.record.status).toBe('no-show');
    expect(b.ok && b.record.status).toBe('cancelled');
    expect(b.ok && b.record.start).toBe('2026-01-05T10:00:00.000Z');
    expect(clinic.Appointment?.files.map((f) => path.relative(dir, f))).toEqual([
      'Appointment.yaml',
      'sources/clinic-x/Appointment.yaml',
    ]);
  });
});

describe('target values and overrides outside the installation', () => {
  test('a typo in a map target (or default) is a load error naming the file, line and allowed values, not a silent "other"', () => {
    const msg = loadError(
      {
        'sources/typo/Appointment.yaml':
          'resourceType: Appointment\nfields:\n  status:\n    path: status\n    map:\n      fulfilled: kept\n      noshow: noshow\n    default: others\n',
      },
      'typo',
    );
    expect(msg).toContain(
      '<dir>/sources/typo/Appointment.yaml:7: fields.status.map.noshow: "noshow" is not a value of fields.status (one of: kept, no-show, cancelled, upcoming, other)',
    );
    expect(msg).toContain(
      '<dir>/sources/typo/Appointment.yaml:8: fields.status.default: "others" is not a value of fields.status',
    );
  });

  test('overrides in a folder of their own (mappingsDir / FHIR_ENGAGE_MAPPINGS) lay over the shipped defaults', () => {
    const outside = mkdtempSync(path.join(os.tmpdir(), 'fe-map-outside-'));
    mkdirSync(path.join(outside, 'sources', 'clinic-y'), { recursive: true });
    writeFileSync(
      path.join(outside, 'sources', 'clinic-y', 'Appointment.yaml'),
      'resourceType: Appointment\nfields:\n  status:\n    path: status\n    map: { noshow: cancelled }\n    default: other\n',
    );
    const set = loadMappings({ sourceId: 'clinic-y', overridesDir: outside });
    const mapped = mapResource(set.Appointment!, appt);
    expect(mapped.ok && mapped.record.status).toBe('cancelled');
    expect(set.Appointment?.files).toEqual([
      path.join(MAPPINGS_DIR, 'Appointment.yaml'),
      path.join(outside, 'sources', 'clinic-y', 'Appointment.yaml'),
    ]);
  });
});

describe('run-time mapping failures dead-letter the resource with the field and expression', () => {
  test('a value of the wrong type', () => {
    const dir = mappingsWith({
      'sources/odd/Appointment.yaml': 'resourceType: Appointment\nfields:\n  start:\n    path: participant.first()\n',
    });
    const set = loadMappings({ dir, sourceId: 'odd' });
    const result = mapResource(set.Appointment!, appt);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failures).toEqual([
      {
        field: 'start',
        expression: 'participant.first()',
        text: 'returned a AppointmentParticipant, expected a date or instant',
      },
    ]);
    const outcome = mappingOutcome('Appointment', result.failures, set.Appointment!);
    expect(outcome.issue[0]?.details?.text).toContain(
      'mapping field start (participant.first()) returned a AppointmentParticipant',
    );
  });

  test('a resource failing to map is left out of the model and reported, the others are mapped', () => {
    const set = loadMappings();
    const other = { ...appt, id: 'a2', start: 'not a date' } as Resource;
    const built = buildModel('s', 'p1', [appt, other], { mappings: set, instruments: loadInstruments() });
    expect(built.model.appointments.map((a) => a.id)).toEqual(['a1']);
    expect(built.failures.map((f) => f.resource.id)).toEqual(['a2']);
    expect(built.failures[0]?.outcome.issue[0]?.details?.text).toContain(
      'mapping field start (start) is not a date or instant',
    );
  });

  test('a code outside the map takes the default', () => {
    const r = mapResource(loadMappings().Appointment!, { ...appt, status: 'checked-out' } as unknown as Resource);
    expect(r.ok && r.record.status).toBe('other');
  });
});
