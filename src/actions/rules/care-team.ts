/** Tasks for the care team: a PHQ-9 item 9 safety flag, outreach after no-shows, a PHQ-9 follow-up, an overdue care-plan activity. */
import { dayOf, ref, task, taskWrite, type Rule } from '../rule';

/** PHQ-9 item 9 answered above 0 in the latest response: a stat Task, sent first (docs/indicators.md). */
export const phq9Item9Safety: Rule = ({ ind, ctx }) => {
  const { flagged, responseId, date } = ind.phq9.item9;
  if (!flagged || !responseId) return [];
  const id = `${ctx.patientId}/phq9-item9-safety/${responseId}`;
  const resource = task(ctx, id, 'phq9-item9-safety', {
    priority: 'stat',
    description:
      'PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered above 0 in the latest response: assess safety today.',
    reasonReference: ref(`QuestionnaireResponse/${responseId}`),
    ...(date ? { authoredOn: date } : {}),
  });
  return [
    {
      ...taskWrite(ctx, 'phq9-item9-safety', 0),
      identifier: id,
      entities: [`QuestionnaireResponse/${responseId}`],
      resource,
    },
  ];
};

/** Missed appointments in the lookback window: one open outreach Task per episode. */
export const outreachNoShows: Rule = ({ ind, model, written, ctx }) => {
  if (ind.appointments.noShowsRecent < ctx.settings.outreachMinNoShows) return [];
  // Reuse the one already written (open, or taken on by a person).
  const current = written.find((w) => w.rule === 'outreach-no-shows' && w.state !== 'closed');
  const id = current?.identifierValue ?? `${ctx.patientId}/outreach-no-shows/${dayOf(ctx)}`;
  const lastNoShow = model.appointments
    .filter((a) => a.status === 'no-show' && a.start && Date.parse(a.start) <= ctx.now.getTime())
    .sort((a, b) => Date.parse(b.start as string) - Date.parse(a.start as string))[0];
  const resource = task(ctx, id, 'outreach-no-shows', {
    description: `${ctx.settings.outreachMinNoShows} or more missed appointments in the last ${ind.appointments.recentDays} days: reach out to re-engage.`,
    ...(lastNoShow ? { reasonReference: ref(`Appointment/${lastNoShow.id}`) } : {}),
  });
  const entities = lastNoShow ? [`Appointment/${lastNoShow.id}`] : [`Patient/${ctx.patientId}`];
  return [{ ...taskWrite(ctx, 'outreach-no-shows'), identifier: id, entities, resource }];
};

/** An elevated PHQ-9 with no newer response: repeat it and review the care plan. */
export const phq9FollowUp: Rule = ({ ind, ctx }) => {
  const after = ind.phq9.followUp.after;
  if (!ind.phq9.followUp.due || !after) return [];
  const id = `${ctx.patientId}/phq9-follow-up/${after.responseId}`;
  const resource = task(ctx, id, 'phq9-follow-up', {
    description: `PHQ-9 of ${after.total} (above 9) with no newer response since: repeat the PHQ-9 and review the care plan.`,
    reasonReference: ref(`QuestionnaireResponse/${after.responseId}`),
    ...(ind.phq9.followUp.dueSince ? { authoredOn: ind.phq9.followUp.dueSince } : {}),
  });
  return [
    {
      ...taskWrite(ctx, 'phq9-follow-up'),
      identifier: id,
      entities: [`QuestionnaireResponse/${after.responseId}`],
      resource,
    },
  ];
};

/** Each care-plan activity past its due date and not done. */
export const overdueActivity: Rule = ({ ind, model, ctx }) =>
  ind.carePlans.overdue.flatMap((activityId) => {
    const activity = model.activities.find((a) => a.id === activityId);
    if (!activity) return [];
    const id = `${ctx.patientId}/overdue-activity/${activityId}`;
    const resource = task(ctx, id, 'overdue-activity', {
      description: 'A care-plan activity is past its due date and not done: review it with the patient.',
      reasonReference: ref(`CarePlan/${activity.planId}`),
      ...(activity.due ? { authoredOn: activity.due } : {}),
    });
    return [
      { ...taskWrite(ctx, 'overdue-activity'), identifier: id, entities: [`CarePlan/${activity.planId}`], resource },
    ];
  });
