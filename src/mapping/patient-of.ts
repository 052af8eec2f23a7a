/**
 * Which patient a resource belongs to, by the standard FHIR R4 elements. A
 * source whose EMR puts the patient elsewhere overrides this through its
 * mapping files (see src/mapping).
 */
import type { Resource } from '@medplum/fhirtypes';

/** `Patient/123`, `https://emr/fhir/Patient/123` or `Patient/123/_history/2` → `123`. */
export function patientIdFromReference(reference: string | undefined): string | undefined {
  if (!reference) return undefined;
  const m = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
  return m?.[1];
}

export function defaultPatientOf(resource: Resource): string | undefined {
  const r = resource as Resource & {
    subject?: { reference?: string };
    patient?: { reference?: string };
    for?: { reference?: string };
    participant?: { actor?: { reference?: string } }[];
  };
  if (r.resourceType === 'Patient') return r.id;
  return (
    patientIdFromReference(r.subject?.reference) ??
    patientIdFromReference(r.for?.reference) ??
    patientIdFromReference(r.patient?.reference) ??
    r.participant?.map((p) => patientIdFromReference(p.actor?.reference)).find((id) => id !== undefined)
  );
}
