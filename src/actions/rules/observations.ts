/** The Observations fhir-engage writes: engagement score and tier, adherence, satisfaction, computed questionnaire totals. */
import { satisfactionResponses } from '../../indicators/satisfaction';
import { code, month, observation, observationWrite, ref, type Rule } from '../rule';

const LOINC = 'http://loinc.org';

/** The month's engagement score, with its tier as a component and its reasons as a note. */
export const engagementScore: Rule = ({ ind, ctx }) => {
  if (ind.engagement.score === null) return [];
  const id = `${ctx.patientId}/engagement-score/${month(ctx)}`;
  const resource = observation(ctx, id, {
    code: code(ctx.settings, 'engagement-score'),
    effectiveDateTime: ctx.now.toISOString(),
    valueInteger: ind.engagement.score,
    component: [
      { code: code(ctx.settings, 'engagement-tier'), valueCodeableConcept: code(ctx.settings, ind.engagement.tier) },
    ],
    note: [{ text: ind.engagement.why }],
  });
  return [
    { ...observationWrite(ctx, 'engagement-score'), identifier: id, entities: [`Patient/${ctx.patientId}`], resource },
  ];
};

/** The month's appointment adherence, as a percentage. */
export const appointmentAdherence: Rule = ({ ind, ctx }) => {
  if (ind.appointments.adherence === null) return [];
  const id = `${ctx.patientId}/appointment-adherence/${month(ctx)}`;
  const resource = observation(ctx, id, {
    code: code(ctx.settings, 'appointment-adherence'),
    effectiveDateTime: ctx.now.toISOString(),
    valueQuantity: {
      value: Math.round(ind.appointments.adherence * 1000) / 10,
      unit: '%',
      system: 'http://unitsofmeasure.org',
      code: '%',
    },
  });
  return [
    {
      ...observationWrite(ctx, 'appointment-adherence'),
      identifier: id,
      entities: [`Patient/${ctx.patientId}`],
      resource,
    },
  ];
};

/** One Observation per satisfaction response: likelihood to recommend, and the mean of the experience items. */
export const patientSatisfaction: Rule = ({ model, ctx }) =>
  satisfactionResponses(model, ctx.now).map((s) => {
    const id = `${ctx.patientId}/patient-satisfaction/${s.responseId}`;
    const experience =
      s.experience !== undefined
        ? {
            component: [
              {
                code: { text: 'experience (mean of 1-5 items)' },
                valueQuantity: {
                  value: s.experience,
                  unit: '{score}',
                  system: 'http://unitsofmeasure.org',
                  code: '{score}',
                },
              },
            ],
          }
        : {};
    const resource = observation(ctx, id, {
      code: code(ctx.settings, 'patient-satisfaction'),
      effectiveDateTime: s.authored,
      valueInteger: s.recommend,
      ...experience,
      derivedFrom: [ref(`QuestionnaireResponse/${s.responseId}`)],
    });
    return {
      ...observationWrite(ctx, 'patient-satisfaction'),
      identifier: id,
      entities: [`QuestionnaireResponse/${s.responseId}`],
      resource,
    };
  });

const TOTAL_CODES = {
  phq9: {
    code: '44261-6',
    display: 'Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]',
    text: 'PHQ-9',
  },
  gad7: {
    code: '70274-6',
    display: 'Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]',
    text: 'GAD-7',
  },
} as const;

/** PHQ-9 and GAD-7 totals, only where fhir-engage computed them: a stated total is already in the EMR. */
export const questionnaireTotal: Rule = ({ model, ctx }) =>
  model.responses.flatMap((r) => {
    const s = r.score;
    if (!s || s.statedTotal !== undefined || s.computedTotal === undefined || r.status !== 'completed') return [];
    const loinc = s.instrument === 'phq9' || s.instrument === 'gad7' ? TOTAL_CODES[s.instrument] : undefined;
    if (!loinc) return [];
    const id = `${ctx.patientId}/${s.instrument}-total/${r.id}`;
    const resource = observation(ctx, id, {
      code: {
        coding: [{ system: LOINC, code: loinc.code, display: loinc.display }],
        text: `${loinc.text} total score`,
      },
      ...(r.authored ? { effectiveDateTime: r.authored } : {}),
      valueInteger: s.computedTotal,
      derivedFrom: [ref(`QuestionnaireResponse/${r.id}`)],
    });
    return [
      {
        ...observationWrite(ctx, 'questionnaire-total'),
        identifier: id,
        entities: [`QuestionnaireResponse/${r.id}`],
        resource,
      },
    ];
  });
