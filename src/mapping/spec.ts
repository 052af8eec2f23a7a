/**
 * The fields a mapping file may set, per resource type: the schema of
 * mappings/*.yaml. A field not listed here is an error at load time.
 */
import { ACTIVITY_STATUSES, APPOINTMENT_STATUSES, RESPONSE_STATUSES } from './model';

/** How a FHIRPath result becomes a model value. */
export type ValueKind = 'string' | 'instant' | 'number' | 'boolean' | 'reference-id' | 'year';

export interface FieldSpec {
  kind: ValueKind;
  /** The only values the model knows for this field: a `map:` or `default:` naming another is a load error. */
  values?: readonly string[];
  /** The record cannot be used without it: failing to find it dead-letters the resource. */
  required?: boolean;
  description: string;
}

export interface TypeSpec {
  fields: Record<string, FieldSpec>;
  /** Repeating parts mapped with their own fields (CarePlan.activity). */
  lists?: Record<string, { fields: Record<string, FieldSpec>; description: string }>;
}

/** A list of Codings, each as its system and code (a coding without a code is left out). */
const codings = (description: string): NonNullable<TypeSpec['lists']>[string] => ({
  description,
  fields: {
    system: { kind: 'string', description: 'code system' },
    code: { kind: 'string', description: 'code (a coding without one is left out)' },
  },
});

export const MAPPED_TYPES: Record<string, TypeSpec> = {
  Patient: {
    fields: {
      id: { kind: 'string', required: true, description: 'logical id' },
      active: { kind: 'boolean', description: 'record in active use' },
      deceased: { kind: 'boolean', description: 'deceased (outreach must stop)' },
      gender: { kind: 'string', description: 'administrative gender' },
      birthYear: { kind: 'year', description: 'year of birth (not the date)' },
      language: { kind: 'string', description: 'preferred language code' },
      hasPhone: { kind: 'boolean', description: 'a phone number is on file' },
      hasEmail: { kind: 'boolean', description: 'an email address is on file' },
    },
    lists: {
      contacts: {
        description: 'one entry per reachable telecom: its kind and preference, never its value',
        fields: {
          system: { kind: 'string', required: true, description: 'phone | sms | email | …' },
          use: { kind: 'string', description: 'home | work | mobile | …' },
          rank: { kind: 'number', description: 'preference (1 = highest)' },
          until: { kind: 'instant', description: 'no longer in use after' },
        },
      },
    },
  },
  Appointment: {
    fields: {
      id: { kind: 'string', required: true, description: 'logical id' },
      patient: { kind: 'reference-id', required: true, description: 'the patient expected' },
      start: { kind: 'instant', description: 'start' },
      end: { kind: 'instant', description: 'end' },
      status: {
        kind: 'string',
        required: true,
        values: APPOINTMENT_STATUSES,
        description: 'kept | no-show | cancelled | upcoming | other',
      },
      sourceStatus: { kind: 'string', description: "the EMR's own status" },
      serviceType: { kind: 'string', description: 'kind of visit' },
    },
    lists: {
      codes: codings("the visit's codings (service type, specialty, appointment type): what programmes enrol by"),
      actors: {
        description: 'who and where (Practitioner, PractitionerRole, Location references): what programmes enrol by',
        fields: { reference: { kind: 'string', description: 'Type/id (a logical reference without one is left out)' } },
      },
    },
  },
  CarePlan: {
    fields: {
      id: { kind: 'string', required: true, description: 'logical id' },
      patient: { kind: 'reference-id', required: true, description: 'the patient' },
      status: { kind: 'string', description: 'plan status' },
    },
    lists: {
      categories: codings("the plan's category codings: what programmes enrol by"),
      activities: {
        description: 'one entry per CarePlan.activity',
        fields: {
          description: { kind: 'string', description: 'what is to be done' },
          status: {
            kind: 'string',
            required: true,
            values: ACTIVITY_STATUSES,
            description: 'completed | in-progress | scheduled | overdue | cancelled | other',
          },
          sourceStatus: { kind: 'string', description: "the EMR's own status" },
          start: { kind: 'instant', description: 'when it starts' },
          due: { kind: 'instant', description: 'when it is due' },
        },
      },
    },
  },
  QuestionnaireResponse: {
    fields: {
      id: { kind: 'string', required: true, description: 'logical id' },
      patient: { kind: 'reference-id', required: true, description: 'the patient who answered' },
      questionnaire: { kind: 'string', description: 'canonical URL of the Questionnaire' },
      authored: { kind: 'instant', description: 'when it was answered' },
      status: {
        kind: 'string',
        required: true,
        values: RESPONSE_STATUSES,
        description: 'completed | in-progress | other',
      },
      sourceStatus: { kind: 'string', description: "the EMR's own status" },
    },
  },
  Task: {
    fields: {
      id: { kind: 'string', required: true, description: 'logical id' },
      patient: { kind: 'reference-id', required: true, description: 'the patient' },
      status: { kind: 'string', description: 'task status' },
      questionnaire: { kind: 'string', description: 'the Questionnaire requested, if this Task asks for one' },
      authoredOn: { kind: 'instant', description: 'when it was requested' },
      due: { kind: 'instant', description: 'end of the window to answer in, if any' },
      ownTask: { kind: 'boolean', description: 'written by fhir-engage itself (not a request to the patient)' },
    },
  },
};
