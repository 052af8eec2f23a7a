/** A page that repeats what is stored (overlap window, resumed pages) costs no validation and no storing. */
import type { BundleEntry } from '@medplum/fhirtypes';
import { classifyEntries } from '../../src/fhir/classify-entries';
import type { ResourceValidator } from '../../src/validation/validator';
import { testSource } from '../helpers/source';

test('resources whose versionId and lastUpdated are already stored are skipped before validation; new versions are validated', () => {
  let validated = 0;
  const validator = { validate: () => (validated++, { valid: true }) } as unknown as ResourceValidator;
  const appt = (id: string, versionId: string): BundleEntry => ({
    resource: {
      resourceType: 'Appointment',
      id,
      meta: { versionId, lastUpdated: '2026-05-01T10:00:00.000Z' },
      status: 'booked',
      participant: [{ actor: { reference: 'Patient/p1' }, status: 'accepted' }],
    },
  });
  const seen = new Map([
    ['a1', '1|2026-05-01T10:00:00.000Z'],
    ['a2', '1|2026-05-01T10:00:00.000Z'],
  ]);
  const page = classifyEntries(
    [appt('a1', '1'), appt('a2', '2'), appt('a3', '1')],
    'Appointment',
    { source: testSource({ baseUrl: 'https://emr' }), runId: 'r', validator },
    {},
    seen,
  );
  expect(page).toMatchObject({ received: 3, skipped: 1, maxLastUpdated: '2026-05-01T10:00:00.000Z' });
  expect(page.store.map((s) => s.resource.id)).toEqual(['a2', 'a3']);
  expect(validated).toBe(2);
});
