/**
 * The programme report's data, loaded from the store, and its history: the
 * imperative side of src/indicators/programme-report.ts. Used by the
 * `report` command, GET /api/programme, and every sync run (which records
 * the trailing period's figures so that trends can be drawn).
 */
import type { AppConfig } from '../config/types';
import type { PatientIndicators } from '../indicators/compute';
import type { Tier } from '../indicators/engagement';
import { programmeReport, type ProgrammeReport } from '../indicators/programme-report';
import { programmeSummary } from '../indicators/programme';
import type { EngagementModel } from '../mapping/model';
import type { Store } from '../store/store';

/** The period a run's history entry covers: the 30 days up to its as-of instant. */
export const HISTORY_PERIOD_DAYS = 30;
const DAY_MS = 86_400_000;

export interface ProgrammeQuery {
  from: Date;
  to: Date;
  sourceId?: string;
}

async function tiersAt(store: Store, at: Date, sourceId?: string): Promise<Map<string, Tier>> {
  return new Map((await store.indicatorValuesAt('engagement.tier', at, sourceId)).map((r) => [`${r.sourceId}|${r.patientId}`, r.value as Tier]));
}

/** Every figure of the programme over [from, to), for one source or all. */
export async function loadProgrammeReport(store: Store, config: AppConfig, q: ProgrammeQuery): Promise<ProgrammeReport> {
  const [models, written, taskEvents, before, after] = await Promise.all([
    store.listModels(q.sourceId),
    store.listWrittenByRule(['appointment-reminder'], q.sourceId),
    store.listTaskEvents(q.sourceId),
    tiersAt(store, q.from, q.sourceId),
    tiersAt(store, q.to, q.sourceId),
  ]);
  return programmeReport(
    {
      from: q.from,
      to: q.to,
      patients: models.filter((m) => m.indicators).map((m) => ({ sourceId: m.sourceId, model: m.model as EngagementModel, indicators: m.indicators as PatientIndicators })),
      written,
      taskEvents,
      tiersAt: { from: before, to: after },
    },
    config.actions.surveys.postVisit?.instrument,
  );
}

/** Records the trailing period's figures as of a run's day (one entry per source and day; a later run that day replaces it). */
export async function recordProgrammeHistory(store: Store, config: AppConfig, sourceId: string, asOf: Date, runId: string): Promise<void> {
  const report = await loadProgrammeReport(store, config, { from: new Date(asOf.getTime() - HISTORY_PERIOD_DAYS * DAY_MS), to: asOf, sourceId });
  // With the day's tier distribution and medians, so that the dashboard can draw them over time.
  const summary = programmeSummary((await store.listComputations(sourceId)).map((c) => c.indicators as PatientIndicators));
  await store.saveProgrammeHistory(sourceId, asOf, { ...report, summary }, runId);
}
