import type { Provenance, ProvenanceAgent, Reference } from '@medplum/fhirtypes';
import type { Actor } from '../actions/care-team';
import { version } from '../version';

export const SYNC_RUN_EXTENSION = 'https://fhir-engage.dev/fhir/StructureDefinition/sync-run';

/** Identifies who acted from the dashboard or the API: a person's subject, or an API key's id. */
export const ACTOR_SYSTEM: Record<Exclude<Actor['kind'], 'patient'>, string> = {
  person: 'https://fhir-engage.dev/fhir/sid/user',
  key: 'https://fhir-engage.dev/fhir/sid/api-key',
};

/** The person (or key) who asked for a write: the author, fhir-engage the device that made it. */
function actorAgent(actor: Actor): ProvenanceAgent {
  return {
    type: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
          code: 'author',
          display: 'Author',
        },
      ],
    },
    who:
      actor.kind === 'patient'
        ? { reference: `Patient/${actor.id}` }
        : { display: actor.display, identifier: { system: ACTOR_SYSTEM[actor.kind], value: actor.id } },
  };
}

/**
 * The Provenance of one write: agent fhir-engage (with its version), the sync run (or the person's
 * action), the source resources; for a write a person asked for, that person first.
 */
export function provenanceFor(
  target: string,
  activity: 'CREATE' | 'UPDATE',
  entities: string[],
  runId: string,
  recorded: Date,
  actor?: Actor,
): Provenance {
  return {
    resourceType: 'Provenance',
    target: [{ reference: target } as Reference<never>],
    recorded: recorded.toISOString(),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: activity }] },
    agent: [
      ...(actor ? [actorAgent(actor)] : []),
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
