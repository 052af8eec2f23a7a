/**
 * The programme report's data, loaded from the store, and its history: the
 * imperative side of src/indicators/programme-report.ts. Used by the
 * `report` command, GET /api/programme, and every sync run (which records
 * the trailing period's figures so that trends can be drawn).
 */
import type { AppConfig, SourceConfig } from '../config/types';
import { clinicZone, programmesOf } from '../config/programme-settings';
import {
  ENROLMENT_DEFINITION,
  patientKey,
  periodEnrolment,
  programmeKey,
  type EnrolmentFigures,
  type PeriodEnrolment,
} from '../indicators/enrolment-figures';
import { programmeContextOf } from '../indicators/programme-breakdown';
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
  const [written, taskEvents, before, after, spells, messages] = await Promise.all([
    store.listWrittenByRule(['appointment-reminder'], q.sourceId),
    store.listTaskEvents(q.sourceId),
    tiersAt(store, q.from, q.sourceId),
    tiersAt(store, q.to, q.sourceId),
    store.enrolmentSpells(q.sourceId ?? null, q.from, q.to),
    store.reminderOutcomes(q.sourceId ?? null, q.from, q.to),
  ]);
  const ctx = {
    from: q.from,
    to: q.to,
    written,
    taskEvents,
    tiersAt: { from: before, to: after },
    ...(messages.length ? { messages } : {}),
  };
  const postVisit = config.actions.surveys.postVisit?.instrument;
  const report = programmeReportAccumulator(ctx, postVisit);
  const enrolment = periodEnrolment(spells, q.from, q.to);
  const programmes = programmesIn(config, enrolment, q.sourceId).map((p) => {
    const members = enrolment.members.get(programmeKey(p.sourceId, p.id)) ?? new Set<string>();
    return { ...p, members, acc: programmeReportAccumulator(programmeContextOf(ctx, members), postVisit) };
  });
  const summary = programmeSummaryAccumulator();
  await store.forEachComputationPage({ sourceId: q.sourceId, models: true }, (rows) => {
    for (const r of rows) {
      const patient = {
        sourceId: r.sourceId,
        model: r.model as EngagementModel,
        indicators: r.indicators as PatientIndicators,
      };
      report.add(patient);
      const k = patientKey(r.sourceId, r.patientId);
      for (const p of programmes) if (p.members.has(k)) p.acc.add(patient);
      summary.add(r.indicators as PatientIndicators);
    }
  });
  const figure = (value: EnrolmentFigures): NonNullable<ProgrammeReport['enrolment']> => ({
    definition: ENROLMENT_DEFINITION,
    value,
  });
  const none: EnrolmentFigures = { enrolled: 0, started: 0, ended: 0 };
  return {
    report: {
      ...report.result(),
      enrolment: figure(enrolment.overall),
      programmes: programmes.map((p) => ({
        sourceId: p.sourceId,
        id: p.id,
        name: p.name,
        report: {
          ...p.acc.result(),
          enrolment: figure(enrolment.byProgramme.get(programmeKey(p.sourceId, p.id)) ?? none),
        },
      })),
    },
    summary: summary.result(),
  };
}

/**
 * The programmes the report covers: each source's configured programmes (the default one when it
 * names none), then any that had spells in the period but are no longer configured (named by id).
 */
function programmesIn(
  config: AppConfig,
  enrolment: PeriodEnrolment,
  sourceId: string | undefined,
): { sourceId: string; id: string; name: string }[] {
  const out = config.sources
    .filter((s) => !sourceId || s.id === sourceId)
    .flatMap((s) => programmesOf(s).map((p) => ({ sourceId: s.id, id: p.id, name: p.name })));
  const known = new Set(out.map((p) => programmeKey(p.sourceId, p.id)));
  for (const k of enrolment.byProgramme.keys()) {
    if (known.has(k)) continue;
    const [source, id] = k.split('\u0000') as [string, string];
    out.push({ sourceId: source, id, name: `${id} (no longer configured)` });
  }
  return out;
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
