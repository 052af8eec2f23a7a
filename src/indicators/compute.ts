/**
 * Every indicator of one patient as of `now`: a pure function of the
 * engagement model and the settings.
 */
import type { EngagementModel } from '../mapping/model';
import { appointmentIndicators, type AppointmentIndicators } from './appointments';
import { carePlanIndicators, type CarePlanIndicators } from './careplans';
import { engagementScore, type EngagementScore } from './engagement';
import { gad7Indicators, type Gad7Indicators } from './gad7';
import { phq9Indicators, type Phq9Indicators } from './phq9';
import { questionnaireIndicators, type QuestionnaireIndicators } from './questionnaires';
import { satisfactionIndicators, type SatisfactionIndicators } from './satisfaction';
import type { IndicatorSettings } from '../config/indicator-settings';
import { daysSince } from './time';

import { safetyFlag, whyWithSafety, type SafetyFlag } from './safety';

export interface PatientIndicators {
  patientId: string;
  asOf: string;
  appointments: AppointmentIndicators;
  carePlans: CarePlanIndicators;
  questionnaires: QuestionnaireIndicators;
  phq9: Phq9Indicators;
  gad7: Gad7Indicators;
  satisfaction: SatisfactionIndicators;
  daysSinceLastContact?: number;
  engagement: EngagementScore;
  /** Safety flags from the latest PHQ-9 (absent in indicators computed before they existed). */
  safety?: SafetyFlag;
}

export function computeIndicators(model: EngagementModel, now: Date, settings: IndicatorSettings): PatientIndicators {
  const appointments = appointmentIndicators(model, now, settings);
  const carePlans = carePlanIndicators(model, now);
  const questionnaires = questionnaireIndicators(model, now);
  const phq9 = phq9Indicators(model, now, settings);
  const gad7 = gad7Indicators(model, now, settings);
  // Last contact only counts what happened by `now` (a back-computed report must not see the future).
  const past = [
    ...model.appointments.filter((a) => a.status === 'kept').map((a) => a.start),
    ...model.responses.filter((r) => r.status === 'completed').map((r) => r.authored),
    ...model.activities.filter((a) => a.status === 'completed').map((a) => a.due ?? a.start),
  ].filter((d): d is string => d !== undefined && Date.parse(d) <= now.getTime());
  const last = past.sort((a, b) => Date.parse(b) - Date.parse(a))[0];
  const daysSinceLastContact = daysSince(last, now);
  const engagement = engagementScore(
    {
      adherence: appointments.adherence,
      daysSinceLastContact: daysSinceLastContact ?? null,
      carePlanCompletion: carePlans.completionRate,
      questionnaireCompletion: questionnaires.completion.status === 'known' ? questionnaires.completion.rate : null,
      daysSinceLastResponse: questionnaires.daysSinceAnyResponse ?? null,
    },
    settings,
  );
  const safety = safetyFlag(phq9);
  return {
    patientId: model.patientId,
    asOf: now.toISOString(),
    appointments,
    carePlans,
    questionnaires,
    phq9,
    gad7,
    satisfaction: satisfactionIndicators(model, now),
    ...(daysSinceLastContact !== undefined ? { daysSinceLastContact } : {}),
    engagement: { ...engagement, why: whyWithSafety(engagement.why, safety) },
    safety,
  };
}

/**
 * The values kept in the indicator history, one per name. Day counts are
 * left out: they change every day by definition and would make every
 * recomputation look new.
 */
export function historyValues(ind: PatientIndicators): { indicator: string; value: unknown }[] {
  return [
    { indicator: 'engagement.score', value: ind.engagement.score },
    { indicator: 'engagement.tier', value: ind.engagement.tier },
    { indicator: 'engagement.confidence', value: ind.engagement.confidence },
    { indicator: 'appointments.adherence', value: ind.appointments.adherence },
    { indicator: 'appointments.noShowRate', value: ind.appointments.noShowRate },
    { indicator: 'appointments.noShowsRecent', value: ind.appointments.noShowsRecent },
    { indicator: 'carePlans.completionRate', value: ind.carePlans.completionRate },
    { indicator: 'carePlans.overdue', value: ind.carePlans.overdue.length },
    {
      indicator: 'questionnaires.completion',
      value: ind.questionnaires.completion.status === 'known' ? ind.questionnaires.completion.rate : 'unknown',
    },
    {
      indicator: 'phq9.latest',
      value: ind.phq9.latest
        ? { total: ind.phq9.latest.total, band: ind.phq9.latest.band, date: ind.phq9.latest.date }
        : null,
    },
    { indicator: 'phq9.response', value: ind.phq9.response ?? null },
    { indicator: 'phq9.remission', value: ind.phq9.remission ?? null },
    { indicator: 'phq9.remissionAt12Months', value: ind.phq9.remissionAt12Months.status },
    { indicator: 'phq9.followUpDue', value: ind.phq9.followUp.due },
    { indicator: 'phq9.item9Flag', value: ind.phq9.item9.flagged },
    {
      indicator: 'satisfaction.latest',
      value: ind.satisfaction.latest
        ? {
            recommend: ind.satisfaction.latest.recommend,
            experience: ind.satisfaction.latest.experience ?? null,
            date: ind.satisfaction.latest.authored,
          }
        : null,
    },
    {
      indicator: 'gad7.latest',
      value: ind.gad7.latest
        ? { total: ind.gad7.latest.total, band: ind.gad7.latest.band, date: ind.gad7.latest.date }
        : null,
    },
  ];
}
