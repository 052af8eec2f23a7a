/** fhir-engage's own CodeSystem as a FHIR resource, for EMRs and terminology servers that want to load it. */
import type { CodeSystem } from '@medplum/fhirtypes';
import { version } from '../version';
import { ENGAGE_CODES } from './codes';

export function engagementCodeSystem(url: string): CodeSystem {
  return {
    resourceType: 'CodeSystem',
    url,
    version: version(),
    name: 'FhirEngageEngagement',
    title: 'fhir-engage engagement codes',
    status: 'active',
    content: 'complete',
    caseSensitive: true,
    description: 'Codes of the Observations and Tasks that fhir-engage writes (docs/actions.md).',
    count: Object.keys(ENGAGE_CODES).length,
    concept: Object.entries(ENGAGE_CODES).map(([code, display]) => ({ code, display })),
  };
}
