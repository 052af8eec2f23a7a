import type { Resource } from '@medplum/fhirtypes';
import { mapResource } from './evaluate';
import type { CompiledMapping, MappingSet } from './load';
import { defaultPatientOf } from './patient-of';

/**
 * Which patient a resource belongs to, by the source's own mapping (its
 * `patient` field), falling back to the standard elements.
 */
export function patientOfWithMappings(mappings: MappingSet): (resource: Resource) => string | undefined {
  // Built once: this runs for every pulled resource.
  const patientOnly = new Map<string, CompiledMapping>();
  for (const [type, mapping] of Object.entries(mappings)) {
    const fields = mapping.fields.filter((f) => f.name === 'patient');
    if (fields.length > 0) patientOnly.set(type, { ...mapping, fields, lists: [] });
  }
  return (resource) => {
    if (resource.resourceType === 'Patient') return resource.id;
    const mapping = patientOnly.get(resource.resourceType);
    if (mapping) {
      const result = mapResource(mapping, resource);
      if (result.ok && typeof result.record.patient === 'string') return result.record.patient;
    }
    return defaultPatientOf(resource);
  };
}
