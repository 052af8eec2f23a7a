/** Patient references in every form FHIR R4 allows, resolved (or refused with a reason) without I/O. */
import type { Reference, Resource } from '@medplum/fhirtypes';
import { patientIdentifierIndex, resolveFirstPatient, resolvePatientReference } from '../../src/mapping/patient-ref';

const MRN = 'urn:oid:1.2.3.4';
const patients = patientIdentifierIndex([
  { id: 'p1', identifier: [{ system: MRN, value: 'A1' }] },
  { id: 'p2', identifier: [{ system: MRN, value: 'SHARED' }] },
  { id: 'p3', identifier: [{ system: MRN, value: 'SHARED' }] },
]);
const ctx = {
  baseUrl: 'https://emr.example.org/fhir/r4',
  patientByIdentifier: patients,
  fullUrls: new Map([
    ['urn:uuid:abc', 'Patient/p1'],
    ['urn:uuid:loc', 'Location/l1'],
  ]),
};
const appt = (extra: Record<string, unknown> = {}): Resource =>
  ({ resourceType: 'Appointment', status: 'booked', participant: [], ...extra }) as Resource;

test.each([
  ['relative', 'Patient/p1'],
  ['versioned', 'Patient/p1/_history/4'],
  ['absolute on the source server', 'https://emr.example.org/fhir/r4/Patient/p1'],
  ['absolute, another spelling of the same base', 'HTTPS://EMR.example.org:443/fhir/r4/Patient/p1'],
  ['urn:uuid of a Bundle entry', 'urn:uuid:abc'],
])('%s reference → the patient', (_name, reference) => {
  expect(resolvePatientReference({ reference }, appt(), ctx)).toEqual({ id: 'p1' });
});

test('a contained Patient is found by its identifier; a logical reference by its identifier', () => {
  const withContained = appt({
    contained: [{ resourceType: 'Patient', id: 'c1', identifier: [{ system: MRN, value: 'A1' }] }],
  });
  expect(resolvePatientReference({ reference: '#c1' }, withContained, ctx)).toEqual({ id: 'p1' });
  expect(resolvePatientReference({ identifier: { system: MRN, value: 'A1' } }, appt(), ctx)).toEqual({ id: 'p1' });
});

test.each([
  ['another server', { reference: 'https://other.example.org/fhir/Patient/p1' }, 'a patient on another server'],
  ['a Location', { reference: 'Location/l1' }, 'names a Location, not a Patient'],
  ['a urn:uuid naming a Location', { reference: 'urn:uuid:loc' }, 'names a Location, not a Patient'],
  ['an unknown urn:uuid', { reference: 'urn:uuid:nope' }, 'names no entry of the Bundle'],
  ['a missing contained resource', { reference: '#zz' }, 'names no contained resource'],
  [
    'an identifier two patients share',
    { identifier: { system: MRN, value: 'SHARED' } },
    'belongs to more than one patient',
  ],
  [
    'an identifier no patient has',
    { identifier: { system: MRN, value: 'B9' } },
    'no patient of the source has its identifier (system urn:oid:1.2.3.4)',
  ],
  [
    'a logical reference to a Practitioner',
    { type: 'Practitioner', identifier: { system: MRN, value: 'A1' } },
    'names a Practitioner',
  ],
  ['a display only', { display: 'Someone' }, 'only a display text'],
])('%s → no patient, with the reason (never the identifier value)', (_name, ref, reason) => {
  const res = resolvePatientReference(ref as Reference, appt(), ctx);
  expect(res).toEqual({ reason: expect.stringContaining(reason) });
  expect(JSON.stringify(res)).not.toMatch(/SHARED|B9/);
});

test('of several candidates (every participant), the first patient wins; with none, the patient-like reason is given', () => {
  expect(
    resolveFirstPatient(
      [{ reference: 'Location/l1' }, { reference: 'Practitioner/x' }, { reference: 'Patient/p9' }],
      appt(),
      ctx,
    ),
  ).toEqual({ id: 'p9' });
  expect(
    resolveFirstPatient([{ reference: 'Location/l1' }, { identifier: { system: MRN, value: 'B9' } }], appt(), ctx),
  ).toEqual({ reason: expect.stringContaining('no patient of the source has its identifier') });
});
