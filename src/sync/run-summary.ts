/** A run's summary as it starts, and the write-back counts in it. */
import type { SourceConfig } from '../config/types';
import type { TransportStats } from '../fhir/source-client';
import { programmeSummary } from '../indicators/programme';
import type { DispatchCounts } from '../writeback/dispatch-context';
import type { SyncSummary, WriteSummary } from './events';
import type { SyncOptions } from './run';

function emptyWrites(): WriteSummary {
  return {
    created: 0,
    updated: 0,
    cancelled: 0,
    completed: 0,
    unchanged: 0,
    leftToPerson: 0,
    failed: 0,
    retryLater: 0,
  };
}

export function summariseWrites(d: DispatchCounts | undefined): Record<string, WriteSummary> {
  const out: Record<string, WriteSummary> = { Task: emptyWrites(), Observation: emptyWrites() };
  for (const [type, c] of Object.entries(d?.byType ?? {})) {
    const w = (out[type] ??= emptyWrites());
    w.created += c.created ?? 0;
    w.updated += c.updated ?? 0;
    w.cancelled += c.cancelled ?? 0;
    w.completed += c.completed ?? 0;
    w.unchanged += c.unchanged ?? 0;
    w.leftToPerson += c['left-to-person'] ?? 0;
    w.failed += c.failed ?? 0;
    w.retryLater += c['retry-later'] ?? 0;
  }
  return out;
}

/** Adds `more` write counts to `into`, type by type. */
export function addWrites(into: Record<string, WriteSummary>, more: Record<string, WriteSummary>): void {
  for (const [type, w] of Object.entries(more)) {
    const sum = (into[type] ??= emptyWrites());
    for (const k of Object.keys(w) as (keyof WriteSummary)[]) sum[k] += w[k];
  }
}

export function newSummary(
  runId: string,
  source: SourceConfig,
  options: SyncOptions,
  resumed: string[],
  stats: TransportStats,
): SyncSummary {
  return {
    runId,
    sourceId: source.id,
    status: 'running',
    asOf: options.asOf.toISOString(),
    dryRun: !!options.dryRun,
    resumed,
    pull: [],
    pullMethod: 'search',
    patients: { recomputed: 0, total: 0 },
    tiers: { engaged: 0, 'at-risk': 0, disengaged: 0, unknown: 0 },
    programme: programmeSummary([]),
    writes: summariseWrites(undefined),
    planned: 0,
    deadLetters: { thisRun: 0, open: 0 },
    heldBack: { patients: 0, reasons: [] },
    identity: { merged: 0, unknownPatients: 0 },
    stages: { pullMs: 0, validateMs: 0, storeMs: 0, mapMs: 0, indicatorsMs: 0, planMs: 0, writeBackMs: 0 },
    requests: stats,
    durationMs: 0,
  };
}

/**
 * A run in one line, for logs of scheduled runs (`serve`): what came in, what went out, what needs a
 * person. The full summary is the run's record (`fhir-engage runs`, GET /api/runs/{id}).
 */
export function runLine(s: SyncSummary): string {
  const pulled = s.pull.reduce(
    (n, t) => ({ received: n.received + t.received, new: n.new + t.new, changed: n.changed + t.changed }),
    { received: 0, new: 0, changed: 0 },
  );
  const w = Object.values(s.writes).reduce(
    (n, x) => ({
      sent: n.sent + x.created + x.updated + x.cancelled + x.completed,
      failed: n.failed + x.failed,
      person: n.person + x.leftToPerson,
    }),
    { sent: 0, failed: 0, person: 0 },
  );
  const parts = [
    `${pulled.received} resources received (${pulled.new} new, ${pulled.changed} changed)`,
    `${s.patients.recomputed} patient(s) recomputed`,
    s.dryRun ? `${s.planned} write(s) planned, none sent (dry run)` : `${w.sent} write(s) sent`,
    ...(w.failed ? [`${w.failed} write(s) failed`] : []),
    ...(w.person ? [`${w.person} left to a person (Tasks a person changed)`] : []),
    ...(s.approval ? ['the plan is held for approval'] : []),
    ...(s.messages?.sent ? [`${s.messages.sent} message(s) to patients`] : []),
    ...(s.deadLetters.thisRun ? [`${s.deadLetters.thisRun} new dead letter(s)`] : []),
  ];
  return `sync ${s.sourceId} run ${s.runId}: ${s.status.toUpperCase()} in ${(s.durationMs / 1000).toFixed(1)} s: ${parts.join(', ')}${s.error ? ` — ${s.error}` : ''}`;
}
