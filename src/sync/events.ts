/** Typed progress events of a sync run, for the CLI display, the logger and the metrics. */
import type { PullEvent } from '../fhir/pull';
import type { SyncSummary } from './run';

export type SyncEvent =
  | { type: 'run-started'; runId: string; sourceId: string; asOf: string; resumed: string[] }
  | PullEvent
  | { type: 'stage'; stage: 'pull' | 'compute' | 'dispatch'; detail?: string }
  | { type: 'computed'; patients: number; total: number }
  | { type: 'run-finished'; runId: string; status: string; durationMs: number; summary: SyncSummary };
