import type { Provenance, Reference } from '@medplum/fhirtypes';
import { version } from '../version';

export const SYNC_RUN_EXTENSION = 'https://fhir-engage.dev/fhir/StructureDefinition/sync-run';

/** The Provenance of one write: agent fhir-engage (with its version), the sync run, the source resources. */
export function provenanceFor(
  target: string,
  activity: 'CREATE' | 'UPDATE',
  entities: string[],
  runId: string,
  recorded: Date,
): Provenance {
  return {
    resourceType: 'Provenance',
    target: [{ reference: target } as Reference<never>],
    recorded: recorded.toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: activity }] },
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'assembler',
              display: 'Assembler',
            },
          ],
        },
        who: { display: `fhir-engage ${version()}` },
      },
    ],
    entity: entities.map((e) => ({ role: 'source' as const, what: { reference: e } })),
    extension: [{ url: SYNC_RUN_EXTENSION, valueString: runId }],
  };
}
