/**
 * A synthetic patient's name, identifier, phone and a token are pushed through
 * every way the engine logs; none of them may appear in the output.
 */
import { Writable } from 'node:stream';
import type { Patient } from '@medplum/fhirtypes';
import { createLogger } from '../../src/log/logger';
import { redactUrl, scrub } from '../../src/log/redact';
import { configError, EngageError, outcome } from '../../src/errors';

const SECRET_VALUES = ['Zelophehad', 'Quillfeather', 'MRN-99887766', '555-0199', 'tok-abc123secret', 's3cr3t-pass'];

const patient: Patient = {
  resourceType: 'Patient',
  id: 'pat-1',
  identifier: [{ system: 'urn:mrn', value: 'MRN-99887766' }],
  name: [{ family: 'Quillfeather', given: ['Zelophehad'] }],
  telecom: [{ system: 'phone', value: '555-0199' }],
};

function capture(): { lines: () => string; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { lines: () => chunks.join(''), stream };
}

describe('logging never leaks patient data or secrets', () => {
  test('every log path the engine uses', () => {
    const out = capture();
    const log = createLogger({ level: 'trace', destination: out.stream });
    const child = log.child({ sourceId: 'clinic-a', patient });

    log.info({ resource: patient }, 'resource stored');
    log.warn(
      {
        resources: [
          patient,
          { resourceType: 'Appointment', id: 'a1', participant: [{ actor: { display: 'Zelophehad Quillfeather' } }] },
        ],
      },
      'page',
    );
    log.info({ bundle: { resourceType: 'Bundle', entry: [{ resource: patient }] } }, 'bundle');
    log.debug(
      { headers: { Authorization: 'Bearer tok-abc123secret', 'content-type': 'application/fhir+json' } },
      'request',
    );
    log.debug(
      {
        request: {
          url: 'https://emr.example/fhir/Patient?name=Quillfeather&identifier=MRN-99887766',
          headers: { authorization: 'Basic s3cr3t-pass' },
        },
      },
      'GET',
    );
    log.info(
      { auth: { type: 'client_credentials', clientSecret: 's3cr3t-pass', access_token: 'tok-abc123secret' } },
      'token',
    );
    log.error({ err: new Error('failed'), name: 'Zelophehad', family: 'Quillfeather' }, 'odd fields');
    const withCause = new EngageError(
      'store',
      outcome('exception', 'insert failed'),
      Object.assign(new Error('duplicate key'), { detail: 'Key (name)=(Quillfeather) already exists' }),
    );
    log.error({ err: withCause }, 'store failure');
    log.error(
      {
        outcome: {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'invalid', diagnostics: 'Patient Zelophehad Quillfeather rejected' }],
        },
      },
      'emr said no',
    );
    log.info('message with %s interpolation', 'Zelophehad Quillfeather');
    child.info('child logger');
    child.child({ again: patient }).info('grandchild logger');
    log.error(configError('bad'), 'config');

    const text = out.lines();
    expect(text.split('\n').filter(Boolean)).toHaveLength(13);
    for (const value of SECRET_VALUES) {
      expect(text).not.toContain(value);
    }
    // Operators still see what happened.
    expect(text).toContain('"resourceType":"Patient","id":"pat-1"');
    expect(text).toContain('https://emr.example/fhir/Patient?name=(hidden)&identifier=(hidden)');
    expect(text).toContain('insert failed');
  });

  test('redactUrl keeps parameter names, drops values and credentials', () => {
    expect(redactUrl('https://user:pw@emr/fhir/Appointment?patient=Patient%2F1&_count=50')).toBe(
      'https://***@emr/fhir/Appointment?patient=(hidden)&_count=(hidden)',
    );
    expect(redactUrl('https://emr/fhir/metadata')).toBe('https://emr/fhir/metadata');
  });

  test('scrub leaves ordinary operational fields alone', () => {
    expect(scrub({ sourceId: 'a', counts: { pages: 3 }, durationMs: 12 })).toEqual({
      sourceId: 'a',
      counts: { pages: 3 },
      durationMs: 12,
    });
  });
});
