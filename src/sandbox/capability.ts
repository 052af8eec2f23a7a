import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';

/** Types the sandbox serves, with the search parameters it supports beyond _id and _lastUpdated. */
export const SANDBOX_TYPES: Record<string, string[]> = {
  Patient: ['identifier', 'name', 'birthdate', 'gender'],
  Appointment: ['patient', 'actor', 'status', 'date', 'identifier'],
  CarePlan: ['patient', 'subject', 'status', 'category', 'identifier'],
  QuestionnaireResponse: ['patient', 'subject', 'questionnaire', 'authored', 'status', 'identifier'],
  Questionnaire: ['url', 'code', 'identifier'],
  Task: ['patient', 'subject', 'status', 'code', 'identifier', 'owner'],
  Observation: ['patient', 'subject', 'code', 'date', 'identifier'],
  Provenance: ['target', 'agent'],
  Practitioner: ['identifier', 'name'],
  // What the care team logs from the dashboard (calls, notes): docs/care-team.md.
  Communication: ['patient', 'subject', 'identifier', 'sent'],
};

export interface CapabilityOptions {
  baseUrl: string;
  tokenUrl?: string;
  omitLastUpdatedFor?: string[];
  omitTypes?: string[];
}

export function capabilityStatement(options: CapabilityOptions): CapabilityStatement {
  const resources: CapabilityStatementRestResource[] = Object.entries(SANDBOX_TYPES)
    .filter(([type]) => !options.omitTypes?.includes(type))
    .map(([type, params]) => ({
      type: type as CapabilityStatementRestResource['type'],
      interaction: ['read', 'vread', 'search-type', 'create', 'update', 'history-instance'].map((code) => ({
        code: code as 'read',
      })),
      versioning: 'versioned',
      conditionalCreate: true,
      conditionalUpdate: false,
      searchParam: [
        { name: '_id', type: 'token' as const },
        ...(options.omitLastUpdatedFor?.includes(type) ? [] : [{ name: '_lastUpdated', type: 'date' as const }]),
        ...params.map((name) => ({
          name,
          type: (name === 'date' || name === 'authored' || name === 'birthdate' || name === 'sent'
            ? 'date'
            : name === 'patient' ||
                name === 'subject' ||
                name === 'actor' ||
                name === 'owner' ||
                name === 'target' ||
                name === 'agent'
              ? 'reference'
              : 'token') as 'token',
        })),
      ],
    }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    software: { name: 'fhir-engage sandbox EMR (Medplum fhir-router)' },
    implementation: { description: 'In-process test EMR', url: options.baseUrl },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        ...(options.tokenUrl
          ? {
              security: {
                service: [
                  {
                    coding: [
                      {
                        system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
                        code: 'SMART-on-FHIR',
                      },
                    ],
                  },
                ],
                extension: [
                  {
                    url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
                    extension: [{ url: 'token', valueUri: options.tokenUrl }],
                  },
                ],
              },
            }
          : {}),
        resource: resources,
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        // Bulk Data Access IG v2: system-level export (Patient- and Group-level are served too).
        operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' }],
      },
    ],
  };
}
