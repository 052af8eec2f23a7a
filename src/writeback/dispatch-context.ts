/** What a dispatch of the outbox works with, and what it counts (src/writeback/dispatch.ts). */
import type { BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { FhirClient } from '../fhir/client';
import type { Store } from '../store/store';
import type { OutboxItem } from '../store/types';

/** Attempts of one outbox row (each already retried by the transport) before it fails for good. */
export const MAX_WRITE_ATTEMPTS = 5;

export type WriteOutcome =
  | 'created'
  | 'updated'
  | 'unchanged'
  | 'cancelled'
  | 'completed'
  | 'left-to-person'
  /** A person's action on a Task that moved since they saw it: nothing written (docs/care-team.md). */
  | 'conflict'
  | 'failed'
  | 'retry-later';

export interface DispatchCounts {
  byType: Record<string, Partial<Record<WriteOutcome, number>>>;
  /** Dead letters this dispatch added (a write failing again the same way is not added twice). */
  deadLettered: number;
}

/**
 * Only the EMR's considered "no" is final: a 4xx other than 408/429. A 5xx,
 * a timeout or a network error says nothing about the write itself, so the
 * row is tried again in a later pass (docs/actions.md) until MAX_WRITE_ATTEMPTS.
 */
export function isFinalRejection(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export interface DispatchContext {
  store: Store;
  /** Only the source's outbox rows up to this id (an approved plan, docs/programme.md). */
  upToOutboxId?: number;
  /** Only these outbox rows (a person's action, sent at once). */
  onlyIds?: number[];
  /** Only rows of these payload ops (a run whose plan is held still sends people's actions). */
  ops?: readonly string[];
  client: FhirClient;
  sourceId: string;
  runId: string;
  workerId: string;
  transactions: boolean;
  /**
   * Writes sent together in one transaction Bundle (each with its Provenance) when
   * the server supports transactions; 1 sends each on its own. Only first attempts
   * of new writes are grouped: anything else is looked up and sent one by one.
   */
  writeBatchSize?: number;
  now: () => Date;
  /** A stop request: no new batch is claimed once it is true (claimed rows are finished first). */
  aborted?: () => boolean;
  /** After each row is settled (sent, or failed and kept or dead-lettered): the terminal's write counter. */
  onSettled?: () => void;
  /** Test hook: called after a write reached the EMR and before the outbox row is acked. */
  afterSend?: (item: OutboxItem) => void | Promise<void>;
}

export function count(counts: DispatchCounts, type: string, outcome: WriteOutcome): void {
  const t = (counts.byType[type] ??= {});
  t[outcome] = (t[outcome] ?? 0) + 1;
}

/** The server's answer to one write: its status, its copy of the resource, its OperationOutcome. */
export type SendResult = { status: number; resource?: Resource; outcome?: OperationOutcome };

/** One entry of a transaction's answer. */
export function entryResult(e: BundleEntry | undefined): SendResult {
  return {
    status: Number(e?.response?.status?.split(' ')[0] ?? 0),
    resource: e?.resource,
    outcome: e?.response?.outcome as OperationOutcome | undefined,
  };
}

/** The EMR refused a write (its status and OperationOutcome kept for the dead letter). */
export class WriteRejected extends Error {
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome | undefined,
    text: string,
  ) {
    super(text);
  }
}
