/**
 * Typed progress events of a sync run, for the CLI display, the logger and the metrics, and the
 * summary a run ends with (what every consumer of a run reads; run.ts produces it).
 */
import type { MessagingSummary } from '../messaging/stage';
import type { PlanSummary } from '../store/approvals';
import type { Bundle } from '@medplum/fhirtypes';
import type { PullEvent, PullReport } from '../fhir/pull-context';
import type { ReadBackReport } from '../fhir/readback';
import type { TransportStats } from '../fhir/source-client';
import type { ProgrammeSummary } from '../indicators/programme';
import type { RunStatus } from '../store/types';

export type SyncEvent =
  | { type: 'run-started'; runId: string; sourceId: string; asOf: string; resumed: string[] }
  | PullEvent
  | { type: 'stage'; stage: 'pull' | 'compute' | 'dispatch'; detail?: string }
  | { type: 'computed'; patients: number; total: number }
  /** Write-back: rows settled so far out of those pending when the dispatch began (more may be added by a person). */
  | { type: 'writes'; done: number; total: number }
  | { type: 'run-finished'; runId: string; status: string; durationMs: number; summary: SyncSummary };

export interface WriteSummary {
  created: number;
  updated: number;
  cancelled: number;
  completed: number;
  unchanged: number;
  leftToPerson: number;
  failed: number;
  retryLater: number;
}

export interface SyncSummary {
  runId: string;
  sourceId: string;
  status: RunStatus;
  asOf: string;
  dryRun: boolean;
  resumed: string[];
  pull: PullReport['types'];
  /** How this run fetched resources (`pull.method`, `--bulk`). */
  pullMethod: 'search' | 'bulk';
  patients: { recomputed: number; total: number };
  tiers: ProgrammeSummary['tiers'];
  programme: ProgrammeSummary;
  writes: Record<string, WriteSummary>;
  /** Writes planned this run (for a dry run: what would be sent). */
  planned: number;
  /** Added by this run (one already open is not added again), and open for the source in total. */
  deadLetters: { thisRun: number; open: number };
  /** Patients not recomputed or written for because their data was incomplete in this run, and why. */
  heldBack: { patients: number; reasons: string[] };
  /** Patients skipped as merged into another record, and ids referenced but never returned by the source. */
  identity: { merged: number; unknownPatients: number };
  /** Writes held for a person's approval (docs/programme.md): nothing of the plan was sent. */
  approval?: { reason: 'first-run' | 'volume'; detail: string; plan: PlanSummary; command: string };
  /** Patients computed this run in each programme, and those in none (nothing is written about them). */
  /** Safety alerts of this run: stored, sent (or sent again), failed (retried later), resolved by a person ending the Task. */
  alerts?: { created: number; sent: number; failed: number; resolved: number };
  /** Messages to patients (docs/messaging.md), when `messaging:` is configured. */
  messages?: MessagingSummary;
  enrolment?: {
    /** Per programme: patients computed in it, spells started and ended by this run, new Tasks held for later runs. */
    programmes: { id: string; name: string; patients: number; started: number; ended: number; deferredTasks: number }[];
    inNone: number;
  };
  /** Where the run's time went, per stage (ms): see docs/performance.md. */
  stages: StageTimings;
  /** fhir-engage's own Tasks read back from the write target (what people did with them). */
  readBack?: ReadBackReport & { error?: string };
  requests: TransportStats;
  durationMs: number;
  error?: string;
  dryRunBundle?: Bundle;
}

export interface StageTimings {
  /** Waiting for and parsing pages. */
  pullMs: number;
  validateMs: number;
  /** Storing pulled pages, loading patients' resources, committing indicators and the outbox. */
  storeMs: number;
  mapMs: number;
  indicatorsMs: number;
  planMs: number;
  writeBackMs: number;
}
