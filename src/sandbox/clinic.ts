/**
 * Days of clinic life against the sandbox EMR: each simulated day is
 * followed by a sync at the end of that day, so the programme's figures
 * (reminders, surveys, people's completions) move as they would in a real
 * clinic. Used by `npm start` on the embedded default, by
 * `fhir-engage sandbox simulate`, and by the tests.
 */
import type { AppConfig, SourceConfig } from '../config/types';
import type { SandboxRepository } from './repository';
import { DEFAULT_SIMULATION, simulateDay, type DayReport } from './simulate';
import type { Store } from '../store/store';
import { syncSource } from '../sync/run';
import type { SyncSummary } from '../sync/events';

const DAY_MS = 86_400_000;

export interface ClinicDaysOptions {
  store: Store;
  config: AppConfig;
  source: SourceConfig;
  repo: SandboxRepository;
  /** The day before the first simulated one (00:00 UTC). */
  after: Date;
  days: number;
  seed: number;
  signal?: AbortSignal;
  onDay?: (day: DayReport, summary: SyncSummary) => void;
}

/** The instant a simulated day's sync computes at: its last second. */
export function endOfDay(dayStart: Date): Date {
  return new Date(Math.floor(dayStart.getTime() / DAY_MS) * DAY_MS + DAY_MS - 1000);
}

export async function runClinicDays(o: ClinicDaysOptions): Promise<{ days: DayReport[]; summaries: SyncSummary[] }> {
  const days: DayReport[] = [];
  const summaries: SyncSummary[] = [];
  const first = Math.floor(o.after.getTime() / DAY_MS) * DAY_MS + DAY_MS;
  for (let d = 0; d < o.days && !o.signal?.aborted; d++) {
    const day = new Date(first + d * DAY_MS);
    const report = await simulateDay(o.repo, day, o.seed, {
      ...DEFAULT_SIMULATION,
      identifierSystem: o.config.actions.identifierSystem,
    });
    const summary = await syncSource(o.store, o.config, o.source, { asOf: endOfDay(day), signal: o.signal });
    days.push(report);
    summaries.push(summary);
    o.onDay?.(report, summary);
  }
  return { days, summaries };
}
