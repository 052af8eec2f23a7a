/** What a pull is given (PullContext) and what it reports, per type and per source. */
import type { SourceConfig } from '../config/types';
import type { Store } from '../store/store';
import type { ResourceValidator } from '../validation/validator';
import type { PatientOf } from '../mapping/patient-of';
import type { CapabilityReport } from './capabilities';
import type { FhirClient } from './client';

/** `bulk`: from the NDJSON files of a Bulk Data export (src/fhir/bulk-pull.ts). */
export type PullMode = 'full' | 'incremental' | 'resumed' | 'bulk';

export interface TypeReport {
  resourceType: string;
  /** `partial`: per-patient searches failed for some patients (counted in `failedPatients`), the rest is stored. */
  status: 'ok' | 'partial' | 'failed' | 'skipped' | 'interrupted';
  mode: PullMode;
  /** Lower bound of _lastUpdated used, if any. */
  since?: string;
  pages: number;
  received: number;
  new: number;
  changed: number;
  unchanged: number;
  deadLettered: number;
  included: number;
  /** OperationOutcome entries found inside search Bundles. */
  outcomes: number;
  /** Resources kept despite warnings (e.g. vendor elements unknown to FHIR R4). */
  warnings: number;
  retries: number;
  durationMs: number;
  /** Per-patient mode: patients whose search failed after retries (their data of this type is incomplete). */
  failedPatients: number;
  /** Bulk Data: resources of this type the server listed as deleted (removed from the store). */
  deleted?: number;
  /** Bulk Data: resources of this type the server could not export (its error file); the watermark did not move. */
  exportErrors?: number;
  /** Where the time went: waiting for and parsing pages, validating and attaching, storing (ms). */
  timings: { fetchMs: number; validateMs: number; storeMs: number };
  notes: string[];
  error?: string;
  /** What to change when the server refuses the search as configured (e.g. `mode: per-patient`). */
  hint?: string;
}

export interface PullReport {
  types: TypeReport[];
  /** Patients whose stored resources were inserted or changed. */
  changedPatients: string[];
  /** Per-patient mode: patients whose search of some type failed in this run. */
  failedPatients: string[];
}

export type PullEvent =
  | { type: 'type-started'; resourceType: string; mode: PullMode; since?: string }
  /** A Bulk Data export's progress: kicked off, resumed, waiting for the server (X-Progress), downloading its files. */
  | { type: 'bulk'; phase: 'kicked-off' | 'resumed' | 'waiting' | 'downloading'; progress?: string; files?: number }
  | { type: 'page'; resourceType: string; report: TypeReport }
  | { type: 'type-finished'; report: TypeReport };

export interface PullContext {
  source: SourceConfig;
  store: Store;
  client: FhirClient;
  validator: ResourceValidator;
  runId: string;
  /** The run's instant (Group memberships that ended before it do not count); default now. */
  asOf?: Date;
  /** Ignore watermarks and checkpoints: pull everything. */
  full?: boolean;
  capabilities?: CapabilityReport;
  patientOf?: PatientOf;
  onEvent?: (e: PullEvent) => void;
  /** Stops after the page in progress is committed (graceful shutdown). */
  signal?: AbortSignal;
  /** Counts the transport's retries (shared with the client's onEvent). */
  transportStats?: { retries: number };
  /** Test hook: called after each committed page (a throw simulates a crash there). */
  afterPageCommitted?: (resourceType: string, page: number) => void | Promise<void>;
}

export function emptyReport(resourceType: string, mode: PullMode, since?: string): TypeReport {
  return {
    resourceType,
    status: 'ok',
    mode,
    ...(since ? { since } : {}),
    pages: 0,
    received: 0,
    new: 0,
    changed: 0,
    unchanged: 0,
    deadLettered: 0,
    included: 0,
    outcomes: 0,
    warnings: 0,
    retries: 0,
    durationMs: 0,
    failedPatients: 0,
    timings: { fetchMs: 0, validateMs: 0, storeMs: 0 },
    notes: [],
  };
}

/** The later of two instants (either may be missing): how a pull's greatest meta.lastUpdated grows. */
export function later(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}
