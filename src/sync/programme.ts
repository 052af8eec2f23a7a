/**
 * The programme report's data, loaded from the store, and its history: the
 * imperative side of src/indicators/programme-report.ts. Used by the
 * `report` command, GET /api/programme, and every sync run (which records
 * the trailing period's figures so that trends can be drawn).
 */
import type { AppConfig, SourceConfig } from '../config/types';
import { clinicZone } from '../config/programme-settings';
import type { PatientIndicators } from '../indicators/compute';
import type { Tier } from '../indicators/engagement';
import { programmeReportAccumulator, type ProgrammeReport } from '../indicators/programme-report';
import { programmeSummaryAccumulator, type ProgrammeSummary } from '../indicators/programme';
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
  return new Map(
    (await store.indicatorValuesAt('engagement.tier', at, sourceId)).map((r) => [
      `${r.sourceId}|${r.patientId}`,
      r.value as Tier,
    ]),
  );
}

/** Every figure of the programme over [from, to), for one source or all. */
export async function loadProgrammeReport(
  store: Store,
  config: AppConfig,
  q: ProgrammeQuery,
): Promise<ProgrammeReport> {
  return (await programmeFigures(store, config, q)).report;
}

/**
 * The report and the population summary in one pass over the patients, read a page at a time: at
 * 50,000 patients, loading every model at once held ~1 GB, growing with the population.
 */
async function programmeFigures(
  store: Store,
  config: AppConfig,
  q: ProgrammeQuery,
): Promise<{ report: ProgrammeReport; summary: ProgrammeSummary }> {
  const [written, taskEvents, before, after] = await Promise.all([
    store.listWrittenByRule(['appointment-reminder'], q.sourceId),
    store.listTaskEvents(q.sourceId),
    tiersAt(store, q.from, q.sourceId),
    tiersAt(store, q.to, q.sourceId),
  ]);
  const report = programmeReportAccumulator(
    { from: q.from, to: q.to, written, taskEvents, tiersAt: { from: before, to: after } },
    config.actions.surveys.postVisit?.instrument,
  );
  const summary = programmeSummaryAccumulator();
  await store.forEachComputationPage({ sourceId: q.sourceId, models: true }, (rows) => {
    for (const r of rows) {
      report.add({
        sourceId: r.sourceId,
        model: r.model as EngagementModel,
        indicators: r.indicators as PatientIndicators,
      });
      summary.add(r.indicators as PatientIndicators);
    }
  });
  return { report: report.result(), summary: summary.result() };
}

/** The population summary of a source (or all), read a page at a time without the models. */
export async function loadProgrammeSummary(store: Store, sourceId?: string): Promise<ProgrammeSummary> {
  const summary = programmeSummaryAccumulator();
  await store.forEachComputationPage({ sourceId, models: false }, (rows) => {
    for (const r of rows) summary.add(r.indicators as PatientIndicators);
  });
  return summary.result();
}

/** Records the trailing period's figures as of a run's day (one entry per source and day; a later run that day replaces it). */
export async function recordProgrammeHistory(
  store: Store,
  config: AppConfig,
  source: SourceConfig,
  asOf: Date,
  runId: string,
): Promise<void> {
  const sourceId = source.id;
  // With the day's tier distribution and medians, so that the dashboard can draw them over time.
  const { report, summary } = await programmeFigures(store, config, {
    from: new Date(asOf.getTime() - HISTORY_PERIOD_DAYS * DAY_MS),
    to: asOf,
    sourceId,
  });
  await store.saveProgrammeHistory(sourceId, asOf, { ...report, summary }, runId, clinicZone(source));
}
