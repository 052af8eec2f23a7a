/** Records the store returns (camelCase views of its rows). */
import type { OperationOutcome } from '@medplum/fhirtypes';

export type RunStatus = 'running' | 'succeeded' | 'partially-failed' | 'failed' | 'interrupted';

export interface RunRecord {
  id: string;
  sourceId: string;
  status: RunStatus;
  asOf: Date;
  options: Record<string, unknown>;
  counts: Record<string, unknown>;
  /** Why the run failed, when it did. */
  error: { message?: string } | null;
  startedAt: Date;
  heartbeatAt: Date;
  finishedAt: Date | null;
}

export interface SourceRecord {
  id: string;
  name: string | null;
  baseUrl: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface StoredResource<T = Record<string, unknown>> {
  sourceId: string;
  resourceType: string;
  resourceId: string;
  versionId: string | null;
  lastUpdated: Date | null;
  contentHash: string;
  patientId: string | null;
  resource: T;
  runId: string | null;
}

/** A resource to store, with the patient it belongs to (computed by the caller's mapping). */
export interface ResourceInput {
  resource: { resourceType: string; id?: string; meta?: { versionId?: string; lastUpdated?: string } };
  patientId?: string | null;
  /** resourceContentHash(resource), when the caller computed it already (off the transaction's path). */
  contentHash?: string;
}

export interface UpsertResult {
  inserted: number;
  updated: number;
  unchanged: number;
  /** Patients whose resources were inserted or changed. */
  changedPatients: string[];
  changed: { resourceType: string; resourceId: string; inserted: boolean }[];
}

export type OutboxState = 'pending' | 'sending' | 'sent' | 'failed';

export interface OutboxItem {
  id: number;
  sourceId: string;
  runId: string | null;
  target: string;
  dedupeKey: string;
  resourceType: string;
  payload: unknown;
  contentHash: string;
  state: OutboxState;
  attempts: number;
  claimedBy: string | null;
  leaseUntil: Date | null;
  lastError: unknown;
  result: unknown;
  createdAt: Date;
  sentAt: Date | null;
}

export type DeadLetterStage = 'pull' | 'validate' | 'map' | 'indicators' | 'actions' | 'write';

export interface DeadLetterInput {
  sourceId: string;
  runId?: string | null;
  stage: DeadLetterStage;
  resourceType?: string | null;
  resourceId?: string | null;
  payload?: unknown;
  outcome: OperationOutcome;
}

export interface DeadLetter {
  id: number;
  sourceId: string;
  runId: string | null;
  stage: DeadLetterStage;
  resourceType: string | null;
  resourceId: string | null;
  payload: unknown;
  outcome: OperationOutcome;
  createdAt: Date;
}

export interface IndicatorValue {
  indicator: string;
  value: unknown;
}

export interface IndicatorRecord {
  id: number;
  sourceId: string;
  patientId: string;
  indicator: string;
  value: unknown;
  asOf: Date;
  runId: string | null;
  recordedAt: Date;
}

export type WrittenState = 'open' | 'closed' | 'handled-by-person';

export interface WrittenResource {
  sourceId: string;
  identifierValue: string;
  resourceType: string;
  patientId: string;
  rule: string;
  target: string;
  serverId: string | null;
  versionId: string | null;
  contentHash: string;
  status: string | null;
  state: WrittenState;
  runId: string | null;
  updatedAt: Date;
}

/** A status one of fhir-engage's Tasks was seen in, read back from the EMR. */
export interface TaskEvent {
  sourceId: string;
  identifierValue: string;
  taskId: string;
  patientId: string | null;
  /** The rule that wrote it (from written_resources), when known. */
  rule: string | null;
  status: string;
  owner: string | null;
  focus: string | null;
  authoredOn: Date | null;
  changedAt: Date;
}

/** A Bulk Data export of a source in progress (src/fhir/bulk-pull.ts). */
export interface BulkExportState {
  runId: string | null;
  statusUrl: string;
  /** What was asked at kick-off (types, _since, level). */
  request: unknown;
  kickedOffAt: Date;
  /** The completion manifest, once received. */
  manifest?: unknown;
  files: BulkFileState[];
}

export interface BulkFileState {
  url: string;
  /** `deleted`: Bundles of DELETE requests (Bulk Data IG v2, `_since` exports). */
  kind: 'output' | 'error' | 'deleted';
  resourceType: string;
  position: number;
  /** Lines committed so far, and the byte offset where the next line starts. */
  lines: number;
  bytes: number;
  done: boolean;
  /** An error file: its OperationOutcomes by the resource type they name (`*`: none named); a deleted file: `deleted`. */
  counts: Record<string, number>;
}
