import type { Resource } from '@medplum/fhirtypes';
import { mapResource } from './evaluate';
import type { MappingSet } from './load';
import { defaultPatientOf } from './patient-of';

/**
 * Which patient a resource belongs to, by the source's own mapping (its
 * `patient` field), falling back to the standard elements.
 */
export function patientOfWithMappings(mappings: MappingSet): (resource: Resource) => string | undefined {
  return (resource) => {
    if (resource.resourceType === 'Patient') return resource.id;
    const mapping = mappings[resource.resourceType];
    if (mapping?.fields.some((f) => f.name === 'patient')) {
      const result = mapResource({ ...mapping, fields: mapping.fields.filter((f) => f.name === 'patient'), lists: [] }, resource);
      if (result.ok && typeof result.record.patient === 'string') return result.record.patient;
    }
    return defaultPatientOf(resource);
  };
}
