/**
 * Which patient a resource belongs to: by the source's mapping (its
 * `patient` field, e.g. an EMR that puts the patient in an extension), else by
 * the standard FHIR R4 elements; every reference form is resolved by
 * patient-ref.ts. Pure: the caller passes what it knows (base URL, the Bundle's
 * fullUrls, the patients' identifiers).
 */
import { evalFhirPathTyped, toTypedValue } from '@medplum/core';
import { ensureTypesIndexed, typesIn } from '../validation/definitions';
import type { Reference, Resource } from '@medplum/fhirtypes';
import type { DeadLetterInput } from '../store/types';
import { notFoundOutcome } from '../errors';
import type { CompiledMapping, MappingSet } from './load';
import { resolveFirstPatient, type PatientRefContext, type PatientResolution } from './patient-ref';

/** `Patient/123`, `https://emr/fhir/Patient/123` or `Patient/123/_history/2` → `123`. */
export function patientIdFromReference(reference: string | undefined): string | undefined {
  if (!reference) return undefined;
  const m = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
  return m?.[1];
}

/** Where R4 resources name their patient: subject, for, patient, and every Appointment participant. */
function standardCandidates(resource: Resource): (Reference | undefined)[] {
  const r = resource as Resource & {
    subject?: Reference;
    patient?: Reference;
    for?: Reference;
    participant?: { actor?: Reference }[];
  };
  return [r.subject, r.for, r.patient, ...(r.participant ?? []).map((p) => p.actor)].filter((c) => c !== undefined);
}

/**
 * The patients a resource names in its standard elements (itself, for a Patient): what the access log
 * records when the resource is shown, as it was received (no mapping, no identifier lookup).
 */
export function patientsNamedBy(resource: unknown): string[] {
  const r = resource as Resource | null;
  if (!r || typeof r !== 'object') return [];
  if (r.resourceType === 'Patient') return typeof r.id === 'string' ? [r.id] : [];
  const ids = standardCandidates(r).map((c) =>
    patientIdFromReference(typeof c?.reference === 'string' ? c.reference : undefined),
  );
  return [...new Set(ids.filter((id): id is string => id !== undefined))];
}

/** Types whose resources belong to one patient (a resource of one of them that names none cannot be used). */
export const PATIENT_SCOPED_TYPES: ReadonlySet<string> = new Set([
  'Appointment',
  'CarePlan',
  'QuestionnaireResponse',
  'Task',
]);

/**
 * The patient of a resource: `{ id }`, `{ reason }` when a patient-scoped
 * resource names none that can be resolved, undefined for resources that
 * belong to no patient (Questionnaire).
 */
export type PatientOf = (resource: Resource, ctx?: PatientRefContext) => PatientResolution | undefined;

export function patientOfWithMappings(mappings: MappingSet): PatientOf {
  // Built once: this runs for every pulled resource.
  const patientField = new Map<string, CompiledMapping['fields'][number]>();
  for (const [type, mapping] of Object.entries(mappings)) {
    const field = mapping.fields.find((f) => f.name === 'patient');
    if (field) patientField.set(type, field);
  }
  return (resource, ctx = {}) => {
    if (resource.resourceType === 'Patient')
      return resource.id ? { id: resource.id } : { reason: 'the Patient has no id' };
    const field = patientField.get(resource.resourceType);
    const mapped: (Reference | string)[] = [];
    if (field) {
      ensureTypesIndexed(typesIn(resource));
      try {
        for (const tv of evalFhirPathTyped(field.atom, [toTypedValue(resource)])) {
          if (typeof tv.value === 'string' || (tv.value && typeof tv.value === 'object'))
            mapped.push(tv.value as Reference | string);
        }
      } catch {
        // A failing expression is reported by the mapping itself; fall back to the standard elements.
      }
    }
    const candidates = [...mapped, ...standardCandidates(resource)];
    if (candidates.length === 0)
      return PATIENT_SCOPED_TYPES.has(resource.resourceType) ? { reason: 'the resource names no patient' } : undefined;
    return resolveFirstPatient(candidates, resource, ctx);
  };
}

/**
 * The dead letter of a resource that cannot be attached to a patient of the
 * source (`text` says why: no resolvable reference, or a patient the source
 * did not return). It keeps the resource; a retry attaches it again.
 */
export function patientDeadLetter(sourceId: string, runId: string, resource: Resource, text: string): DeadLetterInput {
  return {
    sourceId,
    runId,
    stage: 'map',
    resourceType: resource.resourceType,
    resourceId: resource.id,
    payload: resource,
    outcome: notFoundOutcome(text),
  };
}
