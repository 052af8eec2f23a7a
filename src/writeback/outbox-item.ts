/** The payload of an outbox row: one desired write, as planned. */
import type { EpisodeOfCare, Observation, Task } from '@medplum/fhirtypes';
import type { RuleName } from '../config/action-settings';

export interface UpsertPayload {
  op: 'upsert';
  identifierSystem: string;
  identifier: string;
  rule: RuleName;
  patientId: string;
  resourceType: 'Observation' | 'Task' | 'EpisodeOfCare';
  resource: Observation | Task | EpisodeOfCare;
  entities: string[];
  contentHash: string;
  /** The programme that asked for it; absent in rows queued before programmes existed. */
  programme?: string;
}

export interface ClosePayload {
  op: 'close';
  identifierSystem: string;
  identifier: string;
  rule: RuleName;
  patientId: string;
  resourceType: 'Task';
  status: 'cancelled' | 'completed';
  reason: string;
  serverId: string | null;
  entities: string[];
  /** The closed Task's lastModified (the as-of of the run that decided it); absent in rows queued before it existed. */
  at?: string;
  /** The programme the patient left, when that is why the Task closes. */
  programme?: string;
}

export type OutboxPayload = UpsertPayload | ClosePayload;
